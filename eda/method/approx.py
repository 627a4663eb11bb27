"""AutoApprox's method on our MACs: error statistics of approximate multipliers, a per-layer
choice of multiplier under an accuracy bound, and the chip-level area and power of a choice.

Everything here is numpy/pandas on tables measured elsewhere: product tables from iverilog
(eda.verify.mult_sim), accuracies from the integer network (eda.nn.lut_inference, passed in as a
function), area and power from the characterization.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from eda.core.errors import EdaError

BITS = 8
PATTERNS = 1 << BITS
MAX_PRODUCT = 1 << (2 * BITS - 2)  # |(-128) x (-128)| = 16384, the largest exact product

ERROR_COLUMNS = ["level", "pairs", "mean_abs_error", "worst_case_error", "error_probability", "mean_relative_error",
                 "mean_error", "nmed"]


def signed_patterns() -> np.ndarray:
    patterns = np.arange(PATTERNS, dtype=np.int64)
    return np.where(patterns >= PATTERNS // 2, patterns - PATTERNS, patterns)


def exact_products() -> np.ndarray:
    values = signed_patterns()
    return values[:, None] * values[None, :]


def error_statistics(level: str, products: np.ndarray) -> dict:
    """Statistics of products - a*b over all 65,536 signed operand pairs (uniform operands).

    mean_relative_error: mean of |error| / max(|a*b|, 1). For an exact product of 0 the relative
    error is the absolute error (the denominator 1 is one LSB), so a multiplier that returns a
    non-zero product for a zero operand is charged for it rather than dropped or divided by 0.
    nmed: mean_abs_error / 16384, the largest exact product magnitude."""
    products = np.asarray(products, dtype=np.int64)
    if products.shape != (PATTERNS, PATTERNS):
        raise EdaError(f"products of {level} must be a ({PATTERNS}, {PATTERNS}) table, got {products.shape}")
    exact = exact_products()
    error = products - exact
    magnitude = np.abs(error)
    return {
        "level": level,
        "pairs": int(error.size),
        "mean_abs_error": float(magnitude.mean()),
        "worst_case_error": int(magnitude.max()),
        "error_probability": float((error != 0).mean()),
        "mean_relative_error": float((magnitude / np.maximum(np.abs(exact), 1)).mean()),
        "mean_error": float(error.mean()),
        "nmed": float(magnitude.mean() / MAX_PRODUCT),
    }


def error_table(products: Mapping[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame([error_statistics(level, table) for level, table in products.items()], columns=ERROR_COLUMNS)


@dataclass(frozen=True)
class Trial:
    layer: str
    level: str
    accuracy: float
    accepted: bool


@dataclass
class Assignment:
    levels: dict[str, str]  # layer -> multiplier level
    accuracy: float  # on the selection images
    baseline_accuracy: float  # every layer exact, same images
    trials: list[Trial] = field(default_factory=list)


def greedy_assignment(layers: Sequence[str], levels: Sequence[str], exact_level: str,
                      accuracy: Callable[[dict[str, str]], float], max_loss: float) -> Assignment:
    """AutoApprox's router, greedily: layers in the given order (the caller puts the ones with the
    most MACs first), each gets the first level of `levels` (most approximate first) whose
    accuracy, with the earlier layers' choices kept and later layers exact, stays within
    `max_loss` (absolute top-1) of the all-exact network; `exact_level` if none does."""
    if not 0.0 <= max_loss < 1.0:
        raise EdaError(f"the accuracy-loss bound must be in [0, 1), got {max_loss}")
    if not layers:
        raise EdaError("no layers to assign multipliers to")
    current = {layer: exact_level for layer in layers}
    baseline = accuracy(dict(current))
    best = baseline
    trials = []
    for layer in layers:
        for level in levels:
            if level == exact_level:
                continue
            candidate = {**current, layer: level}
            value = accuracy(candidate)
            accepted = baseline - value <= max_loss
            trials.append(Trial(layer, level, value, accepted))
            if accepted:
                current, best = candidate, value
                break
    return Assignment(current, best, baseline, trials)


def chip_cost(assignment: Mapping[str, str], macs_per_layer: Mapping[str, int], per_level: pd.DataFrame) -> pd.DataFrame:
    """Area and power of one MAC array per layer (MACs x the level's per-MAC figures).

    per_level: one row per level with columns level, area_um2, power_w. Returns one row per layer
    and a final row `total`."""
    table = per_level.set_index("level")
    missing = sorted({level for level in assignment.values() if level not in table.index})
    if missing:
        raise EdaError(f"no area/power for multiplier level(s) {', '.join(missing)}")
    rows = []
    for layer, level in assignment.items():
        if layer not in macs_per_layer:
            raise EdaError(f"no MAC count for layer {layer!r}")
        macs = int(macs_per_layer[layer])
        rows.append({"layer": layer, "level": level, "macs": macs, "area_um2": macs * float(table.at[level, "area_um2"]),
                     "power_w": macs * float(table.at[level, "power_w"])})
    frame = pd.DataFrame(rows)
    total = {"layer": "total", "level": "", "macs": int(frame["macs"].sum()), "area_um2": float(frame["area_um2"].sum()),
             "power_w": float(frame["power_w"].sum())}
    return pd.concat([frame, pd.DataFrame([total])], ignore_index=True)
