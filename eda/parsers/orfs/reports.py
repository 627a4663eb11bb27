"""Parse ORFS text reports: 6_finish.rpt, 6_report.log and synth_stat.txt.

Pure functions, text in and dataclass out. Times in the reports are in the platform's
time unit; every parser that reads times takes `time_unit_ns` (see units.py) and returns ns.

6_finish.rpt is a sequence of sections, each headed

    ==========================================================================
    finish report_checks -path_delay max
    --------------------------------------------------------------------------

holding OpenSTA's report_checks / report_power / report_clock_min_period output (the
path and power tables are read with eda.parsers.sta where the format is the same).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import pandas as pd

from eda.core.errors import EdaError
from eda.parsers.sta import PowerRow, TimingPath, parse_path

_NUMBER = r"(-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)"
_SECTION_HEADER = re.compile(r"^={20,}\n([^\n]*)\n-{20,}\n", re.M)
_CLOCK_EDGE = re.compile(rf"^\s*{_NUMBER}\s+{_NUMBER}\s+clock (\S+) \((rise|fall) edge\)[ \t]*$", re.M)
_POWER_ROW = re.compile(rf"^(\w+)\s+{_NUMBER}\s+{_NUMBER}\s+{_NUMBER}\s+{_NUMBER}\s+[0-9.]+%[ \t]*$", re.M)
_MIN_PERIOD = re.compile(rf"^(\S+) period_min = {_NUMBER} fmax = (INF|{_NUMBER})[ \t]*$", re.M)


# --------------------------------------------------------------------------- sections


def split_report_sections(text: str) -> dict[str, str]:
    """Section title ('finish report_tns') -> its body, in file order."""
    parts = _SECTION_HEADER.split(text)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _section(sections: Mapping[str, str], name: str) -> str | None:
    """The body of the section called `name` after its stage word ('finish report_wns' for 'report_wns')."""
    for title, body in sections.items():
        if title == name or title.split(" ", 1)[-1] == name:
            return body
    return None


def _first_number(body: str | None, pattern: str) -> float:
    if body is None:
        return math.nan
    match = re.search(pattern, body, re.M)
    return float(match.group(1)) if match else math.nan


# --------------------------------------------------------------------------- 6_finish.rpt


@dataclass(frozen=True)
class ClockMinPeriod:
    """One line of report_clock_min_period: period in ns (from fmax, which has more digits), fmax in MHz."""

    clock: str
    period_min_ns: float
    fmax_mhz: float  # inf when the clock has no constrained paths


@dataclass(frozen=True)
class CaptureEdge:
    """The capturing clock edge of a path: for a single-cycle path its time is the clock period."""

    clock: str
    edge: str  # rise | fall
    time_ns: float


@dataclass(frozen=True)
class FinishReport:
    sections: Mapping[str, str]
    tns_ns: float
    wns_ns: float
    worst_slack_ns: float
    clock_min_periods: tuple[ClockMinPeriod, ...]
    setup_path: TimingPath | None  # report_checks -path_delay max: the worst setup path
    setup_capture: CaptureEdge | None
    reg_to_reg_path: TimingPath | None  # report_checks -path_delay max reg to reg
    reg_to_reg_capture: CaptureEdge | None
    hold_path: TimingPath | None
    critical_path_delay_ns: float
    critical_path_slack_ns: float
    setup_violation_count: int | None
    hold_violation_count: int | None
    power_groups: Mapping[str, PowerRow] = field(default_factory=dict)  # Sequential, Combinational, Clock, ..., Total; W

    @property
    def power_total(self) -> PowerRow | None:
        return self.power_groups.get("Total")

    def clock_min_period(self, clock: str) -> ClockMinPeriod | None:
        return next((c for c in self.clock_min_periods if c.clock == clock), None)

    @property
    def reg_to_reg_delay_ns(self) -> float:
        """Minimum period of the worst register-to-register path: capture edge minus slack."""
        return path_min_period_ns(self.reg_to_reg_path, self.reg_to_reg_capture)

    @property
    def setup_delay_ns(self) -> float:
        """Minimum period of the worst setup path (ports included): capture edge minus slack."""
        return path_min_period_ns(self.setup_path, self.setup_capture)

    def clock_paths(self, clock: str | None) -> list[tuple[str, TimingPath, CaptureEdge]]:
        """(section, path, capture edge) of the reported setup paths captured by `clock`, worst section first."""
        found = [("report_checks -path_delay max", self.setup_path, self.setup_capture),
                 ("report_checks -path_delay max reg to reg", self.reg_to_reg_path, self.reg_to_reg_capture)]
        return [(name, path, edge) for name, path, edge in found
                if path is not None and edge is not None and (clock is None or edge.clock == clock)]


def path_min_period_ns(path: TimingPath | None, capture: CaptureEdge | None) -> float:
    """The clock period at which `path` has zero slack: capture edge time minus slack (single-cycle paths).

    The one delay definition of every backend: the embedded one computes it as clock period
    minus the worst clk->clk slack (eda/flow/sta.py), OpenSTA's report_clock_min_period and
    ORFS's fmax as the largest of it over the clock's paths.
    """
    if path is None or capture is None:
        return math.nan
    return capture.time_ns - path.slack_ns


def _scaled_path(path: TimingPath | None, scale: float) -> TimingPath | None:
    if path is None:
        return None
    return TimingPath(path.startpoint, path.endpoint, path.arrival_ns * scale, path.required_ns * scale, path.slack_ns * scale)


def parse_capture_edge(path_text: str, time_unit_ns: float = 1.0) -> CaptureEdge | None:
    """The second 'clock X (rise edge)' line of a full path report: the capturing edge."""
    edges = _CLOCK_EDGE.findall(path_text)
    if len(edges) < 2:
        return None
    _incr, time, clock, edge = edges[1]
    return CaptureEdge(clock, edge, float(time) * time_unit_ns)


def parse_power_groups(text: str) -> dict[str, PowerRow]:
    """report_power's group table, every group including Clock (W; the table states Watts)."""
    return {name: PowerRow(*(float(v) for v in values)) for name, *values in _POWER_ROW.findall(text)}


