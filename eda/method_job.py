"""The method half of `eda run`: sensitivity maps, sizing, switching overhead, accuracy sweep,
minimum voltages and Table II, from the characterization and error tables already written.

Layout under the report folder:
  sensitivity/   maps per strategy (.npy, .png) and their variances
  sizing/<strategy>-<budget>/   sizing map, summary, histogram, map picture (eda/sizer_io.py)
  tiles/         tile characterization and the per-MAC switching overhead (eda/tile.py)
  accuracy/      accuracy.csv (one row per design, budget, voltage), vmin.csv, accuracy.png
  table2.csv / table2.md / report.html (eda/report.py)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pandas as pd

from .errors import EdaError
from .fsutil import atomic_write_bytes, atomic_write_text
from .hetero import SIZED_STRATEGIES, auto_sizing_vdd, budgets_for, size_for_budgets, sizes_at, uniform_map

BUDGET_NAMES = ("small", "medium", "large", "xlarge", "xxlarge")


@dataclass
class MethodInputs:
    out: Path
    characterization: pd.DataFrame
    nominal_corner: str
    nominal_vdd: float
    error_tables: dict[str, pd.DataFrame]  # per kind, long (size_index, target_ps, area_um2, delay_ns, vdd, clock_ns, p_error)


def kind_sizes(inputs: MethodInputs, kind: str) -> pd.DataFrame:
    """A kind's Pareto sizes (index = size index, as in its error table) with their nominal power."""
    table = inputs.error_tables[kind]
    sizes = table.drop_duplicates("size_index").sort_values("area_um2").set_index("size_index")
    nominal = inputs.characterization[(inputs.characterization["kind"] == kind)
                                      & (inputs.characterization["corner"] == inputs.nominal_corner)]
    power = nominal.set_index("target_ps")[["power_internal_w", "power_switching_w", "power_leakage_w", "power_w",
                                            "power_clock_ns", "run_dir"]]
    return sizes.join(power, on="target_ps")


def _save_npy(path: Path, array: np.ndarray) -> None:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    atomic_write_bytes(path, buffer.getvalue())


def write_sensitivity(maps: dict, out: Path) -> pd.DataFrame:
    from .nn.cli import _plot_map

    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for strategy, smap in maps.items():
        _save_npy(out / f"{strategy}.npy", smap.sensitivity)
        _plot_map(out / f"{strategy}.png", smap.sensitivity, f"{strategy}: variance {smap.variance:.3e}")
        rows.append({"strategy": strategy, "variance": smap.variance, "total": float(smap.sensitivity.sum()),
                     "busy_macs": int((smap.sensitivity > 0).sum()), "map": f"{strategy}.npy"})
    table = pd.DataFrame(rows)
    atomic_write_text(out / "variances.csv", table.to_csv(index=False))
    return table


def measure_tiles(config: dict, platform, cache_dir: Path, target_ps: int, out: Path) -> pd.DataFrame:
    """Characterize the proposed-MAC tile per dataflow; the per-MAC switching overhead table."""
    from .characterize import characterize, write_outputs
    from .steps.sta import StaSettings
    from .tile import switching_overhead, tile_variants

    settings = StaSettings(float(config["characterize.clock_period_ns"]), float(config["characterize.input_activity"]),
                           float(config["characterize.shadow_delay_fraction"]))
    rows, cols = config["method.tile_rows"], config["method.tile_cols"]
    bits = dict(a_bits=config["mac.a_bits"], w_bits=config["mac.w_bits"], acc_bits=config["mac.acc_bits"],
                razor_bits=config["mac.razor_bits"])
    variants = tile_variants("proposed", int(target_ps), rows, cols, **bits)
    result = characterize(variants, platform, settings, cache_dir, corners=None, jobs=config["characterize.jobs"],
                          timeout_s=float(config["characterize.timeout_s"]))
    write_outputs(result, out, platform, settings, sys.argv)
    overhead = switching_overhead(result.table, "proposed", platform.nominal_corner, rows, cols)
    atomic_write_text(out / "switching_overhead.csv", overhead.to_csv(index=False))
    return overhead


