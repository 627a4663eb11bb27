"""Per-weight loss gradients dC/dw at the quantized weights (paper Alg. 1 lines 3-7).

Alg. 1 sums dCost(data)/dw over the data set and divides by its size: the gradient of the
mean cross-entropy over the set, computed here in one full-batch backward pass (the digits
training set is 1437 images). Taken at the dequantized int8 weights, with respect to the
real-valued weight w = code * scale.

`fisher_diagonal` gives the mean squared per-sample gradient (diagonal empirical Fisher),
the curvature the second-order estimate of eda.sensitivity.curvature_sensitivity needs.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from torch.func import functional_call, grad, vmap

from eda.nn.model import MAPPED_LAYERS
from eda.nn.quantize import QuantizedLayer, quantized_model


def weight_gradients(model: torch.nn.Module, quantized: dict[str, QuantizedLayer],
                     images: torch.Tensor, labels: torch.Tensor) -> dict[str, np.ndarray]:
    """{layer: dC/dw (float64 array shaped like the layer's weight)} of the mean loss over (images, labels)."""
    network = quantized_model(model, quantized)
    network.zero_grad(set_to_none=True)
    F.cross_entropy(network(images), labels).backward()
    return {name: getattr(network, name).weight.grad.detach().double().numpy().copy() for name in MAPPED_LAYERS}


def fisher_diagonal(model: torch.nn.Module, quantized: dict[str, QuantizedLayer], images: torch.Tensor,
                    labels: torch.Tensor, chunk: int = 256) -> dict[str, np.ndarray]:
    """{layer: mean over the images of (dC_n/dw)^2}, C_n the loss of image n, at the int8 weights."""
    network = quantized_model(model, quantized)
    params = {name: value.detach() for name, value in network.named_parameters()}

    def one_image_loss(weights, image, label):
        logits = functional_call(network, {**params, **weights}, (image.unsqueeze(0),))
        return F.cross_entropy(logits, label.unsqueeze(0))

    weights = {f"{name}.weight": params[f"{name}.weight"] for name in MAPPED_LAYERS}
    per_image = vmap(grad(one_image_loss), in_dims=(None, 0, 0))
    totals = {name: torch.zeros_like(value, dtype=torch.float64) for name, value in weights.items()}
    for start in range(0, len(labels), chunk):
        grads = per_image(weights, images[start:start + chunk], labels[start:start + chunk])
        for name in totals:
            totals[name] += grads[name].double().pow(2).sum(dim=0)
    return {name: (totals[f"{name}.weight"] / len(labels)).numpy() for name in MAPPED_LAYERS}
