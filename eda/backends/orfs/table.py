"""One ORFS run -> one row of the characterization table the embedded backend writes.

The row has every column of eda.characterize.CSV_COLUMNS (NaN / None where ORFS outputs
say nothing about it) followed by ORFS_EXTRA_COLUMNS. Where two files give a number the
one with more digits wins, and `*_source` columns name the file (and key) it came from:

- area_um2 / cells: metrics `finish__design__instance__area__stdcell` / `__count__stdcell`
  (standard cells after finish, fill cells excluded, tap cells and the clock tree included),
  else 6_report.log's "Design area" (which also leaves out tap cells; integer um^2).
- area_sequential_um2: metrics `finish__design__instance__area__class:sequential_cell`;
  area_combinational_um2 = area_um2 - area_sequential_um2, as in the embedded backend.
- delay_ns has ONE definition, the embedded backend's (eda/flow/sta.py): the minimum clock
  period of the main clock (`clk` for our MACs), i.e. capture edge minus slack of the worst
  path captured by that clock, IO paths included (ORFS constrains ports against the clock,
  as the embedded script does with zero IO delay). Read, in order, from: metrics
  `finish__timing__fmax__clock:<clock>` (Hz), 6_finish.rpt report_clock_min_period (both
  OpenSTA's min period over that clock's paths, port paths included since ORFS 2025), the
  worst setup path of 6_finish.rpt when that clock captures it (its slack taken from the
  metrics' setup ws when the two agree, for the digits); then, with one clock and only
  metrics, the run's own SDC period minus the setup ws. The worst register-to-register
  path is a different quantity (IO paths excluded): it is kept in reg_to_reg_delay_ns,
  never in delay_ns.
- critical_startpoint / critical_endpoint name the path whose delay is delay_ns: the
  report's path whose capture edge minus slack equals it (to the report's digits), or
  nothing when no reported path does (critical_path_source says why).
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
from eda.parsers.orfs.metrics import MetricsJson, merge_metrics, parse_metrics_json, stage_json_order
from eda.parsers.orfs.reports import (FinishReport, ReportLog, SynthStat, parse_finish_report, parse_report_log,
                                      parse_synth_stat, path_min_period_ns)
from eda.parsers.orfs.units import resolve_time_unit_ns
from eda.parsers.sta import TimingPath

ORFS_EXTRA_COLUMNS = [
    "design", "flow_variant", "clock", "clock_period_ns", "fmax_mhz", "setup_ws_ns", "setup_tns_ns", "hold_ws_ns",
    "setup_violations", "hold_violations", "utilization", "core_area_um2", "die_area_um2", "design_area_um2",
    "synth_area_um2", "synth_sequential_area_um2", "synth_cells", "reg_to_reg_delay_ns", "delay_source",
    "critical_path_source", "area_source", "power_source",
]
ORFS_COLUMNS = CSV_COLUMNS + [c for c in ORFS_EXTRA_COLUMNS if c not in CSV_COLUMNS]

_NAN = math.nan
# ORFS prints report times with 2 decimals (report_checks' default -digits) in the platform's
# unit; a path matches a delay from fmax when capture edge minus slack agrees to this many units.
_REPORT_ROUNDING_UNITS = 0.011
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


def characterization_row(**fields: Any) -> dict[str, Any]:
    """Combine parsed ORFS outputs into one row (pure). Metric times are scaled by time_unit_ns."""
    return characterization_row_with_sources(**fields)[0]


@dataclass(frozen=True)
class _Delay:
    value: float
    source: str
    path: TimingPath | None = None
    path_source: str = ""


def _main_clock_delay(clock: str | None, *, fmax_hz: float, fmax_key: str, min_period, finish: FinishReport | None,
                      setup_ws: _Pick, single_clock: bool, own_period: _Pick, time_unit_ns: float,
                      names: dict[str, str]) -> _Delay:
    """delay_ns of the module docstring and the reported path it belongs to (None when no path matches)."""
    paths = finish.clock_paths(clock) if finish else []
    worst = next(((n, p, e) for n, p, e in paths if n == "report_checks -path_delay max"), None)
    tolerance = _REPORT_ROUNDING_UNITS * time_unit_ns
    if _finite(fmax_hz) and fmax_hz > 0:
        return _named(_Delay(1e9 / fmax_hz, f"{names['metrics']}:{fmax_key}"), paths, tolerance, names)
    if min_period is not None and math.isfinite(min_period.fmax_mhz):
        return _named(_Delay(min_period.period_min_ns, f"{names['finish']}:report_clock_min_period"), paths, tolerance, names)
    if worst is not None:
        section, path, edge = worst
        slack, slack_source = path.slack_ns, f"{names['finish']}:{section} slack"
        # The metrics' ws is the same slack with more digits when it rounds to the report's.
        if single_clock and _finite(setup_ws.value) and abs(setup_ws.value - path.slack_ns) <= tolerance / 2:
            slack, slack_source = setup_ws.value, setup_ws.source
        return _Delay(edge.time_ns - slack, f"{names['finish']}:{section} capture edge ({edge.edge}) - slack ({slack_source})",
                      path, f"{names['finish']}:{section}")
    if single_clock and _finite(own_period.value) and _finite(setup_ws.value):
        return _Delay(own_period.value - setup_ws.value, f"clock period ({own_period.source}) - setup ws ({setup_ws.source})",
                      None, "no timing report: the metrics give the worst slack but not its path")
    return _Delay(_NAN, "", None, "")


def _named(delay: _Delay, paths: list, tolerance: float, names: dict[str, str]) -> _Delay:
    """`delay` with the reported path whose capture edge minus slack is that delay (worst section first)."""
    for section, path, edge in paths:
        if abs(path_min_period_ns(path, edge) - delay.value) <= tolerance:
            return _Delay(delay.value, delay.source, path, f"{names['finish']}:{section}")
    why = "no setup path of this clock in the timing report" if not paths else \
        f"no reported path of {names['finish']} has this delay (capture edge - slack)"
    return _Delay(delay.value, delay.source, None, why)


def characterization_row_with_sources(
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
) -> tuple[dict[str, Any], dict[str, str]]:
    """The row of characterization_row and, for every number in it, the file (and key or section) it came from."""
    names = {"metrics": "metrics JSON", "finish": "6_finish.rpt", "log": "6_report.log", "synth": "synth_stat.txt",
             **(file_names or {})}
    m = metrics
    num = (lambda key: m.number(key)) if m is not None else (lambda key: _NAN)
    row: dict[str, Any] = {c: None for c in ORFS_COLUMNS}

    def metric(key: str) -> tuple[float, str]:
        return num(key), f"{names['metrics']}:{m.spelled.get(key, key) if m else key}"

    def scaled(key: str) -> tuple[float, str]:
        value, source = metric(key)
        return value * time_unit_ns, source

    # Clocks: per-clock fmax keys in the metrics, report_clock_min_period lines, SDC periods.
    fmax_keys = {k[len("finish__timing__fmax__clock__"):]: k for k in (m.keys_with_prefix("finish__timing__fmax__clock__") if m else {})}
    sdc_periods = sdc_clock_periods(m, time_unit_ns)
    clock_names = list(dict.fromkeys([*fmax_keys, *(c.clock for c in (finish.clock_min_periods if finish else ())), *sdc_periods]))
    if clock_names:
        clock = _pick_clock(clock_names, main_clock, names["metrics"] if fmax_keys or sdc_periods else names["finish"])
    elif main_clock is not None:
        clock = main_clock  # nothing lists the clocks; the path reports below are matched against it
    else:
        # Old reports list no clocks: take the clock capturing the worst (else reg-to-reg) path.
        captures = [e.clock for e in ((finish.setup_capture, finish.reg_to_reg_capture) if finish else ()) if e is not None]
        clock = captures[0] if captures else None
        clock_names = captures[:1]

    fmax_hz = num(fmax_keys[clock]) if clock in fmax_keys else _NAN
    min_period = finish.clock_min_period(clock) if (finish and clock) else None
    captured = {name: edge for name, _path, edge in (finish.clock_paths(clock) if finish else [])}
    # The run's own period (its SDC) first: a given period is what was asked for, maybe not what ran.
    own_period = _first(
        (sdc_periods.get(clock, _NAN), f"{names['metrics']}:constraints__clocks__details"),
        (captured["report_checks -path_delay max reg to reg"].time_ns if "report_checks -path_delay max reg to reg" in captured else _NAN,
         f"{names['finish']}:reg to reg capture edge"),
        (captured["report_checks -path_delay max"].time_ns if "report_checks -path_delay max" in captured else _NAN,
         f"{names['finish']}:setup path capture edge"),
    )
    period = own_period if _finite(own_period.value) else _first((clock_period_ns if clock_period_ns is not None else _NAN, "given"))
    setup_ws = _first(scaled("finish__timing__setup__ws"),
                      (finish.critical_path_slack_ns if finish else _NAN, f"{names['finish']}:critical path slack"),
                      (finish.worst_slack_ns if finish else _NAN, f"{names['finish']}:report_worst_slack"))
    fmax_key = m.spelled.get(fmax_keys.get(clock, ""), "") if m else ""
    delay = _main_clock_delay(clock, fmax_hz=fmax_hz, fmax_key=fmax_key, min_period=min_period, finish=finish,
                              setup_ws=setup_ws, single_clock=len(clock_names) == 1, own_period=own_period,
                              time_unit_ns=time_unit_ns, names=names)
    # Only what ORFS reported as fmax (metrics in Hz, report_clock_min_period in MHz).
    fmax = _first((fmax_hz / 1e6, f"{names['metrics']}:{fmax_key}"),
                  (min_period.fmax_mhz if min_period else _NAN, f"{names['finish']}:report_clock_min_period"))

    area = _first(metric("finish__design__instance__area__stdcell"),
                  (report_log.design_area_um2 if report_log else _NAN, f"{names['log']}:Design area"))
    sequential = _first(metric("finish__design__instance__area__class__sequential_cell"))
    cells = _first(metric("finish__design__instance__count__stdcell"))
    total = finish.power_total if finish else None
    power_keys = ("finish__power__total", "finish__power__internal__total", "finish__power__switching__total", "finish__power__leakage__total")
    if all(_finite(num(k)) for k in power_keys):
        power = [num(k) for k in power_keys]
        power_sources = [metric(k)[1] for k in power_keys]
        power_source = f"{names['metrics']}:finish__power__*"
    elif total is not None:
        power = [total.total_w, total.internal_w, total.switching_w, total.leakage_w]
        power_source = f"{names['finish']}:report_power Total"
        power_sources = [power_source] * 4
    else:
        power, power_source, power_sources = [_NAN] * 4, "", [""] * 4
    path = delay.path
    picks = {
        "setup_tns_ns": _first(scaled("finish__timing__setup__tns"), (finish.tns_ns if finish else _NAN, f"{names['finish']}:report_tns")),
        "hold_ws_ns": _first(scaled("finish__timing__hold__ws"),
                             (finish.hold_path.slack_ns if finish and finish.hold_path else _NAN,
                              f"{names['finish']}:report_checks -path_delay min")),
        "setup_violations": _first(metric("finish__timing__drv__setup_violation_count"),
                                   (finish.setup_violation_count if finish and finish.setup_violation_count is not None else _NAN,
                                    f"{names['finish']}:setup_violation_count")),
        "hold_violations": _first(metric("finish__timing__drv__hold_violation_count"),
                                  (finish.hold_violation_count if finish and finish.hold_violation_count is not None else _NAN,
                                   f"{names['finish']}:hold_violation_count")),
        "utilization": _first(metric("finish__design__instance__utilization"),
                              (report_log.utilization if report_log else _NAN, f"{names['log']}:Design area")),
        "core_area_um2": _first(metric("finish__design__core__area")),
        "die_area_um2": _first(metric("finish__design__die__area")),
        "design_area_um2": _first((report_log.design_area_um2 if report_log else _NAN, f"{names['log']}:Design area")),
        "synth_area_um2": _first((synth.area_um2 if synth else _NAN, f"{names['synth']}:Chip area"),
                                 metric("synth__design__instance__area__stdcell")),
        "synth_sequential_area_um2": _first((synth.sequential_area_um2 if synth else _NAN,
                                             f"{names['synth']}:of which used for sequential elements")),
        "synth_cells": _first((synth.cells if synth else _NAN, f"{names['synth']}:cells"),
                              metric("synth__design__instance__count__stdcell")),
        "reg_to_reg_delay_ns": _first((finish.reg_to_reg_delay_ns if finish and "report_checks -path_delay max reg to reg" in captured else _NAN,
                                       f"{names['finish']}:report_checks -path_delay max reg to reg capture edge - slack")),
    }

    row.update({
        "kind": kind if kind is not None else design,
        "platform": platform,
        "corner": corner,
        "vdd": vdd if vdd is not None else _NAN,
        "temp_c": temp_c if temp_c is not None else _NAN,
        "target_ps": target_ps if target_ps is not None else _NAN,
        "area_um2": area.value,
        "area_sequential_um2": sequential.value,
        "area_combinational_um2": area.value - sequential.value,
        "delay_ns": delay.value,
        "power_w": power[0],
        "power_internal_w": power[1],
        "power_switching_w": power[2],
        "power_leakage_w": power[3],
        "power_activity_propagated": None,
        "cells": cells.value,
        "power_clock_ns": period.value,
        "input_activity": _NAN,
        "razor_window_slack_ns": _NAN,
        "critical_startpoint": path.startpoint if path else None,
        "critical_endpoint": path.endpoint if path else None,
        "run_dir": run_dir,
        "cache_key": None,
        "design": design,
        "flow_variant": flow_variant,
        "clock": clock,
        "clock_period_ns": period.value,
        "fmax_mhz": fmax.value,
        "setup_ws_ns": setup_ws.value,
        **{name: pick.value for name, pick in picks.items()},
        "delay_source": delay.source,
        "critical_path_source": delay.path_source,
        "area_source": area.source,
        "power_source": power_source,
    })
    sources = {
        "area_um2": area.source, "area_sequential_um2": sequential.source,
        "area_combinational_um2": f"area_um2 ({area.source}) - area_sequential_um2 ({sequential.source})",
        "delay_ns": delay.source, "critical_startpoint": delay.path_source, "critical_endpoint": delay.path_source,
        **dict(zip(("power_w", "power_internal_w", "power_switching_w", "power_leakage_w"), power_sources)),
        "cells": cells.source, "power_clock_ns": period.source, "clock_period_ns": period.source,
        "fmax_mhz": fmax.source, "setup_ws_ns": setup_ws.source,
        **{name: pick.source for name, pick in picks.items()},
    }
    # A source is named only for a number that is there.
    sources = {k: v for k, v in sources.items() if v and row.get(k) is not None and not (isinstance(row[k], float) and math.isnan(row[k]))}
    return row, sources


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


@dataclass(frozen=True)
class OrfsFiles:
    """The output files of one ORFS run that the table reads; None (or empty) for the absent ones."""

    stage_jsons: tuple[Path, ...] = ()  # logs/.../<N>_*.json, merged in stage order as genMetrics does
    metadata: Path | None = None  # reports/.../metadata.json, or any single metrics JSON (metrics.json, *-ok.json)
    finish: Path | None = None  # 6_finish.rpt
    report_log: Path | None = None  # 6_report.log
    synth: Path | None = None  # synth_stat.txt

    @classmethod
    def in_run(cls, folders: "OrfsRunFolders") -> "OrfsFiles":
        def found(path: Path) -> Path | None:
            return path if path.is_file() else None

        stage = tuple(sorted((p for p in folders.logs.glob("*.json") if _STAGE_JSON.match(p.name)), key=stage_json_order)) \
            if folders.logs.is_dir() else ()
        return cls(stage, found(folders.reports / "metadata.json"), found(folders.reports / "6_finish.rpt"),
                   found(folders.logs / "6_report.log"), found(folders.reports / "synth_stat.txt"))

    @property
    def any(self) -> bool:
        return bool(self.stage_jsons) or any(p is not None for p in (self.metadata, self.finish, self.report_log, self.synth))

    def paths(self) -> list[Path]:
        return [*self.stage_jsons, *(p for p in (self.metadata, self.finish, self.report_log, self.synth) if p is not None)]


_STAGE_JSON = re.compile(r"^\d+_")


def read_metrics(files: OrfsFiles) -> tuple[MetricsJson | None, str]:
    """The run's metrics and the name the table gives their file: stage JSONs merged, else the metadata JSON."""
    if files.stage_jsons:
        parts = [parse_metrics_json(p.read_text(errors="replace"), p) for p in files.stage_jsons]
        folder = files.stage_jsons[0].parent
        name = str(files.stage_jsons[0]) if len(files.stage_jsons) == 1 else f"{folder}/*.json"
        return merge_metrics(parts, source=name), name
    if files.metadata is not None:
        return parse_metrics_json(files.metadata.read_text(errors="replace"), files.metadata), str(files.metadata)
    return None, "metrics JSON"


