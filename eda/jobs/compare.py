"""`eda compare`: every system of a finished run in one table at one accuracy-loss constraint.

Reads (never writes) the run folder: Table II is recomputed at the comparison's max_loss with the functions of
`eda report` (eda/jobs/report.py) but without rewriting the run's files; selective/, approx/ and bitwidth/ are
read as their commands wrote them. The arithmetic is in eda/method/compare.py, the writing in eda/outputs/compare.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from eda.core.errors import EdaError
from eda.method import compare as method
from eda.method.table2 import DesignSpec, minimum_voltages, table2
from eda.outputs.compare import write_compare
from eda.outputs.report import SPECS_FILE
from eda.parsers.tables import read_json_object, read_table

# Every file the comparison reads, relative to the run folder (the manifest hashes each).
REQUIRED = (
    "table2.csv", SPECS_FILE, "method_manifest.json", "characterization.csv", "accuracy/accuracy.csv",
    "tiles/switching_overhead.csv", "fo4.csv",
    "approx/approx.csv", "approx/approx_assignment.csv", "approx/manifest.json",
    "bitwidth/bitwidth.csv", "bitwidth/bitwidth_macs.csv", "bitwidth/manifest.json",
    "selective/selective.csv", "selective/manifest.json",
)


@dataclass
class CompareResult:
    table: pd.DataFrame
    table2: pd.DataFrame
    sources: dict[str, Path]
    settings: dict


def _key(data: dict, key: str, path: Path):
    if key not in data:
        raise EdaError(f"{path} has no {key!r} entry")
    return data[key]


def check_sources(report_dir: Path) -> None:
    missing = [name for name in REQUIRED if not (report_dir / name).is_file()]
    if missing:
        raise EdaError(f"{report_dir} lacks {', '.join(str(report_dir / m) for m in missing)}: `eda compare` reads a finished "
                       "`eda run` plus the outputs of `eda approx`, `eda bitwidth` and `eda selective` in it")


def table2_at(report_dir: Path, max_loss: float, sources: dict[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Table II recomputed at max_loss, as `eda report --max-loss` does (eda/jobs/report.py rebuild) but read-only."""
    from eda.jobs.activity import ACTIVITY_FILE, LEAKAGE_FILE, read_table2_power
    from eda.jobs.inputs import kind_sizes, method_inputs
    from eda.jobs.report import read_report_json, read_report_table, read_sweep

    manifest = read_report_json(report_dir / "method_manifest.json")
    settings = dict(_key(manifest, "settings", report_dir / "method_manifest.json"))
    sweep = read_sweep(report_dir / "accuracy" / "accuracy.csv")
    vmin = minimum_voltages(sweep, max_loss)
    settings["max_loss"] = max_loss
    characterization = read_report_table(report_dir / "characterization.csv", ("kind", "corner", "target_ps"))
    kinds = sorted(set(characterization["kind"]) & {"tpu", "thundervolt", "proposed"})

    class _Platform:
        nominal_corner = settings.get("nominal_corner") or characterization["corner"].iloc[0]

    inputs = method_inputs(report_dir, characterization, _Platform, kinds)
    for kind in kinds:
        sources[f"errors/{kind}/error_probability.csv"] = report_dir / "errors" / kind / "error_probability.csv"
    specs_raw = read_report_json(report_dir / SPECS_FILE)
    budget = _key(settings, "table_budget", report_dir / "method_manifest.json")
    vmin_of = vmin[vmin["budget"] == budget].set_index("design")["vmin_v"]
    specs = [DesignSpec(s["design"], s["kind"], s["dataflow"], {int(k): v for k, v in s["size_counts"].items()},
                        float(s["clock_ns"]), float(vmin_of.get(s["design"], np.nan)),
                        float(s.get("cycles_per_inference", np.nan))) for s in specs_raw]
    overhead = read_report_table(report_dir / "tiles" / "switching_overhead.csv")
    sizes = {kind: kind_sizes(inputs, kind) for kind in kinds}
    previous = read_report_table(report_dir / "table2.csv", ("technology", "bitwidth_bits"))
    power = read_table2_power(report_dir, settings)
    for name in (ACTIVITY_FILE, LEAKAGE_FILE):
        if (report_dir / name).is_file():
            sources[str(name)] = report_dir / name
    table = table2(specs, sizes, overhead, inputs.nominal_vdd, previous["technology"].iloc[0],
                   bits=int(previous["bitwidth_bits"].iloc[0]), activity=power.activity, leakage=power.leakage)
    return table, sweep, settings | {"nominal_vdd": inputs.nominal_vdd}


