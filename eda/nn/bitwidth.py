"""The integer reference network at a reduced precision of b bits (2 <= b <= 8), without retraining.

Scheme: keep the int8 scales and drop the (8 - b) least-significant bits with rounding, i.e. a b-bit
code counts steps of 2^(8-b) int8 steps.
  weights      w_b = clip(floor(w_8 / 2^(8-b) + 1/2), -(2^(b-1) - 1), 2^(b-1) - 1), from the stored int8
               codes (add half an LSB and shift: the rounding a shifter does in hardware);
               scale s_w * 2^(8-b).
  activations  a_b = clip(round(x / (s_a * 2^(8-b))), same range): the layer input requantized once at
               the coarser step (what the requantizer at the previous layer's output would emit when
               told to output b bits), scale s_a * 2^(8-b). s_a is the int8 calibration scale
               (eda.nn.lut_inference.int8_network).
A layer's float output is sum(a_b * w_b) * (s_w 2^(8-b)) (s_a 2^(8-b)) + bias, the sums exact
(eda.nn.lut_inference.layer_sums); everything between array layers runs as in the int8 network. At
b = 8 this is exactly eda.nn.lut_inference.int8_forward.

Why this scheme: one int8 model in memory serves every precision; switching precision per image
needs no retraining, no per-precision calibration and no second copy of the weights, only the
shift, which is what input-dependent reconfiguration at run time allows.
"""

from __future__ import annotations

import numpy as np
import torch

from eda.core.errors import EdaError
from eda.nn.lut_inference import DEFAULT_BATCH, Int8Network, layer_sums

SOURCE_BITS = 8
MIN_BITS = 2


def check_bits(bits: int) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not MIN_BITS <= bits <= SOURCE_BITS:
        raise EdaError(f"a precision must be a whole number of bits in {MIN_BITS}..{SOURCE_BITS} "
                       f"(the network is int8), got {bits!r}")
    return int(bits)


def code_limit(bits: int) -> int:
    """Largest code magnitude: symmetric, as int8's -127..127."""
    return (1 << (check_bits(bits) - 1)) - 1


def step(bits: int) -> float:
    """A b-bit code's step in int8 steps: 2^(8-b)."""
    return float(1 << (SOURCE_BITS - check_bits(bits)))


def weight_codes_at(codes: np.ndarray, bits: int) -> np.ndarray:
    """int8 weight codes rounded to b bits (int64): floor(w / 2^(8-b) + 1/2), clipped symmetric."""
    shift = SOURCE_BITS - check_bits(bits)
    codes = np.asarray(codes).astype(np.int64)
    if shift:
        codes = (codes + (1 << (shift - 1))) >> shift
    limit = code_limit(bits)
    return np.clip(codes, -limit, limit)


def activation_codes_at(values: torch.Tensor, scale: float, bits: int) -> torch.Tensor:
    """b-bit activation codes (float32 holding integers) at the int8 scale times 2^(8-b)."""
    limit = code_limit(bits)
    return torch.clamp(torch.round(values.double() / (scale * step(bits))), -limit, limit).float()


@torch.no_grad()
def bitwidth_forward(net: Int8Network, images: torch.Tensor, bits: int) -> torch.Tensor:
    """Logits of the network with every array layer at b-bit weights and activations."""
    factor = step(bits)
    network = net.network
    hidden = images
    for op in network.operations:
        if not op.on_array:
            hidden = op.module(hidden)
            continue
        scale_a = net.activation_scales[op.name]
        codes = activation_codes_at(hidden, scale_a, bits)
        sums = layer_sums(op.module, codes, weight_codes_at(network.weight_codes[op.name], bits))
        out = sums.double() * (network.weight_scales[op.name] * factor * (scale_a * factor))
        if op.module.bias is not None:
            bias = op.module.bias.detach().double()
            out = out + (bias.view(1, -1, 1, 1) if out.dim() == 4 else bias)
        hidden = out.float()
    return hidden


def bitwidth_logits(net: Int8Network, images: np.ndarray, bits: int, batch: int = DEFAULT_BATCH,
                    threads: int | None = 1) -> np.ndarray:
    """(images, classes) float32 logits at b bits; torch on `threads` threads (None: as set). The sums
    are exact integers, so the thread count changes only the speed."""
    if len(images) == 0:
        raise EdaError("no images to run the network on")
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        parts = [bitwidth_forward(net, torch.from_numpy(images[start:start + batch]), bits).numpy()
                 for start in range(0, len(images), batch)]
    finally:
        torch.set_num_threads(previous)
    return np.concatenate(parts)


@torch.no_grad()
def macs_per_inference(net: Int8Network, image_shape: tuple[int, ...]) -> dict[str, int]:
    """Multiply-accumulates of one image per array layer: output positions x filters x K."""
    counts = {}

    def count(name, module, inputs, outputs):
        k = int(np.prod(module.weight.shape[1:]))
        positions = int(np.prod(outputs.shape[2:])) if outputs.dim() == 4 else 1
        counts[name] = positions * int(module.weight.shape[0]) * k
        return outputs

    net.network.forward(torch.zeros((1, *image_shape)), count)
    return counts
