"""`eda report`: Table II re-rendered from a finished run's files (no tool is rerun)."""

from __future__ import annotations

import json
from pathlib import Path
import numpy as np
import pandas as pd
from eda.core.errors import EdaError
from eda.core.files import atomic_write_text
from eda.parsers.tables import check_finite, read_table
from eda.method.table2 import DesignSpec, table2
from eda.outputs.report import SPECS_FILE, write_report


# The columns of accuracy.csv that Vmin is computed from: a NaN there would pass every comparison
# and quietly give the highest supply as Vmin.
# accuracy_mean may be empty where loss_upper_bound is there: a point stopped early for too many
# failures (eda/nn/vmin.py) has no accuracy but an upper bound of 1.
SWEEP_COLUMNS = ("design", "budget", "vdd", "accuracy_mean", "clean_accuracy")


def read_report_table(path: Path, columns: tuple[str, ...] = ()) -> pd.DataFrame:
    if not path.is_file():
        raise EdaError(f"{path} is missing: `eda report` reads the outputs of a finished `eda run`")
    return read_table(path, "run table", columns)


def read_report_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EdaError(f"{path} is not valid JSON ({exc}): rerun `eda run` to rewrite it") from None


def read_sweep(path: Path) -> pd.DataFrame:
    """accuracy.csv with every number Vmin depends on checked finite (file, column and line named)."""
    sweep = read_report_table(path, SWEEP_COLUMNS)
    if sweep.empty:
        raise EdaError(f"{path} has no rows: the accuracy sweep of the run is empty")
    decision = "loss_upper_bound" if "loss_upper_bound" in sweep.columns else "accuracy_mean"
    return check_finite(sweep, path, ["vdd", "clean_accuracy", decision])


def rebuild(report_dir: Path, max_loss: float | None) -> pd.DataFrame:
    """Table II again from the run's files; with max_loss, Vmin is recomputed from accuracy.csv."""
    from eda.jobs.inputs import kind_sizes, method_inputs
    from eda.method.table2 import minimum_voltages

    manifest = read_report_json(report_dir / "method_manifest.json") if (report_dir / "method_manifest.json").is_file() else None
    if manifest is None or not (report_dir / SPECS_FILE).is_file():
        raise EdaError(f"{report_dir} has no method_manifest.json / {SPECS_FILE}: run `eda run` (with [method] enabled) first")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("settings"), dict):
        raise EdaError(f"{report_dir / 'method_manifest.json'} has no \"settings\" object: rerun `eda run` to rewrite it")
    settings = manifest["settings"]
    sweep = read_sweep(report_dir / "accuracy" / "accuracy.csv")
    loss = float(settings["max_loss"]) if max_loss is None else float(max_loss)
    vmin = minimum_voltages(sweep, loss)
    settings["max_loss"] = loss
    characterization = read_report_table(report_dir / "characterization.csv", ("kind", "corner", "target_ps"))
    kinds = sorted(set(characterization["kind"]) & {"tpu", "thundervolt", "proposed"})

    class _Platform:  # what method_inputs needs of a platform, from the run's own table
        nominal_corner = settings.get("nominal_corner") or characterization["corner"].iloc[0]

    inputs = method_inputs(report_dir, characterization, _Platform, kinds)
    specs_raw = read_report_json(report_dir / SPECS_FILE)
    vmin_of = vmin[vmin["budget"] == settings["table_budget"]].set_index("design")["vmin_v"]
    specs = [DesignSpec(s["design"], s["kind"], s["dataflow"], {int(k): v for k, v in s["size_counts"].items()},
                        float(s["clock_ns"]), float(vmin_of.get(s["design"], np.nan)),
                        float(s.get("cycles_per_inference", np.nan))) for s in specs_raw]
    overhead = read_report_table(report_dir / "tiles" / "switching_overhead.csv")
    sizes = {kind: kind_sizes(inputs, kind) for kind in kinds}
    previous = read_report_table(report_dir / "table2.csv")
    from eda.jobs.activity import read_table2_power

    power = read_table2_power(report_dir, settings)  # what `eda run` measured (power/), no tool rerun
    table = table2(specs, sizes, overhead, inputs.nominal_vdd, previous["technology"].iloc[0],
                   bits=int(previous["bitwidth_bits"].iloc[0]), activity=power.activity, leakage=power.leakage)
    atomic_write_text(report_dir / "accuracy" / "vmin.csv", vmin.to_csv(index=False))
    write_report(report_dir, table, variances=read_report_table(report_dir / "sensitivity" / "variances.csv"),
                 sizings=read_report_table(report_dir / "sizing" / "sizings.csv"), vmin=vmin, sweep=sweep, overhead=overhead,
                 settings=settings, specs=specs)
    return table
