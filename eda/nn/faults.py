"""Timing errors injected into a whole test set at the cost of about one inference.

Every multiplication the array performs (image x output position x weight) fails independently
with its weight's probability (the probability of the MAC the weight runs on, through the mapping
permutation, eda.nn.accuracy.weight_error_probabilities). A failure is one of two kinds:

- recovered (`p_drop`): the kind's Razor recovery discards the product (proposed: a protected
  product bit was late; Thundervolt: the MAC above flagged its partial sum, so this MAC's update is
  dropped; the shift is in the per-weight map);
- unrecovered (`p_flip`): an unprotected bit of the running partial sum is latched wrong (tpu:
  any bit; proposed: an accumulator bit). One bit b, drawn from the kind's per-bit distribution,
  of the 24-bit two's-complement partial sum S at that MAC is inverted, S <- S xor 2^b, and the
  corrupted sum flows down the column to the layer output. S is the integer sum, in units of
  s_w * s_a, of the products above and at the failing MAC in its column pass (the permutation's
  row order); s_a = max |input| / 127 of the layer over the calibration images. Flips of the same
  pass are applied independently (each sees the error-free S); later wrap-around is not modelled.

Instead of drawing one number per multiplication (9.2e10 per pass for the reference network), the
number of failures of each weight over the B x P multiplications it takes part in is drawn from
Binomial(B P, p), their (image, position) uniformly, and only those outputs are patched on top
of the layer's error-free output: the cost is one inference plus the failures. The failures are
handled in blocks of whole weights (about BLOCK failures each, small enough to stay in cache):
repeated (weight, trial) pairs are found by sorting int32 keys per block, a dropped product is
gathered from the layer input by flat index and its negation added to the output with index_add_,
and a flip's partial sum is one row of `rows` float32 products, masked below the failing MAC and
summed by torch, the flips of one column (filter, tile) at a time. Patches are added to an output
element in failure order (drops, then flips), serially, so the logits are the same bit for bit with
any torch thread count (index_put_ with accumulate=True, used before, adds in parallel with atomics
on more than one thread). `bench/bench_injection.py` measures the cost against plain inference.

Where a layer would need more than `MAX_FAILURES` dropped products or `MAX_FLIPS` flips in one pass,
the point is evaluated on the first images only, so that it fits (recorded as `images` of the point;
at those error rates the network has collapsed, and a few hundred images show it within a narrow
interval).

Random streams: one numpy PCG64 per (seed, design, budget, supply, repeat, layer, stream), so a
point's numbers do not depend on which other points are computed, in what order, or on `-j`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from eda.core.errors import EdaError
from eda.nn.network import MappedNetwork

ACC_BITS = 24
MAX_FAILURES = 4_000_000    # dropped products patched per layer and pass
MAX_FLIPS = 40_000          # partial-sum flips per layer and pass (each gathers its column's products)
BLOCK = 1 << 16             # failures per block of whole weights
MARK_TABLE = 1 << 24        # (weight, trial) keys of a block looked up in a table up to this range
FLIP_ELEMENTS = 1 << 18     # products gathered at once for the flips' partial sums
TRIANGLE_MIN = 0.125        # a column masks its flips' rows with a (rows x rows) table from rows / 8 flips on


@dataclass(frozen=True)
class LayerFaults:
    p_drop: np.ndarray          # per weight (shape of the weight): recovered failures
    p_flip: np.ndarray          # per weight: unrecovered failures (partial-sum bit flips)
    column_order: np.ndarray    # (F, T, R) K index of the i-th weight down filter f's column in tile t, -1 pads
    activation_scale: float     # s_a


@dataclass(frozen=True)
class FaultModel:
    layers: dict[str, LayerFaults]
    flip_bit_cdf: np.ndarray    # (ACC_BITS,) P(flipped bit <= b)


def stream(seed: int, design: str, budget: str, vdd: float, repeat: int, layer: int, kind: int) -> np.random.Generator:
    key = [seed, zlib.crc32(design.encode()), zlib.crc32(budget.encode()), int(round(vdd * 10_000)), repeat, layer, kind]
    return np.random.default_rng(key)


def bit_cdf(probabilities) -> np.ndarray:
    weights = np.asarray(probabilities, dtype=np.float64)
    if weights.shape != (ACC_BITS,) or (weights < 0).any() or weights.sum() <= 0:
        raise EdaError(f"flip-bit weights must be {ACC_BITS} non-negative numbers with a positive sum, got {weights}")
    cdf = np.cumsum(weights / weights.sum())
    cdf[-1] = 1.0
    return cdf


def activation_scales(network: MappedNetwork, calibration: torch.Tensor) -> dict[str, float]:
    inputs = network.layer_inputs(calibration)
    return {name: max(float(x.abs().max()), 1e-12) / 127 for name, x in inputs.items()}


def _positions(module, inputs: torch.Tensor, outputs: torch.Tensor) -> int:
    return int(np.prod(outputs.shape[2:])) if isinstance(module, torch.nn.Conv2d) else 1


@dataclass(frozen=True)
class Failures:
    """The failing multiplications of one layer and pass, weight by weight: weight w fails at the
    trials chosen[starts[w]:starts[w] + counts[w]]. `blocks` rows (first weight, end weight, first
    failure, end failure) cut them into runs of whole weights of about BLOCK failures, the unit of
    every vectorized step (small enough to stay in cache)."""
    counts: np.ndarray      # (weights,) failures per flat weight index
    chosen: np.ndarray      # (failures,) trial (image x position) of each, weight-major
    trials: int
    blocks: np.ndarray      # (blocks, 4) int64

    def __len__(self) -> int:
        return len(self.chosen)

    def weights(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.counts)), self.counts)


def draw_failures(p: np.ndarray, trials: int, rng: np.random.Generator, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """(flat weight index, trial index) of every failing multiplication: Binomial(trials, p) failures
    per weight, at distinct trials (image x position), uniformly. More than `cap`: FailureCap (the
    count is known before anything is materialized)."""
    failures = _draw(p, trials, rng, cap)
    return failures.weights(), failures.chosen


def _draw(p: np.ndarray, trials: int, rng: np.random.Generator, cap: int) -> Failures:
    """The draws, in this order: the binomial counts; one uniform trial per failure, weight-major;
    the trials 0..trials-1 in order for a weight failing at every trial; then, while a weight has
    the same trial twice, a new trial for every repeat but the first (lowest index) of each pair,
    all at once in index order (up to 1000 rounds)."""
    counts = rng.binomial(trials, np.clip(p.ravel(), 0.0, 1.0))
    total = int(counts.sum())
    if total > cap:
        raise FailureCap(total, cap)
    chosen = rng.integers(0, trials, size=total)
    starts = np.cumsum(counts) - counts
    full = np.flatnonzero(counts == trials)
    if len(full):
        chosen[(starts[full][:, None] + np.arange(trials)[None, :]).ravel()] = np.tile(np.arange(trials), len(full))
    failures = Failures(counts, chosen, trials, _blocks(counts, trials))
    blocks = failures.blocks
    for _ in range(1000):
        repeated, blocks = _repeats(failures, blocks)
        if not len(repeated):
            break
        chosen[repeated] = rng.integers(0, trials, size=len(repeated))
    return failures


def _blocks(counts: np.ndarray, trials: int) -> np.ndarray:
    """Rows (first weight, end weight, first failure, end failure): whole weights, about BLOCK
    failures each, at most as many weights as keep (weight - first weight) * trials + trial in int32."""
    ends = np.cumsum(counts)
    total = int(ends[-1]) if len(ends) else 0
    span = max(1, (2**31 - 1) // max(trials, 1) - 1)
    cuts = np.concatenate([np.searchsorted(ends, np.arange(BLOCK, total, BLOCK)) + 1,
                           np.arange(span, len(counts), span), [0, len(counts)]])
    cuts = np.unique(np.clip(cuts, 0, len(counts)))
    first = np.concatenate([[0], ends])[cuts]
    rows = np.stack([cuts[:-1], cuts[1:], first[:-1], first[1:]], axis=1)
    return rows[rows[:, 3] > rows[:, 2]]


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """concatenate([arange(s, s + n) for s, n in zip(starts, lengths)])"""
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))


def _repeats(failures: Failures, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (ascending) of every failure whose (weight, trial) equals one at a lower index (what a
    stable sort by weight and trial marks as a repeat of its predecessor), and the blocks holding them."""
    found, hit, marks = [], [], None
    trials, counts, chosen = failures.trials, failures.counts, failures.chosen
    wide = np.int64 if trials >= 2**30 else np.int32
    for row, (w0, w1, e0, e1) in enumerate(blocks):
        if e1 - e0 < 2:
            continue
        local = counts[w0:w1]
        key = np.repeat((np.arange(w1 - w0) * trials).astype(wide), local) + chosen[e0:e1].astype(wide)
        ordered = np.sort(key)
        same = ordered[1:] == ordered[:-1]
        if not same.any():
            continue
        values = np.unique(ordered[1:][same])
        owners = np.unique(values // trials)              # only the failures of weights holding a repeat
        candidates = _ranges((np.cumsum(local) - local)[owners], local[owners])
        keys = key[candidates]
        if (w1 - w0) * trials <= MARK_TABLE:                # membership in `values` by a table lookup
            if marks is None:
                marks = np.zeros(MARK_TABLE, dtype=bool)
            marks[values] = True
            member = marks[keys]
            marks[values] = False
        else:
            member = values[np.searchsorted(values, keys).clip(0, len(values) - 1)] == keys
        candidates, keys = candidates[member], keys[member]
        _, first = np.unique(keys, return_index=True)      # the lowest index of each repeated pair stays
        keep = np.ones(len(candidates), dtype=bool)
        keep[first] = False
        later = candidates[keep]
        found.append(later + e0)
        hit.append(row)
    if not found:
        return np.zeros(0, dtype=np.int64), blocks[:0]
    return np.concatenate(found), blocks[hit]


class _Layout:
    """Flat indices of a layer's operands and outputs: the activation weight row k multiplies at trial
    t = image * positions + position is source[trial_in[t] + k_in[k]] (the zero-padded input for a
    convolution, channels last when `channels_last`, so that the rows of a tile lie close together),
    and the product is summed into outputs.view(-1)[trial_out[t] + filter_out[f]]."""

    def __init__(self, module, inputs: torch.Tensor, outputs: torch.Tensor, weight_shape, channels_last=False):
        images, filters = inputs.shape[0], weight_shape[0]
        if isinstance(module, torch.nn.Conv2d):
            kh, kw = module.kernel_size
            sh, sw = module.stride
            ph, pw = module.padding
            padded = F.pad(inputs, (pw, pw, ph, ph)) if ph or pw else inputs
            channels, height, width = padded.shape[1:]
            out_w = outputs.shape[3]
            positions = int(np.prod(outputs.shape[2:]))
            k = np.arange(channels * kh * kw)
            channel, y, x = k // (kh * kw), (k % (kh * kw)) // kw, k % kw
            position = np.arange(positions)
            at = (position // out_w) * sh * width + (position % out_w) * sw        # top left pixel
            if channels_last:
                padded = padded.permute(0, 2, 3, 1)
                self.k_in = (y * width + x) * channels + channel
                at = at * channels
            else:
                self.k_in = channel * height * width + y * width + x
            self.trial_in = (np.arange(images)[:, None] * (channels * height * width) + at[None, :]).ravel()
            self.source = padded.contiguous().reshape(-1).numpy()
        else:
            positions, k_count = 1, inputs.shape[1]
            self.k_in = np.arange(k_count)
            self.trial_in = np.arange(images) * k_count
            self.source = inputs.contiguous().reshape(-1).numpy()
        self.trial_out = (np.arange(images)[:, None] * (filters * positions) + np.arange(positions)[None, :]).ravel()
        self.filter_out = np.arange(filters) * positions
        self.k_count = int(np.prod(weight_shape[1:]))
        self.weights = module.weight.detach().reshape(filters, -1).contiguous().numpy()


def _drop(module, inputs, outputs, failures: Failures, weight_shape):
    """outputs -= w * a of every dropped product, summed in failure order (index_add_ adds serially,
    so the float sums are the same with any thread count)."""
    layout = _Layout(module, inputs, outputs, weight_shape)
    weight_in = np.tile(layout.k_in, weight_shape[0])                  # per flat weight
    weight_out = np.repeat(layout.filter_out, layout.k_count)
    values = layout.weights.reshape(-1)
    target = outputs.view(-1)
    size = int((failures.blocks[:, 3] - failures.blocks[:, 2]).max())
    index, operand, delta = np.empty(size, dtype=np.int64), np.empty(size, values.dtype), np.empty(size, values.dtype)
    for w0, w1, e0, e1 in failures.blocks:
        local, t, n = failures.counts[w0:w1], failures.chosen[e0:e1], e1 - e0
        at = np.take(layout.trial_in, t, out=index[:n], mode="clip")
        at += np.repeat(weight_in[w0:w1], local)
        a = np.take(layout.source, at, out=operand[:n], mode="clip")
        d = np.multiply(np.repeat(values[w0:w1], local), a, out=delta[:n])
        np.negative(d, out=d)
        at = np.take(layout.trial_out, t, out=index[:n], mode="clip")
        at += np.repeat(weight_out[w0:w1], local)
        target.index_add_(0, torch.from_numpy(at), torch.from_numpy(d))


def _flip(module, inputs, outputs, failures: Failures, weight_shape, layer: LayerFaults, scale_w: float,
          cdf: np.ndarray, rng: np.random.Generator):
    """Each flip's error-free partial sum S: the products of its column pass from the top down to the
    failing weight, as one row of `rows` float32 products (zeros below it) summed by torch."""
    layout = _Layout(module, inputs, outputs, weight_shape, channels_last=True)
    k_count, filters = layout.k_count, weight_shape[0]
    order = layer.column_order
    tiles, rows = order.shape[1], order.shape[2]
    unit = scale_w * layer.activation_scale
    # per flat weight: its column (filter, tile k // rows) in the order and its depth there (0 if absent)
    k = np.arange(k_count)
    column = (np.arange(filters)[:, None] * tiles + (k // rows)[None, :]).ravel()
    beyond = k // rows >= tiles
    if beyond.any() and (failures.counts.reshape(filters, k_count)[:, beyond] > 0).any():
        raise IndexError(f"a failing weight's row tile is beyond the {tiles} tiles of its column order")
    depth = np.zeros((filters, k_count), dtype=np.int64)
    f_at, t_at, d_at = np.nonzero(order >= 0)
    k_at = order[f_at, t_at, d_at]
    mine = k_at // rows == t_at
    depth[f_at[mine][::-1], k_at[mine][::-1]] = d_at[mine][::-1]      # the first match, as argmax
    depth = depth.ravel()
    columns = order.reshape(filters * tiles, rows)
    present = columns >= 0
    safe = np.where(present, columns, 0)
    column_in = layout.k_in[safe]                                       # (F*T, rows)
    column_w = np.take_along_axis(np.repeat(layout.weights, tiles, axis=0), safe, axis=1)
    filter_of = np.repeat(layout.filter_out, k_count)
    target = outputs.view(-1)
    down = np.arange(rows)
    step_rows = max(1, FLIP_ELEMENTS // rows)
    index_buffer = np.empty((step_rows, rows), dtype=np.int64)
    product_buffer = np.empty((step_rows, rows), dtype=layout.source.dtype)
    weight_buffer = np.empty((step_rows, rows), dtype=column_w.dtype)
    lower = down[None, :] <= down[:, None]                              # row d: rows 0..d
    triangle_buffer = np.empty((rows, rows), dtype=column_w.dtype)
    for w0, w1, e0, e1 in failures.blocks:
        local, t = failures.counts[w0:w1], failures.chosen[e0:e1]
        block_column = np.repeat(column[w0:w1], local)
        block_depth = np.repeat(depth[w0:w1], local)
        block_in = np.take(layout.trial_in, t)
        sums = torch.empty(e1 - e0, dtype=torch.float32)
        # flips are weight-major, so those of one column (filter, tile) are consecutive
        edges = np.flatnonzero(np.diff(block_column)) + 1
        for s, e in zip(np.concatenate([[0], edges]), np.concatenate([edges, [e1 - e0]])):
            col = block_column[s]
            # the weights down the column, zero below row d and at idle rows: row d of `triangle`
            triangle = None
            if e - s >= TRIANGLE_MIN * rows:
                triangle = np.multiply(lower, column_w[col] * present[col], out=triangle_buffer)
            for a in range(s, e, step_rows):
                b = min(e, a + step_rows)
                index = np.add(block_in[a:b, None], column_in[col], out=index_buffer[:b - a])
                products = np.take(layout.source, index, out=product_buffer[:b - a], mode="clip")
                if triangle is not None:
                    products *= np.take(triangle, block_depth[a:b], axis=0, out=weight_buffer[:b - a], mode="clip")
                else:
                    products *= column_w[col]
                    products[(down[None, :] > block_depth[a:b, None]) | ~present[col]] = 0
                sums[a:b] = torch.from_numpy(products).sum(1)
        code = torch.round(sums.double() / unit).to(torch.int64) & ((1 << ACC_BITS) - 1)
        # one uniform per flip, in failure order (drawn per block: the same numbers as in one call)
        bit = torch.from_numpy(np.searchsorted(cdf, rng.random(e1 - e0), side="right").clip(0, ACC_BITS - 1))
        was_set = (code >> bit) & 1
        step = torch.pow(2.0, bit.double())
        sign_bit = bit == ACC_BITS - 1
        # S xor 2^b: +2^b where the bit was 0, -2^b where it was 1; the sign bit weighs -2^23
        delta = torch.where(was_set.bool(), -step, step)
        delta = torch.where(sign_bit, -delta, delta)
        at = np.take(layout.trial_out, t) + np.repeat(filter_of[w0:w1], local)
        target.index_add_(0, torch.from_numpy(at), (delta * unit).to(outputs.dtype))


def injected_logits(network: MappedNetwork, images: torch.Tensor, faults: FaultModel,
                    streams) -> tuple[torch.Tensor, dict[str, int]]:
    """Logits of one pass with failures; `streams(layer_index, kind)` gives the random generators.
    Returns the logits and the failure count per layer."""
    counts: dict[str, int] = {}
    index = {name: i for i, name in enumerate(network.layer_names)}

    def patch(name, module, inputs, outputs):
        layer = faults.layers.get(name)
        if layer is None:
            return outputs
        trials = inputs.shape[0] * _positions(module, inputs, outputs)
        shape = tuple(module.weight.shape)
        outputs = outputs.contiguous()    # the layer's own fresh output: patched in place
        try:
            dropped = _draw(layer.p_drop, trials, streams(index[name], 0), MAX_FAILURES)
            flipped = _draw(layer.p_flip, trials, streams(index[name], 1), MAX_FLIPS)
        except FailureCap as cap:
            raise TooManyFailures(name, cap.failures, cap.cap, inputs.shape[0]) from None
        counts[name] = len(dropped) + len(flipped)
        if len(dropped):
            _drop(module, inputs, outputs, dropped, shape)
        if len(flipped):
            _flip(module, inputs, outputs, flipped, shape, layer, network.weight_scales[name],
                  faults.flip_bit_cdf, streams(index[name], 2))
        return outputs

    return network.forward(images, patch), counts


class FailureCap(Exception):
    def __init__(self, failures: int, cap: int):
        super().__init__(f"{failures} failures, more than {cap}")
        self.failures, self.cap = failures, cap


class TooManyFailures(Exception):
    def __init__(self, layer: str, failures: int, cap: int, images: int):
        super().__init__(f"{layer}: {failures} failures (more than {cap}) for {images} images")
        self.layer, self.failures, self.cap, self.images = layer, failures, cap, images

    def images_that_fit(self) -> int:
        return int(self.images * 0.8 * self.cap / self.failures)
