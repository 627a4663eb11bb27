"""One ORFS run -> one row of the characterization table the embedded backend writes.

The row has every column of eda.characterize.CSV_COLUMNS (NaN / None where ORFS outputs
say nothing about it) followed by ORFS_EXTRA_COLUMNS. Where two files give a number the
one with more digits wins, and `*_source` columns name the file (and key) it came from:

- area_um2 / cells: metrics `finish__design__instance__area__stdcell` / `__count__stdcell`
  (standard cells after finish, fill cells excluded, tap cells and the clock tree included),
  else 6_report.log's "Design area" (which also leaves out tap cells; integer um^2).
- area_sequential_um2: metrics `finish__design__instance__area__class:sequential_cell`;
  area_combinational_um2 = area_um2 - area_sequential_um2, as in the embedded backend.
- delay_ns, the minimum clock period of the main clock (`clk` for our MACs), in order:
  metrics `finish__timing__fmax__clock:<clock>` (Hz), 6_finish.rpt report_clock_min_period
  (both OpenSTA's min period over paths launched and captured by that clock; ORFS since 2025
  includes port paths, which our SDC constrains with zero IO delay by default);
  then 6_finish.rpt's worst register-to-register path (capture edge minus slack, 2 digits,
  the embedded backend's definition); then, with one clock, its period minus the setup ws.
- power_*: metrics `finish__power__*` (W), else 6_finish.rpt's report_power Total row.
  ORFS computes power at the SDC clock (power_clock_ns) with OpenROAD's default input
  activity, not the embedded backend's fixed clock and activity: input_activity is NaN.
- power_activity_propagated is None: the check belongs to Debian's OpenSTA 2.0.17, which
  ORFS (OpenROAD's own OpenSTA) does not use.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from eda.flow.characterize import CSV_COLUMNS
from eda.core.errors import EdaError
from eda.parsers.orfs.metrics import MetricsJson, parse_metrics_json, read_stage_metrics
from eda.parsers.orfs.reports import FinishReport, ReportLog, SynthStat, parse_finish_report, parse_report_log, parse_synth_stat
from eda.parsers.orfs.units import platform_time_unit_ns

ORFS_EXTRA_COLUMNS = [
    "design", "flow_variant", "clock", "clock_period_ns", "fmax_mhz", "setup_ws_ns", "setup_tns_ns", "hold_ws_ns",
    "setup_violations", "hold_violations", "utilization", "core_area_um2", "die_area_um2", "design_area_um2",
    "synth_area_um2", "synth_sequential_area_um2", "synth_cells", "delay_source", "area_source", "power_source",
]
ORFS_COLUMNS = CSV_COLUMNS + [c for c in ORFS_EXTRA_COLUMNS if c not in CSV_COLUMNS]

_NAN = math.nan
_CLOCK_PERIOD_DETAIL = re.compile(r"^\s*(\S+):\s*([-0-9.eE+]+)\s*$")


def _finite(value: float) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def _pick_clock(names: list[str], main_clock: str | None, where: str) -> str | None:
    """The clock whose period is the design's delay: the named one, the only one, or 'clk'."""
    if not names:
        return None
    if main_clock is not None:
        if main_clock not in names:
            raise EdaError(f"{where}: no clock {main_clock!r} (clocks there: {', '.join(names)})")
        return main_clock
    if len(names) == 1:
        return names[0]
    if "clk" in names:
        return "clk"
    raise EdaError(f"{where}: several clocks ({', '.join(names)}); say which one is the main clock")


def sdc_clock_periods(metrics: MetricsJson | None, time_unit_ns: float) -> dict[str, float]:
    """metadata.json's constraints__clocks__details (['clk_core: 20.0000']) -> {clock: period_ns}."""
    if metrics is None:
        return {}
    details = metrics.get("constraints__clocks__details") or []
    periods = {}
    for item in details:
        match = _CLOCK_PERIOD_DETAIL.match(str(item))
        if match:
            periods[match.group(1)] = float(match.group(2)) * time_unit_ns
    return periods


