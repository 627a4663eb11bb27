"""Mapping of layer weights onto the M x N array and the 2D sensitivity maps (eda/method/mapping.py)."""

from __future__ import annotations

import numpy as np
import pytest

from eda.core.errors import EdaError
from eda.method.mapping import STRATEGIES, loads_of, map_all_strategies, map_sensitivities, weight_matrix


def random_layers(seed=0):
    rng = np.random.default_rng(seed)
    # a conv layer taller than the array (K = 27 > 8) and a fully connected one wider (F = 11 > 8)
    return {"conv": rng.random((6, 3, 3, 3)), "fc": rng.random((11, 5)) ** 3}


def test_weight_matrix_unrolls_conv_filters_to_columns():
    weight = np.arange(2 * 3 * 2 * 2).reshape(2, 3, 2, 2)
    matrix = weight_matrix(weight)
    assert matrix.shape == (12, 2)
    # row k = (c, i, j) flattened, column = filter
    assert matrix[1 * 4 + 1 * 2 + 0, 1] == weight[1, 1, 1, 0]
    assert weight_matrix(np.ones((10, 84))).shape == (84, 10)


def test_conventional_small_layer_sits_top_left():
    sensitivity = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])  # 2 filters x 3 inputs -> K=3, F=2
    result = map_sensitivities({"fc": sensitivity}, 4, 4, "conventional")
    expected = np.zeros((4, 4))
    expected[:3, :2] = sensitivity.T
    assert np.array_equal(result.sensitivity, expected)
    assert result.variance == pytest.approx(np.var(expected))
    assert result.permutation.column_filter.tolist() == [[0, 1, -1, -1]]
    assert result.permutation.row_source[0, :, 0].tolist() == [0, 1, 2, -1]


def test_conventional_tiles_accumulate_per_mac():
    # K = 5 rows on a 2-row array: row tiles {0,1}, {2,3}, {4}; MAC (0, f) holds rows 0, 2, 4
    sensitivity = np.arange(1.0, 11.0).reshape(2, 5)
    result = map_sensitivities({"fc": sensitivity}, 2, 2, "conventional")
    assert len(result.permutation.loads) == 3
    assert result.sensitivity[0, 0] == 1 + 3 + 5 and result.sensitivity[1, 0] == 2 + 4
    assert result.sensitivity[0, 1] == 6 + 8 + 10 and result.sensitivity[1, 1] == 7 + 9


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_weight_lands_on_exactly_one_mac(strategy):
    layers = random_layers()
    result = map_sensitivities(layers, 8, 8, strategy)
    assert result.sensitivity.sum() == pytest.approx(sum(v.sum() for v in layers.values()))
    # placing the sensitivities with the permutation, load by load, gives back the map
    assert np.allclose(loads_of(layers, result.permutation).sum(axis=0), result.sensitivity)
    # and every weight index appears once: place unique ids instead of sensitivities
    ids = {name: np.arange(v.size).reshape(v.shape) + 1 for name, v in layers.items()}
    placed = loads_of(ids, result.permutation)
    for t, load in enumerate(result.permutation.loads):
        if t == 0 or load.layer != result.permutation.loads[t - 1].layer:
            seen = []
        seen.extend(placed[t][placed[t] > 0].tolist())
        if t == len(placed) - 1 or result.permutation.loads[t + 1].layer != load.layer:
            assert sorted(seen) == list(range(1, layers[load.layer].size + 1))


def test_column_sort_puts_most_sensitive_filter_rightmost():
    scores = np.array([0.5, 3.0, 1.0, 2.0])
    sensitivity = np.repeat(scores[:, None], 3, axis=1)  # 4 filters x 3 inputs
    result = map_sensitivities({"fc": sensitivity}, 4, 6, "column")
    assert result.permutation.column_filter.tolist() == [[-1, -1, 0, 2, 3, 1]]
    column_sums = result.sensitivity.sum(axis=0)
    assert np.all(np.diff(column_sums[2:]) > 0)