def run_method(config: dict, platform, inputs: MethodInputs, cache_dir: Path) -> dict:
    """Everything after the error tables; returns {name: path} of what it wrote."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        raise EdaError("the method part of `eda run` (sensitivity maps, sizing, accuracy, Table II) needs PyTorch: "
                       "install the `nn` extra (pip install -e '.[nn]', which install.sh does) or set "
                       "[method] enabled = false in the configuration")
    from .nn.maps import DEFAULT_EPOCHS, sensitivity_study
    from .mapping import map_all_strategies
    from .nn.sweep import DesignCase, accuracy_sweep, plot_sweep
    from .table2 import minimum_voltages
    from .report import write_report
    from .sizer_io import write_sizing_outputs
    from .table2 import DesignSpec, size_counts, table2

    out = inputs.out
    rows, cols = config["method.array_rows"], config["method.array_cols"]
    epochs = config["method.network_epochs"] or DEFAULT_EPOCHS
    click.echo(f"sensitivity maps for a {rows}x{cols} array (reference network, {config['method.sensitivity_method']})", err=True)
    study = sensitivity_study(ber=float(config["method.sensitivity_ber"]), seed=config["method.network_seed"],
                              cache_dir=cache_dir, epochs=epochs, method=config["method.sensitivity_method"])
    maps = map_all_strategies(study.sensitivities, rows, cols)
    variances = write_sensitivity(maps, out / "sensitivity")

    fractions = [float(f) for f in config["method.iso_fractions"]]
    labels = [BUDGET_NAMES[i] if i < len(BUDGET_NAMES) else f"budget{i}" for i in range(len(fractions))]
    budgets = {kind: budgets_for(inputs.error_tables[kind].drop_duplicates("size_index").sort_values("area_um2"), fractions, labels)
               for kind in inputs.error_tables}
    if "proposed" not in budgets:
        raise EdaError("the method part needs the proposed MAC kind characterized (kinds in the configuration)")
    proposed_table = inputs.error_tables["proposed"]
    n_proposed_sizes = proposed_table["size_index"].nunique()
    sizing_vdd = float(config["method.sizing_vdd"]) or auto_sizing_vdd(proposed_table, n_proposed_sizes - 1)
    at_sizing_vdd = sizes_at(proposed_table, sizing_vdd)
    click.echo(f"sizing {len(SIZED_STRATEGIES)} strategies x {len(labels)} budgets at {sizing_vdd:g} V", err=True)
    sized = size_for_budgets({s: maps[s].sensitivity for s in SIZED_STRATEGIES}, at_sizing_vdd, budgets["proposed"])
    sizing_rows = []
    for (strategy, label), result in sized.items():
        budget = next(b for b in budgets["proposed"] if b.label == label)
        folder = out / "sizing" / f"{strategy}-{label}"
        write_sizing_outputs(result, at_sizing_vdd.drop(columns=["size_index"]), folder,
                             sensitivity=maps[strategy].sensitivity, iso_index=budget.size_index, command=sys.argv)
        sizing_rows.append({"strategy": strategy, "budget": label, "iso_size_index": budget.size_index,
                            "budget_um2": result.budget_um2, "total_area_um2": result.total_area_um2,
                            "objective": result.objective, "gap": result.gap, "seconds": result.seconds,
                            "sizing_vdd": sizing_vdd, "map": f"sizing/{strategy}-{label}/size_map.npy"})
    sizing_table = pd.DataFrame(sizing_rows)
    atomic_write_text(out / "sizing" / "sizings.csv", sizing_table.to_csv(index=False))

    cases = []
    for kind in inputs.error_tables:
        for budget in budgets[kind]:
            name = kind if kind != "proposed" else "proposed-uniform"
            cases.append(DesignCase(name, kind, "conventional", budget.label, uniform_map((rows, cols), budget.size_index)))
    for (strategy, label), result in sized.items():
        cases.append(DesignCase(f"proposed-{strategy}", "proposed", strategy, label, result.size_index))
    vdds = [float(v) for v in config["accuracy.vdds"]] or sorted(
        {round(float(v), 6) for v in proposed_table["vdd"] if v <= inputs.nominal_vdd + 1e-9}, reverse=True)
    permutations = {s: m.permutation for s, m in maps.items()}
    click.echo(f"accuracy sweep: {len(cases)} design cases x {len(vdds)} supplies x {config['accuracy.repeats']} inferences", err=True)
    sweep = accuracy_sweep(study, cases, permutations, inputs.error_tables, vdds, repeats=config["accuracy.repeats"],
                           seed=config["accuracy.seed"], cache_dir=cache_dir)
    max_loss = float(config["accuracy.max_loss"])
    vmin = minimum_voltages(sweep, max_loss)
    (out / "accuracy").mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "accuracy" / "accuracy.csv", sweep.to_csv(index=False))
    atomic_write_text(out / "accuracy" / "vmin.csv", vmin.to_csv(index=False))
    plot_sweep(sweep, out / "accuracy" / "accuracy.png", max_loss)

    table_budget = labels[config["method.table_budget"]]
    tile_target_ps = int(proposed_table.drop_duplicates("size_index").sort_values("area_um2")
                        ["target_ps"].iloc[budgets["proposed"][config["method.table_budget"]].size_index])
    click.echo(f"switching overhead: {config['method.tile_rows']}x{config['method.tile_cols']} tiles of the proposed MAC", err=True)
    overhead = measure_tiles(config, platform, cache_dir, tile_target_ps, out / "tiles")

    sizes_by_kind = {kind: kind_sizes(inputs, kind) for kind in inputs.error_tables}
    clocks = {kind: float(table["clock_ns"].iloc[0]) for kind, table in inputs.error_tables.items()}
    vmin_of = vmin[vmin["budget"] == table_budget].set_index("design")["vmin_v"]
    specs = []
    for case in cases:
        if case.budget != table_budget:
            continue
        specs.append(DesignSpec(case.design, case.kind, case.strategy, size_counts(case.size_map), clocks[case.kind],
                                float(vmin_of.get(case.design, np.nan))))
    table = table2(specs, sizes_by_kind, overhead, inputs.nominal_vdd, platform.name, bits=config["mac.w_bits"])
    settings = {
        "array": f"{rows}x{cols}", "budgets": {b.label: {"fraction": b.fraction, "size_index": b.size_index,
                                                            "area_per_mac_um2": b.area_per_mac_um2}
                                                 for b in budgets["proposed"]},
        "baseline_budgets": {kind: {b.label: b.size_index for b in budgets[kind]} for kind in budgets if kind != "proposed"},
        "table_budget": table_budget, "sizing_vdd": sizing_vdd, "max_loss": max_loss,
        "repeats": config["accuracy.repeats"], "accuracy_seed": config["accuracy.seed"],
        "clean_accuracy": float(sweep["clean_accuracy"].iloc[0]), "network": study.reference.meta,
        "sensitivity": {"method": config["method.sensitivity_method"], "ber": float(config["method.sensitivity_ber"])},
        "propagation_p": float(config["errors.propagation_p"]), "clocks_ns": clocks,
        "nominal_corner": inputs.nominal_corner,
    }
    return write_report(out, table, variances=variances, sizings=sizing_table, vmin=vmin, sweep=sweep,
                        overhead=overhead, settings=settings, specs=specs)


def method_inputs(out: Path, characterization: pd.DataFrame, platform, kinds: list[str]) -> MethodInputs:
    error_tables = {}
    for kind in kinds:
        path = out / "errors" / kind / "error_probability.csv"
        if not path.is_file():
            raise EdaError(f"{path} is missing: the error tables are written by `eda run` before the method part")
        error_tables[kind] = pd.read_csv(path)
    at_nominal = characterization.loc[characterization["corner"] == platform.nominal_corner, "vdd"]
    if at_nominal.empty:
        raise EdaError(f"the characterization table has no rows at the nominal corner {platform.nominal_corner}")
    nominal_vdd = float(at_nominal.iloc[0])
    return MethodInputs(out, characterization, platform.nominal_corner, nominal_vdd, error_tables)

