"""How busy a weight-stationary M x N array is on a network: positions and MAC-cycles.

A layer's K x N weight matrix (K = C_in kh kw rows, N = filters) is cut into ceil(K/M) x ceil(N/N_a)
tile loads. Position utilization: the fraction of the array's MAC positions holding a weight,
averaged over the loads (a load that fills the array counts 1). MAC-cycle utilization: useful
multiplications / (cycles x M x N_a), where one load of a weight-stationary array takes, as
SCALE-Sim v3 counts it for `ws`, T + 2M + N_a - 2 cycles for T streamed input vectors (weights
shifted in over M cycles, then T vectors skewed over M rows and N_a columns); SCALE-Sim reports one
cycle less per layer (its last cycle is not counted), which `scalesim_cycles` reproduces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class LayerShape:
    name: str
    k_rows: int        # C_in * kh * kw (or in_features)
    filters: int       # output channels (or out_features)
    positions: int     # output positions per image (1 for a fully connected layer)


def layer_loads(layer: LayerShape, rows: int, cols: int) -> list[float]:
    """Occupied fraction of the array in every tile load of the layer."""
    fractions = []
    for row_tile in range(math.ceil(layer.k_rows / rows)):
        used_rows = min(rows, layer.k_rows - row_tile * rows)
        for col_tile in range(math.ceil(layer.filters / cols)):
            used_cols = min(cols, layer.filters - col_tile * cols)
            fractions.append(used_rows * used_cols / (rows * cols))
    return fractions


def load_cycles(vectors: int, rows: int, cols: int) -> int:
    return vectors + 2 * rows + cols - 2


def utilization_table(layers: list[LayerShape], rows: int, cols: int, images: int) -> pd.DataFrame:
    """Per layer and overall ('total'): tiles, position and MAC-cycle utilization for `images` streamed per load."""
    records = []
    for layer in layers:
        fractions = layer_loads(layer, rows, cols)
        vectors = layer.positions * images
        cycles = len(fractions) * load_cycles(vectors, rows, cols)
        useful = layer.k_rows * layer.filters * vectors
        records.append({"layer": layer.name, "k_rows": layer.k_rows, "filters": layer.filters,
                        "positions": layer.positions, "tiles": len(fractions),
                        "position_utilization": sum(fractions) / len(fractions), "cycles": cycles,
                        "useful_macs": useful, "mac_cycle_utilization": useful / (cycles * rows * cols),
                        "ideal_mac_cycle_utilization": sum(fractions) / len(fractions)})
    table = pd.DataFrame(records)
    tiles = int(table["tiles"].sum())
    total = {"layer": "total", "k_rows": int(table["k_rows"].sum()), "filters": int(table["filters"].sum()),
             "positions": int(table["positions"].sum()), "tiles": tiles,
             "position_utilization": float((table["position_utilization"] * table["tiles"]).sum() / tiles),
             "cycles": int(table["cycles"].sum()), "useful_macs": int(table["useful_macs"].sum()),
             "mac_cycle_utilization": float(table["useful_macs"].sum() / (table["cycles"].sum() * rows * cols)),
             "ideal_mac_cycle_utilization": float((table["ideal_mac_cycle_utilization"] * table["tiles"]).sum() / tiles)}
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


def scalesim_cycles(layer: LayerShape, rows: int, cols: int, images: int) -> int:
    """Total cycles as SCALE-Sim v3 (weight stationary) reports them for the layer."""
    return len(layer_loads(layer, rows, cols)) * load_cycles(layer.positions * images, rows, cols) - 1


def cycles_per_image(table: pd.DataFrame, images: int) -> float:
    return float(table.loc[table["layer"] == "total", "cycles"].iloc[0]) / images
