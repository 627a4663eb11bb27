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

# Other spellings of ORFS platform names -> the ORFS name (the key of TIME_UNIT_NS_BY_PLATFORM).
PLATFORM_ALIASES: dict[str, str] = {
    "gf180mcu": "gf180",
    "gf180mcuc": "gf180",
    "gf180mcud": "gf180",
    "gf180mcu_fd_sc_mcu7t5v0": "gf180",
    "gf180mcu_fd_sc_mcu9t5v0": "gf180",
    "sky130": "sky130hd",
    "sky130_fd_sc_hd": "sky130hd",
    "sky130_fd_sc_hs": "sky130hs",
    "sg13g2": "ihp-sg13g2",
    "ihp_sg13g2": "ihp-sg13g2",
    "nangate": "nangate45",
    "freepdk45": "nangate45",
}

_UNIT_NS = {"fs": 1e-6, "ps": 1e-3, "ns": 1.0, "us": 1e3}
_TIME_UNIT = re.compile(r'^\s*"?\s*([0-9.]*)\s*(fs|ps|ns|us)\s*"?\s*$', re.I)


def orfs_platform_name(platform: str) -> str:
    """The ORFS folder name of a platform: aliases mapped ('gf180mcu' -> 'gf180'), case ignored."""
    lowered = platform.strip().lower()
    return PLATFORM_ALIASES.get(lowered, lowered if lowered in TIME_UNIT_NS_BY_PLATFORM else platform)


def platform_time_unit_ns(platform: str) -> float:
    """ns per time unit of ORFS outputs on `platform` (aliases accepted); EdaError for an unknown platform."""
    try:
        return TIME_UNIT_NS_BY_PLATFORM[orfs_platform_name(platform)]
    except KeyError:
        known = ", ".join(sorted(TIME_UNIT_NS_BY_PLATFORM))
        aliases = ", ".join(f"{a}={n}" for a, n in sorted(PLATFORM_ALIASES.items()))
        raise EdaError(
            f"time unit of ORFS platform {platform!r} is not known (known: {known}; aliases: {aliases}). Add it to "
            f"TIME_UNIT_NS_BY_PLATFORM in {__file__} from the time_unit attribute of the platform's liberty, "
            "or read a metadata.json that states run__flow__platform__time_units."
        ) from None


def resolve_time_unit_ns(platform: str, stated_ns: float | None, where: str = "metrics", stated_text: str | None = None) -> float:
    """The time unit of one run: the platform's, checked against what its metrics state.

    A platform missing from the table is accepted when the metrics state the unit (ORFS
    writes run__flow__platform__time_units into metadata.json): the run says it itself.
    """
    try:
        unit = platform_time_unit_ns(platform)
    except EdaError:
        if stated_ns is None:
            raise
        return stated_ns
    if stated_ns is not None and abs(stated_ns - unit) > 1e-9 * unit:
        stated = repr(stated_text) if stated_text is not None else f"{stated_ns:g} ns"
        raise EdaError(f"{where}: run__flow__platform__time_units is {stated} but platform {platform} "
                       f"uses {unit:g} ns per unit (eda/parsers/orfs/units.py)")
    return unit


def parse_time_unit_ns(text: str) -> float:
    """'1ns', '1ps', '"10ps"' (liberty or metadata.json spelling) -> ns per unit."""
    match = _TIME_UNIT.match(text)
    if match is None:
        raise EdaError(f"cannot read time unit {text!r}: expected a number and fs, ps, ns or us, e.g. '1ns'")
    scale = float(match.group(1)) if match.group(1) else 1.0
    return scale * _UNIT_NS[match.group(2).lower()]
