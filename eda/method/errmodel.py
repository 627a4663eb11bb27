"""Timing-error probability of a MAC under voltage scaling (Shin et al. 2019, eqs. 7-9).

A critical path of delay d_path is an inverter chain of T = d_path / d_inv FO4
stages, d_inv being the FO4 delay at the nominal supply. At a scaled supply each
stage takes mu(V) on average with a spread sigma(V) (the FO4 Monte Carlo).

- Eq. 7: the input-dependent probability that a transition travels far enough
  down one path to miss the clock, with p the probability of propagating through
  one more stage: P_I = sum_{N = T_clk/mu}^{T} p^N (1 - p).
- Eq. 8: over N_cp critical paths with the same distribution: 1 - (1 - P_I)^N_cp.
- Eq. 9: with process variation, D_path ~ N(T mu, T sigma^2); the stage count seen
  by eq. 7 is then D_path / mu, sampled per MAC instance.

Stage counts are real numbers here; the sum of eq. 7 runs over the integers
N = ceil(T_clk / mu) ... floor(T) (the paper's inclusive lower bound: a transition
needing exactly the clock period counts as an error), which telescopes to
p^ceil(T_clk/mu) - p^(floor(T) + 1).

Plain numpy, no I/O: everything broadcasts, so a whole table of sizes x voltages x
process samples is one array expression.
"""

from __future__ import annotations

import numpy as np

from eda.core.errors import EdaError

DEFAULT_PROPAGATION_P = 0.5  # the paper's p, after its reference [21]
DEFAULT_CRITICAL_PATHS = 16  # the paper's N


def input_error_probability(path_stages, clock_stages, p: float = DEFAULT_PROPAGATION_P) -> np.ndarray:
    """Eq. 7 for one path of `path_stages` stages and a clock of `clock_stages` stages."""
    _check_p(p)
    first = np.ceil(np.asarray(clock_stages, dtype=float))
    last = np.floor(np.asarray(path_stages, dtype=float))
    with np.errstate(over="ignore", under="ignore"):
        prob = np.power(p, first) - np.power(p, last + 1.0)
    return np.where(last >= first, prob, 0.0)


def multi_path_error_probability(single_path_probability, n_paths: int = DEFAULT_CRITICAL_PATHS) -> np.ndarray:
    """Eq. 8: the probability that at least one of `n_paths` paths misses the clock."""
    if n_paths < 1:
        raise EdaError(f"the number of critical paths must be at least 1, got {n_paths}")
    single = np.asarray(single_path_probability, dtype=float)
    # 1 - (1-x)^n loses every digit for x ~ 1e-12; expm1/log1p keep them.
    with np.errstate(divide="ignore"):
        return -np.expm1(n_paths * np.log1p(-single))


def timing_error_probability(path_delay_ns, inverter_delay_nominal_ns: float, stage_mean_ns, clock_ns: float,
                             *, p: float = DEFAULT_PROPAGATION_P, n_paths: int = DEFAULT_CRITICAL_PATHS) -> np.ndarray:
    """Eqs. 7-8 without process variation: every stage takes `stage_mean_ns` at the scaled supply.

    `path_delay_ns` and `stage_mean_ns` broadcast against each other (e.g. sizes x 1 and 1 x voltages).
    """
    path_stages = np.asarray(path_delay_ns, dtype=float) / _positive(inverter_delay_nominal_ns, "nominal inverter delay")
    clock_stages = _positive(clock_ns, "clock period") / np.asarray(stage_mean_ns, dtype=float)
    return multi_path_error_probability(input_error_probability(path_stages, clock_stages, p), n_paths)


def standard_normal_samples(n_samples: int, seed: int) -> np.ndarray:
    """The process-variation draws, shared by every size and voltage (common random numbers:
    differences between sizes are not buried under sampling noise)."""
    if n_samples < 1:
        raise EdaError(f"the number of process samples must be at least 1, got {n_samples}")
    return np.random.default_rng(seed).standard_normal(n_samples)


def timing_error_probability_with_variation(path_delay_ns, inverter_delay_nominal_ns: float, stage_mean_ns, stage_sigma_ns,
                                            clock_ns: float, normal_samples: np.ndarray, *, p: float = DEFAULT_PROPAGATION_P,
                                            n_paths: int = DEFAULT_CRITICAL_PATHS) -> np.ndarray:
    """Eqs. 7-9: the mean of eq. 8 over process samples of D_path ~ N(T mu, T sigma^2).

    `path_delay_ns` and the stage statistics broadcast against each other; the samples
    form a trailing axis that is averaged away.
    """
    path_stages = np.asarray(path_delay_ns, dtype=float)[..., None] / _positive(inverter_delay_nominal_ns, "nominal inverter delay")
    mean = np.asarray(stage_mean_ns, dtype=float)[..., None]
    sigma = np.asarray(stage_sigma_ns, dtype=float)[..., None]
    if np.any(mean <= 0) or np.any(sigma < 0):
        raise EdaError("stage delay means must be positive and their sigmas non-negative")
    path_delay_at_v = path_stages * mean + np.sqrt(path_stages) * sigma * np.asarray(normal_samples, dtype=float)
    sampled_stages = path_delay_at_v / mean
    clock_stages = _positive(clock_ns, "clock period") / mean
    per_sample = multi_path_error_probability(input_error_probability(sampled_stages, clock_stages, p), n_paths)
    return per_sample.mean(axis=-1)


def _check_p(p: float) -> None:
    if not 0.0 <= p < 1.0:
        raise EdaError(f"the propagation probability p must be in [0, 1), got {p}")


def _positive(value: float, what: str) -> float:
    if not value > 0:
        raise EdaError(f"the {what} must be positive, got {value}")
    return float(value)
