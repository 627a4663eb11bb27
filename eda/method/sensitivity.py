"""Weight sensitivity to bit errors, paper Alg. 1 (Shin et al., JETCAS 2019, section III).

A stored b-bit two's-complement weight code w whose bits each flip independently with
probability p becomes code w' with probability p^h (1-p)^(b-h), h = hamming(w, w').
Alg. 1 takes the expectation E[val(w')] over all 2^b codes w' (line 13) and the noise
eps(w) = val(w) - E[val(w')] (line 14); the sensitivity of a weight is |dC/dw * eps(w)|
(line 16, eq. 5). The expectation is one matrix-vector product with the 2^b x 2^b matrix
of transition probabilities.

Following the paper, eps is *signed* (the mean shift of the weight): for two's complement it
works out to eps(w) = p (2 val(w) + 1) exactly, for every p (tested). Because eq. 5 is the
first-order change of the cost, the mean shift is what the first-order term sees. The
alternative E|val(w') - val(w)| (mean absolute change, ~255 p for every code at small p, i.e.
blind to the weight's value) is available as noise="absolute" for comparison.

Beyond the paper: `curvature_sensitivity` is the second-order estimate of the expected loss
increase, 1/2 * F * E[(w' - w)^2], with F the diagonal Fisher information (mean squared
per-sample gradient, the usual stand-in for the Hessian diagonal). Bit flips of the upper bits
are large steps, and at a well-trained network the mean gradient is near zero, so the
quadratic term dominates the real damage; see eda/nn/inject.py for the measured comparison.

Codes are indexed by their unsigned bit pattern (0 .. 2^b - 1), the way the hardware stores
them; `code_values` gives the two's-complement value of each pattern. Plain numpy, no I/O.
"""

from __future__ import annotations

import numpy as np

from eda.core.errors import EdaError

NOISE_KINDS = ("signed", "absolute")


def _check_bits(bits: int) -> None:
    if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 16:
        raise EdaError(f"bit width must be an integer in 1..16 (2^bits x 2^bits table), got {bits!r}")


def _check_rate(p: float) -> None:
    if not 0.0 <= float(p) <= 1.0:
        raise EdaError(f"bit error rate must be in [0, 1], got {p!r}")


def code_values(bits: int = 8) -> np.ndarray:
    """Two's-complement value of every bit pattern 0 .. 2^bits - 1 (int64)."""
    _check_bits(bits)
    patterns = np.arange(1 << bits, dtype=np.int64)
    return np.where(patterns >= 1 << (bits - 1), patterns - (1 << bits), patterns)


def hamming_distances(bits: int = 8) -> np.ndarray:
    """(2^bits, 2^bits) matrix of Hamming distances between bit patterns."""
    _check_bits(bits)
    patterns = np.arange(1 << bits, dtype=np.int64)
    xor = patterns[:, None] ^ patterns[None, :]
    # popcount by summing the bits; bits <= 16 keeps this a few shifts
    return sum((xor >> k) & 1 for k in range(bits)).astype(np.int64)


def flip_probabilities(p: float, bits: int = 8) -> np.ndarray:
    """(2^bits, 2^bits) matrix: [w, w'] = probability that stored pattern w is read as w'.

    Rows sum to 1. Alg. 1 lines 11-12: p^hamming * (1-p)^(bits - hamming).
    """
    _check_rate(p)
    distance = hamming_distances(bits)
    # float powers with 0**0 == 1, so p = 0 and p = 1 come out exact
    return np.power(float(p), distance) * np.power(1.0 - float(p), bits - distance)


def expected_noise(p: float, bits: int = 8, noise: str = "signed") -> np.ndarray:
    """eps for every stored pattern (index = unsigned pattern), in code units (LSBs).

    noise="signed": eps(w) = val(w) - E[val(w')]   (Alg. 1 line 14, the paper's choice)
    noise="absolute": eps(w) = E[|val(w') - val(w)|] (mean magnitude of the change)
    """
    if noise not in NOISE_KINDS:
        raise EdaError(f"noise must be one of {NOISE_KINDS}, got {noise!r}")
    transition = flip_probabilities(p, bits)
    values = code_values(bits).astype(np.float64)
    if noise == "signed":
        return values - transition @ values
    return np.sum(transition * np.abs(values[None, :] - values[:, None]), axis=1)


def expected_squared_change(p: float, bits: int = 8) -> np.ndarray:
    """E[(val(w') - val(w))^2] for every stored pattern, in LSB^2 (index = unsigned pattern)."""
    transition = flip_probabilities(p, bits)
    values = code_values(bits).astype(np.float64)
    return np.sum(transition * (values[None, :] - values[:, None]) ** 2, axis=1)


def patterns_of(codes: np.ndarray, bits: int = 8) -> np.ndarray:
    """Unsigned bit pattern (table index) of signed integer codes in the bits-wide range."""
    _check_bits(bits)
    codes = np.asarray(codes)
    if not np.issubdtype(codes.dtype, np.integer):
        raise EdaError(f"weight codes must be integers, got dtype {codes.dtype}")
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if codes.size and (codes.min() < low or codes.max() > high):
        raise EdaError(f"weight codes outside the {bits}-bit two's-complement range [{low}, {high}]")
    return codes.astype(np.int64) & ((1 << bits) - 1)


def weight_sensitivity(gradient: np.ndarray, codes: np.ndarray, scale: float, p: float,
                       bits: int = 8, noise: str = "signed") -> np.ndarray:
    """Alg. 1 line 16: |dC/dw * eps(w)| per weight, in cost units.

    gradient: dC/dw with respect to the real-valued weight (w = code * scale);
    codes: the stored integer codes (same shape); scale: the quantization step, which turns
    eps from LSBs into the weight's real units.
    """
    gradient = np.asarray(gradient, dtype=np.float64)
    codes = np.asarray(codes)
    if gradient.shape != codes.shape:
        raise EdaError(f"gradient shape {gradient.shape} does not match weight codes shape {codes.shape}")
    if not np.isfinite(scale) or scale <= 0:
        raise EdaError(f"quantization scale must be a positive finite number, got {scale!r}")
    table = expected_noise(p, bits, noise)
    return np.abs(gradient * table[patterns_of(codes, bits)] * float(scale))


def curvature_sensitivity(fisher: np.ndarray, codes: np.ndarray, scale: float, p: float,
                          bits: int = 8) -> np.ndarray:
    """Second-order expected loss increase per weight: 1/2 * F * E[(w' - w)^2] * scale^2 (cost units).

    fisher: mean over the data of the squared per-sample gradient dC_n/dw (same shape as codes).
    """
    fisher = np.asarray(fisher, dtype=np.float64)
    codes = np.asarray(codes)
    if fisher.shape != codes.shape:
        raise EdaError(f"Fisher information shape {fisher.shape} does not match weight codes shape {codes.shape}")
    if np.any(fisher < 0):
        raise EdaError("Fisher information (mean squared gradient) cannot be negative")
    if not np.isfinite(scale) or scale <= 0:
        raise EdaError(f"quantization scale must be a positive finite number, got {scale!r}")
    table = expected_squared_change(p, bits)
    return 0.5 * fisher * table[patterns_of(codes, bits)] * float(scale) ** 2
