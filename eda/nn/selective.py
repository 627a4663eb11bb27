"""The network side of selective bit protection (`eda selective`): the fault model of a selective
MAC array and the measured effect of one inverted partial-sum bit.

Errors use eda/nn/faults.py unchanged: every multiplication of a layer fails (an unrecovered error)
with the MAC's p_flip, inverting one bit of the running 24-bit partial sum drawn from the flip
weights; a caught error of a protected bit is replayed and changes nothing in the network (its cost
is time, counted by the job). The array is the conventional weight-stationary mapping of `eda run`'s
tpu design (every MAC the same size, so one probability for every weight).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from eda.core.errors import EdaError
from eda.method.mapping import map_sensitivities
from eda.nn.faults import ACC_BITS, FaultModel, LayerFaults, bit_cdf, injected_logits, stream
from eda.nn.network import MappedNetwork

BATCH = 2500  # images per injected pass, as eda/nn/vmin.py run_passes


def conventional_orders(network: MappedNetwork, rows: int, cols: int) -> dict[str, np.ndarray]:
    """(F, T, R) column order of every layer under the conventional mapping (eda.nn.accuracy.column_row_orders)."""
    from eda.nn.accuracy import column_row_orders

    shapes = network.layer_shapes()
    mapping = map_sensitivities({name: np.zeros(shape) for name, shape in shapes.items()}, rows, cols, "conventional")
    return column_row_orders(mapping.permutation, shapes)


def selective_faults(network: MappedNetwork, p_flip: float, flip_weights: np.ndarray, orders: dict[str, np.ndarray],
                     scales: dict[str, float]) -> FaultModel:
    """Every weight's multiplication fails unrecovered with p_flip; the bit from flip_weights (any positive
    weights; uniform over the top 8 bits when there are none, which matters only when p_flip is 0)."""
    if not 0 <= p_flip <= 1:
        raise EdaError(f"p_flip must be a probability, got {p_flip}")
    weights = np.asarray(flip_weights, dtype=np.float64)
    if weights.shape != (ACC_BITS,):
        raise EdaError(f"flip weights must be {ACC_BITS} numbers, got shape {weights.shape}")
    if weights.sum() <= 0:
        weights = np.zeros(ACC_BITS)
        weights[ACC_BITS - 8:] = 1.0
    layers = {name: LayerFaults(np.zeros(shape), np.full(shape, float(p_flip)), orders[name], scales[name])
              for name, shape in network.layer_shapes().items()}
    return FaultModel(layers, bit_cdf(weights))


def macs_per_image(network: MappedNetwork, sample: torch.Tensor) -> int:
    """Multiplications of one inference on the array: weights x output positions, summed over layers."""
    total = 0

    def count(name, module, inputs, outputs):
        nonlocal total
        positions = int(np.prod(outputs.shape[2:])) if outputs.dim() == 4 else 1
        total += int(module.weight.numel()) * positions
        return outputs

    network.forward(sample[:1], count)
    return total


def _cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    return F.cross_entropy(logits, labels, reduction="none").double().numpy()


def flip_effects(network: MappedNetwork, images: torch.Tensor, labels: np.ndarray, orders: dict[str, np.ndarray],
                 scales: dict[str, float], rate: float, seed: int) -> list[dict]:
    """Per partial-sum bit b: inject inversions of bit b only, every multiplication at `rate`, one pass over
    the images; the cross-entropy increase and the correct answers lost, both per injected flip.

    The same random streams serve every bit (the same multiplications fail for each), so the bits
    differ only in which bit is inverted."""
    if not 0 < rate < 1:
        raise EdaError(f"the probe rate must be in (0, 1), got {rate}")
    labels_t = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    clean_logits = torch.cat([network.forward(images[i:i + BATCH]) for i in range(0, len(images), BATCH)])
    clean_ce = _cross_entropy(clean_logits, labels_t)
    clean_correct = (clean_logits.argmax(1) == labels_t).numpy()
    rows = []
    for bit in range(ACC_BITS):
        weights = np.zeros(ACC_BITS)
        weights[bit] = 1.0
        faults = selective_faults(network, rate, weights, orders, scales)
        logits, flips = [], 0
        for start in range(0, len(images), BATCH):
            chunk = start // BATCH

            def streams(layer, kind, chunk=chunk):
                return stream(seed, "selective-probe", "flip-effect", 0.0, chunk, layer, kind)

            part, counts = injected_logits(network, images[start:start + BATCH], faults, streams)
            logits.append(part)
            flips += sum(counts.values())
        logits = torch.cat(logits)
        ce_increase = float((_cross_entropy(logits, labels_t) - clean_ce).sum())
        lost = int(clean_correct.sum() - (logits.argmax(1) == labels_t).numpy().sum())
        rows.append({"bit": bit, "probe_flips": flips, "ce_increase_per_flip": ce_increase / flips if flips else 0.0,
                     "correct_lost_per_flip": lost / flips if flips else 0.0})
    return rows
