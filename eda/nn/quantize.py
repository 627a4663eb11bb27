"""Symmetric per-layer (per-tensor) int8 weight quantization.

Each mapped layer's weights become codes q = round(w / s) clipped to [-127, 127] with one scale
s = max|w| / 127 per layer (so the dequantized weight is q * s). -128 is never produced by
rounding but is a legal stored pattern that bit flips can reach. Per-layer, not per-output-
channel: a weight-stationary array with one scale per layer needs no per-column rescaling, and
Alg. 1 then converts eps from LSBs with one number per layer.
Biases stay float (they are added in the accumulators, outside the 8x8 multipliers), and
activations stay float: the study is about weight bit errors in the MACs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from eda.core.errors import EdaError
from eda.nn.model import MAPPED_LAYERS

BITS = 8
QMAX = (1 << (BITS - 1)) - 1  # 127


@dataclass(frozen=True)
class QuantizedLayer:
    codes: np.ndarray  # int8, same shape as the float weight
    scale: float       # real value of one LSB

    def dequantized(self) -> np.ndarray:
        return self.codes.astype(np.float32) * np.float32(self.scale)


def quantize_tensor(weight: np.ndarray) -> QuantizedLayer:
    weight = np.asarray(weight, dtype=np.float64)
    peak = float(np.max(np.abs(weight))) if weight.size else 0.0
    if not np.isfinite(peak) or peak == 0.0:
        raise EdaError(f"cannot quantize a weight tensor whose max |w| is {peak}")
    scale = peak / QMAX
    codes = np.clip(np.rint(weight / scale), -QMAX, QMAX).astype(np.int8)
    return QuantizedLayer(codes, scale)


def quantize_weights(model: torch.nn.Module) -> dict[str, QuantizedLayer]:
    """int8 codes + scale for every layer in MAPPED_LAYERS."""
    return {name: quantize_tensor(getattr(model, name).weight.detach().cpu().numpy()) for name in MAPPED_LAYERS}


def with_weights(model: torch.nn.Module, weights: dict[str, np.ndarray]) -> torch.nn.Module:
    """A copy of model whose named layers carry the given real-valued weights (eval mode)."""
    clone = copy.deepcopy(model)
    with torch.no_grad():
        for name, value in weights.items():
            target = getattr(clone, name).weight
            if tuple(value.shape) != tuple(target.shape):
                raise EdaError(f"layer {name}: weight shape {value.shape} != model shape {tuple(target.shape)}")
            target.copy_(torch.as_tensor(value, dtype=target.dtype))
    clone.eval()
    return clone


def quantized_model(model: torch.nn.Module, quantized: dict[str, QuantizedLayer]) -> torch.nn.Module:
    """A copy of model running the dequantized int8 weights (what the int8 MAC array computes)."""
    return with_weights(model, {name: layer.dequantized() for name, layer in quantized.items()})