def parse_clock_min_periods(text: str, time_unit_ns: float = 1.0) -> tuple[ClockMinPeriod, ...]:
    """`<clock> period_min = 2.64 fmax = 378.31` lines; fmax is in MHz whatever the time unit."""
    result = []
    for clock, period, fmax_text, fmax_number in _MIN_PERIOD.findall(text):
        if fmax_text == "INF":
            result.append(ClockMinPeriod(clock, 0.0, math.inf))
            continue
        fmax_mhz = float(fmax_number)
        # period_min is printed with 2 decimals; 1/fmax keeps the digits OpenSTA computed.
        period_ns = 1e3 / fmax_mhz if fmax_mhz > 0 else float(period) * time_unit_ns
        result.append(ClockMinPeriod(clock, period_ns, fmax_mhz))
    return tuple(result)


def _count(body: str | None, words: str) -> int | None:
    if body is None:
        return None
    match = re.search(rf"^{words} (\d+)[ \t]*$", body, re.M)
    return int(match.group(1)) if match else None


def parse_finish_report(text: str, time_unit_ns: float, source: str | Path = "6_finish.rpt") -> FinishReport:
    """6_finish.rpt (or any ORFS report of the same shape) -> FinishReport, times in ns.

    Sections missing from a given ORFS version give NaN / None (report_clock_min_period
    appeared in 2025). A text with no sections at all is an error.
    """
    sections = split_report_sections(text)
    if not sections:
        raise EdaError(f"{source}: no ORFS report sections (a line of '=' signs, a title, a line of '-' signs) found")
    unit = time_unit_ns

    def time_value(name: str, pattern: str) -> float:
        return _first_number(_section(sections, name), pattern) * unit

    setup_text = _section(sections, "report_checks -path_delay max")
    reg_text = _section(sections, "report_checks -path_delay max reg to reg")
    hold_text = _section(sections, "report_checks -path_delay min")
    min_period_text = _section(sections, "report_clock_min_period")
    power_text = _section(sections, "report_power")
    power = parse_power_groups(power_text) if power_text is not None else {}
    if power_text is not None and "Total" not in power:
        raise EdaError(f"{source}: section 'report_power' has no 'Total' row of four numbers and a percentage")
    return FinishReport(
        sections=MappingProxyType(sections),
        tns_ns=time_value("report_tns", rf"^tns(?: max)? {_NUMBER}"),
        wns_ns=time_value("report_wns", rf"^wns(?: max)? {_NUMBER}"),
        worst_slack_ns=time_value("report_worst_slack", rf"^worst slack(?: max)? {_NUMBER}"),
        clock_min_periods=parse_clock_min_periods(min_period_text, unit) if min_period_text else (),
        setup_path=_scaled_path(parse_path(setup_text), unit) if setup_text else None,
        setup_capture=parse_capture_edge(setup_text, unit) if setup_text else None,
        reg_to_reg_path=_scaled_path(parse_path(reg_text), unit) if reg_text else None,
        reg_to_reg_capture=parse_capture_edge(reg_text, unit) if reg_text else None,
        hold_path=_scaled_path(parse_path(hold_text), unit) if hold_text else None,
        critical_path_delay_ns=time_value("critical path delay", rf"^[ \t]*{_NUMBER}[ \t]*$"),
        critical_path_slack_ns=time_value("critical path slack", rf"^[ \t]*{_NUMBER}[ \t]*$"),
        setup_violation_count=_count(_section(sections, "setup_violation_count"), "setup violation count"),
        hold_violation_count=_count(_section(sections, "hold_violation_count"), "hold violation count"),
        power_groups=MappingProxyType(power),
    )


