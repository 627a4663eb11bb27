"""Mapping layer weights onto an M x N weight-stationary MAC array; 2D sensitivity maps.

Dataflow (paper Figs. 4, 8, 9): a layer's weights are unrolled to a K x F matrix (K = C*kh*kw
input rows, F filters = output channels; a fully connected layer is in_features x
out_features). Rows of the array take the K dimension (each row is fed one input activation),
columns take filters (partial sums flow down a column). The matrix is cut into
ceil(K/M) x ceil(F/N) tiles that are loaded one after another; a MAC's sensitivity is the sum
of the sensitivities of every weight it holds over all loads of all layers (section IV-C).

Strategies (section IV-C 1-3):
- conventional: filter f -> column f mod N of column tile f // N; input row k -> array row
  k mod M of row tile k // M. A layer smaller than the array occupies its top-left corner and
  the other MACs are idle (hold no weight, add no sensitivity) during that load.
- column: column-wise sorting, done off-line. Filters are ranked by the mean sensitivity of
  their weights; the most sensitive goes to the rightmost column, the least sensitive towards
  the left. With T = ceil(F/N) column tiles, the T most sensitive filters share column N-1
  (one per tile), the next T column N-2, and so on, so a layer narrower than the array sits at
  its right edge. A filter keeps its column in every row tile, so its partial sums still
  accumulate in one column. Rows as in conventional.
- column2to1 / column4to1: column-wise sorting, plus, in every load and every column, the
  weights of each group of 2 (4) consecutive rows (rows 2i..2i+1, resp. 4i..4i+3) are sorted
  by sensitivity, the most sensitive to the bottom row of the group. The hardware of Figs. 10
  and 11 makes this legal: a MAC can multiply the activation of any row of its group (2:1 or
  4:1 MUX, with flops re-timing the activation), while the partial sums keep flowing down.
  The MUX selects are static during a load (loaded with the weights) and may change from one
  load to the next. Within a group the selection is a permutation, since each weight of the
  column must meet its own activation exactly once.

`ArrayPermutation` is what the array hardware needs: for each load, the filter each column
computes and, for each MAC, the input row (of that load's M activation rows) it multiplies.
Plain numpy, no I/O.
"""

from __future__ import annotations

import numbers

import math
from dataclasses import dataclass
from typing import Mapping, NamedTuple

import numpy as np

from eda.core.errors import EdaError

STRATEGIES = ("conventional", "column", "column2to1", "column4to1")
GROUP_ROWS = {"conventional": 1, "column": 1, "column2to1": 2, "column4to1": 4}
IDLE = -1  # marks a MAC or column that holds no weight during a load


class TileLoad(NamedTuple):
    """One set of weights loaded into the array: rows row_tile*M.. of the layer's K x F matrix."""
    layer: str
    row_tile: int
    column_tile: int


@dataclass(frozen=True)
class ArrayPermutation:
    """How weights sit in the array, load by load (T loads, in load order).

    column_filter[t, c]: filter (output channel index in the layer) computed by column c in load t, or -1.
    row_source[t, r, c]: input row (0..M-1 of load t's activation rows; global K row is
    row_tile*M + row_source) whose activation and weight MAC (r, c) multiplies, or -1 if idle.
    Within a group of `group_rows` rows the sources are a permutation of the group's rows, so
    row_source[t, r, c] // group_rows == r // group_rows; group_rows = 1 means identity rows.
    """
    loads: tuple[TileLoad, ...]
    column_filter: np.ndarray
    row_source: np.ndarray
    group_rows: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.row_source.shape[1], self.row_source.shape[2]


class StrategyMap(NamedTuple):
    sensitivity: np.ndarray  # (M, N) summed sensitivity per MAC
    variance: float          # population variance over all M*N MACs
    permutation: ArrayPermutation


def weight_matrix(weight: np.ndarray) -> np.ndarray:
    """conv weight (F, C, kh, kw) or linear weight (F, K) -> the K x F matrix the array sees (Fig. 8).

    Row order k = (c, i, j) flattened, the order im2col feeds input activations to the rows.
    """
    weight = np.asarray(weight)
    if weight.ndim < 2:
        raise EdaError(f"a layer weight needs at least 2 dimensions (filters first), got shape {weight.shape}")
    return weight.reshape(weight.shape[0], -1).T


def _check_array(rows: int, cols: int, strategy: str) -> int:
    if strategy not in STRATEGIES:
        raise EdaError(f"unknown mapping strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    # 2.0 equals int 2 but np.zeros cannot size an array with it: only integer types pass.
    if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in (rows, cols)) or rows < 1 or cols < 1:
        raise EdaError(f"array size must be positive integers, got {rows} x {cols}")
    group = GROUP_ROWS[strategy]
    if rows % group:
        raise EdaError(f"strategy {strategy} sorts groups of {group} rows: "
                       f"the row count {rows} must be a multiple of {group}")
    return group


def column_slots(filter_scores: np.ndarray, cols: int, sort_columns: bool) -> tuple[np.ndarray, np.ndarray]:
    """(column tile, column) of every filter; sorted: most sensitive at the right edge (IV-C 1)."""
    count = len(filter_scores)
    column_tiles = math.ceil(count / cols)
    if not sort_columns:
        index = np.arange(count)
        return index // cols, index % cols
    # rank 0 = most sensitive; stable so equal scores keep filter order
    ranked = np.argsort(-filter_scores, kind="stable")
    tile, column = np.empty(count, dtype=np.int64), np.empty(count, dtype=np.int64)
    rank = np.arange(count)
    tile[ranked] = rank % column_tiles
    column[ranked] = cols - 1 - rank // column_tiles
    return tile, column


