"""OpenSTA's SDF (`write_sdf`) and per-edge arc delays (`report_dcalc`), as tables.

The SDF gives, per instance, IOPATH delays (output rise, output fall) for every timing arc,
INTERCONNECT delays from a driver pin or input port to each load pin, and the flops' SETUP
checks per data edge. Values are (min::max) triples; the timing simulation times the
setup-critical (max) case, so the max of each triple is kept, like the STA's max paths.

OpenSTA 2.0.17 writes a non-unate arc (an XOR input) as two IOPATH lines with no condition
and no edge: one for the positive-unate and one for the negative-unate timing group, in an
order the file does not state. `report_dcalc -from inst/A -to inst/Y` prints each edge
pair's delay with its arc sense, which tells the two lines apart (see parse_dcalc).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from eda.core.errors import EdaError

IOPATH_COLUMNS = ["instance", "from_pin", "to_pin", "order", "rise_ns", "fall_ns"]
INTERCONNECT_COLUMNS = ["driver", "load", "rise_ns", "fall_ns"]
SETUP_COLUMNS = ["instance", "pin", "data_edge", "clock_pin", "setup_ns"]
DCALC_COLUMNS = ["instance", "from_pin", "to_pin", "sense", "from_rise", "to_rise", "delay_ns"]

_TRIPLE = r"\(([^()]*)\)"
_IOPATH = re.compile(rf"^\(IOPATH\s+(\S+)\s+(\S+)\s+{_TRIPLE}(?:\s*{_TRIPLE})?")
_INTERCONNECT = re.compile(rf"^\(INTERCONNECT\s+(\S+)\s+(\S+)\s+{_TRIPLE}(?:\s*{_TRIPLE})?")
_SETUP = re.compile(rf"^\(SETUP\s+\((posedge|negedge)\s+(\S+)\)\s+\((?:posedge|negedge)\s+(\S+)\)\s+{_TRIPLE}")
_INSTANCE = re.compile(r"\(INSTANCE\s*((?:[^()\\]|\\.)*)\)")
_EDGE_PIN = re.compile(r"^\((?:posedge|negedge)\s+(\S+)\)$")


@dataclass(frozen=True)
class SdfDelays:
    """All delays in ns. `order` numbers repeated IOPATHs of one arc in file order (0, 1)."""

    iopath: pd.DataFrame  # IOPATH_COLUMNS
    interconnect: pd.DataFrame  # INTERCONNECT_COLUMNS
    setup: pd.DataFrame  # SETUP_COLUMNS; data_edge "rise" or "fall"
    timescale_ns: float


def unescape(name: str) -> str:
    """SDF escapes special characters of names with a backslash (product_razor\\.q)."""
    return re.sub(r"\\(.)", r"\1", name)


def triple_max(text: str) -> float | None:
    """The largest number of an SDF value triple ("0.1::0.2", "0.1:0.15:0.2", "0.1"); None if empty."""
    numbers = [part for part in text.split(":") if part.strip()]
    try:
        return max(float(part) for part in numbers) if numbers else None
    except ValueError:
        raise EdaError(f"SDF value ({text}) is not a number triple") from None


def _rise_fall(rise_text: str, fall_text: str | None) -> tuple[float, float]:
    # One value means the same delay for both output edges.
    rise = triple_max(rise_text)
    fall = triple_max(fall_text) if fall_text is not None else rise
    return (0.0 if rise is None else rise), (0.0 if fall is None else fall)


def parse_sdf(text: str, source: Path | str = "SDF") -> SdfDelays:
    timescale = re.search(r"\(TIMESCALE\s+([0-9.]+)\s*(ps|ns|us)\s*\)", text)
    scale_ns = 1.0 if timescale is None else float(timescale.group(1)) * {"ps": 1e-3, "ns": 1.0, "us": 1e3}[timescale.group(2)]
    iopath, interconnect, setup = [], [], []
    seen: dict[tuple[str, str, str], int] = {}
    instance = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if cell := _INSTANCE.search(line):
            instance = unescape(cell.group(1).strip())
        if "(IOPATH" in line:  # also inside (COND expr (IOPATH ...)): conditions are not kept, each line counts
            match = _IOPATH.match(line[line.index("(IOPATH"):])
            if match is None or not instance:
                raise EdaError(f"{source}, line {number}: cannot read {line!r}")
            edge = _EDGE_PIN.match(match.group(1))  # newer OpenSTA writes (posedge CLK) for clock arcs
            from_pin = unescape(edge.group(1) if edge else match.group(1))
            key = (instance, from_pin, unescape(match.group(2)))
            rise, fall = _rise_fall(match.group(3), match.group(4))
            iopath.append((*key, seen.get(key, 0), rise * scale_ns, fall * scale_ns))
            seen[key] = seen.get(key, 0) + 1
        elif "(INTERCONNECT" in line:
            match = _INTERCONNECT.match(line[line.index("(INTERCONNECT"):])
            if match is None:
                raise EdaError(f"{source}, line {number}: cannot read {line!r}")
            rise, fall = _rise_fall(match.group(3), match.group(4))
            interconnect.append((unescape(match.group(1)), unescape(match.group(2)), rise * scale_ns, fall * scale_ns))
        elif "(SETUP " in line:  # not SETUPHOLD: 2.0.17 writes SETUP and HOLD apart
            match = _SETUP.match(line[line.index("(SETUP"):])
            if match is None or not instance:
                raise EdaError(f"{source}, line {number}: cannot read {line!r}")
            value = triple_max(match.group(4))
            setup.append((instance, unescape(match.group(2)), "rise" if match.group(1) == "posedge" else "fall",
                          unescape(match.group(3)), (value or 0.0) * scale_ns))
    if not iopath:
        raise EdaError(f"{source}: no IOPATH delays; is this an SDF written by OpenSTA's write_sdf?")
    return SdfDelays(pd.DataFrame(iopath, columns=IOPATH_COLUMNS), pd.DataFrame(interconnect, columns=INTERCONNECT_COLUMNS),
                     pd.DataFrame(setup, columns=SETUP_COLUMNS), scale_ns)


def read_sdf(path: Path) -> SdfDelays:
    path = Path(path)
    if not path.is_file():
        raise EdaError(f"SDF file {path} not found")
    return parse_sdf(path.read_text(errors="replace"), source=path)


# report_dcalc output, per arc: "Arc sense: positive_unate", then per edge pair
# "A ^ -> X v" followed (after the table) by "Delay = 0.123". The caller prints
# "dcalc_arc <instance> <from> <to>" before each report_dcalc.
_DCALC_ARC = re.compile(r"^dcalc_arc (\S+) (\S+) (\S+)$")
_DCALC_SENSE = re.compile(r"^Arc sense: (\S+)$")
_DCALC_EDGE = re.compile(r"^(\S+) ([\^v]) -> (\S+) ([\^v])$")
_DCALC_DELAY = re.compile(r"^Delay = (-?[0-9.]+(?:[eE][-+]?[0-9]+)?)$")


def parse_dcalc(text: str) -> pd.DataFrame:
    """report_dcalc reports, each after a `dcalc_arc <instance> <from> <to>` line: one row per edge pair."""
    rows = []
    arc = sense = edge = None
    for raw in text.splitlines():
        line = raw.strip()
        if match := _DCALC_ARC.match(line):
            arc, sense, edge = match.groups(), None, None
        elif match := _DCALC_SENSE.match(line):
            sense = match.group(1)
        elif match := _DCALC_EDGE.match(line):
            edge = (match.group(2) == "^", match.group(4) == "^")
        elif (match := _DCALC_DELAY.match(line)) and arc and edge:
            rows.append((*arc, sense or "", *edge, float(match.group(1))))
            edge = None  # the "Slew = " that follows is not a delay
    return pd.DataFrame(rows, columns=DCALC_COLUMNS)
