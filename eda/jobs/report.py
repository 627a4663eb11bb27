"""`eda report`: Table II re-rendered from a finished run's files (no tool is rerun)."""

from __future__ import annotations

import json
from pathlib import Path
import numpy as np
import pandas as pd
from eda.core.errors import EdaError
from eda.core.files import atomic_write_text
from eda.method.table2 import DesignSpec, table2
from eda.outputs.report import SPECS_FILE, write_report


def read_report_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise EdaError(f"{path} is missing: `eda report` reads the outputs of a finished `eda run`")
    return pd.read_csv(path)


def rebuild(report_dir: Path, max_loss: float | None) -> pd.DataFrame:
    """Table II again from the run's files; with max_loss, Vmin is recomputed from accuracy.csv."""
    from eda.jobs.inputs import kind_sizes, method_inputs
    from eda.method.table2 import minimum_voltages

    manifest = json.loads((report_dir / "method_manifest.json").read_text()) if (report_dir / "method_manifest.json").is_file() else None
    if manifest is None or not (report_dir / SPECS_FILE).is_file():
        raise EdaError(f"{report_dir} has no method_manifest.json / {SPECS_FILE}: run `eda run` (with [method] enabled) first")
    settings = manifest["settings"]
    sweep = read_report_table(report_dir / "accuracy" / "accuracy.csv")
    loss = float(settings["max_loss"]) if max_loss is None else float(max_loss)
    vmin = minimum_voltages(sweep, loss)
    settings["max_loss"] = loss
    characterization = read_report_table(report_dir / "characterization.csv")
    kinds = sorted(set(characterization["kind"]) & {"tpu", "thundervolt", "proposed"})

    class _Platform:  # what method_inputs needs of a platform, from the run's own table
        nominal_corner = settings.get("nominal_corner") or characterization["corner"].iloc[0]

    inputs = method_inputs(report_dir, characterization, _Platform, kinds)
    specs_raw = json.loads((report_dir / SPECS_FILE).read_text())
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
