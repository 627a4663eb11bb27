"""Per-net switching activity from a VCD file: toggles per clock period and duty.

The file is read with vcdvcd (PyPI); this module only counts. For every bit of every
variable dumped directly in `scope` (e.g. "tb_mac.dut", dumped with
`$dumpvars(1, tb_mac.dut)`), inside the window [start, end) of VCD time:

* toggles: 0->1 and 1->0 transitions (changes to or from x/z are not transitions);
* activity: toggles per clock period, (toggles / (end - start)) * period, the unit of
  OpenSTA's `set_power_activity -activity`;
* duty: fraction of the window's known (0/1) time spent at 1, time-weighted (SAIF's
  T1 / (T0 + T1));
* unknown_fraction: fraction of the window spent at x or z (should be 0 after reset);
* floating: z for the whole window (a net nothing drives, e.g. an unused bit of a bus
  that synthesis declared whole).

Several changes of one variable at the same time step keep only the last, so a
zero-delay simulation's delta-cycle hazards are not counted as toggles.

Bit names follow OpenSTA's: a vector `psum_in [23:0]` becomes psum_in[23] ... psum_in[0];
an escaped identifier loses its backslash (`\\product_razor.d [9:0]` -> product_razor.d[9]).
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import numpy as np
import pandas as pd

from eda.core.errors import EdaError

ACTIVITY_COLUMNS = ["net", "toggles", "activity", "duty", "unknown_fraction", "floating"]
_RANGE = re.compile(r"^(.*?)\s*\[(-?\d+):(-?\d+)\]$")
_BIT = re.compile(r"^(.*?)\s*\[(-?\d+)\]$")


def _import_vcdvcd():
    # vcdvcd sets SIGPIPE to SIG_DFL at import (for its command-line viewer), which would
    # make a broken pipe kill the `eda` process silently; put the previous handler back.
    try:
        previous = signal.getsignal(signal.SIGPIPE)
    except (AttributeError, ValueError):
        previous = None
    import vcdvcd

    if previous is not None:
        try:
            signal.signal(signal.SIGPIPE, previous)
        except ValueError:  # not the main thread: vcdvcd could not change it either
            pass
    return vcdvcd


_vcdvcd = _import_vcdvcd()


def _bit_names(reference: str, width: int) -> list[str]:
    """Names of a variable's bits, most significant first (the order of VCD vector values)."""
    name = reference.lstrip("\\")
    match = _RANGE.match(name)
    if match:
        base, msb, lsb = match.group(1).lstrip("\\"), int(match.group(2)), int(match.group(3))
        step = -1 if msb >= lsb else 1
        indices = list(range(msb, lsb + step, step))
        if len(indices) != width:
            raise EdaError(f"VCD variable {reference!r}: range [{msb}:{lsb}] does not match its size {width}")
        return [f"{base}[{i}]" for i in indices]
    if width != 1:
        raise EdaError(f"VCD variable {reference!r} has size {width} but no [msb:lsb] range")
    match = _BIT.match(name)  # a one-bit select dumped as "name [3]"
    return [f"{match.group(1)}[{match.group(2)}]" if match else name]


def _extend(value: str, width: int) -> str:
    """A VCD vector value left-extended to `width` (IEEE 1364: 0/1 extend with 0, x/z with themselves)."""
    value = value.lower()
    if len(value) >= width:
        return value[-width:]
    fill = value[0] if value[0] in "xz" else "0"
    return fill * (width - len(value)) + value


def _bit_activity(times: np.ndarray, states: np.ndarray, start: int, end: int) -> tuple[int, float, float, bool]:
    """(toggles, high time, unknown time, z throughout) of one bit in [start, end).

    `times` ascending and unique; `states` the bit's character after each time.
    """
    before = np.searchsorted(times, start, side="right") - 1  # last change at or before start
    inside = (times > start) & (times < end)
    initial = states[before] if before >= 0 else "x"
    seq = np.concatenate([[initial], states[inside]])
    bounds = np.concatenate([[start], times[inside], [end]])
    durations = np.diff(bounds).astype(float)
    known = (seq == "0") | (seq == "1")
    toggles = int(np.count_nonzero((seq[1:] != seq[:-1]) & known[1:] & known[:-1]))
    return toggles, float(durations[seq == "1"].sum()), float(durations[~known].sum()), bool(np.all(seq == "z"))


def read_activity(vcd_path: Path, scope: str, start: int, end: int, period: float) -> pd.DataFrame:
    """Toggles, activity and duty of every bit dumped in `scope`, over [start, end) (VCD time units)."""
    vcd_path = Path(vcd_path)
    if not vcd_path.is_file():
        raise EdaError(f"VCD file {vcd_path} not found (did the simulation run?)")
    if not end > start or period <= 0:
        raise EdaError(f"{vcd_path}: empty window [{start}, {end}) or period {period} <= 0")
    prefix = scope + "."
    try:
        vcd = _vcdvcd.VCDVCD(str(vcd_path), signal_res=[re.compile(re.escape(prefix))], store_tvs=True)
    except Exception as exc:  # vcdvcd raises bare Exceptions on malformed input
        raise EdaError(f"{vcd_path}: not a readable VCD file: {exc}") from None
    if vcd.endtime < end:
        raise EdaError(f"{vcd_path} ends at time {vcd.endtime}, before the end of the measured window ({end}); "
                       "the simulation stopped early (see vvp.log beside it)")
    rows: dict[str, tuple] = {}
    window = float(end - start)
    for signal_data in vcd.data.values():
        references = [r for r in signal_data.references if r.startswith(prefix)]
        if not references:
            continue
        width = int(signal_data.size)
        # Keep the last change per time step (zero-delay hazards are not toggles).
        last: dict[int, str] = {}
        for time, value in signal_data.tv:
            last[int(time)] = _extend(value, width)
        times = np.fromiter(last.keys(), dtype=np.int64, count=len(last))
        order = np.argsort(times, kind="stable")
        times = times[order]
        values = [list(v) for v in last.values()]
        matrix = np.array(values, dtype="<U1")[order] if values else np.empty((0, width), dtype="<U1")
        for reference in references:
            local = reference[len(prefix):]
            if "." in local.lstrip("\\") and not local.startswith("\\"):
                continue  # a deeper scope (dumped with more than one level): not a net of `scope`
            for column, bit in enumerate(_bit_names(local, width)):
                toggles, high, unknown, floating = _bit_activity(times, matrix[:, column], start, end)
                known_time = window - unknown
                duty = high / known_time if known_time > 0 else 0.0
                rows[bit] = (bit, toggles, toggles / window * period, duty, unknown / window, floating)
    if not rows:
        raise EdaError(f"{vcd_path}: no variables under scope {scope!r} (was it dumped with $dumpvars(1, {scope})?)")
    table = pd.DataFrame(sorted(rows.values()), columns=ACTIVITY_COLUMNS)
    return table