def build(report_dir: Path, max_loss: float, step: float = 0.01) -> CompareResult:
    report_dir = Path(report_dir)
    check_sources(report_dir)
    sources = {name: report_dir / name for name in REQUIRED}
    t2, sweep, settings = table2_at(report_dir, max_loss, sources)
    nominal = float(settings["nominal_vdd"])
    budget = settings["table_budget"]
    t2_name = f"table2_max_loss_{max_loss:g}.csv"
    rows = method.table2_rows(t2, sweep, budget, max_loss, t2_name)
    tpu_energy = float(t2.loc[t2["design"] == "tpu", "energy_per_inference_uj"].iloc[0])

    fo4 = read_table(report_dir / "fo4.csv", "FO4 table", ("vdd", "fo4_mean_ps", "fo4_sigma_ps"))

    sel_path = report_dir / "selective" / "selective.csv"
    selective = read_table(sel_path, "selective sweep", ("design", "protected_bits", "vdd", "clean_accuracy", "accuracy",
                                                         "accuracy_ci_low", "accuracy_ci_high", "loss", "loss_upper_bound",
                                                         "power_nominal_w", "energy_per_inference_uj_mac",
                                                         "energy_per_inference_uj_array", "replay_per_mac",
                                                         "saving_vs_tpu_nominal_mac"))
    sel_manifest_path = report_dir / "selective" / "manifest.json"
    sel_manifest = read_json_object(sel_manifest_path)
    protected = str(_key(sel_manifest, "protected_text", sel_manifest_path))
    macs_chars = _key(sel_manifest, "mac_characterization", sel_manifest_path)
    chosen = [m for m in macs_chars if str(m.get("mac", "")).startswith("selective") and m.get("protected_bits") == protected]
    if not chosen:
        raise EdaError(f"{sel_manifest_path} mac_characterization has no selective MAC with protected_bits {protected!r}")
    rows.append(method.selective_row(selective, float(chosen[0]["area_um2"]), int(_key(sel_manifest, "macs", sel_manifest_path)),
                                     float(_key(sel_manifest, "clean_accuracy", sel_manifest_path)), max_loss, tpu_energy, nominal))

    bw_manifest_path = report_dir / "bitwidth" / "manifest.json"
    bw_manifest = read_json_object(bw_manifest_path)
    macs_per_layer = {str(k): int(v) for k, v in _key(bw_manifest, "macs_per_layer", bw_manifest_path).items()}

    ax_manifest_path = report_dir / "approx" / "manifest.json"
    ax_manifest = read_json_object(ax_manifest_path)
    approx = read_table(report_dir / "approx" / "approx.csv", "approx table",
                        ("level", "area_um2", "delay_ns", "power_w", "target_ps", "test_accuracy"))
    assignment = read_table(report_dir / "approx" / "approx_assignment.csv", "approx assignment",
                            ("layer", "level", "macs", "area_um2", "power_w"))
    rows += method.approx_rows(approx, assignment, macs_per_layer, fo4, nominal,
                               float(_key(ax_manifest, "clock_period_ns", ax_manifest_path)),
                               int(_key(ax_manifest, "test_images", ax_manifest_path)),
                               float(_key(ax_manifest, "test_assignment_accuracy", ax_manifest_path)),
                               float(_key(ax_manifest, "max_loss", ax_manifest_path)), max_loss, step)

    policies = read_table(report_dir / "bitwidth" / "bitwidth.csv", "bit-width policies",
                          ("policy", "images_from", "accuracy", "accuracy_ci_low", "accuracy_ci_high", "loss_vs_static_top",
                           "energy_per_inference_j"))
    bw_macs = read_table(report_dir / "bitwidth" / "bitwidth_macs.csv", "bit-width MACs",
                         ("width", "area_um2", "delay_ns", "power_w", "power_clock_ns"))
    rows += method.bitwidth_rows(policies, bw_macs, int(_key(bw_manifest, "macs_per_inference", bw_manifest_path)), fo4,
                                 nominal, float(_key(bw_manifest, "clock_period_ns", bw_manifest_path)), max_loss,
                                 float(_key(bw_manifest, "max_loss", bw_manifest_path)), step)
    table = method.comparison(rows)
    return CompareResult(table, t2, sources, {"max_loss": max_loss, "table_budget": budget, "nominal_vdd": nominal,
                                               "voltage_step_v": step, "table2_file": t2_name})


def run_compare(report_dir: Path, max_loss: float, out_dir: Path | None, argv: list[str]) -> dict[str, Path]:
    report_dir = Path(report_dir)
    result = build(report_dir, max_loss)
    out = Path(out_dir) if out_dir is not None else report_dir / "compare"
    return write_compare(out, result.table, result.table2, result.sources, result.settings, argv, report_dir)
