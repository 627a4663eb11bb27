"""Real bit-flip error injection on the int8 network, and the paper's Fig. 2 check.

Injection flips each stored bit of the chosen int8 weight codes independently with probability
p (XOR of the two's-complement pattern with a random mask), dequantizes, and runs the network.

Fig. 2 check (`filter_injection_study`): for every filter of the chosen layers, the mean
increase of the loss when only that filter's weights suffer bit flips at rate p (Monte Carlo,
seeded) against the filter's predicted sensitivity (sum over its weights), and Spearman's rho
between the two rankings. Predictors: the paper's Alg. 1 Taylor sensitivity |dC/dw * eps|,
and the second-order estimate 1/2 F E[dw^2] (eda.sensitivity.curvature_sensitivity).
Monte Carlo detail: a draw without any flipped bit changes nothing (loss increase exactly 0),
so draws are sampled conditioned on at least one flip and the mean is multiplied by the exact
probability of at least one flip, P = 1 - (1-p)^(8 n) for a filter of n weights. Same
expectation as plain sampling, with every network evaluation spent on a draw that changes
something (at p = 2e-3, 87 % of plain conv1-filter draws would flip nothing).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from eda.core.errors import EdaError
from eda.method.sensitivity import curvature_sensitivity, weight_sensitivity
from eda.nn.model import MAPPED_LAYERS
from eda.nn.quantize import BITS, QuantizedLayer

DRAW_CHUNK = 8  # draws evaluated per batched forward pass (bounds memory: chunk x images x activations)


def flip_masks(rng: np.random.Generator, count: int, weights: int, p: float) -> np.ndarray:
    """(count, weights) uint8 XOR masks: each of the 8 bits set independently with probability p."""
    bits = rng.random((count, weights, BITS)) < p
    return (bits.astype(np.uint8) << np.arange(BITS, dtype=np.uint8)).sum(axis=2, dtype=np.uint8)


def flip_bits(codes: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """XOR int8 codes with uint8 masks (broadcasting) and read the result back as int8."""
    codes = np.ascontiguousarray(codes, dtype=np.int8)
    return (codes.view(np.uint8) ^ masks).view(np.int8)


def inject(codes: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """One random bit-flip draw over a whole int8 tensor at bit error rate p."""
    masks = flip_masks(rng, 1, codes.size, p)[0].reshape(codes.shape)
    return flip_bits(codes, masks)


def conditional_flip_masks(rng: np.random.Generator, count: int, weights: int, p: float) -> np.ndarray:
    """count masks drawn from the bit-flip distribution conditioned on at least one flipped bit.

    Exact for any p: the number of flipped bits k among n = 8 * weights is Binomial(n, p)
    restricted to k >= 1, and given k the flipped positions are a uniform random k-subset.
    """
    if not 0.0 < p <= 1.0:
        raise EdaError(f"bit error rate must be in (0, 1] for injection, got {p!r}")
    n_bits = BITS * weights
    if p == 1.0:
        flips = np.full(count, n_bits)
    else:
        k = np.arange(1, n_bits + 1)
        log_pmf = (np.array([math.lgamma(n_bits + 1) - math.lgamma(j + 1) - math.lgamma(n_bits - j + 1) for j in k])
                   + k * math.log(p) + (n_bits - k) * math.log1p(-p))
        pmf = np.exp(log_pmf - log_pmf.max())
        flips = rng.choice(k, size=count, p=pmf / pmf.sum())
    # rank of each bit in a random order: the k lowest-ranked bits flip
    ranks = rng.random((count, n_bits)).argsort(axis=1).argsort(axis=1)
    bits = (ranks < flips[:, None]).reshape(count, weights, BITS)
    return (bits.astype(np.uint8) << np.arange(BITS, dtype=np.uint8)).sum(axis=2, dtype=np.uint8)


def filter_change_losses(network: torch.nn.Module, layer: str, index: int, weight_changes: torch.Tensor,
                         layer_input: torch.Tensor, base_preactivation: torch.Tensor,
                         labels: torch.Tensor) -> np.ndarray:
    """Mean loss over the images for each draw of changes to filter `index` of `layer` -> (R,) array.

    weight_changes (R, *filter shape): flipped minus original weights; layer_input and
    base_preactivation: `network.input_of(layer, images)` and the layer's output on it.
    The layer is linear in its weights, so only output channel `index` moves, by the layer's
    operation applied to the change; that one channel reaches the next layer through
    channel-wise ReLU/pooling (`next_preactivation_change`), and the network runs on from the
    next layer's pre-activation (`forward_from`): the same numbers as loading the flipped
    weights (tested), with a fraction of the multiplications.
    """
    module = getattr(network, layer)
    if isinstance(module, torch.nn.Conv2d):
        moved = F.conv2d(layer_input, weight_changes, None, module.stride, module.padding, module.dilation)
    else:
        moved = layer_input @ weight_changes.reshape(len(weight_changes), -1).T
    moved = moved.movedim(1, 0)  # (R, N, *channel shape)
    count = len(labels)
    old_channel = base_preactivation[:, index]
    last = layer == MAPPED_LAYERS[-1]
    losses = []
    with torch.no_grad():
        if not last:
            following = MAPPED_LAYERS[MAPPED_LAYERS.index(layer) + 1]
            base_next = getattr(network, following)(network.activation_after(layer, base_preactivation))
        for start in range(0, len(weight_changes), DRAW_CHUNK):
            change = moved[start:start + DRAW_CHUNK]
            draws = len(change)
            if last:
                logits = base_preactivation.unsqueeze(0).repeat(draws, 1, 1)
                logits[:, :, index] += change
                logits = logits.flatten(0, 1)
            else:
                old = old_channel.unsqueeze(0).expand(draws, *old_channel.shape)
                _, next_change = network.next_preactivation_change(
                    layer, index, old.flatten(0, 1), (old + change).flatten(0, 1))
                next_preactivation = base_next.unsqueeze(0) + next_change.view(draws, *base_next.shape)
                logits = network.forward_from(following, next_preactivation.flatten(0, 1))
            per_image = F.cross_entropy(logits, labels.repeat(draws), reduction="none")
            losses.append(per_image.view(draws, count).mean(dim=1))
    return torch.cat(losses).double().numpy()


class FilterCheck(NamedTuple):
    table: pd.DataFrame  # one row per filter
    rho: float           # Spearman(paper's Taylor sensitivity, injected mean loss increase), all filters
    rhos: pd.DataFrame   # Spearman for every predictor x injected measure, over all filters and per layer


PREDICTORS = {"taylor": "Alg. 1 |dC/dw * eps| (paper)", "curvature": "1/2 F E[dw^2] (second order, Fisher)"}
MEASURES = {"injected": "mean loss increase", "injected_abs": "mean |loss change| (eq. 2)"}


def filter_injection_study(network: torch.nn.Module, quantized: dict[str, QuantizedLayer],
                           gradients: dict[str, np.ndarray], images: torch.Tensor, labels: torch.Tensor,
                           p: float, fisher: dict[str, np.ndarray] | None = None, layers=("conv1", "conv2"),
                           draws: int = 256, seed: int = 0) -> FilterCheck:
    """Per-filter injected loss change vs predicted sensitivity (paper Fig. 2).

    network must already run the dequantized int8 weights (`quantized_model`); images/labels
    are the set the gradients (and Fisher) were taken on: the cost C of eq. 2.
    Table columns: layer, filter, weights, taylor (sum over the filter of Alg. 1 sensitivities,
    signed eps as in the paper), curvature (sum of 1/2 F E[dw^2], if fisher is given),
    injected (mean loss increase), injected_stderr, injected_abs (mean |loss change|),
    p_any_flip, draws.
    """
    if draws < 2:
        raise EdaError(f"need at least 2 Monte Carlo draws per filter, got {draws}")
    rng = np.random.default_rng(seed)
    network.eval()
    rows = []
    for layer in layers:
        if layer not in quantized:
            raise EdaError(f"no quantized layer {layer!r}; have {sorted(quantized)}")
        qlayer = quantized[layer]
        per_filter = qlayer.codes.shape[0]
        taylor = weight_sensitivity(gradients[layer], qlayer.codes, qlayer.scale, p, BITS, "signed")
        taylor = taylor.reshape(per_filter, -1).sum(axis=1)
        if fisher is not None:
            curvature = curvature_sensitivity(fisher[layer], qlayer.codes, qlayer.scale, p, BITS)
            curvature = curvature.reshape(per_filter, -1).sum(axis=1)
        with torch.no_grad():
            layer_input = network.input_of(layer, images)
            base_preactivation = getattr(network, layer)(layer_input)
            # the reference loss through the same path as the draws, so a no-op draw gives exactly 0
            base_loss = F.cross_entropy(network.forward_from(layer, base_preactivation), labels).item()
        for index in range(per_filter):
            filter_codes = qlayer.codes[index].reshape(-1)
            masks = conditional_flip_masks(rng, draws, filter_codes.size, p)
            change = (flip_bits(filter_codes[None, :], masks).astype(np.float32)
                      - filter_codes[None, :].astype(np.float32)) * np.float32(qlayer.scale)
            change = torch.from_numpy(change).reshape(draws, *qlayer.codes.shape[1:])
            losses = filter_change_losses(network, layer, index, change, layer_input, base_preactivation, labels)
            increase = losses - base_loss
            p_any = 1.0 - (1.0 - p) ** (BITS * filter_codes.size)
            row = {"layer": layer, "filter": index, "weights": filter_codes.size, "taylor": float(taylor[index])}
            if fisher is not None:
                row["curvature"] = float(curvature[index])
            row.update({"injected": p_any * float(increase.mean()),
                        "injected_stderr": p_any * float(increase.std(ddof=1) / np.sqrt(draws)),
                        "injected_abs": p_any * float(np.abs(increase).mean()),
                        "p_any_flip": p_any, "draws": draws})
            rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs.update(p=p, seed=seed, layers=list(layers))
    rhos = []
    for predictor in (name for name in PREDICTORS if name in table):
        for measure in MEASURES:
            entry = {"predictor": predictor, "measure": measure,
                     "all": float(table[predictor].corr(table[measure], method="spearman"))}
            for layer, group in table.groupby("layer", sort=False):
                entry[layer] = float(group[predictor].corr(group[measure], method="spearman"))
            rhos.append(entry)
    rhos = pd.DataFrame(rhos)
    rho = float(rhos.loc[(rhos.predictor == "taylor") & (rhos.measure == "injected"), "all"].iloc[0])
    return FilterCheck(table, rho, rhos)
