"""From the reference network to 2D MAC-array sensitivity maps (paper III + IV-C).

Pipeline: train or load the reference CNN -> int8 weights (per-layer scale) -> dC/dw over the
training set at the int8 weights -> per-weight sensitivity at bit error rate `ber` -> map the
five weight layers (conv1, conv2, fc1, fc2, fc3, in execution order) onto the M x N array with
each strategy of `eda.mapping`.

Sensitivity methods:
- "taylor" (default, the paper's Alg. 1): |dC/dw * eps|, eps the signed mean shift.
- "curvature": 1/2 F E[dw^2], the second-order expected loss increase with the diagonal
  Fisher F. Not in the paper; offered because on this network it ranks filters like real
  bit-flip injection more reliably (see `filter_check` and the report).

Note on `ber`: with the signed eps, eps = ber * (2w + 1) exactly, so every Taylor sensitivity
and map scales linearly with ber (variances with ber^2); rankings and the strategy comparison
do not depend on it. The curvature method is ~linear in ber at small ber.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eda.core.errors import EdaError
from eda.method.mapping import STRATEGIES, StrategyMap, map_all_strategies
from eda.method.sensitivity import curvature_sensitivity, weight_sensitivity
from eda.nn.gradients import fisher_diagonal, weight_gradients
from eda.nn.inject import FilterCheck, filter_injection_study
from eda.nn.model import ARCHITECTURE, MAPPED_LAYERS
from eda.nn.quantize import BITS, QuantizedLayer, quantize_weights, quantized_model
from eda.nn.train import DEFAULT_EPOCHS, ReferenceNetwork, evaluate, train_reference

DEFAULT_BER = 1e-2
CHECK_BER = 2e-3  # Fig. 2 check: ~13 % of conv1 and ~58 % of conv2 filter draws flip >= 1 bit
METHODS = ("taylor", "curvature")


@dataclass
class SensitivityStudy:
    reference: ReferenceNetwork
    quantized: dict[str, QuantizedLayer]
    gradients: dict[str, np.ndarray]       # dC/dw (mean loss over the training set), shaped like each weight
    fisher: dict[str, np.ndarray]          # mean squared per-image gradient, shaped like each weight
    sensitivities: dict[str, np.ndarray]   # per weight, by `method`, shaped like each weight
    accuracy: dict                         # {"float"|"int8": {train/test loss and accuracy}}
    ber: float
    method: str


def reference_dir(cache_dir: Path | str, seed: int, epochs: int) -> Path:
    """Where the trained reference network of this recipe lives inside a cache folder."""
    return Path(cache_dir) / "nn" / f"{ARCHITECTURE}-seed{seed}-epochs{epochs}"


def per_weight_sensitivity(study: SensitivityStudy, ber: float, method: str) -> dict[str, np.ndarray]:
    if method not in METHODS:
        raise EdaError(f"sensitivity method must be one of {METHODS}, got {method!r}")
    result = {}
    for name in MAPPED_LAYERS:
        layer = study.quantized[name]
        if method == "taylor":
            result[name] = weight_sensitivity(study.gradients[name], layer.codes, layer.scale, ber, BITS, "signed")
        else:
            result[name] = curvature_sensitivity(study.fisher[name], layer.codes, layer.scale, ber, BITS)
    return result


def sensitivity_study(ber: float = DEFAULT_BER, seed: int = 0, cache_dir: Path | str | None = None,
                      epochs: int = DEFAULT_EPOCHS, method: str = "taylor") -> SensitivityStudy:
    """Reference network, int8 weights, gradients, Fisher and per-weight sensitivities."""
    if method not in METHODS:
        raise EdaError(f"sensitivity method must be one of {METHODS}, got {method!r}")
    out_dir = reference_dir(cache_dir, seed, epochs) if cache_dir is not None else None
    reference = train_reference(seed=seed, epochs=epochs, out_dir=out_dir)
    data = reference.data
    quantized = quantize_weights(reference.model)
    int8_network = quantized_model(reference.model, quantized)
    train_loss, train_accuracy = evaluate(int8_network, data.x_train, data.y_train)
    test_loss, test_accuracy = evaluate(int8_network, data.x_test, data.y_test)
    accuracy = {"float": dict(reference.meta["float"]),
                "int8": {"train_loss": train_loss, "train_accuracy": train_accuracy,
                         "test_loss": test_loss, "test_accuracy": test_accuracy}}
    gradients = weight_gradients(reference.model, quantized, data.x_train, data.y_train)
    fisher = fisher_diagonal(reference.model, quantized, data.x_train, data.y_train)
    study = SensitivityStudy(reference, quantized, gradients, fisher, {}, accuracy, ber, method)
    study.sensitivities = per_weight_sensitivity(study, ber, method)
    return study


def sensitivity_maps(rows: int = 256, cols: int = 256, ber: float = DEFAULT_BER, seed: int = 0,
                     cache_dir: Path | str | None = None, epochs: int = DEFAULT_EPOCHS, method: str = "taylor",
                     strategies=STRATEGIES) -> dict[str, StrategyMap]:
    """{strategy: StrategyMap(sensitivity (rows, cols), variance, permutation)} for the reference network.

    StrategyMap is a NamedTuple, so `smap, variance, permutation = result["column4to1"]` works.
    """
    study = sensitivity_study(ber=ber, seed=seed, cache_dir=cache_dir, epochs=epochs, method=method)
    return map_all_strategies(study.sensitivities, rows, cols, strategies)


def filter_check(study: SensitivityStudy, p: float = CHECK_BER, draws: int = 256, seed: int = 0,
                 layers=("conv1", "conv2")) -> FilterCheck:
    """Paper Fig. 2 on the reference network: injected bit flips per filter vs predicted sensitivity."""
    data = study.reference.data
    network = quantized_model(study.reference.model, study.quantized)
    return filter_injection_study(network, study.quantized, study.gradients, data.x_train, data.y_train, p,
                                  fisher=study.fisher, layers=layers, draws=draws, seed=seed)
