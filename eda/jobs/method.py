"""The method half of `eda run`: sensitivity maps, sizing, switching overhead, accuracy sweep,
minimum voltages and Table II, from the characterization and error tables already written.

Layout under the report folder:
  sensitivity/   maps per strategy (.npy, .png) and their variances
  sizing/<strategy>-<budget>/   sizing map, summary, histogram, map picture (eda/outputs/sizing.py)
  tiles/         tile characterization and the per-MAC switching overhead (eda/designs/tile.py)
  accuracy/      accuracy.csv (one row per design, budget, voltage), vmin.csv, accuracy.png
  table2.csv / table2.md / report.html (eda/outputs/report.py)
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pandas as pd

from eda.core.errors import EdaError
from eda.core.files import atomic_write_bytes, atomic_write_text
from eda.method.hetero import SIZED_STRATEGIES, auto_sizing_vdd, budgets_for, sizes_at, uniform_map
from eda.jobs.inputs import kind_sizes, method_inputs
from eda.jobs.config import Config

BUDGET_NAMES = ("small", "medium", "large", "xlarge", "xxlarge")
PER_WEIGHT_FILE = Path("sensitivity") / "per_weight.npz"
POWER_SETTINGS_FILE = Path("power") / "settings.json"
REPORT_OUTPUTS = ("table2.csv", "table2.md", "table2_attribution.csv", "table2_inputs.json", "report.html",
                  "method_manifest.json", "workload.md")


@dataclass(frozen=True)
class Case:
    """A design of the accuracy sweep: a MAC kind, the strategy placing the weights, a budget, the size map."""
    design: str
    kind: str
    strategy: str
    budget: str
    size_map: np.ndarray


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, float_precision="round_trip")


def save_study(study, out: Path) -> None:
    """What the later stages need of the sensitivity study, exactly: each layer's scaled per-weight
    sensitivities and its importance (the maps are rebuilt from them by eda/method/mapping.py)."""
    import io

    names = list(study.per_weight)
    buffer = io.BytesIO()
    np.savez(buffer, names=np.array(names), importance=np.array([study.importance[n] for n in names], dtype=np.float64),
             **{f"layer{i}": study.per_weight[n] for i, n in enumerate(names)})
    atomic_write_bytes(out / PER_WEIGHT_FILE, buffer.getvalue())


def load_study(out: Path, rows: int, cols: int, maps: bool = True):
    """(maps per strategy, or None without maps=True; importance per layer) from the sensitivity stage's files."""
    from eda.method.mapping import map_all_strategies

    with np.load(out / PER_WEIGHT_FILE, allow_pickle=False) as data:
        names = [str(n) for n in data["names"]]
        per_weight = {n: data[f"layer{i}"] for i, n in enumerate(names)}
        importance = {n: float(v) for n, v in zip(names, data["importance"])}
    return (map_all_strategies(per_weight, rows, cols) if maps else None), importance