def _map_layer(name: str, matrix: np.ndarray, rows: int, cols: int, strategy: str, group: int):
    """Tiles of one K x F layer: (loads, column_filter (T,N), row_source (T,M,N), values (T,M,N))."""
    k_rows, filters = matrix.shape
    row_tiles, column_tiles = math.ceil(k_rows / rows), math.ceil(filters / cols)
    tile_of, column_of = column_slots(matrix.mean(axis=0), cols, strategy != "conventional")

    # placed[rt, r, ct, c]: sensitivity held by MAC (r, c) in load (rt, ct); source likewise
    padded = np.zeros((row_tiles * rows, filters))
    padded[:k_rows] = matrix
    placed = np.zeros((row_tiles, rows, column_tiles, cols))
    placed[:, :, tile_of, column_of] = padded.reshape(row_tiles, rows, filters)
    row_index = np.arange(row_tiles * rows)
    row_valid = (row_index < k_rows).reshape(row_tiles, rows)
    source = np.full((row_tiles, rows, column_tiles, cols), IDLE, dtype=np.int64)
    column_filter = np.full((column_tiles, cols), IDLE, dtype=np.int64)
    column_filter[tile_of, column_of] = np.arange(filters)
    occupied = (row_valid[:, :, None, None] & (column_filter >= 0)[None, None, :, :])
    source[occupied] = np.broadcast_to(np.arange(rows)[None, :, None, None], source.shape)[occupied]

    if group > 1:
        # sort each group of `group` rows of each column in each load: most sensitive at the bottom.
        # Idle MACs take part as zeros, so a lone weight in a half-empty group also moves down.
        shape = (row_tiles, rows // group, group, column_tiles, cols)
        order = np.argsort(placed.reshape(shape), axis=2, kind="stable")
        placed = np.take_along_axis(placed.reshape(shape), order, axis=2).reshape(placed.shape)
        source = np.take_along_axis(source.reshape(shape), order, axis=2).reshape(source.shape)

    # load order: for each column tile (a set of filters), stream its row tiles (partial sums accumulate)
    loads = tuple(TileLoad(name, rt, ct) for ct in range(column_tiles) for rt in range(row_tiles))
    values = placed.transpose(2, 0, 1, 3).reshape(-1, rows, cols)
    sources = source.transpose(2, 0, 1, 3).reshape(-1, rows, cols)
    filters_per_load = np.repeat(column_filter, row_tiles, axis=0)
    return loads, filters_per_load, sources, values


def map_sensitivities(layers: Mapping[str, np.ndarray], rows: int = 256, cols: int = 256,
                      strategy: str = "conventional") -> StrategyMap:
    """Per-MAC sensitivity map of an M x N array running `layers` (in order) with one strategy.

    layers: {name: per-weight sensitivity shaped like the layer's weight, filters first
    ((F, C, kh, kw) or (F, K))}; values must be finite and >= 0.
    """
    group = _check_array(rows, cols, strategy)
    if not layers:
        raise EdaError("no layers to map")
    total = np.zeros((rows, cols))
    loads: list[TileLoad] = []
    column_filters, sources = [], []
    for name, sensitivity in layers.items():
        matrix = weight_matrix(np.asarray(sensitivity, dtype=np.float64))
        if matrix.size == 0:
            raise EdaError(f"layer {name!r} has no weights")
        if not np.all(np.isfinite(matrix)) or np.any(matrix < 0):
            raise EdaError(f"layer {name!r}: sensitivities must be finite and non-negative")
        layer_loads, layer_filters, layer_sources, values = _map_layer(name, matrix, rows, cols, strategy, group)
        total += values.sum(axis=0)
        loads.extend(layer_loads)
        column_filters.append(layer_filters)
        sources.append(layer_sources)
    index_type = np.int16 if max(rows, cols) < 2**15 else np.int32
    permutation = ArrayPermutation(tuple(loads), np.concatenate(column_filters).astype(np.int32),
                                   np.concatenate(sources).astype(index_type), group)
    return StrategyMap(total, float(np.var(total)), permutation)


def map_all_strategies(layers: Mapping[str, np.ndarray], rows: int = 256, cols: int = 256,
                       strategies=STRATEGIES) -> dict[str, StrategyMap]:
    return {strategy: map_sensitivities(layers, rows, cols, strategy) for strategy in strategies}


def loads_of(values: Mapping[str, np.ndarray], permutation: ArrayPermutation) -> np.ndarray:
    """(T, M, N) per-load contents of every MAC for per-weight `values` (weights, codes,
    sensitivities; shaped like each layer's weight), placed as `permutation` says; 0 where idle.

    With the weight codes this is what each load writes into the array; with sensitivities,
    summing over loads gives back the strategy's map.
    """
    rows, cols = permutation.shape
    dtype = np.result_type(*[np.asarray(value).dtype for value in values.values()])
    out = np.zeros((len(permutation.loads), rows, cols), dtype=dtype)
    matrices = {name: weight_matrix(value) for name, value in values.items()}
    for t, load in enumerate(permutation.loads):
        if load.layer not in matrices:
            raise EdaError(f"no values for layer {load.layer!r}")
        matrix = matrices[load.layer]
        source = permutation.row_source[t].astype(np.int64)
        filters = np.broadcast_to(permutation.column_filter[t].astype(np.int64), source.shape)
        active = (source >= 0) & (filters >= 0)
        out[t][active] = matrix[load.row_tile * rows + source[active], filters[active]]
    return out
