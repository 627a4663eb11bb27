"""Time units of ORFS outputs, per platform.

OpenROAD prints times (slacks, path delays, clock periods, skew) and writes the timing
metrics in the liberty's time unit: ns on sky130, nangate45, ihp-sg13g2 and gf180, ps on
asap7. Power is always in W, area in um^2 and fmax in Hz (metrics) or MHz
(report_clock_min_period). The unit is not written next to most numbers, so it is taken
from this table, keyed by ORFS platform name; metadata.json's
`run__flow__platform__time_units`, when present, is checked against it.
"""

from __future__ import annotations

import re

from eda.core.errors import EdaError

# ns per time unit of each ORFS platform's liberty (time_unit attribute).
TIME_UNIT_NS_BY_PLATFORM: dict[str, float] = {
    "asap7": 1e-3,
    "gf180": 1.0,
    "ihp-sg13g2": 1.0,
    "nangate45": 1.0,
    "sky130hd": 1.0,
    "sky130hs": 1.0,
}

_UNIT_NS = {"fs": 1e-6, "ps": 1e-3, "ns": 1.0, "us": 1e3}
_TIME_UNIT = re.compile(r'^\s*"?\s*([0-9.]*)\s*(fs|ps|ns|us)\s*"?\s*$', re.I)


def platform_time_unit_ns(platform: str) -> float:
    """ns per time unit of ORFS outputs on `platform`; EdaError for a platform not in the table."""
    try:
        return TIME_UNIT_NS_BY_PLATFORM[platform]
    except KeyError:
        known = ", ".join(sorted(TIME_UNIT_NS_BY_PLATFORM))
        raise EdaError(
            f"time unit of ORFS platform {platform!r} is not known (known: {known}). Add it to "
            f"TIME_UNIT_NS_BY_PLATFORM in {__file__} from the time_unit attribute of the platform's liberty."
        ) from None


def parse_time_unit_ns(text: str) -> float:
    """'1ns', '1ps', '"10ps"' (liberty or metadata.json spelling) -> ns per unit."""
    match = _TIME_UNIT.match(text)
    if match is None:
        raise EdaError(f"cannot read time unit {text!r}: expected a number and fs, ps, ns or us, e.g. '1ns'")
    scale = float(match.group(1)) if match.group(1) else 1.0
    return scale * _UNIT_NS[match.group(2).lower()]
