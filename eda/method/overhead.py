"""Per-MAC switching overhead (area, power) of the 2to1 / 4to1 dataflows, from tile characterizations."""

from __future__ import annotations

import pandas as pd
from eda.core.errors import EdaError
from eda.designs.tile import TILE_ROWS, TILE_COLS, SWITCHED_DATAFLOWS


def switching_overhead(table: pd.DataFrame, kind: str, corner: str, rows: int = TILE_ROWS, cols: int = TILE_COLS) -> pd.DataFrame:
    """Per-MAC area and power overhead of each dataflow, from a characterization table of tile runs.

    One row per dataflow (conventional and column with 0 overhead), with the tile figures it came from.
    """
    macs = rows * cols
    tiles = table[(table["corner"] == corner) & table["kind"].str.startswith(f"tile-{kind}-")]
    by_dataflow = {kind_name.removeprefix(f"tile-{kind}-"): row for kind_name, row in tiles.set_index("kind").iterrows()}
    if "conventional" not in by_dataflow:
        raise EdaError(f"no conventional {kind} tile at corner {corner} in the characterization table: "
                       "the overhead is measured against it")
    base = by_dataflow["conventional"]
    rows_out = []
    for dataflow in ("conventional", "column", *SWITCHED_DATAFLOWS):
        tile = base if dataflow == "column" else by_dataflow.get(dataflow)
        if tile is None:
            raise EdaError(f"no {dataflow} {kind} tile at corner {corner} in the characterization table")
        rows_out.append({
            "kind": kind, "dataflow": dataflow, "tile_rows": rows, "tile_cols": cols,
            "tile_area_um2": float(tile["area_um2"]), "tile_delay_ns": float(tile["delay_ns"]),
            "tile_power_w": float(tile["power_w"]), "power_clock_ns": float(tile["power_clock_ns"]),
            "tile_run_dir": tile["run_dir"], "base_run_dir": base["run_dir"],
            "area_overhead_per_mac_um2": (float(tile["area_um2"]) - float(base["area_um2"])) / macs,
            "power_overhead_per_mac_w": (float(tile["power_w"]) - float(base["power_w"])) / macs,
        })
    return pd.DataFrame(rows_out)
