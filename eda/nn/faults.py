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
failing ones among the B x P multiplications each weight takes part in are found by geometric gaps
between them (an exact Bernoulli process with the weight's p, no trial drawn twice; _draw), and
only those outputs are patched on top of the layer's error-free output: the cost is one inference
plus the failures. The failures are handled in blocks of whole weights (about BLOCK failures each,
small enough to stay in cache): a dropped product is
gathered from the layer input by flat index and its negation added to the output with index_add_,
and a flip's partial sum is one row of `rows` float32 products, masked below the failing MAC and
summed by torch, the flips of one column (filter, tile) at a time. Patches are added to an output
element in failure order (drops, then flips), serially, so the logits are the same bit for bit with
any torch thread count (index_put_ with accumulate=True, used before, adds in parallel with atomics
on more than one thread). `bench/bench_injection.py` measures the cost against plain inference.

`MAX_FAILURES` dropped products and `MAX_FLIPS` flips per layer and forward pass bound the memory of
one pass: a pass expected to need more raises TooManyFailures before anything is drawn, and
eda/nn/vmin.py splits its batch of images until it fits, so every image is still evaluated.

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
MAX_FAILURES = 16_000_000   # dropped products patched per layer and forward pass (about 0.2 GB of indices)
MAX_FLIPS = 400_000         # partial-sum flips per layer and forward pass (each gathers its column's products)
BLOCK = 1 << 16             # failures per block of whole weights
SPARE_SD, SPARE = 6, 4      # gaps drawn per weight: its mean count + SPARE_SD sd + SPARE (more in a rare next round)
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


def stream(seed: int, design: str, budget: str, vdd: float, repeat: int, layer: int, kind: int,
           chunk: tuple[int, ...] = ()) -> np.random.Generator:
    """chunk: which images of the pass (first image, count), so that a batch split differently draws anew."""
    key = [seed, zlib.crc32(design.encode()), zlib.crc32(budget.encode()), int(round(vdd * 10_000)), repeat, layer, kind,
           *chunk]
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
    """(flat weight index, trial index) of every failing multiplication: each weight fails at each
    trial (image x position) independently with its probability, weight-major, trials increasing
    (_draw). More than `cap`: FailureCap."""
    failures = _draw(p, trials, rng, cap)
    return failures.weights(), failures.chosen


def _draw(p: np.ndarray, trials: int, rng: np.random.Generator, cap: int) -> Failures:
    """Every weight fails at each of its `trials` trials independently with its probability p. The
    failing trials of a weight, in increasing order, are the partial sums (minus one) below `trials`
    of Geometric(p) gaps, so no trial is drawn twice and nothing is redrawn: an exact Bernoulli
    process at the cost of its failures. Gaps are drawn for all weights at once, enough for a
    weight's mean count plus six standard deviations; a weight whose gaps end before its last
    trial gets more, in further rounds (rare). More than `cap` failures expected: FailureCap before
    anything is drawn (and after drawing, if the count itself exceeds it)."""
    p = np.clip(np.asarray(p, dtype=np.float64).ravel(), 0.0, 1.0)
    expected = float(p.sum()) * trials
    if expected > cap:
        raise FailureCap(int(expected), cap)
    weights = np.flatnonzero(p > 0)
    last = np.full(len(weights), -1, dtype=np.int64)        # the last trial drawn so far, per weight
    rounds = []                                              # (weights, failures kept per weight, their trials)
    while len(weights):
        pw = p[weights]
        mean = pw * trials
        draws = np.ceil(mean + SPARE_SD * np.sqrt(mean * (1 - pw)) + SPARE).astype(np.int64)
        draws = np.minimum(draws, trials - 1 - last)        # every gap is at least one trial
        with np.errstate(divide="ignore"):                   # p = 1: log(0); its gaps are all 1
            scale = -1.0 / np.log1p(-pw)
        kept, chosen, tail = _gap_round(scale, draws, last, trials, rng)
        rounds.append((weights, kept, chosen))
        more = tail < trials - 1                             # all kept, and trials left after them
        weights, last = weights[more], tail[more]
    counts = np.zeros(len(p), dtype=np.int64)
    for round_weights, kept, _ in rounds:
        counts[round_weights] += kept
    if len(rounds) > 1:                                      # later rounds: back to weight-major order
        owner = np.concatenate([np.repeat(w, k) for w, k, _ in rounds])
        chosen = np.concatenate([t for _, _, t in rounds])[np.argsort(owner, kind="stable")]
    else:
        chosen = rounds[0][2] if rounds else np.zeros(0, dtype=np.int64)
    if len(chosen) > cap:
        raise FailureCap(len(chosen), cap)
    return Failures(counts, chosen, trials, _blocks(counts, trials))


def _gap_round(scale: np.ndarray, draws: np.ndarray, last: np.ndarray, trials: int,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`draws` Geometric gaps per weight after its trial `last`, by inversion: floor(E * scale) + 1 with
    E ~ Exp(1) and scale = -1 / log(1 - p). Returns the failures kept per weight (trial < `trials`),
    their trials (weight-major) and each weight's last trial drawn. Done in runs of whole weights of
    about BLOCK draws, so that every intermediate array stays in cache; the stream is read in the same
    order as in one call."""
    ends = np.cumsum(draws)
    cuts = np.unique(np.concatenate([[0], np.searchsorted(ends, np.arange(BLOCK, int(ends[-1]), BLOCK), side="right"),
                                     [len(draws)]]))
    kept, chosen, tails = [], [], []
    for w0, w1 in zip(cuts[:-1], cuts[1:]):
        local = draws[w0:w1]
        firsts = np.cumsum(local) - local
        gaps = rng.standard_exponential(int(local.sum()))
        gaps *= np.repeat(scale[w0:w1], local)
        # gaps beyond the last trial all mean "beyond": capped, so the sums stay small
        steps = np.minimum(gaps, trials, out=gaps).astype(np.int64) + 1
        sums = np.cumsum(steps)
        at = sums + np.repeat(last[w0:w1] - (sums[firsts] - steps[firsts]), local)   # last + this weight's gaps so far
        keep = at < trials
        kept.append(np.add.reduceat(keep, firsts))
        chosen.append(at[keep])
        tails.append(at[firsts + local - 1])
    return np.concatenate(kept), np.concatenate(chosen), np.concatenate(tails)


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
