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
of the layer's error-free output: the cost is one inference plus the failures. Where a layer would
need more than `MAX_FAILURES` dropped products or `MAX_FLIPS` flips in one pass, the point is
evaluated on the first images only, so that it fits (recorded as `images` of the point; at those
error rates the network has collapsed, and a few hundred images show it within a narrow interval).

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
MAX_FAILURES = 4_000_000    # dropped products patched per layer and pass (in chunks of CHUNK_DROPS)
MAX_FLIPS = 40_000          # partial-sum flips per layer and pass (each gathers its column's products)
CHUNK = 50_000             # flips whose partial sums are gathered at once
CHUNK_DROPS = 2_000_000


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


def draw_failures(p: np.ndarray, trials: int, rng: np.random.Generator, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """(flat weight index, trial index) of every failing multiplication: Binomial(trials, p) failures
    per weight, at distinct trials (image x position), uniformly. More than `cap`: FailureCap (the
    count is known before anything is materialized)."""
    counts = rng.binomial(trials, np.clip(p.ravel(), 0.0, 1.0))
    total = int(counts.sum())
    if total > cap:
        raise FailureCap(total, cap)
    weights = np.repeat(np.arange(p.size), counts)
    chosen = rng.integers(0, trials, size=len(weights))
    every = counts[weights] == trials            # a weight failing everywhere takes every trial once
    chosen[every] = np.concatenate([np.arange(trials)] * int((counts == trials).sum())) if every.any() else chosen[every]
    for _ in range(1000):                        # redraw repeated (weight, trial) pairs
        order = np.lexsort((chosen, weights))
        repeated = np.zeros(len(weights), dtype=bool)
        repeated[order[1:]] = (weights[order[1:]] == weights[order[:-1]]) & (chosen[order[1:]] == chosen[order[:-1]])
        if not repeated.any():
            break
        chosen[repeated] = rng.integers(0, trials, size=int(repeated.sum()))
    return weights, chosen


def _operands(module, inputs: torch.Tensor, outputs: torch.Tensor, k: torch.Tensor, image: torch.Tensor,
              position: torch.Tensor) -> torch.Tensor:
    """The activation that weight row k multiplies at (image, output position)."""
    if not isinstance(module, torch.nn.Conv2d):
        return inputs[image, k]
    kh, kw = module.kernel_size
    sh, sw = module.stride
    ph, pw = module.padding
    padded = F.pad(inputs, (pw, pw, ph, ph))
    out_w = outputs.shape[3]
    channel, rest = k // (kh * kw), k % (kh * kw)
    y = (position // out_w) * sh + rest // kw
    x = (position % out_w) * sw + rest % kw
    return padded[image, channel, y, x]


def _add(outputs: torch.Tensor, image, filt, position, delta: torch.Tensor) -> None:
    if outputs.dim() == 2:
        outputs.index_put_((image, filt), delta, accumulate=True)
    else:
        flat = outputs.view(outputs.shape[0], outputs.shape[1], -1)
        flat.index_put_((image, filt, position), delta, accumulate=True)


def _drop(module, inputs, outputs, failures, weight_shape, trials_per_image):
    for start in range(0, len(failures[0]), CHUNK_DROPS):
        part = slice(start, start + CHUNK_DROPS)
        _drop_chunk(module, inputs, outputs, (failures[0][part], failures[1][part]), weight_shape, trials_per_image)


def _drop_chunk(module, inputs, outputs, failures, weight_shape, trials_per_image):
    flat_weight, trial = failures
    filt = torch.from_numpy(flat_weight // int(np.prod(weight_shape[1:])))
    k = torch.from_numpy(flat_weight % int(np.prod(weight_shape[1:])))
    image, position = torch.from_numpy(trial // trials_per_image), torch.from_numpy(trial % trials_per_image)
    w = module.weight.reshape(weight_shape[0], -1)[filt, k]
    _add(outputs, image, filt, position, -(w * _operands(module, inputs, outputs, k, image, position)))


def _flip(module, inputs, outputs, failures, weight_shape, trials_per_image, layer: LayerFaults, scale_w: float,
          cdf: np.ndarray, rng: np.random.Generator):
    flat_weight, trial = failures
    k_count = int(np.prod(weight_shape[1:]))
    rows = layer.column_order.shape[2]
    unit = scale_w * layer.activation_scale
    bits = np.searchsorted(cdf, rng.random(len(flat_weight)), side="right").clip(0, ACC_BITS - 1)
    for start in range(0, len(flat_weight), CHUNK):
        part = slice(start, start + CHUNK)
        filt_np, k_np = flat_weight[part] // k_count, flat_weight[part] % k_count
        tile = k_np // rows
        order = layer.column_order[filt_np, tile]                       # (n, R) K indices down the column
        depth = np.argmax(order == k_np[:, None], axis=1)               # where the failing weight sits
        above = (np.arange(rows)[None, :] <= depth[:, None]) & (order >= 0)
        image = torch.from_numpy(trial[part] // trials_per_image)
        position = torch.from_numpy(trial[part] % trials_per_image)
        filt = torch.from_numpy(filt_np)
        ks = torch.from_numpy(np.where(above, order, 0))
        w = module.weight.reshape(weight_shape[0], -1)[filt[:, None], ks]
        a = _operands(module, inputs, outputs, ks, image[:, None].expand_as(ks), position[:, None].expand_as(ks))
        partial = ((w * a) * torch.from_numpy(above)).sum(1).double() / unit
        code = torch.round(partial).to(torch.int64) & ((1 << ACC_BITS) - 1)
        bit = torch.from_numpy(bits[part])
        was_set = (code >> bit) & 1
        step = torch.pow(2.0, bit.double())
        sign_bit = bit == ACC_BITS - 1
        # S xor 2^b: +2^b where the bit was 0, -2^b where it was 1; the sign bit weighs -2^23
        delta = torch.where(was_set.bool(), -step, step)
        delta = torch.where(sign_bit, -delta, delta)
        _add(outputs, image, filt, position, (delta * unit).to(outputs.dtype))


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
        positions = _positions(module, inputs, outputs)
        trials = inputs.shape[0] * positions
        shape = tuple(module.weight.shape)
        outputs = outputs.clone()
        try:
            dropped = draw_failures(layer.p_drop, trials, streams(index[name], 0), MAX_FAILURES)
            flipped = draw_failures(layer.p_flip, trials, streams(index[name], 1), MAX_FLIPS)
        except FailureCap as cap:
            raise TooManyFailures(name, cap.failures, cap.cap, inputs.shape[0]) from None
        counts[name] = len(dropped[0]) + len(flipped[0])
        if len(dropped[0]):
            _drop(module, inputs, outputs, dropped, shape, positions)
        if len(flipped[0]):
            _flip(module, inputs, outputs, flipped, shape, positions, layer, network.weight_scales[name],
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