def run_time_unit_ns(platform: str, metrics: MetricsJson | None) -> float:
    """The run's time unit: the platform's (aliases accepted), checked against what the metrics state."""
    stated = metrics.time_unit_ns() if metrics is not None else None
    text = metrics.get("run__flow__platform__time_units") if metrics is not None else None
    return resolve_time_unit_ns(platform, stated, metrics.source if metrics is not None else "metrics", text)


def read_orfs_files(files: OrfsFiles, platform: str, where: str, **row_fields: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """One run's files (whichever exist) -> (characterization row, source of each number). `where` names the run in errors."""
    if not files.any:
        raise EdaError(f"no ORFS outputs for {where}: no stage JSON, metadata.json, 6_finish.rpt, 6_report.log "
                       "or synth_stat.txt. Did the run finish?")
    metrics, metrics_name = read_metrics(files)
    unit = run_time_unit_ns(platform, metrics)
    finish = parse_finish_report(files.finish.read_text(errors="replace"), unit, files.finish) if files.finish else None
    report_log = parse_report_log(files.report_log.read_text(errors="replace"), files.report_log) if files.report_log else None
    synth = parse_synth_stat(files.synth.read_text(errors="replace"), files.synth) if files.synth else None
    names = {"metrics": metrics_name, "finish": str(files.finish), "log": str(files.report_log), "synth": str(files.synth)}
    return characterization_row_with_sources(platform=platform, time_unit_ns=unit, metrics=metrics, finish=finish,
                                             report_log=report_log, synth=synth, file_names=names, **row_fields)


def read_orfs_run(work_home: Path, platform: str, design_nickname: str, flow_variant: str, **row_fields: Any) -> dict[str, Any]:
    """Read one finished run's metrics and reports (whichever exist) into a characterization row.

    Metrics come from the stage JSON files in logs/ (merged as genMetrics does), else from
    reports/.../metadata.json. `row_fields` go to characterization_row (kind, target_ps, ...).
    `platform` is ORFS's folder name; other spellings ('gf180mcu') are accepted for the time unit
    but the folders are looked up under the name given.
    """
    folders = OrfsRunFolders.of(work_home, platform, design_nickname, flow_variant)
    files = OrfsFiles.in_run(folders)
    if not files.any:
        raise EdaError(f"no ORFS outputs for {platform}/{design_nickname}/{flow_variant}: none of {folders.logs}/*.json, "
                       f"{folders.reports / 'metadata.json'}, {folders.reports / '6_finish.rpt'}, {folders.logs / '6_report.log'}, "
                       f"{folders.reports / 'synth_stat.txt'} exists. Did the run finish?")
    row, _sources = read_orfs_files(files, platform, f"{platform}/{design_nickname}/{flow_variant}", design=design_nickname,
                                    flow_variant=flow_variant, run_dir=row_fields.pop("run_dir", str(folders.logs)), **row_fields)
    return row
