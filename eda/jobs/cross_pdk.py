"""`eda cross-pdk`: finished `eda run` folders of several platforms, side by side.

Reads (never writes) each run folder: characterization.csv and manifest.json (every run),
errors/<kind>/error_probability.csv where the platform has a voltage model, and method_manifest.json and
table2.csv where the method half ran. The report says what each folder contributed. The arithmetic is in
eda/method/cross_pdk.py, the writing in eda/outputs/cross_pdk.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from eda.core.errors import EdaError
from eda.core.platforms import platform_config
from eda.method import cross_pdk as method
from eda.outputs.cross_pdk import write_cross_pdk
from eda.parsers.tables import read_json_object, read_table

KINDS = ("tpu", "thundervolt", "proposed")


@dataclass
class PlatformRun:
    platform: str
    run_dir: Path
    nominal_corner: str
    nominal_vdd: float
    voltage_model: str
    settings: dict                      # test images, repeats, loss bound, sizing supply ('' where absent)
    sources: dict[str, Path] = field(default_factory=dict)
    error_tables: bool = False          # errors/<kind>/error_probability.csv (a platform with a voltage model)
    method_ran: bool = False            # Table II (the method half: sizing, accuracy)


NOT_A_RUN = "not a finished `eda run` folder"


def voltage_model(config: dict, config_path: Path) -> str:
    """Which delay-vs-supply model the platform's method half uses, from its FO4 table's manifest."""
    table = config.get("fo4_table")
    if not table:
        return "none (no fo4_table in the platform config: the method half cannot scale the supply)"
    manifest = config_path.parent / (Path(table).stem + "_manifest.json")
    if manifest.is_file():
        data = read_json_object(manifest, NOT_A_RUN)
        source, law = data.get("source"), data.get("law")
        if source:
            return f"{source}{'; ' + law if law else ''}"
        if "ngspice" in data:  # `eda fo4`: Monte Carlo of an FO4 stage in the PDK's SPICE models
            circuit = data.get("circuit", {})
            return (f"ngspice Monte Carlo of an FO4 {circuit.get('cell', 'inverter')} stage "
                    f"({circuit.get('model_section', '?')} models, {circuit.get('temp_c', '?')} C), {table}")
    return f"FO4 table {table}"


def read_run(run_dir: Path) -> tuple[PlatformRun, dict[str, pd.DataFrame]]:
    run_dir = Path(run_dir)
    manifest_path = run_dir / "manifest.json"
    manifest = read_json_object(manifest_path, NOT_A_RUN)
    try:
        platform = str(manifest["platform"]["name"])
    except (KeyError, TypeError):
        raise EdaError(f"{manifest_path} has no platform.name entry") from None
    config, config_path = platform_config(platform)
    nominal_corner = str(config["nominal_corner"])
    nominal_vdd = float(config["corners"][nominal_corner]["vdd"])
    characterization = read_table(run_dir / "characterization.csv", "characterization table",
                                  ["kind", "corner", "target_ps", "area_um2", "delay_ns", "power_w"])
    run = PlatformRun(platform, run_dir, nominal_corner, nominal_vdd, voltage_model(config, config_path), {},
                      {"manifest.json": manifest_path, "characterization.csv": run_dir / "characterization.csv"})
    tables = {"characterization": characterization}
    for kind in KINDS:
        path = run_dir / "errors" / kind / "error_probability.csv"
        if path.is_file():
            tables[f"errors/{kind}"] = read_table(path, f"{kind} error table",
                                                  ["kind", "size_index", "target_ps", "area_um2", "delay_ns", "vdd",
                                                   "clock_ns", "p_error"])
            run.sources[f"errors/{kind}/error_probability.csv"] = path
    method_manifest = run_dir / "method_manifest.json"
    if method_manifest.is_file() and (run_dir / "table2.csv").is_file():
        settings = read_json_object(method_manifest, NOT_A_RUN).get("settings", {})
        run.settings = {key: settings.get(key, "") for key in ("test_images", "repeats", "max_loss", "sizing_vdd",
                                                               "table_budget")}
        run.sources["method_manifest.json"] = method_manifest
        tables["table2"] = read_table(run_dir / "table2.csv", "Table II", ["design", "vmin_v", "area_mm2"])
        run.sources["table2.csv"] = run_dir / "table2.csv"
        run.method_ran = True
    return run, tables


def build(run_dirs: list[Path]) -> tuple[list[PlatformRun], dict[str, pd.DataFrame]]:
    runs, ladders, onsets, tables2 = [], [], [], []
    seen: dict[str, Path] = {}
    for run_dir in run_dirs:
        run, tables = read_run(run_dir)
        if run.platform in seen:
            raise EdaError(f"{run_dir} and {seen[run.platform]} are both runs on {run.platform}: give one folder per platform")
        seen[run.platform] = Path(run_dir)
        runs.append(run)
        for kind in KINDS:
            errors = tables.get(f"errors/{kind}")
            if errors is None:
                continue
            run.error_tables = True
            ladders.append(method.ladder(errors, tables["characterization"], run.platform, run.nominal_corner, run.nominal_vdd))
            onsets.append(method.error_onsets(errors, run.platform, run.nominal_vdd))
        if not run.error_tables:          # no voltage model: the ladder from the characterization alone
            ladders.append(method.pareto_ladder(tables["characterization"], run.platform, run.nominal_corner))
        if run.method_ran:
            tables2.append(method.table2_side_by_side(tables["table2"], run.platform, run.nominal_vdd))
    if not onsets:
        raise EdaError("none of the run folders has error tables (errors/<kind>/error_probability.csv, written by `eda run` "
                       "on a platform with a voltage model): nothing to put side by side")
    ladder_table = method.relative_to_tpu(pd.concat(ladders, ignore_index=True))
    summaries = method.ladder_summary(ladder_table)
    return runs, {"ladders": ladder_table, "ladder_summary": summaries,
                  "error_onsets": pd.concat(onsets, ignore_index=True),
                  "table2": pd.concat(tables2, ignore_index=True) if tables2 else pd.DataFrame()}


def run_cross_pdk(run_dirs: list[Path], out_dir: Path, argv: list[str]) -> dict[str, Path]:
    runs, tables = build([Path(d) for d in run_dirs])
    return write_cross_pdk(Path(out_dir), runs, tables, argv)
