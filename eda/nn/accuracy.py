"""Top-1 accuracy of the reference network under MAC timing errors (paper V-A, Table I and Fig. 14).

For a design, a supply voltage and a sizing map, every MAC (r, c) of the M x N array has a
timing-error probability per operation (eda.method.errtable, eqs. 7-9). The mapping permutation
(eda.mapping) says which weight each MAC holds in each load, so every weight inherits the error
probability of its MAC (`weight_error_probabilities`). The error-injecting forward pass then
draws, for every multiplication the array performs (image x output position x filter x input
row), an independent Bernoulli failure with that weight's probability (independent per output
position: the paper draws per convolution stride) and applies the design's semantics:

- `proposed` (Shin et al. Fig. 4(b)), semantics "drop_product": a failing product is discarded
  by the Razor stage after the multiplier; the partial sum passes unchanged, so the product is
  omitted from the sum.
- `thundervolt` (TE-Drop), semantics "drop_product" on row-shifted probabilities: the Razor flop
  of MAC (r, c) flags its own partial sum, the correct value is recovered from its shadow latch,
  and the MAC BELOW, (r+1, c), takes that value instead of adding its own product. So an error of
  (r, c) drops the product of (r+1, c): a weight held at (r+1, c) fails with the probability of
  (r, c) (`shift_rows=True`). Row 0 has no MAC above: its products are never dropped. The bottom
  row's error drops nothing: below the last row the column output MUX forwards the shadow value
  (rtl/array.v.j2, eda/array_sim.dropped_products), and the next row tile is a separate pass.
- `tpu` (no detection), semantics "psum_error": a failing MAC corrupts the partial sum it passes
  down. The model, exactly:
    * the array multiplies int8 codes: weights q_w (eda.nn.quantize, scale s_w per layer) and
      activations q_a = clip(round(x / s_a), -127, 127) with one scale per layer
      s_a = max |x| / 127 of the layer's input over the training set (conv1: pixels 0..1);
    * a column pass runs top to bottom over the MACs of one load that hold a weight of its filter,
      in array row order (the permutation's order; idle MACs pass the sum unchanged); the running
      partial sum is a 24-bit two's-complement register in units of s_w * s_a:
      S_r = wrap24(S_{r-1} + q_a q_w), S_{-1} = 0;
    * when MAC r fails, one bit b of S_r is inverted: S_r <- wrap24(u24(S_r) XOR 2^b), u24 the
      24-bit pattern. The sign comes from the actual running sum, including earlier flips of the
      same pass: +2^b LSB if the bit was 0, -2^b if it was 1 (bit 23 is the sign bit: -2^23 if
      it was 0, +2^23 if 1). b is drawn per failure from `flip_bit_probabilities` (default uniform
      over bits 16..23, the end of the carry chain, where a late carry lands);
    * the corrupted sum keeps flowing down (later products add to it, wrapping at 24 bits); the
      column output of each row tile goes to the accumulator, where tiles add without wrapping;
    * the layer output is the float output of the int8-weight layer (float activations, exactly
      what eda.nn.quantize.quantized_model computes) plus sum over row tiles of
      (wrap24(S + D) - S) * s_w * s_a, S the tile's error-free integer sum and S + D its corrupted
      one. The error is integer-array arithmetic; the error-free part stays the reference, so with
      no failure both semantics give the int8 network's outputs bit for bit and differ only in
      what a failure does.

Idle MACs (holding no weight of the current load; the conventional mapping of this small network
leaves most of a 256 x 256 array idle) never fail: the timing-error model's critical path runs
through the multiplier, which an idle MAC does not exercise. This holds for every semantics,
including the MAC above in Thundervolt's shift.

Biases are float and added in the accumulators, outside the MACs: they never fail.

Random numbers: for repeat i and mapped layer j, a numpy PCG64 stream seeded from (seed, i, j)
draws one integer d, uniform on 0 .. 2^24-1, per multiplication; with U = (d + V) / 2^24 the
multiplication fails iff U < p. V is drawn only where d == floor(p 2^24) (a tie, 2^-24 per
multiplication), so the rule is exact to float64's resolution: 1e-9 at high supply is neither
rounded up to 2^-24 nor down to 0 (plain float32 uniforms would do one or the other). The same d
serve every probability map of a sweep and both semantics (common random numbers: failure sets
are nested as p grows, and drop_product vs psum_error see the same failures). Ties and flipped
bits come from their own streams, taken in flat order within each map, so a map's numbers do not
depend on the other maps in the sweep.

Vectorized over images, positions, filters, rows and (in chunks bounded by `ELEMENT_BUDGET`) over
the probability maps of a sweep; `repeats` inferences of the whole test set are a Python loop.
At low probabilities only the failing multiplications are touched after one pass over the draws
(about 45 ms per test-set inference on one core, bench/bench_accuracy.py); psum_error walks down
the columns row by row, so at high probabilities it costs more (0.2 s at 1e-2, 0.75 s at 0.3).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from eda.core.errors import EdaError
from eda.method.mapping import ArrayPermutation
from eda.nn.model import MAPPED_LAYERS, LeNetDigits
from eda.nn.quantize import QMAX, QuantizedLayer, quantize_weights, quantized_model

SEMANTICS = ("drop_product", "psum_error")
# design -> (semantics, shift_rows of weight_error_probabilities)
DESIGNS = {"proposed": ("drop_product", False), "thundervolt": ("drop_product", True), "tpu": ("psum_error", False)}
ACC_BITS = 24  # partial-sum register width of every MAC kind (paper IV-A, rtl/ acc_bits)
DEFAULT_FLIP_BITS = tuple(range(16, 24))  # the top 8 of the 24 bits
DEFAULT_REPEATS = 10
RANDOM_BITS = 24  # resolution of the shared int32 draws; ties below it are refined exactly
# Multiplications of one layer handled at once over a chunk of maps (dense path: bool mask +
# float32 masked weights, ~5 bytes each): 2^24 keeps a chunk under ~100 MB; one map over the 360
# test images has 5.0 M (conv2), so big layers go one map at a time.
ELEMENT_BUDGET = 1 << 24
# Below 1/64 failing (expected), failures are kept as index lists and only they are summed.
SPARSE_FRACTION = 64
MAPS_PER_PASS = 64  # probability maps whose activations are held at once (conv1 output: 0.55 MB per map)

_HALF = 1 << (ACC_BITS - 1)
_MASK = (1 << ACC_BITS) - 1


# ----------------------------------------------------------------------------------------------
# weight -> MAC error probabilities


def _shape_of(name: str, value) -> tuple[int, ...]:
    shape = tuple(int(v) for v in (value.shape if hasattr(value, "shape") else value))
    if len(shape) < 2 or min(shape) < 1:
        raise EdaError(f"layer_shapes[{name!r}] must be a weight shape with filters first, (F, C, kh, kw) "
                       f"or (F, K), got {shape}")
    return shape


def _check_probabilities(argument: str, values: np.ndarray) -> None:
    if values.size and (not np.all(np.isfinite(values)) or values.min() < 0.0 or values.max() > 1.0):
        bad = values[~(np.isfinite(values) & (values >= 0.0) & (values <= 1.0))]
        raise EdaError(f"{argument} must hold probabilities in [0, 1], found {bad.flat[0]!r}")


def weight_error_probabilities(mac_error_probability: np.ndarray, permutation: ArrayPermutation,
                               layer_shapes: Mapping[str, object], *,
                               shift_rows: bool = False) -> dict[str, np.ndarray]:
    """{layer: per-weight error probability (float64, shaped like the weight)} from a per-MAC map.

    mac_error_probability: (M, N) timing-error probability per operation of MAC (row r, column c)
    (e.g. eda.method.errtable's f(a) of each MAC's size at one voltage). The weight that MAC (r, c) holds
    in load t (row_tile*M + row_source[t, r, c] of filter column_filter[t, c], the inverse of
    eda.mapping.loads_of) gets mac_error_probability[r, c]. layer_shapes: {layer: weight shape or
    array} for every layer the permutation loads; every weight must be placed exactly once.

    shift_rows (Thundervolt's TE-Drop): the weight at (r, c) gets the probability of the MAC
    above, (r-1, c), if that MAC holds a weight in the same load, else 0; row 0 gets 0 and the
    bottom row's own errors drop nothing (module docstring).
    """
    rows, cols = permutation.shape
    p_mac = np.asarray(mac_error_probability, dtype=np.float64)
    if p_mac.shape != (rows, cols):
        raise EdaError(f"mac_error_probability must have the permutation's array shape ({rows}, {cols}) "
                       f"(M rows x N columns), got {p_mac.shape}")
    _check_probabilities("mac_error_probability", p_mac)
    shapes = {name: _shape_of(name, value) for name, value in layer_shapes.items()}
    loaded = {load.layer for load in permutation.loads}
    missing = [name for name in loaded if name not in shapes]
    if missing:
        raise EdaError(f"layer_shapes has no shape for layer(s) {', '.join(sorted(missing))} "
                       "that the permutation loads")
    unloaded = [name for name in shapes if name not in loaded]
    if unloaded:
        raise EdaError(f"layer_shapes names layer(s) {', '.join(unloaded)} that the permutation never loads")

    # K x F matrices (the layout eda.mapping.weight_matrix gives), NaN = not placed yet
    matrices = {name: np.full((math.prod(shape[1:]), shape[0]), np.nan) for name, shape in shapes.items()}
    for t, load in enumerate(permutation.loads):
        source = permutation.row_source[t].astype(np.int64)
        filters = np.broadcast_to(permutation.column_filter[t].astype(np.int64), source.shape)
        active = (source >= 0) & (filters >= 0)
        if shift_rows:
            value = np.zeros((rows, cols))
            value[1:] = np.where(active[:-1], p_mac[:-1], 0.0)
        else:
            value = p_mac
        matrix = matrices[load.layer]
        k = load.row_tile * rows + source[active]
        f = filters[active]
        if k.size and (k.max() >= matrix.shape[0] or f.max() >= matrix.shape[1]):
            raise EdaError(f"load {t} of layer {load.layer!r} places weight (k={k.max()}, filter={f.max()}) outside "
                           f"layer_shapes[{load.layer!r}] = {shapes[load.layer]} (K={matrix.shape[0]}, "
                           f"F={matrix.shape[1]}): the permutation was made for another network")
        if np.any(~np.isnan(matrix[k, f])):
            raise EdaError(f"load {t} of layer {load.layer!r} places a weight that an earlier load already holds")
        matrix[k, f] = value[active]
    result = {}
    for name, matrix in matrices.items():
        unplaced = int(np.isnan(matrix).sum())
        if unplaced:
            raise EdaError(f"the permutation leaves {unplaced} of the {matrix.size} weights of layer {name!r} "
                           f"(shape {shapes[name]}) on no MAC")
        result[name] = matrix.T.reshape(shapes[name])
    return result


def column_row_orders(permutation: ArrayPermutation, layer_shapes: Mapping[str, object]) -> dict[str, np.ndarray]:
    """{layer: (F, T, R) int64}: order[f, t, i] = K index (weight_matrix row) of the i-th weight of
    filter f met going down its column in row tile t; -1 pads. Idle MACs are left out (they pass
    the partial sum unchanged and never fail). What psum_error needs from the permutation."""
    rows, _ = permutation.shape
    shapes = {name: _shape_of(name, value) for name, value in layer_shapes.items()}
    per_layer: dict[str, list] = {}
    for t, load in enumerate(permutation.loads):
        if load.layer not in shapes:
            raise EdaError(f"layer_shapes has no shape for layer {load.layer!r} that the permutation loads")
        source = permutation.row_source[t].astype(np.int64)
        filters = permutation.column_filter[t].astype(np.int64)
        active = (source >= 0) & (filters >= 0)[None, :]
        # active rows first, each column in row order (stable), idle rows after them
        order = np.argsort(~active, axis=0, kind="stable")
        ks = np.where(np.take_along_axis(active, order, axis=0),
                      load.row_tile * rows + np.take_along_axis(source, order, axis=0), -1)
        for c in np.flatnonzero(filters >= 0):
            per_layer.setdefault(load.layer, []).append((int(filters[c]), load.row_tile, ks[:, c]))
    result = {}
    for name, entries in per_layer.items():
        filters_count = shapes[name][0]
        tiles = 1 + max(tile for _, tile, _ in entries)
        depth = max(int((ks >= 0).sum()) for _, _, ks in entries)
        order = np.full((filters_count, tiles, depth), -1, dtype=np.int64)
        for f, tile, ks in entries:
            order[f, tile] = ks[:depth]
        result[name] = order
    return result


def natural_row_orders(layer_shapes: Mapping[str, object]) -> dict[str, np.ndarray]:
    """One pass per filter down a column of at least K rows, in weight_matrix row order (k = c, i, j)."""
    result = {}
    for name, value in layer_shapes.items():
        shape = _shape_of(name, value)
        k_rows = math.prod(shape[1:])
        result[name] = np.broadcast_to(np.arange(k_rows, dtype=np.int64), (shape[0], 1, k_rows)).copy()
    return result


# ----------------------------------------------------------------------------------------------
# one layer with errors

# Failures of one layer, for a batch of B' = maps x images: either a dense bool mask
# (B', L, F, K) or, when few, the index tensors (item, position, filter, k) of the failing
# multiplications (item = map * images + image), in flat (row-major) order.
Failures = "torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]"


def _columns(module: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """(B, L, K): the K inputs each of the L output positions multiplies (im2col, k = c, i, j)."""
    if isinstance(module, torch.nn.Conv2d):
        if isinstance(module.padding, str) or module.groups != 1:
            raise EdaError("only ungrouped Conv2d layers with numeric padding can be unfolded")
        return F.unfold(inputs, module.kernel_size, module.dilation, module.padding, module.stride).transpose(1, 2)
    if isinstance(module, torch.nn.Linear):
        return inputs.unsqueeze(1)
    raise EdaError(f"cannot inject errors into a {type(module).__name__}; only Conv2d and Linear layers are mapped")


def _to_output(module: torch.nn.Module, per_position: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B, L, F) per output position and filter -> the layout of the layer's output `like`."""
    if isinstance(module, torch.nn.Conv2d):
        return per_position.transpose(1, 2).reshape(like.shape)
    return per_position.squeeze(1)


def _mask_shape(module: torch.nn.Module, inputs: torch.Tensor, output: torch.Tensor) -> tuple[int, int, int, int]:
    """(B, L, F, K) of the layer's multiplications for these inputs."""
    positions = output[0, 0].numel() if output.dim() == 4 else 1
    return (inputs.shape[0], positions, module.weight.shape[0], module.weight[0].numel())


def _check_mask(argument: str, mask: torch.Tensor, expected: tuple[int, ...]) -> None:
    if tuple(mask.shape) != expected:
        raise EdaError(f"{argument} must have shape (images, output positions, filters, K) = {expected}, "
                       f"got {tuple(mask.shape)}")


def _drop_products(module: torch.nn.Module, inputs: torch.Tensor, clean: torch.Tensor,
                   failures: Failures) -> torch.Tensor:
    """clean (the layer's output) minus the failing products."""
    columns = _columns(module, inputs)                                  # (B, L, K)
    weight = module.weight.reshape(module.weight.shape[0], -1)          # (F, K)
    if isinstance(failures, torch.Tensor):
        # many failures: one masked matrix-vector product per (image, position)
        dropped = ((failures * weight) @ columns.unsqueeze(-1)).squeeze(-1)
    else:
        # few failures: add up only the failing products
        item, position, filter_, k = failures
        if len(item) == 0:
            return clean
        dropped = torch.zeros((*columns.shape[:2], weight.shape[0]), dtype=clean.dtype)
        dropped.index_put_((item, position, filter_), columns[item, position, k] * weight[filter_, k], accumulate=True)
    return clean - _to_output(module, dropped, clean)


def drop_product_forward(module: torch.nn.Module, inputs: torch.Tensor, drop_mask: torch.Tensor) -> torch.Tensor:
    """The layer's output (bias included) with the products where drop_mask is True omitted.

    drop_mask: bool (B, L, F, K): image, output position (row-major over the output map; 1 for a
    Linear layer), filter, input index k (weight_matrix / im2col order). Computed as the layer's
    own output minus the dropped products, so an all-False mask returns module(inputs) exactly.
    """
    clean = module(inputs)
    _check_mask("drop_mask", drop_mask, _mask_shape(module, inputs, clean))
    count = int(torch.count_nonzero(drop_mask))
    if count == 0:
        return clean
    sparse = count * SPARSE_FRACTION < drop_mask.numel()
    return _drop_products(module, inputs, clean, drop_mask.nonzero(as_tuple=True) if sparse else drop_mask)


def _wrap(value: torch.Tensor) -> torch.Tensor:
    """Two's-complement value of the low ACC_BITS bits (AND on two's-complement ints = mod 2^24)."""
    return ((value + _HALF) & _MASK) - _HALF


def _check_row_order(order: torch.Tensor, filters: int, k_rows: int) -> None:
    if order.dim() != 3 or order.shape[0] != filters:
        raise EdaError(f"row_order must be (F={filters}, row tiles, rows) from column_row_orders, "
                       f"got {tuple(order.shape)}")
    placed = order >= 0
    slots = (torch.arange(filters)[:, None, None] * k_rows + order)[placed]
    if order.max() >= k_rows or not torch.equal(torch.bincount(slots, minlength=filters * k_rows),
                                                torch.ones(filters * k_rows, dtype=torch.int64)):
        raise EdaError(f"row_order must list every input index 0..{k_rows - 1} of every filter exactly once")


def _corrupt_partial_sums(module: torch.nn.Module, inputs: torch.Tensor, clean: torch.Tensor,
                          failures: tuple[torch.Tensor, ...], bits: torch.Tensor, weight_codes: torch.Tensor,
                          weight_scale: float, activation_scale: float, order: torch.Tensor) -> torch.Tensor:
    """clean plus the psum_error change of every column pass with a failure (module docstring).

    failures: sparse indices (item, position, filter, k); bits: (n,) the bit each inverts;
    weight_codes: int (F, K); order: (F, T, R) int64, validated.
    """
    item, position, filter_, k = failures
    if len(item) == 0:
        return clean
    batch, positions, filters, k_rows = _mask_shape(module, inputs, clean)
    tiles, depth = order.shape[1], order.shape[2]
    # where each weight sits in its column: (row tile, row among the tile's active rows)
    placed = order >= 0
    f_of, t_of, r_of = placed.nonzero(as_tuple=True)
    tile_of = torch.zeros((filters, k_rows), dtype=torch.int64)
    row_of = torch.zeros((filters, k_rows), dtype=torch.int64)
    tile_of[f_of, order[placed]] = t_of
    row_of[f_of, order[placed]] = r_of
    # one chain = one column pass (image, position, filter, row tile) holding at least one failure
    pass_of = (item * positions + position) * filters + filter_
    chains, chain_of = torch.unique(pass_of * tiles + tile_of[filter_, k], return_inverse=True)
    # laid out (rows, chains) so that each step down the column reads contiguous memory
    failed = torch.zeros((depth, len(chains)), dtype=torch.bool)
    flip_value = torch.zeros((depth, len(chains)), dtype=torch.int32)
    rows = row_of[filter_, k]
    failed[rows, chain_of] = True
    flip_value[rows, chain_of] = torch.ones_like(bits, dtype=torch.int32) << bits.to(torch.int32)
    pass_index = chains // tiles                                        # flat (b, l, f)
    chain_filter = pass_index % filters
    image_position = pass_index // filters                              # b * L + l
    slot = chain_filter * tiles + chains % tiles                        # flat (f, t)
    rows_index = order.clamp(min=0).reshape(-1, depth)[slot].T          # (R, n): input index met at each row
    live = placed.reshape(-1, depth)[slot].T
    # the array's integer operands; int32 is enough: |S| < 2^23 and D is kept wrapped
    activation_codes = torch.clamp(torch.round(inputs / activation_scale), -QMAX, QMAX)
    columns = _columns(module, activation_codes).to(torch.int32).reshape(-1)  # flat (b, l, k)
    products = (columns[image_position * k_rows + rows_index]
                * weight_codes.to(torch.int32).reshape(-1)[chain_filter * k_rows + rows_index] * live)
    running = torch.cumsum(products, dim=0, dtype=torch.int32)          # error-free S_r
    flips = torch.zeros(len(chains), dtype=torch.int32)                 # D: what the flips added so far (mod 2^24)
    for r in torch.nonzero(failed.any(1)).flatten().tolist():
        # sequential down the column: a flip's sign depends on the flips above it
        state = _wrap(running[r] + flips)                               # S_r as the register holds it
        flipped = _wrap(torch.bitwise_xor(state & _MASK, flip_value[r]))
        flips = torch.where(failed[r], _wrap(flips + (flipped - state)), flips)
    total = running[-1]
    change = torch.zeros(batch * positions * filters, dtype=torch.int64)
    change.index_add_(0, pass_index, (_wrap(total + flips) - total).to(torch.int64))  # row tiles add in the accumulator
    change = change.reshape(batch, positions, filters).to(clean.dtype) * (float(weight_scale) * float(activation_scale))
    return clean + _to_output(module, change, clean)


def psum_error_forward(module: torch.nn.Module, inputs: torch.Tensor, error_mask: torch.Tensor,
                       flip_bits: torch.Tensor, weight_codes, weight_scale: float,
                       activation_scale: float, row_order) -> torch.Tensor:
    """The layer's output with the partial-sum corruption of the failing MACs (module docstring).

    error_mask: bool (B, L, F, K) as drop_product_forward's mask; flip_bits: integer (B, L, F, K),
    the accumulator bit (0 = LSB .. 23) a failure at that multiplication inverts (read only where
    error_mask is True); weight_codes: the layer's int8 codes (any shape with F first);
    weight_scale, activation_scale: real value of one weight / activation LSB; row_order:
    (F, T, R) from column_row_orders (or natural_row_orders), every weight exactly once.
    """
    clean = module(inputs)
    expected = _mask_shape(module, inputs, clean)
    _check_mask("error_mask", error_mask, expected)
    _check_mask("flip_bits", flip_bits, expected)
    filters, k_rows = expected[2:]
    codes = torch.as_tensor(np.asarray(weight_codes)).reshape(filters, -1).to(torch.int64)
    order = torch.as_tensor(np.asarray(row_order), dtype=torch.int64)
    _check_row_order(order, filters, k_rows)
    failures = error_mask.nonzero(as_tuple=True)
    return _corrupt_partial_sums(module, inputs, clean, failures, flip_bits[failures], codes, weight_scale,
                                 activation_scale, order)


# ----------------------------------------------------------------------------------------------
# the network


@dataclass
class InjectionNetwork:
    """The int8 reference network prepared for error injection."""
    network: LeNetDigits                    # int8 weights dequantized (quantized_model), eval mode
    quantized: dict[str, QuantizedLayer]
    activation_scales: dict[str, float]     # s_a per layer: max |input| / 127 over the training set
    images: torch.Tensor                    # default evaluation set: the test split
    labels: torch.Tensor
    layer_shapes: dict[str, tuple[int, ...]] = field(init=False)  # weight shape per layer
    codes: dict[str, torch.Tensor] = field(init=False)              # int64 (F, K) weight codes

    def __post_init__(self) -> None:
        self.layer_shapes = {name: tuple(layer.codes.shape) for name, layer in self.quantized.items()}
        self.codes = {name: torch.from_numpy(layer.codes.astype(np.int64).reshape(layer.codes.shape[0], -1))
                      for name, layer in self.quantized.items()}


def prepare_network(study_or_reference) -> InjectionNetwork:
    """From a SensitivityStudy (its int8 weights), a ReferenceNetwork (quantized here) or an InjectionNetwork."""
    if isinstance(study_or_reference, InjectionNetwork):
        return study_or_reference
    if hasattr(study_or_reference, "reference") and hasattr(study_or_reference, "quantized"):
        reference, quantized = study_or_reference.reference, study_or_reference.quantized
    elif hasattr(study_or_reference, "model") and hasattr(study_or_reference, "data"):
        reference = study_or_reference
        quantized = quantize_weights(reference.model)
    else:
        raise EdaError("study_or_reference must be a SensitivityStudy (eda.nn.maps), a ReferenceNetwork "
                       f"(eda.nn.train) or an InjectionNetwork, got {type(study_or_reference).__name__}")
    network = quantized_model(reference.model, quantized)
    scales = {}
    with torch.no_grad():
        for name in MAPPED_LAYERS:
            peak = float(network.input_of(name, reference.data.x_train).abs().max())
            scales[name] = peak / QMAX if peak > 0 else 1.0
    return InjectionNetwork(network, dict(quantized), scales, reference.data.x_test, reference.data.y_test)


def flip_bit_cdf(flip_bit_probabilities: Sequence[float] | np.ndarray | None) -> torch.Tensor:
    """Cumulative distribution (float64, ACC_BITS) of the bit a psum_error failure inverts."""
    if flip_bit_probabilities is None:
        weights = np.zeros(ACC_BITS)
        weights[list(DEFAULT_FLIP_BITS)] = 1.0 / len(DEFAULT_FLIP_BITS)
    else:
        weights = np.asarray(flip_bit_probabilities, dtype=np.float64)
        if weights.shape != (ACC_BITS,):
            raise EdaError(f"flip_bit_probabilities must have shape ({ACC_BITS},) (one probability per accumulator "
                           f"bit, index 0 = LSB), got {weights.shape}")
        _check_probabilities("flip_bit_probabilities", weights)
        if abs(weights.sum() - 1.0) > 1e-9:
            raise EdaError(f"flip_bit_probabilities must sum to 1, got {weights.sum():.12g}")
    cdf = np.cumsum(weights)
    cdf[-1] = 1.0
    return torch.from_numpy(cdf)


def _rng(seed: int, repeat: int, layer_index: int, stream: int) -> np.random.Generator:
    """One random stream, independent across (seed, repeat, layer, stream) and reproducible alone.

    numpy's PCG64 rather than torch's generator: twice as fast for the 13 M draws of an inference."""
    return np.random.default_rng([seed, repeat, layer_index, stream])


def _rank_within_map(owner: torch.Tensor, maps: int) -> torch.Tensor:
    """For hits sorted by map (owner = map index): the index of each hit among its map's hits."""
    counts = torch.bincount(owner, minlength=maps)
    return torch.arange(len(owner)) - (torch.cumsum(counts, 0) - counts)[owner]


def _stream_values(rng: np.random.Generator, owner: torch.Tensor, maps: int) -> torch.Tensor:
    """One uniform on [0, 1) per hit, the j-th hit of every map taking the stream's j-th value,
    so a map's values do not depend on the other maps of the batch."""
    rank = _rank_within_map(owner, maps)
    return torch.from_numpy(rng.random(int(rank.max()) + 1))[rank]


def _failures(draws: torch.Tensor, probabilities: torch.Tensor, tie_rng: np.random.Generator):
    """Which multiplications fail, each with its weight's probability exactly (Failures).

    draws: int32 (B, L, F, K) uniform on 0 .. 2^24-1, shared by all maps (common random numbers);
    probabilities: float64 (g, F, K). With U = (draw + V) / 2^24, V uniform on [0, 1), a failure is
    U < p: draw < floor(p 2^24), or draw == floor(p 2^24) and V < frac(p 2^24). V is drawn only for
    those rare ties (2^-24 per multiplication), taken in flat order within each map. Exact to
    float64's resolution of p 2^24: a 1e-9 probability is not rounded to 0 or to 2^-24.
    Few expected failures (low probabilities): only the candidates (draw below the largest
    threshold of that weight over the maps) are examined, and the failures come back as sparse
    indices; either way the failures are the same.
    """
    maps = probabilities.shape[0]
    batch = draws.shape[0]
    scaled = probabilities * float(1 << RANDOM_BITS)
    threshold = torch.floor(scaled)
    fraction = scaled - threshold
    threshold = threshold.to(torch.int32)                               # (g, F, K)
    has_tie = fraction > 0
    # a draw can fail for some map only below this (a tie at the threshold included)
    ceiling = (threshold + has_tie.to(torch.int32)).amax(dim=0)         # (F, K)
    if float(ceiling.double().mean()) * SPARSE_FRACTION < float(1 << RANDOM_BITS):
        b, l, f, k = (draws < ceiling).nonzero(as_tuple=True)           # candidates, flat order
        drawn = draws[b, l, f, k]
        fails = drawn < threshold[:, f, k]                              # (g, n)
        tie = (drawn == threshold[:, f, k]) & has_tie[:, f, k]
        owner, which = tie.nonzero(as_tuple=True)                       # map-major, flat order within a map
        if len(owner):
            fails[owner, which] = _stream_values(tie_rng, owner, maps) < fraction[owner, f[which], k[which]]
        owner, which = fails.nonzero(as_tuple=True)
        return owner * batch + b[which], l[which], f[which], k[which]
    failed = draws < threshold[:, None, None]                          # (g, B, L, F, K)
    if bool(has_tie.any()):
        tie = (draws == threshold[:, None, None]) & has_tie[:, None, None]
        where = tie.nonzero(as_tuple=True)
        if len(where[0]):
            failed[where] = _stream_values(tie_rng, where[0], maps) < fraction[where[0], where[3], where[4]]
    return failed.reshape(-1, *draws.shape[1:])


def _flip_bits(failures: tuple[torch.Tensor, ...], batch: int, maps: int, cdf: torch.Tensor,
               rng: np.random.Generator) -> torch.Tensor:
    """(n,) the accumulator bit each failure inverts, drawn from cdf: one uniform per failure,
    the j-th failure of every map (flat order) taking the stream's j-th value."""
    item = failures[0]
    if len(item) == 0:
        return torch.zeros(0, dtype=torch.int64)
    return torch.searchsorted(cdf, _stream_values(rng, item // batch, maps), right=True).clamp(max=ACC_BITS - 1)


def _stack_probabilities(net: InjectionNetwork, maps: Sequence[Mapping[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """{layer: (G, F, K) float64} for G per-weight probability dicts; a layer absent from a dict is error-free."""
    stacked = {}
    for name in MAPPED_LAYERS:
        shape = net.layer_shapes[name]
        layer = np.zeros((len(maps), shape[0], math.prod(shape[1:])))
        for g, probabilities in enumerate(maps):
            if name in probabilities:
                value = np.asarray(probabilities[name], dtype=np.float64)
                if value.shape != shape:
                    raise EdaError(f"probabilities[{name!r}] must be shaped like the layer's weight {shape}, "
                                   f"got {value.shape}")
                _check_probabilities(f"probabilities[{name!r}]", value)
                layer[g] = value.reshape(shape[0], -1)
        stacked[name] = torch.from_numpy(layer)
    for g, probabilities in enumerate(maps):
        unknown = [name for name in probabilities if name not in MAPPED_LAYERS]
        if unknown:
            raise EdaError(f"probabilities name unknown layer(s) {', '.join(map(str, unknown))}; "
                           f"the mapped layers are {', '.join(MAPPED_LAYERS)}")
    return stacked


def _correct_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    return (logits.argmax(dim=-1) == labels).double().mean(dim=-1).numpy()


@torch.no_grad()
def _forward_maps(net: InjectionNetwork, images: torch.Tensor, probabilities: dict[str, torch.Tensor],
                  semantics: str, seed: int, repeat: int, cdf: torch.Tensor,
                  row_orders: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Logits (G, B, classes) of one inference of `images` under each of G probability maps."""
    maps = next(iter(probabilities.values())).shape[0]
    batch = images.shape[0]
    hidden = images.repeat(maps, *([1] * (images.dim() - 1)))  # (G*B, ...), map-major
    for index, name in enumerate(MAPPED_LAYERS):
        module = getattr(net.network, name)
        p_layer = probabilities[name]
        if not bool((p_layer > 0).any()):
            output = module(hidden)
        else:
            _, positions, filters, k_rows = _mask_shape(module, hidden[:1], module(hidden[:1]))
            shape = (batch, positions, filters, k_rows)
            draws = torch.from_numpy(_rng(seed, repeat, index, 0).integers(0, 1 << RANDOM_BITS, size=shape,
                                                                          dtype=np.int32))
            tie_rng, bit_rng = _rng(seed, repeat, index, 1), _rng(seed, repeat, index, 2)
            step = max(1, ELEMENT_BUDGET // math.prod(shape))
            outputs = []
            for start in range(0, maps, step):
                chunk = p_layer[start:start + step]
                failures = _failures(draws, chunk, tie_rng)
                inputs = hidden[start * batch:(start + step) * batch]
                clean = module(inputs)
                if semantics == "drop_product":
                    outputs.append(_drop_products(module, inputs, clean, failures))
                    continue
                if isinstance(failures, torch.Tensor):
                    failures = failures.nonzero(as_tuple=True)
                bits = _flip_bits(failures, batch, len(chunk), cdf, bit_rng)
                layer = net.quantized[name]
                outputs.append(_corrupt_partial_sums(module, inputs, clean, failures, bits, net.codes[name],
                                                     layer.scale, net.activation_scales[name], row_orders[name]))
            output = torch.cat(outputs)
        hidden = output if name == MAPPED_LAYERS[-1] else net.network.activation_after(name, output)
    return hidden.reshape(maps, batch, -1)


def _check_run(semantics: str, repeats: int, seed: int) -> None:
    if semantics not in SEMANTICS:
        raise EdaError(f"semantics must be one of {', '.join(SEMANTICS)}, got {semantics!r}")
    if int(repeats) != repeats or repeats < 1:
        raise EdaError(f"repeats must be a positive integer, got {repeats!r}")
    if int(seed) != seed or seed < 0:
        raise EdaError(f"seed must be a non-negative integer, got {seed!r}")


def _evaluation_set(net: InjectionNetwork, images, labels) -> tuple[torch.Tensor, torch.Tensor]:
    if (images is None) != (labels is None):
        raise EdaError("give both images and labels, or neither (the test split)")
    if images is None:
        return net.images, net.labels
    images = torch.as_tensor(images, dtype=torch.float32)
    labels = torch.as_tensor(labels, dtype=torch.int64)
    if images.dim() != 4 or images.shape[1:] != net.images.shape[1:]:
        raise EdaError(f"images must have shape (count, {', '.join(map(str, net.images.shape[1:]))}), "
                       f"got {tuple(images.shape)}")
    if labels.shape != (images.shape[0],):
        raise EdaError(f"labels must have shape ({images.shape[0]},) (one per image), got {tuple(labels.shape)}")
    return images, labels


def _accuracies(net: InjectionNetwork, maps: Sequence[Mapping[str, np.ndarray]], semantics: str, repeats: int,
                seed: int, images, labels, permutation: ArrayPermutation | None,
                flip_bit_probabilities) -> tuple[np.ndarray, float, float]:
    """(accuracy (G, repeats), clean accuracy, seconds per test-set inference)."""
    _check_run(semantics, repeats, seed)
    images, labels = _evaluation_set(net, images, labels)
    cdf = flip_bit_cdf(flip_bit_probabilities)
    orders = (column_row_orders(permutation, net.layer_shapes) if permutation is not None
              else natural_row_orders(net.layer_shapes))
    row_orders = {}
    for name, shape in net.layer_shapes.items():
        if name not in orders:
            raise EdaError(f"the permutation does not load layer {name!r}")
        row_orders[name] = torch.from_numpy(orders[name])
        _check_row_order(row_orders[name], shape[0], math.prod(shape[1:]))
    with torch.no_grad():
        clean = float(_correct_accuracy(net.network(images), labels))
    result = np.empty((len(maps), repeats))
    started = time.perf_counter()
    for start in range(0, len(maps), MAPS_PER_PASS):
        stacked = _stack_probabilities(net, maps[start:start + MAPS_PER_PASS])
        for repeat in range(repeats):
            logits = _forward_maps(net, images, stacked, semantics, int(seed), repeat, cdf, row_orders)
            result[start:start + MAPS_PER_PASS, repeat] = _correct_accuracy(logits, labels)
    seconds = (time.perf_counter() - started) / (len(maps) * repeats)
    return result, clean, seconds


@dataclass(frozen=True)
class AccuracyResult:
    mean_accuracy: float        # top-1 over the evaluation set, averaged over the repeats
    std: float                  # sample standard deviation over the repeats (ddof=1; 0 for one repeat)
    per_repeat: np.ndarray      # (repeats,) top-1 of each independent draw
    clean_accuracy: float       # no errors: the int8 network (= eda.nn.train.evaluate on quantized_model)
    semantics: str = "drop_product"
    seconds_per_inference: float = float("nan")  # wall time of one pass over the evaluation set


def _std(values: np.ndarray) -> np.ndarray:
    return values.std(axis=-1, ddof=1) if values.shape[-1] > 1 else np.zeros(values.shape[:-1])


def accuracy_under_errors(study_or_reference, probabilities: Mapping[str, np.ndarray],
                          semantics: str = "drop_product", repeats: int = DEFAULT_REPEATS, seed: int = 0, *,
                          images=None, labels=None, permutation: ArrayPermutation | None = None,
                          flip_bit_probabilities=None) -> AccuracyResult:
    """Top-1 accuracy of the int8 reference network when every multiplication fails independently.

    probabilities: {layer: per-weight failure probability shaped like the weight} (from
    weight_error_probabilities; absent layers are error-free). semantics: "drop_product"
    (proposed, and thundervolt with shift_rows=True probabilities) or "psum_error" (tpu; needs
    `permutation` for the order of the partial sums down each column, else one pass in k order,
    and flip_bit_probabilities, default uniform over bits 16..23). repeats independent draws over
    the whole evaluation set (default the test split), seeded by `seed`.
    """
    net = prepare_network(study_or_reference)
    values, clean, seconds = _accuracies(net, [probabilities], semantics, repeats, seed, images, labels,
                                         permutation, flip_bit_probabilities)
    return AccuracyResult(float(values[0].mean()), float(_std(values)[0]), values[0], clean, semantics, seconds)


def accuracy_sweep(study_or_reference, mac_error_maps: Mapping[object, np.ndarray], permutation: ArrayPermutation,
                   design: str = "proposed", repeats: int = DEFAULT_REPEATS, seed: int = 0, *, images=None,
                   labels=None, flip_bit_probabilities=None) -> pd.DataFrame:
    """Accuracy of one design for each (M, N) per-MAC error-probability map (e.g. one per voltage).

    design: "proposed" (drop_product), "thundervolt" (drop_product, row-shifted) or "tpu"
    (psum_error). Returns a DataFrame with one row per map, in the given order: label,
    accuracy_mean, accuracy_std (ddof=1 over repeats), repeats, clean_accuracy, design; the
    per-repeat accuracies are in df.attrs["per_repeat"] ({label: array}) and the measured
    wall time of one test-set inference in df.attrs["seconds_per_inference"]. Every map uses the
    same random numbers (per repeat and layer), so the rows are paired comparisons and a map's
    numbers do not depend on which other maps are in the sweep.
    """
    if design not in DESIGNS:
        raise EdaError(f"design must be one of {', '.join(DESIGNS)}, got {design!r}")
    if not mac_error_maps:
        raise EdaError("mac_error_maps is empty: give {label: (M, N) error-probability map}")
    semantics, shift_rows = DESIGNS[design]
    net = prepare_network(study_or_reference)
    labels_out = list(mac_error_maps)
    maps = []
    for label in labels_out:
        try:
            maps.append(weight_error_probabilities(mac_error_maps[label], permutation, net.layer_shapes,
                                                   shift_rows=shift_rows))
        except EdaError as error:
            raise EdaError(f"mac_error_maps[{label!r}]: {error}") from None
    values, clean, seconds = _accuracies(net, maps, semantics, repeats, seed, images, labels, permutation,
                                         flip_bit_probabilities)
    table = pd.DataFrame({"label": labels_out, "accuracy_mean": values.mean(axis=1),
                          "accuracy_std": _std(values), "repeats": repeats, "clean_accuracy": clean,
                          "design": design})
    table.attrs["per_repeat"] = dict(zip(labels_out, values))
    table.attrs["seconds_per_inference"] = seconds
    return table
