"""Alg. 1 noise expectation and weight sensitivity (eda/method/sensitivity.py), checked by hand and brute force."""

from __future__ import annotations

import numpy as np
import pytest

from eda.core.errors import EdaError
from eda.method.sensitivity import code_values, curvature_sensitivity, expected_noise, expected_squared_change, flip_probabilities, hamming_distances, patterns_of, weight_sensitivity


def test_code_values_are_twos_complement():
    values = code_values(8)
    assert values[0] == 0 and values[1] == 1 and values[127] == 127
    assert values[128] == -128 and values[255] == -1
    assert list(code_values(3)) == [0, 1, 2, 3, -4, -3, -2, -1]


def test_hamming_distances():
    distance = hamming_distances(8)
    assert distance.shape == (256, 256)
    assert np.all(np.diag(distance) == 0)
    assert np.array_equal(distance, distance.T)
    assert distance[0, 255] == 8 and distance[0b1010, 0b0101] == 4 and distance[0b010, 0b100] == 2


@pytest.mark.parametrize("p", [0.0, 1e-3, 0.3, 1.0])
def test_flip_probabilities_rows_sum_to_one(p):
    assert np.allclose(flip_probabilities(p, 8).sum(axis=1), 1.0)


def test_paper_three_bit_example():
    # section III: '010' read as '100' (Hamming distance 2) has probability p^2 (1-p)
    p = 0.1
    assert flip_probabilities(p, 3)[0b010, 0b100] == pytest.approx(p**2 * (1 - p))


@pytest.mark.parametrize("noise", ["signed", "absolute"])
def test_zero_error_rate_gives_zero_noise(noise):
    assert np.all(expected_noise(0.0, 8, noise) == 0.0)


def test_error_rate_one_flips_every_bit():
    # p = 1: w' = ~w = -w - 1 deterministically, so eps = w - (-w - 1) = 2w + 1
    values = code_values(8)
    assert np.allclose(expected_noise(1.0, 8, "signed"), 2 * values + 1)
    assert np.allclose(expected_noise(1.0, 8, "absolute"), np.abs(2 * values + 1))


@pytest.mark.parametrize("p", [1e-4, 1e-2, 0.25, 0.5])
def test_signed_noise_closed_form(p):
    # each bit k moves by +-2^k (sign bit: -+2^(b-1)) with probability p, so
    # E[w' - w] = p * (sum of bit weights - 2w) = p * (-1 - 2w)
    assert np.allclose(expected_noise(p, 8, "signed"), p * (2 * code_values(8) + 1))


@pytest.mark.parametrize("noise", ["signed", "absolute"])
def test_brute_force_three_bits(noise):
    # Alg. 1 lines 9-14 written out with loops over every pair of 3-bit patterns
    p, bits = 0.07, 3

    def val(pattern):
        return pattern - 8 if pattern >= 4 else pattern

    expected = []
    for w in range(8):
        total = 0.0
        for i in range(8):
            h = bin(w ^ i).count("1")
            weight = p**h * (1 - p) ** (bits - h)
            total += weight * (val(i) if noise == "signed" else abs(val(i) - val(w)))
        expected.append(val(w) - total if noise == "signed" else total)
    assert np.allclose(expected_noise(p, bits, noise), expected)


def test_absolute_noise_first_order_is_sum_of_bit_weights():
    # at small p a single flip of bit k moves |2^k| (the sign bit 128): E|dw| ~ 255 p for every code
    p = 1e-7
    assert np.allclose(expected_noise(p, 8, "absolute"), 255 * p, rtol=1e-4)


def test_signed_noise_matches_monte_carlo_bit_flips():
    # independent check: flip random bits of every pattern and average the value change
    rng = np.random.default_rng(1)
    p, draws = 0.05, 20000
    patterns = np.arange(256)
    flips = rng.random((draws, 256, 8)) < p
    masks = (flips * (1 << np.arange(8))).sum(axis=2)
    values = code_values(8)
    mean_change = (values[patterns[None, :] ^ masks] - values[None, :]).mean(axis=0)
    # eps = w - E[w'] = -E[w' - w]; MC standard error ~ sqrt(p * 21845 / draws) ~ 0.24 LSB
    assert np.allclose(-mean_change, expected_noise(p, 8, "signed"), atol=1.2)


def test_weight_sensitivity_is_gradient_times_noise_times_scale():
    codes = np.array([[0, -1], [127, -128]], dtype=np.int8)
    gradient = np.array([[2.0, -3.0], [0.5, -0.25]])
    scale, p = 0.01, 1e-3
    eps = p * (2 * codes.astype(float) + 1)
    assert np.allclose(weight_sensitivity(gradient, codes, scale, p), np.abs(gradient * eps * scale))
    assert np.all(weight_sensitivity(np.zeros((2, 2)), codes, scale, p) == 0)


def test_patterns_of_signed_codes():
    assert list(patterns_of(np.array([0, 1, -1, -128, 127], dtype=np.int8))) == [0, 1, 255, 128, 127]


@pytest.mark.parametrize("call, message", [
    (lambda: expected_noise(1.5), "bit error rate"),
    (lambda: expected_noise(0.1, 8, "squared"), "noise must be one of"),
    (lambda: code_values(0), "bit width"),
    (lambda: weight_sensitivity(np.zeros(3), np.zeros(2, dtype=np.int8), 0.1, 0.01), "does not match"),
    (lambda: weight_sensitivity(np.zeros(2), np.array([0, 200]), 0.1, 0.01), "two's-complement range"),
    (lambda: weight_sensitivity(np.zeros(2), np.zeros(2, dtype=np.int8), 0.0, 0.01), "scale"),
    (lambda: weight_sensitivity(np.zeros(2), np.zeros(2), 0.1, 0.01), "integers"),
])
def test_bad_inputs_raise_clear_errors(call, message):
    with pytest.raises(EdaError, match=message):
        call()


@pytest.mark.parametrize("p", [0.0, 1e-3, 0.2, 1.0])
def test_expected_squared_change_closed_form(p):
    # flips of bit k are independent steps c_k = +-2^k: E[d^2] = p(1-p) sum c_k^2 + p^2 (sum c_k)^2,
    # with sum c_k^2 = 21845 and sum c_k = -(2w + 1)
    values = code_values(8).astype(float)
    closed = p * (1 - p) * 21845 + p**2 * (2 * values + 1) ** 2
    assert np.allclose(expected_squared_change(p, 8), closed)


def test_curvature_sensitivity_is_half_fisher_times_squared_noise():
    codes = np.array([3, -100], dtype=np.int8)
    fisher = np.array([2.0, 0.5])
    scale, p = 0.02, 1e-2
    squared = expected_squared_change(p, 8)[patterns_of(codes)]
    assert np.allclose(curvature_sensitivity(fisher, codes, scale, p), 0.5 * fisher * squared * scale**2)
    with pytest.raises(EdaError, match="negative"):
        curvature_sensitivity(-fisher, codes, scale, p)
