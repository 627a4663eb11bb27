"""Heterogeneous sizing of the 256 x 256 array: iso-area budgets, the sizing voltage, one sizing
per mapping strategy and budget (paper IV-D/E, eq. 10). Plain numpy/pandas, no torch.

Budgets: the paper compares mapping strategies at iso-area conditions of 1785 / 1885 / 1985 um^2
per MAC, sizes 4, 6 and 8 of its 13 (a third, a half and two thirds up its size list). Our size
lists have other lengths, so a budget is named by that fraction: `ISO_FRACTIONS` picks the size
round(fraction x (n - 1)) of a kind's Pareto list, and the budget is M x N of it
(`sizer.iso_area_budget`). Baseline designs (uniform arrays of tpu or thundervolt MACs) take the
size at the same fraction of their own list.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from eda.core.errors import EdaError
from eda.method.sizer import SizingResult, iso_area_budget, size_fast

ISO_FRACTIONS = (1 / 3, 1 / 2, 2 / 3)
BUDGET_LABELS = ("small", "medium", "large")
SIZED_STRATEGIES = ("column", "column2to1", "column4to1")
# Auto sizing voltage: the highest supply at which the largest size fails at least this often.
# Above it the large sizes have f(a) = 0 and eq. 10's objective is 0 for any map that puts the
# busy MACs on them: the sizer would have nothing left to trade.
SIZING_ERROR_THRESHOLD = 1e-3


@dataclass(frozen=True)
class Budget:
    label: str
    fraction: float
    size_index: int       # in the kind's Pareto list (smallest area first)
    area_per_mac_um2: float


def iso_size_index(n_sizes: int, fraction: float) -> int:
    if n_sizes < 1:
        raise EdaError("no MAC sizes to choose a budget from")
    if not 0 <= fraction <= 1:
        raise EdaError(f"an iso-area fraction must be in [0, 1], got {fraction}")
    return int(round(fraction * (n_sizes - 1)))


def budgets_for(sizes: pd.DataFrame, fractions=ISO_FRACTIONS, labels=BUDGET_LABELS) -> list[Budget]:
    """Budgets over a kind's sizes (rows sorted by area, column area_um2)."""
    if len(fractions) != len(labels):
        raise EdaError(f"{len(fractions)} iso-area fractions but {len(labels)} labels")
    areas = sizes["area_um2"].to_numpy(float)
    out = []
    for label, fraction in zip(labels, fractions):
        index = iso_size_index(len(areas), fraction)
        out.append(Budget(label, float(fraction), index, float(areas[index])))
    return out


def sizes_at(error_table: pd.DataFrame, vdd: float) -> pd.DataFrame:
    """The error table's rows at one supply: one row per size, smallest area first."""
    rows = error_table[np.isclose(error_table["vdd"], vdd, rtol=0, atol=1e-6)]
    if rows.empty:
        have = ", ".join(f"{v:g}" for v in sorted(error_table["vdd"].unique()))
        raise EdaError(f"the error table has no rows at {vdd:g} V (it has {have} V)")
    return rows.sort_values("area_um2").reset_index(drop=True)


def auto_sizing_vdd(error_table: pd.DataFrame, size_index: int, threshold: float = SIZING_ERROR_THRESHOLD) -> float:
    """Highest supply at which the size `size_index` has p_error >= threshold."""
    candidates = []
    for vdd, rows in error_table.groupby("vdd"):
        ordered = rows.sort_values("area_um2")
        if size_index >= len(ordered):
            raise EdaError(f"size index {size_index} is beyond the {len(ordered)} sizes of the error table")
        if float(ordered["p_error"].iloc[size_index]) >= threshold:
            candidates.append(float(vdd))
    if not candidates:
        raise EdaError(f"no supply in the error table makes size {size_index} fail with probability >= {threshold:g}; "
                       "give the sizing voltage explicitly")
    return max(candidates)


def size_for_budgets(sensitivity_maps: dict[str, np.ndarray], sizes: pd.DataFrame, budgets: list[Budget]
                     ) -> dict[tuple[str, str], SizingResult]:
    """One exact sizing (sizer.size_fast) per (strategy, budget label)."""
    area = sizes["area_um2"].to_numpy(float)
    p_error = sizes["p_error"].to_numpy(float)
    results = {}
    for strategy, sensitivity in sensitivity_maps.items():
        for budget in budgets:
            total = iso_area_budget(sensitivity.size, budget.area_per_mac_um2)
            results[(strategy, budget.label)] = size_fast(sensitivity, area, p_error, total)
    return results


def uniform_map(shape: tuple[int, int], size_index: int) -> np.ndarray:
    return np.full(shape, int(size_index), dtype=np.int64)
