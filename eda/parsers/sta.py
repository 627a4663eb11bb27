"""Parse OpenSTA 2.0.x text reports: path reports, endpoint tables, report_power.

The STA script prints `@@ <section>` markers between reports; each section is parsed
by a pure function (text in, dataclass or DataFrame out).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from eda.core.errors import EdaError

_SECTION = re.compile(r"^@@ (\w+)\s*$", re.M)
_NUMBER = r"(-?[0-9.]+(?:[eE][-+]?[0-9]+)?)"


@dataclass(frozen=True)
class TimingPath:
    startpoint: str
    endpoint: str
    arrival_ns: float
    required_ns: float
    slack_ns: float


@dataclass(frozen=True)
class PowerRow:
    internal_w: float
    switching_w: float
    leakage_w: float
    total_w: float


@dataclass(frozen=True)
class ActivityTrace:
    """What OpenSTA's `power_activity` debug trace says about activity propagation.

    Debian's OpenSTA 2.0.17 (git c018cb2) carries activity across registers only if
    the *last* register input its first pass visits is newly reached (Power.cc
    assigns found_reg_without_activity_ with '=' where later versions use '|=').
    When that fails no register output is enqueued, everything behind the first
    register stage keeps the default input activity, and power is under-reported
    (the earlier Thundervolt design with a shadow latch triggered it). `propagated`
    is False then.
    """

    seeds: int
    pins_set: int
    register_outputs_reached: int
    register_inputs_pending: int

    @property
    def propagated(self) -> bool:
        return self.register_inputs_pending == 0 or self.register_outputs_reached > 0


@dataclass(frozen=True)
class StaReport:
    critical_path: TimingPath
    endpoints: pd.DataFrame  # endpoint, required_ns, arrival_ns, slack_ns
    power_groups: dict[str, PowerRow]
    shadow_path: TimingPath | None
    warnings: list[str]
    activity: ActivityTrace

    @property
    def power_total(self) -> PowerRow:
        return self.power_groups["Total"]


def split_sections(text: str) -> dict[str, str]:
    parts = _SECTION.split(text)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def parse_path(text: str) -> TimingPath | None:
    """The first full path in a report_checks output; None if there is no path."""
    if "No paths found" in text:
        return None
    start = re.search(r"^Startpoint: (\S+)", text, re.M)
    end = re.search(r"^Endpoint: (\S+)", text, re.M)
    arrival = re.search(rf"^\s*{_NUMBER}\s+data arrival time\s*$", text, re.M)
    required = re.search(rf"^\s*{_NUMBER}\s+data required time\s*$", text, re.M)
    slack = re.search(rf"^\s*{_NUMBER}\s+slack \((?:MET|VIOLATED)\)", text, re.M)
    if not (start and end and arrival and required and slack):
        return None
    return TimingPath(start.group(1), end.group(1), float(arrival.group(1)), float(required.group(1)), float(slack.group(1)))


def parse_endpoints(text: str) -> pd.DataFrame:
    """report_checks -format end: one row per endpoint."""
    rows = re.findall(rf"^(\S+) \((\S+)\)\s+{_NUMBER}\s+{_NUMBER}\s+{_NUMBER} \((?:MET|VIOLATED)\)", text, re.M)
    return pd.DataFrame(
        [(pin, cell, float(req), float(arr), float(slk)) for pin, cell, req, arr, slk in rows],
        columns=["endpoint", "cell", "required_ns", "arrival_ns", "slack_ns"],
    )


def parse_power(text: str) -> dict[str, PowerRow]:
    """report_power's group table (Sequential, Combinational, Macro, Pad, Total), in W."""
    groups = {}
    for name, *values in re.findall(rf"^(Sequential|Combinational|Macro|Pad|Total)\s+{_NUMBER}\s+{_NUMBER}\s+{_NUMBER}\s+{_NUMBER}", text, re.M):
        groups[name] = PowerRow(*(float(v) for v in values))
    return groups


def parse_activity_trace(text: str) -> ActivityTrace:
    def count(word: str) -> int:
        return len(re.findall(rf"^power_activity: {word} ", text, re.M))

    return ActivityTrace(count("seed"), count("set"), count("enqueue reg output"), count("pending reg"))


def parse_sta_log(text: str, source: Path | str = "OpenSTA log") -> StaReport:
    errors = re.findall(r"^Error: (.*)$", text, re.M)
    if errors:
        raise EdaError(f"OpenSTA reported errors in {source}: {'; '.join(errors[:5])}")
    sections = split_sections(text)
    missing = [s for s in ("critical_path", "endpoints", "power", "end") if s not in sections]
    if missing:
        raise EdaError(f"{source}: OpenSTA output is missing section(s) {', '.join(missing)}; the run stopped early")
    path = parse_path(sections["critical_path"])
    if path is None:
        raise EdaError(
            f"{source}: no register-to-register path clocked by clk. Does the design have a clock port "
            "and registers on both ends of its logic (see --register-io)?"
        )
    power = parse_power(sections["power"])
    if "Total" not in power:
        raise EdaError(f"{source}: report_power table not found")
    return StaReport(
        critical_path=path,
        endpoints=parse_endpoints(sections["endpoints"]),
        power_groups=power,
        shadow_path=parse_path(sections["shadow"]) if "shadow" in sections else None,
        warnings=re.findall(r"^Warning: (.*)$", text, re.M),
        activity=parse_activity_trace(sections["power"]),
    )