@dataclass(frozen=True)
class _Pick:
    value: float
    source: str


def _first(*candidates: tuple[float, str]) -> _Pick:
    for value, source in candidates:
        if _finite(value):
            return _Pick(float(value), source)
    return _Pick(_NAN, "")


def characterization_row(
    *,
    platform: str,
    time_unit_ns: float,
    metrics: MetricsJson | None = None,
    finish: FinishReport | None = None,
    report_log: ReportLog | None = None,
    synth: SynthStat | None = None,
    kind: str | None = None,
    design: str | None = None,
    flow_variant: str | None = None,
    target_ps: int | None = None,
    main_clock: str | None = None,
    clock_period_ns: float | None = None,
    corner: str | None = None,
    vdd: float | None = None,
    temp_c: float | None = None,
    run_dir: str = "",
    file_names: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Combine parsed ORFS outputs into one row (pure). Metric times are scaled by time_unit_ns."""
    names = {"metrics": "metrics JSON", "finish": "6_finish.rpt", "log": "6_report.log", "synth": "synth_stat.txt",
             **(file_names or {})}
    m = metrics
    num = (lambda key: m.number(key)) if m is not None else (lambda key: _NAN)
    row: dict[str, Any] = {c: None for c in ORFS_COLUMNS}

    # Clocks: per-clock fmax keys in the metrics, report_clock_min_period lines, SDC periods.
    fmax_keys = {k[len("finish__timing__fmax__clock__"):]: k for k in (m.keys_with_prefix("finish__timing__fmax__clock__") if m else {})}
    sdc_periods = sdc_clock_periods(m, time_unit_ns)
    clock_names = list(dict.fromkeys([*fmax_keys, *(c.clock for c in (finish.clock_min_periods if finish else ())), *sdc_periods]))
    if clock_names:
        clock = _pick_clock(clock_names, main_clock, names["metrics"] if fmax_keys or sdc_periods else names["finish"])
    elif main_clock is not None:
        clock = main_clock  # nothing lists the clocks; the path reports below are matched against it
    else:
        # Old reports list no clocks: take the clock capturing the worst reg-to-reg (else setup) path.
        captures = [e.clock for e in ((finish.reg_to_reg_capture, finish.setup_capture) if finish else ()) if e is not None]
        clock = captures[0] if captures else None
        clock_names = captures[:1]

    fmax_hz = num(fmax_keys[clock]) if clock in fmax_keys else _NAN
    min_period = finish.clock_min_period(clock) if (finish and clock) else None
    period = _first(
        (clock_period_ns if clock_period_ns is not None else _NAN, "given"),
        (sdc_periods.get(clock, _NAN), f"{names['metrics']}:constraints__clocks__details"),
        (finish.reg_to_reg_capture.time_ns if finish and finish.reg_to_reg_capture and finish.reg_to_reg_capture.clock == clock else _NAN,
         f"{names['finish']}:reg to reg capture edge"),
        (finish.setup_capture.time_ns if finish and finish.setup_capture and finish.setup_capture.clock == clock else _NAN,
         f"{names['finish']}:setup path capture edge"),
    )
    setup_ws = _first((num("finish__timing__setup__ws") * time_unit_ns, f"{names['metrics']}:finish__timing__setup__ws"),
                      (finish.critical_path_slack_ns if finish else _NAN, f"{names['finish']}:critical path slack"),
                      (finish.worst_slack_ns if finish else _NAN, f"{names['finish']}:report_worst_slack"))
    single_clock = len(clock_names) == 1
    delay = _first(
        (1e9 / fmax_hz if _finite(fmax_hz) and fmax_hz > 0 else _NAN, f"{names['metrics']}:{m.spelled.get(fmax_keys.get(clock, ''), '') if m else ''}"),
        (min_period.period_min_ns if min_period and math.isfinite(min_period.fmax_mhz) else _NAN, f"{names['finish']}:report_clock_min_period"),
        (finish.reg_to_reg_delay_ns if finish and finish.reg_to_reg_capture and finish.reg_to_reg_capture.clock == clock else _NAN,
         f"{names['finish']}:reg to reg path (capture edge - slack)"),
        (period.value - setup_ws.value if single_clock else _NAN, f"clock period ({period.source}) - setup ws ({setup_ws.source})"),
    )
    # Only what ORFS reported as fmax (metrics in Hz, report_clock_min_period in MHz).
    fmax_mhz = _first((fmax_hz / 1e6, ""), (min_period.fmax_mhz if min_period else _NAN, "")).value

    area = _first((num("finish__design__instance__area__stdcell"), f"{names['metrics']}:finish__design__instance__area__stdcell"),
                  (report_log.design_area_um2 if report_log else _NAN, f"{names['log']}:Design area"))
    sequential = num("finish__design__instance__area__class__sequential_cell")
    cells = num("finish__design__instance__count__stdcell")
    total = finish.power_total if finish else None
    power_keys = ("finish__power__total", "finish__power__internal__total", "finish__power__switching__total", "finish__power__leakage__total")
    if all(_finite(num(k)) for k in power_keys):
        power = [num(k) for k in power_keys]
        power_source = f"{names['metrics']}:finish__power__*"
    elif total is not None:
        power = [total.total_w, total.internal_w, total.switching_w, total.leakage_w]
        power_source = f"{names['finish']}:report_power Total"
    else:
        power, power_source = [_NAN] * 4, ""
    setup_path = finish.setup_path if finish else None

    row.update({
        "kind": kind if kind is not None else design,
        "platform": platform,
        "corner": corner,
        "vdd": vdd if vdd is not None else _NAN,
        "temp_c": temp_c if temp_c is not None else _NAN,
        "target_ps": target_ps if target_ps is not None else _NAN,
        "area_um2": area.value,
        "area_sequential_um2": sequential,
        "area_combinational_um2": area.value - sequential,
        "delay_ns": delay.value,
        "power_w": power[0],
        "power_internal_w": power[1],
        "power_switching_w": power[2],
        "power_leakage_w": power[3],
        "power_activity_propagated": None,
        "cells": cells,
        "power_clock_ns": period.value,
        "input_activity": _NAN,
        "razor_window_slack_ns": _NAN,
        "critical_startpoint": setup_path.startpoint if setup_path else None,
        "critical_endpoint": setup_path.endpoint if setup_path else None,
        "run_dir": run_dir,
        "cache_key": None,
        "design": design,
        "flow_variant": flow_variant,
        "clock": clock,
        "clock_period_ns": period.value,
        "fmax_mhz": fmax_mhz,
        "setup_ws_ns": setup_ws.value,
        "setup_tns_ns": _first((num("finish__timing__setup__tns") * time_unit_ns, ""), (finish.tns_ns if finish else _NAN, "")).value,
        "hold_ws_ns": _first((num("finish__timing__hold__ws") * time_unit_ns, ""),
                             (finish.hold_path.slack_ns if finish and finish.hold_path else _NAN, "")).value,
        "setup_violations": _first((num("finish__timing__drv__setup_violation_count"), ""),
                                   (finish.setup_violation_count if finish and finish.setup_violation_count is not None else _NAN, "")).value,
        "hold_violations": _first((num("finish__timing__drv__hold_violation_count"), ""),
                                  (finish.hold_violation_count if finish and finish.hold_violation_count is not None else _NAN, "")).value,
        "utilization": _first((num("finish__design__instance__utilization"), ""),
                              (report_log.utilization if report_log else _NAN, "")).value,
        "core_area_um2": num("finish__design__core__area"),
        "die_area_um2": num("finish__design__die__area"),
        "design_area_um2": report_log.design_area_um2 if report_log else _NAN,
        "synth_area_um2": _first((synth.area_um2 if synth else _NAN, ""), (num("synth__design__instance__area__stdcell"), "")).value,
        "synth_sequential_area_um2": synth.sequential_area_um2 if synth else _NAN,
        "synth_cells": _first((synth.cells if synth else _NAN, ""), (num("synth__design__instance__count__stdcell"), "")).value,
        "delay_source": delay.source,
        "area_source": area.source,
        "power_source": power_source,
    })
    return row


def orfs_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows from characterization_row / read_orfs_run as a DataFrame with ORFS_COLUMNS."""
    return pd.DataFrame(rows, columns=ORFS_COLUMNS)


# --------------------------------------------------------------------------- reading a run folder


@dataclass(frozen=True)
class OrfsRunFolders:
    """Where ORFS puts one run's files under its WORK_HOME (FLOW_HOME by default)."""

    logs: Path
    reports: Path
    results: Path

    @classmethod
    def of(cls, work_home: Path, platform: str, design_nickname: str, flow_variant: str) -> "OrfsRunFolders":
        parts = (platform, design_nickname, flow_variant)
        return cls(Path(work_home, "logs", *parts), Path(work_home, "reports", *parts), Path(work_home, "results", *parts))


def read_orfs_run(work_home: Path, platform: str, design_nickname: str, flow_variant: str, **row_fields: Any) -> dict[str, Any]:
    """Read one finished run's metrics and reports (whichever exist) into a characterization row.

    Metrics come from the stage JSON files in logs/ (merged as genMetrics does), else from
    reports/.../metadata.json. `row_fields` go to characterization_row (kind, target_ps, ...).
    """
    folders = OrfsRunFolders.of(work_home, platform, design_nickname, flow_variant)
    unit = platform_time_unit_ns(platform)
    metrics = read_stage_metrics(folders.logs) if folders.logs.is_dir() else None
    metrics_name = f"{folders.logs}/*.json"
    metadata_path = folders.reports / "metadata.json"
    if metrics is None and metadata_path.is_file():
        metrics = parse_metrics_json(metadata_path.read_text(errors="replace"), metadata_path)
        metrics_name = str(metadata_path)
    if metrics is not None:
        stated = metrics.time_unit_ns()
        if stated is not None and not math.isclose(stated, unit):
            raise EdaError(f"{metrics.source}: run__flow__platform__time_units is {metrics.get('run__flow__platform__time_units')!r} "
                           f"but platform {platform} uses {unit:g} ns per unit (eda/parsers/orfs/units.py)")
    finish_path = folders.reports / "6_finish.rpt"
    log_path = folders.logs / "6_report.log"
    synth_path = folders.reports / "synth_stat.txt"
    finish = parse_finish_report(finish_path.read_text(errors="replace"), unit, finish_path) if finish_path.is_file() else None
    report_log = parse_report_log(log_path.read_text(errors="replace"), log_path) if log_path.is_file() else None
    synth = parse_synth_stat(synth_path.read_text(errors="replace"), synth_path) if synth_path.is_file() else None
    if metrics is None and finish is None and report_log is None and synth is None:
        raise EdaError(f"no ORFS outputs for {platform}/{design_nickname}/{flow_variant}: none of {folders.logs}/*.json, "
                       f"{metadata_path}, {finish_path}, {log_path}, {synth_path} exists. Did the run finish?")
    return characterization_row(
        platform=platform, time_unit_ns=unit, metrics=metrics, finish=finish, report_log=report_log, synth=synth,
        design=design_nickname, flow_variant=flow_variant, run_dir=row_fields.pop("run_dir", str(folders.logs)),
        file_names={"metrics": metrics_name, "finish": str(finish_path), "log": str(log_path), "synth": str(synth_path)},
        **row_fields,
    )
