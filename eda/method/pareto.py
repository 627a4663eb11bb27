"""Pareto-optimal sizes: a larger area must buy a shorter delay."""

from __future__ import annotations

import pandas as pd


def pareto_front(table: pd.DataFrame, area: str = "area_um2", delay: str = "delay_ns") -> pd.DataFrame:
    """Rows no other row beats in both area and delay, sorted by area (ties: keep the faster)."""
    ordered = table.sort_values([area, delay], kind="mergesort")
    keep, best_delay = [], float("inf")
    for index, row in ordered.iterrows():
        if row[delay] < best_delay:
            keep.append(index)
            best_delay = row[delay]
    return ordered.loc[keep]