def test_column_sort_over_several_column_tiles():
    # 5 filters on 2 columns -> 3 column tiles: the 3 most sensitive share the right column
    scores = np.array([1.0, 5.0, 2.0, 4.0, 3.0])
    result = map_sensitivities({"fc": scores[:, None]}, 1, 2, "column")
    assert result.sensitivity.tolist() == [[1.0 + 2.0, 5.0 + 4.0 + 3.0]]
    # a filter keeps one column in all its loads
    assert sorted(result.permutation.column_filter[:, 1].tolist()) == [1, 3, 4]


@pytest.mark.parametrize("strategy, group", [("column2to1", 2), ("column4to1", 4)])
def test_intra_column_sort_is_a_legal_activation_switch(strategy, group):
    layers = random_layers(3)
    result = map_sensitivities(layers, 8, 8, strategy)
    perm = result.permutation
    rows = np.arange(8)[None, :, None]
    active = perm.row_source >= 0
    # a MAC only takes an activation from its own group of rows (the MUX inputs)
    assert np.all((perm.row_source // group == rows // group)[active])
    # the column still computes its filter's dot product: sum_r w[src] a[src] == sum_k w_k a_k
    rng = np.random.default_rng(0)
    weights = {name: rng.normal(size=v.shape) for name, v in layers.items()}
    placed = loads_of(weights, perm)
    for t, load in enumerate(perm.loads):
        activations = rng.normal(size=8)
        k0 = load.row_tile * 8
        matrix = weight_matrix(weights[load.layer])
        for c, f in enumerate(perm.column_filter[t]):
            if f < 0:
                continue
            source = perm.row_source[t, :, c]
            mac_activations = np.where(source >= 0, activations[np.clip(source, 0, None)], 0.0)
            rows_here = matrix[k0:k0 + 8, f]
            assert placed[t, :, c] @ mac_activations == pytest.approx(rows_here @ activations[:len(rows_here)])
    # within each group, sensitivity grows towards the bottom row in every load
    sens = loads_of(layers, perm).reshape(len(perm.loads), 8 // group, group, 8)
    assert np.all(np.diff(sens, axis=2) >= 0)


def test_variance_grows_with_sorting_freedom():
    # 2to1 and 4to1 sums of sorted groups majorize the unsorted ones, so variance cannot drop
    layers = random_layers(5)
    variances = [m.variance for m in map_all_strategies(layers, 8, 8).values()]
    assert variances[1] <= variances[2] <= variances[3]
    assert variances[3] > variances[1]


def test_full_size_array_is_fast_enough_to_use():
    rng = np.random.default_rng(0)
    layers = {"conv": rng.random((512, 256, 3, 3))}  # ResNet-like: 9 x 2 tiles of 256 x 256
    result = map_sensitivities(layers, 256, 256, "column4to1")
    assert result.sensitivity.shape == (256, 256)
    assert len(result.permutation.loads) == 18


@pytest.mark.parametrize("call, message", [
    (lambda: map_sensitivities({"a": np.ones((2, 2))}, 4, 4, "rowwise"), "unknown mapping strategy"),
    (lambda: map_sensitivities({"a": np.ones((2, 2))}, 6, 4, "column4to1"), "multiple of 4"),
    (lambda: map_sensitivities({"a": -np.ones((2, 2))}, 4, 4), "non-negative"),
    (lambda: map_sensitivities({"a": np.full((2, 2), np.nan)}, 4, 4), "finite"),
    (lambda: map_sensitivities({}, 4, 4), "no layers"),
    (lambda: map_sensitivities({"a": np.ones((2, 2))}, 0, 4), "positive integers"),
    (lambda: map_sensitivities({"a": np.ones(3)}, 4, 4), "at least 2 dimensions"),
])
def test_bad_inputs_raise_clear_errors(call, message):
    with pytest.raises(EdaError, match=message):
        call()


def test_a_float_array_size_is_refused_with_a_clear_error():
    """2.0 x 3.0 used to pass the check and then fail inside np.zeros with a bare TypeError."""
    scores = {"conv": np.ones((2, 1, 3, 3))}
    with pytest.raises(EdaError, match=r"array size must be positive integers, got 2.0 x 3.0"):
        map_sensitivities(scores, 2.0, 3.0, "conventional")
    assert map_sensitivities(scores, np.int64(2), 3, "conventional").permutation is not None
