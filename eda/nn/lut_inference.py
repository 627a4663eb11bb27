"""Integer inference of a mapped network with any 8x8 multiplier, given as its product table.

The array computes, per output, an int64 sum of int8 products: weights are the layer's int8 codes
(eda.nn.network), activations the codes q = clip(round(x / s_a), -127, 127) with the per-layer
scale s_a = max |input| / 127 over calibration images (eda.nn.faults.activation_scales, the
scale the fault model's integer partial sums use). A layer's float output is acc * s_w * s_a +
bias; everything between array layers (ReLU, pooling, flatten) runs as in the float network.

With a product table `lut` ((256, 256) int64, lut[a & 255, w & 255] = the multiplier's product),
each multiply a * w becomes lut[a, w]. Gathering a table entry per multiplication costs 9 M
lookups per image for the reference CNN (90 G for the test set), so the sum is computed exactly
in another way: lut = a * w + E, and the error table E is written as E[a, w] = sum_t G[a, t] H[t, w]
with activation features G: the constant and the 8 bits of a when E is bilinear in the bits
(true of any multiplier that drops or changes partial products), else one-hot features of the
activation values present. Then sum_k E[a_k, w_k] = sum_t conv(G_t(a), H_t(w)): a few extra
convolutions on 0/1 feature planes, summed exactly in float32 (see `_linear_sums`).
`gather_sums` is the literal lookup-and-sum (int64), the reference the tests hold this to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from eda.core.errors import EdaError
from eda.nn.network import MappedNetwork

QMAX = 127
PATTERNS = 256
EXACT_LIMIT = float(1 << 24)  # float32 sums of integers are exact below this
DEFAULT_BATCH = 200  # images per pass: conv2's feature planes of a batch take ~90 MB per feature


@dataclass(frozen=True)
class Int8Network:
    network: MappedNetwork
    activation_scales: dict[str, float]  # s_a per array layer


def int8_network(network: MappedNetwork, calibration: np.ndarray) -> Int8Network:
    from eda.nn.faults import activation_scales

    return Int8Network(network, activation_scales(network, torch.from_numpy(calibration)))


def exact_table() -> np.ndarray:
    patterns = np.arange(PATTERNS, dtype=np.int64)
    signed = np.where(patterns >= PATTERNS // 2, patterns - PATTERNS, patterns)
    return signed[:, None] * signed[None, :]


def check_table(lut: np.ndarray, label: str) -> np.ndarray:
    lut = np.asarray(lut)
    if lut.shape != (PATTERNS, PATTERNS) or not np.issubdtype(lut.dtype, np.integer):
        raise EdaError(f"product table {label} must be a (256, 256) integer array indexed [a & 255, w & 255], "
                       f"got {lut.dtype} {lut.shape}")
    return lut.astype(np.int64)


def activation_codes(values: torch.Tensor, scale: float) -> torch.Tensor:
    """Integer codes held in float32 (exact), the type the convolutions take."""
    return torch.clamp(torch.round(values.double() / scale), -QMAX, QMAX).float()


def bilinear_factors(error: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(G (256, 9), H (9, 256)) with G @ H == error exactly, G = [1, bit 0 .. bit 7 of a], or None
    when `error` is not of that form (then the caller falls back to one-hot features)."""
    patterns = np.arange(PATTERNS, dtype=np.int64)
    g = np.concatenate([np.ones((PATTERNS, 1), dtype=np.int64), (patterns[:, None] >> np.arange(8)) & 1], axis=1)
    h = np.concatenate([error[:1], error[1 << np.arange(8)] - error[:1]], axis=0)
    return (g, h) if np.array_equal(g @ h, error) else None


