"""Switching overhead of the column-wise dataflows, measured on a small array tile.

A 256 x 256 array is out of reach for synthesis on one small machine (DESIGN.md section 7).
The activation-switching hardware of column-wise 2to1 / 4to1 (MUXes, select flops, re-timing
flops, Figs. 10-11) is the same for every group of rows, so its cost per MAC is measured on a
ROWS x COLS tile (rows a multiple of 4) of identical MACs: synthesize and time the tile once
with the conventional dataflow and once with each switching dataflow, and take

    overhead per MAC = (tile with switching - conventional tile) / (ROWS x COLS)

for area and power. The full array's figure is the MACs' own (sum over the sizing map) plus
MxN times that overhead. Column-wise sorting alone (`column`) permutes filters off-line and
adds no hardware, so its overhead is 0 by construction.
"""

from __future__ import annotations


from eda.designs.array import ArrayParams, array_module_targets, render_array
from eda.designs.registry import Design, Variant
from eda.designs.registry import read_ports

TILE_ROWS = 4
TILE_COLS = 2
SWITCHED_DATAFLOWS = ("column2to1", "column4to1")
STATIC_PORTS = frozenset({"w_load", "w_in", "sel_in"})


def tile_design(kind: str, dataflow: str, rows: int = TILE_ROWS, cols: int = TILE_COLS, **mac_bits) -> Design:
    """A rows x cols array of one MAC size as a Design for `characterize`."""
    import tempfile
    from pathlib import Path

    params = ArrayParams(kind, rows, cols, dataflow, **mac_bits)
    text = render_array(params)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"{params.top}.v"
        source.write_text(text)
        ports = frozenset(port.name for port in read_ports([source], params.top))
    # Weights and MUX selects are loaded once per tile load and then hold for thousands of cycles.
    static = frozenset(ports & STATIC_PORTS)
    return Design(f"tile-{kind}-{dataflow}", params.top, {f"{params.top}.v": text}, ports, split_nets=True, static_inputs=static,
                  module_targets=array_module_targets(params))


def tile_variants(kind: str, target_ps: int, rows: int = TILE_ROWS, cols: int = TILE_COLS, **mac_bits) -> list[Variant]:
    """The conventional tile and one per switching dataflow, all at one synthesis target."""
    return [Variant(tile_design(kind, dataflow, rows, cols, **mac_bits), target_ps)
            for dataflow in ("conventional", *SWITCHED_DATAFLOWS)]