def run_method(config: Config, platform, out: Path, cache_dir: Path, basis, workload) -> dict:
    """Everything after the error tables, stage by stage (each reused when its inputs did not change);
    returns {name: path} of the report files. basis: eda.jobs.incremental.RunBasis; workload: its LazyWorkload."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        raise EdaError("the method part of `eda run` (sensitivity maps, sizing, accuracy, Table II) needs PyTorch: "
                       "install the `nn` extra (pip install -e '.[nn]', which install.sh does) or set "
                       "[method] enabled = false in the configuration")
    stages = basis.stages
    rows, cols = config.method.array_rows, config.method.array_cols
    characterization = _read_csv(out / "characterization.csv")
    inputs = method_inputs(out, characterization, platform, config.kinds)
    utilization = _read_csv(out / "workload" / "utilization.csv")
    network_info = json.loads((out / "workload" / "network.json").read_text())

    def sensitivity() -> None:
        from eda.jobs import workload as wl
        from eda.outputs.sensitivity import write_sensitivity

        click.echo(f"sensitivity maps for a {rows}x{cols} array ({network_info['network'].get('source')}, "
                   f"{int(utilization['tiles'].iloc[-1])} tile loads, {utilization['position_utilization'].iloc[-1]:.1%} "
                   "of MAC positions busy)", err=True)
        study = wl.sensitivity(workload.get(), rows, cols, float(config.method.sensitivity_ber), config.accuracy.seed)
        write_sensitivity(study.maps, out / "sensitivity")
        atomic_write_text(out / "sensitivity" / "layer_importance.csv",
                          pd.DataFrame({"layer": list(study.importance), "loss_increase": list(study.importance.values())})
                          .to_csv(index=False))
        save_study(study, out)

    stages.run("sensitivity", basis.inputs(("method.array_rows", "method.array_cols", "method.sensitivity_ber",
                                            "method.sensitivity_method", "accuracy.seed"), workload=True),
               ["sensitivity"], sensitivity)

    fractions = [float(f) for f in config.method.iso_fractions]
    labels = [BUDGET_NAMES[i] if i < len(BUDGET_NAMES) else f"budget{i}" for i in range(len(fractions))]
    budgets = {kind: budgets_for(inputs.error_tables[kind].drop_duplicates("size_index").sort_values("area_um2"), fractions, labels)
               for kind in inputs.error_tables}
    if "proposed" not in budgets:
        raise EdaError("the method part needs the proposed MAC kind characterized (kinds in the configuration)")
    proposed_table = inputs.error_tables["proposed"]
    n_proposed_sizes = proposed_table["size_index"].nunique()
    sizing_vdd = float(config.method.sizing_vdd) or auto_sizing_vdd(proposed_table, n_proposed_sizes - 1)
    at_sizing_vdd = sizes_at(proposed_table, sizing_vdd)

    def sizing() -> None:
        from eda.method.hetero import size_for_budgets
        from eda.outputs.sizing import write_sizing_outputs

        maps, _ = load_study(out, rows, cols)
        click.echo(f"sizing {len(SIZED_STRATEGIES)} strategies x {len(labels)} budgets at {sizing_vdd:g} V", err=True)
        sized = size_for_budgets({s: maps[s].sensitivity for s in SIZED_STRATEGIES}, at_sizing_vdd, budgets["proposed"])
        sizing_rows = []
        for (strategy, label), result in sized.items():
            budget = next(b for b in budgets["proposed"] if b.label == label)
            write_sizing_outputs(result, at_sizing_vdd.drop(columns=["size_index"]), out / "sizing" / f"{strategy}-{label}",
                                 sensitivity=maps[strategy].sensitivity, iso_index=budget.size_index, command=sys.argv)
            sizing_rows.append({"strategy": strategy, "budget": label, "iso_size_index": budget.size_index,
                                "budget_um2": result.budget_um2, "total_area_um2": result.total_area_um2,
                                "objective": result.objective, "gap": result.gap, "seconds": result.seconds,
                                "uniform_objective": float(maps[strategy].sensitivity.sum()
                                                           * at_sizing_vdd["p_error"].iloc[budget.size_index]),
                                "sizes_used": int(len(np.unique(result.size_index))),
                                "sizing_vdd": sizing_vdd, "map": f"sizing/{strategy}-{label}/size_map.npy"})
        atomic_write_text(out / "sizing" / "sizings.csv", pd.DataFrame(sizing_rows).to_csv(index=False))

    error_files = [f"errors/{kind}/{name}" for kind in config.kinds
                   for name in ("error_probability.csv", "bit_error_probability.csv")]
    stages.run("sizing", basis.inputs(("method.iso_fractions", "method.sizing_vdd", "method.array_rows", "method.array_cols"),
                                      upstream={"timing simulation and error tables": ["errors/proposed/error_probability.csv"],
                                                "sensitivity": [str(PER_WEIGHT_FILE)]}),
               ["sizing"], sizing)
    sizing_table = _read_csv(out / "sizing" / "sizings.csv")

    cases = []
    for kind in inputs.error_tables:
        for budget in budgets[kind]:
            name = kind if kind != "proposed" else "proposed-uniform"
            cases.append(Case(name, kind, "conventional", budget.label, uniform_map((rows, cols), budget.size_index)))
    for row in sizing_table.itertuples(index=False):
        cases.append(Case(f"proposed-{row.strategy}", "proposed", row.strategy, row.budget, np.load(out / str(row.map))))
    vdds = [float(v) for v in config.accuracy.vdds] or sorted(
        {round(float(v), 6) for v in proposed_table["vdd"] if v <= inputs.nominal_vdd + 1e-9}, reverse=True)
    tabulated = {round(float(v), 6) for table in inputs.error_tables.values() for v in table["vdd"]}
    missing = [v for v in vdds if round(v, 6) not in tabulated]
    if missing:
        raise EdaError(f"accuracy.vdds {missing} are not supplies of the error tables ({sorted(tabulated, reverse=True)}): "
                       "list them in errors.vdds too, or leave accuracy.vdds empty")
    max_loss = float(config.accuracy.max_loss)
    losses = (max_loss,) + ((float(config.accuracy.strict_loss),) if config.accuracy.strict_loss else ())

    def accuracy() -> None:
        from eda.jobs import workload as wl
        from eda.outputs.accuracy import plot_sweep

        maps, _ = load_study(out, rows, cols)
        settings = wl.AccuracySettings(vdds, losses, config.accuracy.seed, min(config.accuracy.min_repeats,
                                       config.accuracy.repeats), config.accuracy.repeats, float(config.accuracy.half_width))
        sweep, vmin = wl.minimum_supplies(workload.get(), [wl.DesignCase(c.design, c.kind, c.strategy, c.budget, c.size_map)
                                                           for c in cases],
                                          maps, inputs.error_tables, inputs.bit_tables, config.mac.razor_bits, settings, cache_dir,
                                          jobs=int(config.characterize.jobs))
        atomic_write_text(out / "accuracy" / "accuracy.csv", sweep.to_csv(index=False))
        atomic_write_text(out / "accuracy" / "vmin.csv", vmin.to_csv(index=False))
        plot_sweep(sweep, out / "accuracy" / "accuracy.png", max_loss)

    stages.run("accuracy and Vmin search",
               basis.inputs(("accuracy", "mac.razor_bits", "method.iso_fractions", "method.array_rows", "method.array_cols"),
                            workload=True, vdds=vdds,
                            upstream={"timing simulation and error tables": error_files, "sensitivity": [str(PER_WEIGHT_FILE)],
                                      "sizing": [str(m) for m in sizing_table["map"]]},
                            cases=[[c.design, c.kind, c.strategy, c.budget] for c in cases]),
               ["accuracy"], accuracy)
    sweep, vmin = _read_csv(out / "accuracy" / "accuracy.csv"), _read_csv(out / "accuracy" / "vmin.csv")

    table_budget = labels[config.method.table_budget]
    tile_target_ps = int(proposed_table.drop_duplicates("size_index").sort_values("area_um2")
                         ["target_ps"].iloc[budgets["proposed"][config.method.table_budget].size_index])

    def tiles() -> None:
        from eda.jobs.tiles import measure_tiles

        click.echo(f"switching overhead: {config.method.tile_rows}x{config.method.tile_cols} tiles of the proposed MAC", err=True)
        measure_tiles(config, platform, cache_dir, tile_target_ps, out / "tiles")

    stages.run("switching-overhead tiles",
               basis.inputs(("platform", "mac", "characterize.clock_period_ns", "characterize.input_activity",
                             "characterize.shadow_delay_fraction", "method.tile_rows", "method.tile_cols"),
                            platform=True, tools=True, tile_target_ps=tile_target_ps),
               ["tiles"], tiles)
    overhead = _read_csv(out / "tiles" / "switching_overhead.csv")

    from eda.method.table2 import DesignSpec, size_counts

    sizes_by_kind = {kind: kind_sizes(inputs, kind) for kind in inputs.error_tables}
    clocks = {kind: float(table["clock_ns"].iloc[0]) for kind, table in inputs.error_tables.items()}
    vmin_of = vmin[vmin["budget"] == table_budget].set_index("design")["vmin_v"]
    cycles_per_image = float(utilization["cycles"].iloc[-1]) / network_info["test_images"]  # the test set streamed per load
    specs = [DesignSpec(case.design, case.kind, case.strategy, size_counts(case.size_map), clocks[case.kind],
                        float(vmin_of.get(case.design, np.nan)), cycles_per_inference=cycles_per_image)
             for case in cases if case.budget == table_budget]
    from eda.jobs.activity import needed_sizes, read_table2_power, table2_power

    def power() -> None:
        from eda.jobs import workload as wl

        measured = table2_power(config, platform, inputs, specs, sizes_by_kind, cache_dir,
                                operands=lambda n: wl.mac_operands(workload.get(), n, rows))  # activity-based power, leakage law
        atomic_write_text(out / POWER_SETTINGS_FILE, json.dumps(measured.settings, indent=1, default=str) + "\n")

    stages.run("activity-based power",
               basis.inputs(("platform", "power", "mac", "characterize.shadow_delay_fraction", "method.array_rows"),
                            upstream={"characterization": ["characterization.csv", "runs/"],
                                      "timing simulation and error tables": error_files}, platform=True, tools=True,
                            workload=config.power.activity,
                            sizes=needed_sizes(specs, sizes_by_kind) if config.power.activity else None),
               ["power"], power)
    power_settings = json.loads((out / POWER_SETTINGS_FILE).read_text())
    measured_power = read_table2_power(out, {"power": power_settings})
    paths = {"table2_md": out / "table2.md", "html": out / "report.html"}

    def report() -> None:
        from eda.method.table2 import table2
        from eda.outputs.report import write_report
        from eda.outputs.workload import write_workload_report

        _, importance = load_study(out, rows, cols, maps=False)
        variances = _read_csv(out / "sensitivity" / "variances.csv")
        table = table2(specs, sizes_by_kind, overhead, inputs.nominal_vdd, platform.name, bits=config.mac.w_bits,
                       activity=measured_power.activity, leakage=measured_power.leakage)
        settings = {
            "array": f"{rows}x{cols}", "budgets": {b.label: {"fraction": b.fraction, "size_index": b.size_index,
                                                                "area_per_mac_um2": b.area_per_mac_um2}
                                                     for b in budgets["proposed"]},
            "baseline_budgets": {kind: {b.label: b.size_index for b in budgets[kind]} for kind in budgets if kind != "proposed"},
            "table_budget": table_budget, "sizing_vdd": sizing_vdd, "max_loss": max_loss,
            "repeats": config.accuracy.repeats, "accuracy_seed": config.accuracy.seed, "loss_thresholds": list(losses),
            "vmin_rule": "one-sided 95% upper bound of the paired loss <= threshold; bisection over the supplies",
            "test_images": network_info["test_images"], "clean_accuracy": float(sweep["clean_accuracy"].iloc[0]),
            "network": network_info["network"], "utilization": float(utilization["position_utilization"].iloc[-1]),
            "layer_importance": importance,
            "sensitivity": {"method": config.method.sensitivity_method, "ber": float(config.method.sensitivity_ber)},
            "propagation_p": float(config.errors.propagation_p), "clocks_ns": clocks,
            "nominal_corner": inputs.nominal_corner, "power": power_settings,
        }
        write_workload_report(out / "workload.md", utilization=utilization, importance=importance,
                              variances=variances, sizings=sizing_table, vmin=vmin, settings=settings, sweep=sweep)
        paths.update(write_report(out, table, variances=variances, sizings=sizing_table, vmin=vmin, sweep=sweep,
                                  overhead=overhead, settings=settings, specs=specs))

    from eda.jobs.incremental import whole_config

    reads = {"characterization": ["characterization.csv"], "timing simulation and error tables": error_files,
             "workload": None, "sensitivity": ["sensitivity/variances.csv", str(PER_WEIGHT_FILE)],
             "sizing": ["sizing/sizings.csv", *map(str, sizing_table["map"])], "accuracy and Vmin search": None,
             "switching-overhead tiles": ["tiles/switching_overhead.csv"], "activity-based power": None}
    stages.run("report", {**basis.inputs(upstream=reads), "config": whole_config(config)}, REPORT_OUTPUTS, report)
    return paths