def _features(codes: torch.Tensor, error: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """Activation feature planes (features stacked after channels: channel c*T + t) and H (T, 256)."""
    patterns = codes.numpy().astype(np.int64) & (PATTERNS - 1)
    factors = bilinear_factors(error)
    if factors is None:  # any table: one feature per activation value present in this batch
        present = np.unique(patterns)
        g = (np.arange(PATTERNS)[:, None] == present[None, :]).astype(np.int64)
        h = error[present]
    else:
        g, h = factors
    used = np.any(h != 0, axis=1) & np.any(g[np.unique(patterns)] != 0, axis=0)  # planes that add something
    g, h = g[:, used], h[used]
    planes = np.moveaxis(g.astype(np.uint8)[patterns], -1, 2)  # (N, C, T, H, W) or (N, K, T); 0/1 in bytes
    shape = planes.shape
    return torch.from_numpy(planes.reshape(shape[0], shape[1] * shape[2], *shape[3:])).float(), h


def _linear_sums(codes: torch.Tensor, weights: np.ndarray, module) -> torch.Tensor:
    """Exact integer sums (float64 holding integers) of integer `codes` x integer `weights` for a Conv2d (codes already padded) or Linear.

    Computed in float32 (the fast convolution), which is exact while every partial sum stays below
    2^24 whatever the summation order: the weights are split into base-2^b digits small enough for
    that bound, all digits in one call as extra output channels, recombined in int64."""
    x = codes.float()
    k = int(np.prod(weights.shape[1:]))
    peak_x = float(x.abs().amax()) if x.numel() else 0.0
    room = EXACT_LIMIT / max(peak_x * k, 1.0)  # largest digit magnitude that keeps sums exact
    if room < 2:
        raise EdaError(f"a layer of K = {k} inputs with activation features up to {peak_x:g} cannot be summed exactly in float32")
    bits = int(np.floor(np.log2(room)))
    digits, rest = [], weights.astype(np.int64)
    while True:  # w = sum_d digit_d 2^(b d); digits in [0, 2^b), the last one signed and small
        if np.abs(rest).max(initial=0) < room:
            digits.append(rest)
            break
        digits.append(rest & ((1 << bits) - 1))
        rest = rest >> bits
    stacked = torch.from_numpy(np.concatenate(digits, axis=0).astype(np.float32))
    out = F.conv2d(x, stacked, stride=module.stride) if isinstance(module, torch.nn.Conv2d) else x @ stacked.T
    # Each part is an exact integer in float32; recombined in float64, exact below 2^53.
    parts = out.double().split(weights.shape[0], dim=1)
    total = parts[0]
    for d, part in enumerate(parts[1:], start=1):
        total = total + part * float(1 << (bits * d))
    return total


def _pad(codes: torch.Tensor, module) -> torch.Tensor:
    # Padding is applied to the codes, so padded positions are activation 0 through the multiplier,
    # as the array sees them (an approximate multiplier's product of 0 need not be 0).
    if isinstance(module, torch.nn.Conv2d):
        ph, pw = module.padding
        return F.pad(codes, (pw, pw, ph, ph))
    return codes


def layer_sums(module, codes: torch.Tensor, weight_codes: np.ndarray, lut: np.ndarray | None = None) -> torch.Tensor:
    """Accumulator values of an array layer (float64 holding exact integers): the sum over its
    inputs of lut[a, w], or of a * w without a table."""
    codes = _pad(codes, module)
    weights = weight_codes.astype(np.int64)
    sums = _linear_sums(codes, weights, module)
    if lut is None:
        return sums
    error = lut - exact_table()
    if not error.any():
        return sums
    planes, h = _features(codes, error)
    if planes.shape[1] == 0:
        return sums
    t = h.shape[0]
    # Weight of feature plane c*T + t: H[t, w[f, c, ...]].
    feature_weights = np.moveaxis(h[:, weights & (PATTERNS - 1)], 0, 2)  # (F, C, T, ...)
    feature_weights = feature_weights.reshape(weights.shape[0], weights.shape[1] * t, *weights.shape[2:])
    return sums + _linear_sums(planes, feature_weights, module)


def gather_sums(module, codes: torch.Tensor, weight_codes: np.ndarray, lut: np.ndarray) -> torch.Tensor:
    """The literal lookup: lut[a, w] gathered for every multiplication and summed (im2col for a
    convolution). Memory grows with images x positions x K x filters: for checks on a few images."""
    codes = _pad(codes, module)
    weights = weight_codes.astype(np.int64).reshape(weight_codes.shape[0], -1) & (PATTERNS - 1)  # (F, K)
    if isinstance(module, torch.nn.Conv2d):
        columns = F.unfold(codes.double(), module.kernel_size, stride=module.stride)  # (N, K, L)
        columns = np.rint(columns.numpy()).astype(np.int64) & (PATTERNS - 1)
        products = lut[columns[:, None, :, :], weights[None, :, :, None]]  # (N, F, K, L)
        sums = products.sum(axis=2)
        size = _conv_output_size(codes.shape[2:], module)
        return torch.from_numpy(sums.reshape(sums.shape[0], sums.shape[1], *size))
    patterns = codes.numpy().astype(np.int64) & (PATTERNS - 1)  # (N, K)
    return torch.from_numpy(lut[patterns[:, None, :], weights[None, :, :]].sum(axis=2))


def _conv_output_size(size, module) -> tuple[int, int]:
    return tuple((s - k) // st + 1 for s, k, st in zip(size, module.kernel_size, module.stride))


def _array_layer(net: Int8Network, op, hidden: torch.Tensor, lut: np.ndarray | None, gather: bool) -> torch.Tensor:
    network = net.network
    scale_a = net.activation_scales[op.name]
    codes = activation_codes(hidden, scale_a)
    weights = network.weight_codes[op.name]
    if gather:
        sums = gather_sums(op.module, codes, weights, exact_table() if lut is None else lut)
    else:
        sums = layer_sums(op.module, codes, weights, lut)
    out = sums.double() * (network.weight_scales[op.name] * scale_a)  # gather gives int64
    if op.module.bias is not None:
        bias = op.module.bias.detach().double()
        out = out + (bias.view(1, -1, 1, 1) if out.dim() == 4 else bias)
    return out.float()


@torch.no_grad()
def int8_forward(net: Int8Network, images: torch.Tensor, luts: Mapping[str, np.ndarray | None] | None = None, *,
                 gather: bool = False) -> torch.Tensor:
    """Logits of the integer network; `luts` maps array layers to product tables (absent: exact)."""
    luts = dict(luts or {})
    unknown = [name for name in luts if name not in net.network.layer_names]
    if unknown:
        raise EdaError(f"product tables given for layer(s) {', '.join(unknown)} that the network does not have "
                       f"(array layers: {', '.join(net.network.layer_names)})")
    hidden = images
    for op in net.network.operations:
        if op.on_array:
            lut = luts.get(op.name)
            hidden = _array_layer(net, op, hidden, None if lut is None else check_table(lut, op.name), gather)
        else:
            hidden = op.module(hidden)
    return hidden


def int8_accuracy(net: Int8Network, images: np.ndarray, labels: np.ndarray,
                  luts: Mapping[str, np.ndarray | None] | None = None, batch: int = DEFAULT_BATCH) -> float:
    """Top-1 accuracy of the integer network with these product tables."""
    if len(images) == 0:
        raise EdaError("no images to measure accuracy on")
    correct = 0
    for start in range(0, len(images), batch):
        logits = int8_forward(net, torch.from_numpy(images[start:start + batch]), luts)
        correct += int((logits.argmax(1).numpy() == labels[start:start + batch]).sum())
    return correct / len(images)
