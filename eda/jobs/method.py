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

import sys
from pathlib import Path

import click
import numpy as np
import pandas as pd

from eda.core.errors import EdaError
from eda.core.files import atomic_write_text
from eda.method.hetero import SIZED_STRATEGIES, auto_sizing_vdd, budgets_for, size_for_budgets, sizes_at, uniform_map
from eda.jobs.inputs import MethodInputs, kind_sizes
from eda.outputs.sensitivity import write_sensitivity
from eda.jobs.tiles import measure_tiles
from eda.jobs.config import Config
from eda.core.timing import StageTimer

BUDGET_NAMES = ("small", "medium", "large", "xlarge", "xxlarge")












def run_method(config: Config, platform, inputs: MethodInputs, cache_dir: Path, timer: StageTimer | None = None,
               workload=None) -> dict:
    """Everything after the error tables; returns {name: path} of what it wrote."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        raise EdaError("the method part of `eda run` (sensitivity maps, sizing, accuracy, Table II) needs PyTorch: "
                       "install the `nn` extra (pip install -e '.[nn]', which install.sh does) or set "
                       "[method] enabled = false in the configuration")
    from eda.jobs import workload as wl
    from eda.outputs.accuracy import plot_sweep
    from eda.outputs.report import write_report
    from eda.outputs.sizing import write_sizing_outputs
    from eda.method.table2 import DesignSpec, size_counts, table2

    out = inputs.out
    timer = timer or StageTimer()
    rows, cols = config.method.array_rows, config.method.array_cols
    workload = workload or wl.load_workload(config.workload.model, config.workload.weights, config.workload.data,
                                            config.workload.images)
    utilization = wl.utilization(workload, rows, cols)
    (out / "workload").mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "workload" / "utilization.csv", utilization.to_csv(index=False))
    click.echo(f"sensitivity maps for a {rows}x{cols} array ({workload.network.meta.get('source')}, "
               f"{int(utilization['tiles'].iloc[-1])} tile loads, {utilization['position_utilization'].iloc[-1]:.1%} "
               "of MAC positions busy)", err=True)
    with timer.stage("sensitivity"):
        study = wl.sensitivity(workload, rows, cols, float(config.method.sensitivity_ber), config.accuracy.seed)
    maps = study.maps
    variances = write_sensitivity(maps, out / "sensitivity")
    atomic_write_text(out / "sensitivity" / "layer_importance.csv",
                      pd.DataFrame({"layer": list(study.importance), "loss_increase": list(study.importance.values())})
                      .to_csv(index=False))

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
    click.echo(f"sizing {len(SIZED_STRATEGIES)} strategies x {len(labels)} budgets at {sizing_vdd:g} V", err=True)
    with timer.stage("sizing"):
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
                            "uniform_objective": float(maps[strategy].sensitivity.sum()
                                                       * at_sizing_vdd["p_error"].iloc[budget.size_index]),
                            "sizes_used": int(len(np.unique(result.size_index))),
                            "sizing_vdd": sizing_vdd, "map": f"sizing/{strategy}-{label}/size_map.npy"})
    sizing_table = pd.DataFrame(sizing_rows)
    atomic_write_text(out / "sizing" / "sizings.csv", sizing_table.to_csv(index=False))

    cases = []
    for kind in inputs.error_tables:
        for budget in budgets[kind]:
            name = kind if kind != "proposed" else "proposed-uniform"
            cases.append(wl.DesignCase(name, kind, "conventional", budget.label, uniform_map((rows, cols), budget.size_index)))
    for (strategy, label), result in sized.items():
        cases.append(wl.DesignCase(f"proposed-{strategy}", "proposed", strategy, label, result.size_index))
    vdds = [float(v) for v in config.accuracy.vdds] or sorted(
        {round(float(v), 6) for v in proposed_table["vdd"] if v <= inputs.nominal_vdd + 1e-9}, reverse=True)
    max_loss = float(config.accuracy.max_loss)
    losses = (max_loss,) + ((float(config.accuracy.strict_loss),) if config.accuracy.strict_loss else ())
    accuracy_settings = wl.AccuracySettings(vdds, losses, config.accuracy.seed, min(config.accuracy.min_repeats,
                                            config.accuracy.repeats), config.accuracy.repeats, float(config.accuracy.half_width))
    with timer.stage("accuracy and Vmin search"):
        sweep, vmin = wl.minimum_supplies(workload, cases, maps, inputs.error_tables, inputs.bit_tables, config.mac.razor_bits,
                                          accuracy_settings, cache_dir)
    (out / "accuracy").mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "accuracy" / "accuracy.csv", sweep.to_csv(index=False))
    atomic_write_text(out / "accuracy" / "vmin.csv", vmin.to_csv(index=False))
    plot_sweep(sweep, out / "accuracy" / "accuracy.png", max_loss)

    table_budget = labels[config.method.table_budget]
    tile_target_ps = int(proposed_table.drop_duplicates("size_index").sort_values("area_um2")
                        ["target_ps"].iloc[budgets["proposed"][config.method.table_budget].size_index])
    click.echo(f"switching overhead: {config.method.tile_rows}x{config.method.tile_cols} tiles of the proposed MAC", err=True)
    with timer.stage("switching-overhead tiles"):
        overhead = measure_tiles(config, platform, cache_dir, tile_target_ps, out / "tiles")

    sizes_by_kind = {kind: kind_sizes(inputs, kind) for kind in inputs.error_tables}
    clocks = {kind: float(table["clock_ns"].iloc[0]) for kind, table in inputs.error_tables.items()}
    vmin_of = vmin[vmin["budget"] == table_budget].set_index("design")["vmin_v"]
    cycles_per_image = float(utilization["cycles"].iloc[-1]) / len(workload.test)  # the test set streamed per load
    specs = []
    for case in cases:
        if case.budget != table_budget:
            continue
        specs.append(DesignSpec(case.design, case.kind, case.strategy, size_counts(case.size_map), clocks[case.kind],
                                float(vmin_of.get(case.design, np.nan)), cycles_per_inference=cycles_per_image))
    from eda.jobs.activity import table2_power

    with timer.stage("activity-based power"):
        power = table2_power(config, platform, inputs, specs, sizes_by_kind, cache_dir,
                             operands=lambda n: wl.mac_operands(workload, n, rows))  # activity-based power, leakage law
    table = table2(specs, sizes_by_kind, overhead, inputs.nominal_vdd, platform.name, bits=config.mac.w_bits,
                   activity=power.activity, leakage=power.leakage)
    settings = {
        "array": f"{rows}x{cols}", "budgets": {b.label: {"fraction": b.fraction, "size_index": b.size_index,
                                                            "area_per_mac_um2": b.area_per_mac_um2}
                                                 for b in budgets["proposed"]},
        "baseline_budgets": {kind: {b.label: b.size_index for b in budgets[kind]} for kind in budgets if kind != "proposed"},
        "table_budget": table_budget, "sizing_vdd": sizing_vdd, "max_loss": max_loss,
        "repeats": config.accuracy.repeats, "accuracy_seed": config.accuracy.seed, "loss_thresholds": list(losses),
        "vmin_rule": "one-sided 95% upper bound of the paired loss <= threshold; bisection over the supplies",
        "test_images": len(workload.test), "clean_accuracy": float(sweep["clean_accuracy"].iloc[0]),
        "network": workload.network.meta, "utilization": float(utilization["position_utilization"].iloc[-1]),
        "layer_importance": study.importance,
        "sensitivity": {"method": config.method.sensitivity_method, "ber": float(config.method.sensitivity_ber)},
        "propagation_p": float(config.errors.propagation_p), "clocks_ns": clocks,
        "nominal_corner": inputs.nominal_corner, "power": power.settings,
    }
    from eda.outputs.workload import write_workload_report

    write_workload_report(out / "workload.md", utilization=utilization, importance=study.importance,
                          variances=variances, sizings=sizing_table, vmin=vmin, settings=settings, sweep=sweep)
    return write_report(out, table, variances=variances, sizings=sizing_table, vmin=vmin, sweep=sweep,
                        overhead=overhead, settings=settings, specs=specs)



