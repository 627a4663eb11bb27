"""Several platforms' runs side by side: the MAC ladders, the error tables and Table II.

Pure pandas on the tables each `eda run` wrote. The PDKs' nominal supplies run from 0.7 V (asap7)
to 5 V (gf180), so every supply is also given as a fraction of its platform's nominal, and every
area, delay and power also relative to the platform's own fastest TPU MAC: what compares across
nodes is the shape of a ladder and where errors start, not the absolute numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from eda.core.errors import EdaError

# An error table's onset: the highest supply at which a MAC fails on at least this fraction of cycles.
ONSET_P_ERROR = 1e-3


def ladder(error_table: pd.DataFrame, characterization: pd.DataFrame, platform: str, nominal_corner: str,
           nominal_vdd: float) -> pd.DataFrame:
    """The sizes the method used for one kind (the error table's size_index, Pareto-optimal netlists) with
    their area, delay and power at the nominal corner, from the characterization rows of the same target."""
    sizes = (error_table[np.isclose(error_table["vdd"], nominal_vdd)]
             [["kind", "size_index", "target_ps", "area_um2", "delay_ns"]].drop_duplicates("size_index"))
    nominal = characterization[characterization["corner"] == nominal_corner]
    power = nominal[["kind", "target_ps", "power_w"]].drop_duplicates(["kind", "target_ps"])
    merged = sizes.merge(power, on=["kind", "target_ps"], how="left", validate="one_to_one")
    if merged["power_w"].isna().any():
        missing = merged.loc[merged["power_w"].isna(), "target_ps"].tolist()
        raise EdaError(f"{platform}: no characterization row at corner {nominal_corner} for targets {missing}")
    merged.insert(0, "platform", platform)
    merged["power_mw"] = merged.pop("power_w") * 1e3
    return merged.sort_values("size_index").reset_index(drop=True)


def pareto_ladder(characterization: pd.DataFrame, platform: str, nominal_corner: str) -> pd.DataFrame:
    """For a platform without error tables: per kind, the Pareto-optimal netlists at the nominal corner (no
    other row is as small and as fast, one of them strictly), numbered from the smallest as size_index."""
    nominal = characterization[characterization["corner"] == nominal_corner]
    rows = []
    for kind, group in nominal.groupby("kind", sort=False):
        group = group.sort_values(["area_um2", "delay_ns", "target_ps"]).drop_duplicates(["area_um2", "delay_ns"])
        best_delay = np.inf
        for row in group.itertuples(index=False):      # by area: a row is kept when it is faster than every smaller one
            if row.delay_ns < best_delay:
                best_delay = row.delay_ns
                rows.append({"platform": platform, "kind": kind, "target_ps": int(row.target_ps),
                             "area_um2": float(row.area_um2), "delay_ns": float(row.delay_ns),
                             "power_mw": float(row.power_w) * 1e3})
    ladder = pd.DataFrame(rows)
    if ladder.empty:
        raise EdaError(f"{platform}: no characterization row at corner {nominal_corner}")
    ladder.insert(2, "size_index", ladder.groupby("kind", sort=False).cumcount())
    return ladder


def relative_to_tpu(ladders: pd.DataFrame) -> pd.DataFrame:
    """area, delay and power of every size over those of its platform's fastest TPU size."""
    out = ladders.copy()
    for platform, rows in ladders.groupby("platform", sort=False):
        tpu = rows[rows["kind"] == "tpu"]
        if tpu.empty:
            raise EdaError(f"{platform}: no tpu sizes to compare the other kinds with")
        fastest = tpu.loc[tpu["delay_ns"].idxmin()]
        mask = out["platform"] == platform
        for column in ("area_um2", "delay_ns", "power_mw"):
            out.loc[mask, column.rsplit("_", 1)[0] + "_vs_fastest_tpu"] = out.loc[mask, column] / fastest[column]
    return out


def ladder_summary(ladders: pd.DataFrame) -> pd.DataFrame:
    """Per platform and kind: how many sizes, and the span of area, delay and power across them."""
    groups = ladders.groupby(["platform", "kind"], sort=False)
    summary = groups.agg(sizes=("size_index", "size"), area_min_um2=("area_um2", "min"), area_max_um2=("area_um2", "max"),
                         delay_min_ns=("delay_ns", "min"), delay_max_ns=("delay_ns", "max"),
                         power_min_mw=("power_mw", "min"), power_max_mw=("power_mw", "max")).reset_index()
    summary["area_span"] = summary["area_max_um2"] / summary["area_min_um2"] - 1
    summary["delay_span"] = summary["delay_max_ns"] / summary["delay_min_ns"] - 1
    return summary


def error_onsets(error_table: pd.DataFrame, platform: str, nominal_vdd: float) -> pd.DataFrame:
    """Per size: the highest supply at which p_error >= ONSET_P_ERROR (NaN: not within the table), as volts
    and as a fraction of nominal, and p_error at the table's lowest supply."""
    rows = []
    for size, table in error_table.groupby("size_index"):
        failing = table[table["p_error"] >= ONSET_P_ERROR]
        onset = float(failing["vdd"].max()) if not failing.empty else float("nan")
        lowest = table.loc[table["vdd"].idxmin()]
        rows.append({"platform": platform, "kind": table["kind"].iloc[0], "size_index": int(size),
                     "area_um2": float(table["area_um2"].iloc[0]), "clock_ns": float(table["clock_ns"].iloc[0]),
                     "onset_vdd_v": onset, "onset_vs_nominal": onset / nominal_vdd,
                     "lowest_vdd_v": float(lowest["vdd"]), "p_error_at_lowest": float(lowest["p_error"])})
    return pd.DataFrame(rows)


def table2_side_by_side(table2: pd.DataFrame, platform: str, nominal_vdd: float) -> pd.DataFrame:
    columns = ["design", "area_mm2", "power_nominal_w", "vmin_v", "power_scaled_w", "energy_per_op_pj",
               "power_saving_vs_tpu", "power_saving_vs_thundervolt", "energy_activity_saving_vs_tpu",
               "energy_activity_saving_vs_thundervolt"]
    present = [c for c in columns if c in table2.columns]
    out = table2[present].copy()
    out.insert(0, "platform", platform)
    out.insert(out.columns.get_loc("vmin_v") + 1, "vmin_vs_nominal", table2["vmin_v"] / nominal_vdd)
    return out