# --------------------------------------------------------------------------- 6_report.log


@dataclass(frozen=True)
class ReportLog:
    """OpenROAD's stdout of the finish report step."""

    design_area_um2: float  # report_design_area: "Design area 837 u^2 73% utilization."
    utilization: float  # fraction
    cell_types: pd.DataFrame  # cell_type, count, area_um2 (OpenROAD's "Cell type report"; Total row excluded)
    cell_total_count: int | None
    cell_total_area_um2: float
    ir_drop: pd.DataFrame  # net, corner, supply_v, worst_voltage_v, average_voltage_v, average_drop_v, worst_drop_v, drop_percent
    elapsed_s: float
    peak_memory_kb: float
    openroad_version: str | None
    errors: tuple[str, ...]  # [ERROR ...] and Error: lines


_IR_FIELDS = {
    "Net": ("net", str),
    "Corner": ("corner", str),
    "Supply voltage": ("supply_v", float),
    "Worstcase voltage": ("worst_voltage_v", float),
    "Average voltage": ("average_voltage_v", float),
    "Average IR drop": ("average_drop_v", float),
    "Worstcase IR drop": ("worst_drop_v", float),
    "Percentage drop": ("drop_percent", float),
}


def parse_elapsed_s(text: str) -> float:
    """'0:20.64' or '1:02:03.5' ([h:]min:sec, as ORFS's time wrapper prints it) -> seconds."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3:
        raise EdaError(f"elapsed time {text.strip()!r}: expected [h:]min:sec")
    seconds = 0.0
    for part in parts:
        try:
            seconds = seconds * 60 + float(part)
        except ValueError:
            raise EdaError(f"elapsed time {text.strip()!r}: {part!r} is not a number (expected [h:]min:sec)") from None
    return seconds


def _parse_ir_reports(text: str) -> pd.DataFrame:
    rows = []
    for block in re.findall(r"^#+ IR report #+\n(.*?)^#+\s*$", text, re.M | re.S):
        row = {}
        for line in block.splitlines():
            label, _, value = line.partition(":")
            spec = _IR_FIELDS.get(label.strip())
            if spec is None:
                continue
            name, kind = spec
            value = value.strip()
            row[name] = kind(value.split()[0]) if kind is float else value
        rows.append(row)
    return pd.DataFrame(rows, columns=[name for name, _ in _IR_FIELDS.values()])


def parse_report_log(text: str, source: str | Path = "6_report.log") -> ReportLog:
    """6_report.log -> ReportLog. The last 'Design area' line wins (as in ORFS's genMetrics)."""
    areas = re.findall(rf"^Design area {_NUMBER} u\^2 {_NUMBER}% utilization\.", text, re.M)
    design_area, utilization_pct = (float(areas[-1][0]), float(areas[-1][1])) if areas else (math.nan, math.nan)

    cell_rows, total_count, total_area = [], None, math.nan
    table = re.search(r"^Cell type report:\s+Count\s+Area\s*\n((?:[ \t]+\S.*\n?)+)", text, re.M)
    if table:
        for line in table.group(1).splitlines():
            match = re.match(rf"^\s+(\S.*?)\s+(\d+)\s+{_NUMBER}\s*$", line)
            if match is None:
                raise EdaError(f"{source}: cannot read Cell type report line {line.strip()!r}: expected name, count, area")
            name, count, area = match.group(1), int(match.group(2)), float(match.group(3))
            if name == "Total":
                total_count, total_area = count, area
            else:
                cell_rows.append((name, count, area))
    elapsed = re.search(r"^Elapsed time: (\S+)\[h:\]min:sec\..*?Peak memory: (\d+)KB", text, re.M)
    version = re.search(r"^OpenROAD (\S+)", text, re.M)
    errors = tuple(re.findall(r"^(\[ERROR [^\]]+\].*|Error: .*)$", text, re.M))
    return ReportLog(
        design_area_um2=design_area,
        utilization=utilization_pct / 100.0,
        cell_types=pd.DataFrame(cell_rows, columns=["cell_type", "count", "area_um2"]),
        cell_total_count=total_count,
        cell_total_area_um2=total_area,
        ir_drop=_parse_ir_reports(text),
        elapsed_s=parse_elapsed_s(elapsed.group(1)) if elapsed else math.nan,
        peak_memory_kb=float(elapsed.group(2)) if elapsed else math.nan,
        openroad_version=version.group(1) if version else None,
        errors=errors,
    )


# --------------------------------------------------------------------------- synth_stat.txt


@dataclass(frozen=True)
class SynthStat:
    """Yosys `stat -liberty` of the synthesized top (ORFS reports/.../synth_stat.txt)."""

    module: str
    cells: int
    cell_counts: Mapping[str, int]
    cell_areas_um2: Mapping[str, float]  # per cell type; only the table format (yosys >= 0.4x) prints them
    area_um2: float
    sequential_area_um2: float  # NaN when yosys did not print the line
    layout: str  # "list" (Number of cells: N) or "table" (count, area, name columns)


_BLOCK = re.compile(r"^=== (.+?) ===[ \t]*$", re.M)
_CHIP_AREA = re.compile(rf"^[ \t]*Chip area for (?:top )?module '\\?(.+?)': {_NUMBER}[ \t]*$", re.M)
_SEQUENTIAL = re.compile(rf"^[ \t]*of which used for sequential elements: {_NUMBER}", re.M)
_TABLE_TOTAL = re.compile(r"^\s*(\d+|-)\s+(\S+) ([a-z][a-z ]*?)\s*$")  # "      503  650.104 cells"
_TABLE_ROW = re.compile(r"^\s*(\d+)\s+(\S+)\s{2,}(\S+)\s*$")  # "       19   20.216   AND2_X1"
_LIST_ROW = re.compile(r"^\s+(\S+)\s+(\d+)\s*$")  # "     AND2_X1                        19"


def _parse_block_cells(block: str, source: str) -> tuple[int, dict[str, int], dict[str, float], str]:
    listed = re.search(r"^[ \t]*Number of cells:[ \t]+(\d+)[ \t]*$", block, re.M)
    counts: dict[str, int] = {}
    areas: dict[str, float] = {}
    if listed:
        for line in block[listed.end():].splitlines()[1:]:
            match = _LIST_ROW.match(line)
            if match is None:
                break
            counts[match.group(1).lstrip("\\")] = int(match.group(2))
        return int(listed.group(1)), counts, areas, "list"
    total = None
    section = ""
    for line in block.splitlines():
        row = _TABLE_ROW.match(line)
        if row and section == "cells":
            name = row.group(3).lstrip("\\")
            counts[name] = int(row.group(1))
            if row.group(2) != "-":
                areas[name] = float(row.group(2))
            continue
        head = _TABLE_TOTAL.match(line)
        if head:
            section = head.group(3)
            if section == "cells":
                total = 0 if head.group(1) == "-" else int(head.group(1))
    if total is None:
        raise EdaError(f"{source}: no cell count found (neither 'Number of cells: N' nor a 'N AREA cells' row)")
    return total, counts, areas, "table"


def parse_synth_stat(text: str, source: str | Path = "synth_stat.txt") -> SynthStat:
    """synth_stat.txt in either yosys layout -> SynthStat of the top module.

    With hierarchy kept, yosys prints one block per module and a 'design hierarchy' block
    with totals including submodules; that block is used. Otherwise the last module block.
    """
    source = str(source)
    parts = _BLOCK.split(text)
    blocks = [(parts[i].strip(), parts[i + 1]) for i in range(1, len(parts) - 1, 2)]
    if not blocks:
        raise EdaError(f"{source}: no '=== <module> ===' block: not yosys stat output")
    name, block = next(((n, b) for n, b in blocks if n == "design hierarchy"), blocks[-1])
    chip = _CHIP_AREA.findall(block)
    if not chip:
        raise EdaError(f"{source}: block '=== {name} ===' has no \"Chip area for module '...': AREA\" line "
                       "(was stat run with -liberty?)")
    module, area = chip[-1]
    sequential = _SEQUENTIAL.search(block)
    cells, counts, areas, layout = _parse_block_cells(block, source)
    return SynthStat(
        module=module,
        cells=cells,
        cell_counts=MappingProxyType(counts),
        cell_areas_um2=MappingProxyType(areas),
        area_um2=float(area),
        sequential_area_um2=float(sequential.group(1)) if sequential else math.nan,
        layout=layout,
    )
