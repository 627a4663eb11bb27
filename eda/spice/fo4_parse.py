"""Read the per-sample FO4 delays out of an ngspice log: pure text in, DataFrame out.

The deck (fo4_deck.py) prints `FO4BEGIN <i>` before and `FO4SAMPLE <i> <tplh_s> <tphl_s>`
after each sample. A failed `meas` leaves its variable undefined, and ngspice's echo then
silently drops that field (`FO4SAMPLE 3 1.7E-09` with only one delay), so every sample
line must carry exactly two delays, and any `failed` measurement in the log is an error:
averaging over the samples that happened to work would bias the table.
"""

from __future__ import annotations

import re

import pandas as pd

from eda.core.errors import EdaError
from eda.spice.fo4_deck import BEGIN_MARK, SAMPLE_MARK

SAMPLE_COLUMNS = ["sample", "tplh_ps", "tphl_ps", "fo4_ps"]

_SAMPLE_LINE = re.compile(rf"{SAMPLE_MARK}\b(.*)$", re.M)
_BEGIN_LINE = re.compile(rf"{BEGIN_MARK}\s+(\d+)", re.M)
_FAILED_MEAS = re.compile(r"^.*\bmeas\b.*\bfailed!.*$", re.M | re.I)
_NGSPICE_ERROR = re.compile(r"^.*\b(error|fatal)\b.*$", re.M | re.I)


class Fo4LogError(EdaError):
    """The ngspice log does not hold one valid delay pair per requested sample."""


def _sample_at(text: str, position: int) -> int | None:
    """The sample whose FO4BEGIN most recently precedes `position` (None: before the loop)."""
    begins = [m for m in _BEGIN_LINE.finditer(text) if m.start() < position]
    return int(begins[-1].group(1)) if begins else None


def parse_fo4_log(text: str, expected_samples: int | None = None) -> pd.DataFrame:
    """Per-sample delays in ps: columns sample, tplh_ps, tphl_ps, fo4_ps = (tplh + tphl) / 2.

    Raises Fo4LogError naming the samples and the ngspice lines when a measurement failed,
    a sample line is malformed, or fewer (or more) samples than `expected_samples` ran.
    """
    failed = list(_FAILED_MEAS.finditer(text))
    if failed:
        samples = sorted({s for s in (_sample_at(text, m.start()) for m in failed) if s is not None})
        raise Fo4LogError(
            f"{len(failed)} ngspice measurement(s) failed (samples {_short_list(samples)}), first: "
            f"{failed[0].group(0).strip()!r}. The DUT edge fell outside the simulation window or the "
            f"output never crossed VDD/2 (supply too low to switch?)."
        )
    rows, bad = [], []
    for match in _SAMPLE_LINE.finditer(text):
        fields = match.group(1).split()
        try:
            index, tplh_s, tphl_s = int(float(fields[0])), float(fields[1]), float(fields[2])
            if len(fields) != 3:
                raise ValueError
        except (ValueError, IndexError):
            bad.append(match.group(0).strip())
            continue
        rows.append((index, tplh_s * 1e12, tphl_s * 1e12))
    if bad:
        raise Fo4LogError(f"{len(bad)} malformed sample line(s) (a delay missing?), first: {bad[0]!r}")
    if not rows:
        errors = [m.group(0).strip() for m in _NGSPICE_ERROR.finditer(text)][:5]
        detail = "; ".join(errors) if errors else "no error message either"
        raise Fo4LogError(f"ngspice printed no {SAMPLE_MARK} line: the Monte Carlo loop never ran ({detail})")
    table = pd.DataFrame(rows, columns=SAMPLE_COLUMNS[:3])
    table["fo4_ps"] = (table["tplh_ps"] + table["tphl_ps"]) / 2
    duplicated = table["sample"][table["sample"].duplicated()].tolist()
    if duplicated:
        raise Fo4LogError(f"sample index printed twice: {_short_list(duplicated)}")
    nonpositive = table[(table[["tplh_ps", "tphl_ps"]] <= 0).any(axis=1)]
    if not nonpositive.empty:
        first = nonpositive.iloc[0]
        raise Fo4LogError(
            f"non-positive delay in {len(nonpositive)} sample(s), first sample {int(first['sample'])}: "
            f"tplh {first['tplh_ps']:g} ps, tphl {first['tphl_ps']:g} ps (an edge measured before its cause)"
        )
    if expected_samples is not None and (len(table) != expected_samples or
                                         table["sample"].tolist() != list(range(expected_samples))):
        raise Fo4LogError(
            f"ngspice printed {len(table)} of {expected_samples} samples (indices {_short_list(table['sample'].tolist())}): "
            f"it stopped early or the log is from another run"
        )
    return table


def _short_list(values: list[int], limit: int = 8) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "") if values else "none"
