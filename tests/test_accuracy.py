"""Top-1 accuracy under MAC timing errors (eda/nn/accuracy.py): lookup, semantics, injection, sweep."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
torch.set_num_threads(1)  # two cores shared with the rest of the suite

from eda.core.errors import EdaError
from eda.method.mapping import STRATEGIES, loads_of, map_sensitivities
from eda.nn.accuracy import DESIGNS, RANDOM_BITS, _failures, accuracy_sweep, accuracy_under_errors, column_row_orders, drop_product_forward, prepare_network, psum_error_forward, weight_error_probabilities
from eda.nn.model import MAPPED_LAYERS
from eda.nn.quantize import quantize_weights, quantized_model, with_weights
from eda.nn.train import evaluate, train_reference


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The default reference network (trained once, ~2 s)."""
    return train_reference(seed=0, out_dir=tmp_path_factory.mktemp("nn_reference"))


@pytest.fixture(scope="module")
def net(reference):
    return prepare_network(reference)


def permutation_for(net, rows=256, cols=256, strategy="conventional"):
    """A mapping of the reference network; |int8 code| stands in for the sensitivity that orders it."""
    scores = {name: np.abs(layer.codes.astype(np.float64)) for name, layer in net.quantized.items()}
    return map_sensitivities(scores, rows, cols, strategy).permutation


def uniform(net, p):
    return {name: np.full(shape, p) for name, shape in net.layer_shapes.items()}


# ---------------------------------------------------------------------------------------------
# weight -> MAC lookup


def random_layers(seed=0):
    rng = np.random.default_rng(seed)
    # a conv layer taller than the array (K = 27 > 8) and a fully connected one wider (F = 11 > 8)
    return {"conv": rng.random((6, 3, 3, 3)), "fc": rng.random((11, 5)) ** 3}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_weight_lookup_inverts_loads_of(strategy):
    layers = random_layers()
    permutation = map_sensitivities(layers, 8, 8, strategy).permutation
    mac_values = (np.arange(64).reshape(8, 8) + 1) / 100.0  # distinct per MAC
    per_weight = weight_error_probabilities(mac_values, permutation, {n: v.shape for n, v in layers.items()})
    assert {n: v.shape for n, v in per_weight.items()} == {n: v.shape for n, v in layers.items()}
    # placing the looked-up values back with the permutation gives every active MAC its own value
    placed = loads_of(per_weight, permutation)
    for t in range(len(permutation.loads)):
        active = (permutation.row_source[t] >= 0) & (permutation.column_filter[t] >= 0)[None, :]
        assert np.array_equal(placed[t][active], np.broadcast_to(mac_values, active.shape)[active])
        assert np.all(placed[t][~active] == 0)
    # and each weight's value names exactly one MAC holding it (ids placed the same way)
    ids = {n: np.arange(v.size).reshape(v.shape) + 1 for n, v in layers.items()}
    placed_ids = loads_of(ids, permutation)
    for t, load in enumerate(permutation.loads):
        for r, c in zip(*np.nonzero(placed_ids[t])):
            weight_id = placed_ids[t][r, c] - 1
            assert per_weight[load.layer].flat[weight_id] == mac_values[r, c]


def test_thundervolt_row_shift_on_a_tiny_array():
    # fc layer: 3 filters x K = 6 inputs on a 4 x 4 array, conventional: two row tiles
    # (k 0..3 on rows 0..3, then k 4, 5 on rows 0, 1), filters on columns 0..2, column 3 idle
    weight = np.ones((3, 6))
    permutation = map_sensitivities({"fc": weight}, 4, 4, "conventional").permutation
    mac = np.arange(1, 17).reshape(4, 4) / 100.0
    plain = weight_error_probabilities(mac, permutation, {"fc": (3, 6)})["fc"]
    shifted = weight_error_probabilities(mac, permutation, {"fc": (3, 6)}, shift_rows=True)["fc"]
    for f in range(3):
        assert plain[f].tolist() == [mac[0, f], mac[1, f], mac[2, f], mac[3, f], mac[0, f], mac[1, f]]
        # row 0 has no MAC above (never dropped); row r takes the error of row r-1; the bottom row's
        # own error drops nothing (its value appears nowhere); tile 1 restarts at row 0
        assert shifted[f].tolist() == [0.0, mac[0, f], mac[1, f], mac[2, f], 0.0, mac[0, f]]
    assert not np.isin(mac[3, :3], shifted).any()

    # column4to1: K = 2 weights in a group of 4 rows sort to the bottom (rows 2, 3); rows 0, 1 idle.
    # The weight on row 2 has an idle MAC above it, which never fails: probability 0.
    layer = np.array([[1.0, 2.0]])
    permutation = map_sensitivities({"fc": layer}, 4, 1, "column4to1").permutation
    assert permutation.row_source[0, :, 0].tolist() == [-1, -1, 0, 1]
    mac = np.array([[0.1], [0.2], [0.3], [0.4]])
    assert weight_error_probabilities(mac, permutation, {"fc": (1, 2)})["fc"].tolist() == [[0.3, 0.4]]
    assert weight_error_probabilities(mac, permutation, {"fc": (1, 2)}, shift_rows=True)["fc"].tolist() == [[0.0, 0.3]]


def test_lookup_errors_name_the_argument():
    layers = random_layers()
    permutation = map_sensitivities(layers, 8, 8, "conventional").permutation
    shapes = {n: v.shape for n, v in layers.items()}
    with pytest.raises(EdaError, match=r"mac_error_probability must have .*\(8, 8\).*got \(8, 4\)"):
        weight_error_probabilities(np.zeros((8, 4)), permutation, shapes)
    with pytest.raises(EdaError, match="mac_error_probability must hold probabilities"):
        weight_error_probabilities(np.full((8, 8), 1.5), permutation, shapes)
    with pytest.raises(EdaError, match="no shape for layer"):
        weight_error_probabilities(np.zeros((8, 8)), permutation, {"conv": (6, 3, 3, 3)})
    with pytest.raises(EdaError, match="outside"):
        weight_error_probabilities(np.zeros((8, 8)), permutation, {"conv": (6, 3, 3, 3), "fc": (11, 2)})
    with pytest.raises(EdaError, match="on no MAC"):
        weight_error_probabilities(np.zeros((8, 8)), permutation, {"conv": (6, 3, 3, 3), "fc": (11, 7)})


# ---------------------------------------------------------------------------------------------
# one layer


def test_drop_product_linear_equals_numpy_with_the_same_mask():
    rng = np.random.default_rng(1)
    layer = torch.nn.Linear(5, 3).double()
    x = torch.from_numpy(rng.normal(size=(4, 5)))
    mask = rng.random((4, 1, 3, 5)) < 0.4
    out = drop_product_forward(layer, x, torch.from_numpy(mask)).detach().numpy()
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    expected = np.array([[b[f] + sum(x[i, k].item() * w[f, k] for k in range(5) if not mask[i, 0, f, k])
                          for f in range(3)] for i in range(4)])
    assert np.allclose(out, expected, rtol=0, atol=1e-12)
    # no drop: exactly the layer's own output; every product dropped: the bias
    none = drop_product_forward(layer, x, torch.zeros(4, 1, 3, 5, dtype=torch.bool))
    assert torch.equal(none, layer(x))
    assert np.allclose(drop_product_forward(layer, x, torch.ones(4, 1, 3, 5, dtype=torch.bool)).detach().numpy(),
                       np.broadcast_to(b, (4, 3)), atol=1e-12)
    with pytest.raises(EdaError, match=r"drop_mask must have shape .*\(4, 1, 3, 5\)"):
        drop_product_forward(layer, x, torch.zeros(4, 3, 5, dtype=torch.bool))


def test_drop_product_conv_uses_weight_matrix_row_order():
    rng = np.random.default_rng(2)
    conv = torch.nn.Conv2d(2, 3, kernel_size=3, padding=1).double()
    x = torch.from_numpy(rng.normal(size=(2, 2, 4, 4)))
    mask = rng.random((2, 16, 3, 18)) < 0.3  # positions row-major over the 4x4 output, k = (c, i, j)
    out = drop_product_forward(conv, x, torch.from_numpy(mask)).detach().numpy()
    w, b = conv.weight.detach().numpy(), conv.bias.detach().numpy()
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (1, 1), (1, 1)))
    expected = np.zeros((2, 3, 4, 4))
    for n in range(2):
        for f in range(3):
            for y in range(4):
                for z in range(4):
                    total = b[f]
                    for c in range(2):
                        for i in range(3):
                            for j in range(3):
                                if not mask[n, y * 4 + z, f, c * 9 + i * 3 + j]:
                                    total += w[f, c, i, j] * padded[n, c, y + i, z + j]
                    expected[n, f, y, z] = total
    assert np.allclose(out, expected, atol=1e-12)


def wrap24(value):
    return ((value + (1 << 23)) & ((1 << 24) - 1)) - (1 << 23)


def reference_column_passes(x_codes, w_codes, bias, failed, bits, order):
    """Plain-Python 24-bit registers walking down each column: the psum_error model, written out."""
    images, filters = x_codes.shape[0], w_codes.shape[0]
    out = np.zeros((images, filters))
    for n in range(images):
        for f in range(filters):
            total = 0
            for tile in order[f]:
                register = 0
                for k in tile:
                    if k < 0:
                        continue
                    register = wrap24(register + int(x_codes[n, k]) * int(w_codes[f, k]))
                    if failed[n, 0, f, k]:
                        register = wrap24((register & 0xFFFFFF) ^ (1 << int(bits[n, 0, f, k])))
                total += register  # the column output of this row tile, into the accumulator
            out[n, f] = bias[f] + total
    return out


def test_psum_error_flips_the_running_sum_bit_by_bit():
    # one filter, weights 1, activations chosen so the register's bits are known
    layer = torch.nn.Linear(3, 1).double()
    with torch.no_grad():
        layer.weight.fill_(1.0)
        layer.bias.zero_()
    order = np.array([[[0, 1, 2]]])

    def run(x, failed_rows, bits):
        failed = torch.zeros(1, 1, 1, 3, dtype=torch.bool)
        flips = torch.zeros(1, 1, 1, 3, dtype=torch.uint8)
        for row, bit in zip(failed_rows, bits):
            failed[0, 0, 0, row] = True
            flips[0, 0, 0, row] = bit
        return psum_error_forward(layer, torch.tensor([x], dtype=torch.float64), failed, flips, np.ones((1, 3)),
                                  1.0, 1.0, order).item()

    assert run([1, 0, 0], [0], [16]) == 1 + 2**16       # bit 16 of +1 is 0: adds 2^16
    assert run([-1, 0, 0], [0], [16]) == -1 - 2**16     # bit 16 of -1 is 1: subtracts 2^16
    assert run([1, 0, 0], [0], [23]) == 1 - 2**23       # the sign bit of a positive sum: -2^23
    assert run([-1, 0, 0], [0], [23]) == -1 + 2**23     # of a negative sum: +2^23
    # the second flip sees the first: bit 22 set by row 0 is cleared again at row 1
    assert run([1, 1, 1], [0, 1], [22, 22]) == 3
    # a later product can carry the corrupted sum across 2^23: it wraps
    assert run([0, 5, 0], [0], [23]) == 5 - 2**23
    assert run([100, 0, 0], [0, 1], [22, 22]) == 100
    assert run([100, 0, 0], [0, 1], [22, 21]) == 100 + 2**22 + 2**21
    assert run([100, 0, 0], [0, 1, 2], [22, 21, 23]) == wrap24(100 + 2**22 + 2**21 + 2**23)


def test_psum_error_matches_plain_python_registers_over_row_tiles():
    rng = np.random.default_rng(3)
    filters, k_rows = 4, 7
    w_codes = rng.integers(-127, 128, size=(filters, k_rows))
    layer = torch.nn.Linear(k_rows, filters).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w_codes.astype(np.float64)))
    x_codes = rng.integers(-127, 128, size=(6, k_rows))
    failed = rng.random((6, 1, filters, k_rows)) < 0.5
    bits = rng.integers(0, 24, size=(6, 1, filters, k_rows))
    # each filter's own order down its column, over two row tiles with padding
    order = np.full((filters, 2, 4), -1)
    for f in range(filters):
        ks = rng.permutation(k_rows)
        order[f, 0, :4] = ks[:4]
        order[f, 1, 1:4] = ks[4:]  # a leading idle row in the second tile
    out = psum_error_forward(layer, torch.from_numpy(x_codes.astype(np.float64)), torch.from_numpy(failed),
                             torch.from_numpy(bits.astype(np.uint8)), w_codes, 1.0, 1.0, order)
    expected = reference_column_passes(x_codes, w_codes, layer.bias.detach().numpy(), failed, bits, order)
    assert np.allclose(out.detach().numpy(), expected, rtol=0, atol=1e-9)
    with pytest.raises(EdaError, match="every input index"):
        psum_error_forward(layer, torch.from_numpy(x_codes.astype(np.float64)), torch.from_numpy(failed),
                           torch.from_numpy(bits.astype(np.uint8)), w_codes, 1.0, 1.0, order[:, :1])


def dense(failures, maps, draws):
    """_failures' result as a (maps, B, L, F, K) bool mask, whichever form it came in."""
    if isinstance(failures, torch.Tensor):
        return failures.reshape(maps, *draws.shape)
    mask = torch.zeros((maps * draws.shape[0], *draws.shape[1:]), dtype=torch.bool)
    mask[failures] = True
    return mask.reshape(maps, *draws.shape)


def test_failures_refine_ties_below_the_draw_resolution():
    # p = 1.5 / 2^24: a draw of 0 always fails, 1 fails half the time (tie), 2 never
    p = torch.full((1, 1, 1), 1.5 / 2**RANDOM_BITS, dtype=torch.float64)
    for value, low, high in [(0, 1.0, 1.0), (1, 0.45, 0.55), (2, 0.0, 0.0)]:
        draws = torch.full((20000, 1, 1, 1), value, dtype=torch.int32)
        rate = dense(_failures(draws, p, np.random.default_rng(7)), 1, draws).double().mean().item()
        assert low <= rate <= high


def test_failures_are_nested_exact_and_the_same_sparse_or_dense():
    draws = torch.from_numpy(np.random.default_rng(0).integers(0, 2**RANDOM_BITS, (50000, 1, 2, 3), dtype=np.int32))
    grid = torch.tensor([0.01, 0.2, 0.7], dtype=torch.float64)[:, None, None].expand(3, 2, 3).contiguous()
    failed = dense(_failures(draws, grid, np.random.default_rng(1)), 3, draws)
    assert np.allclose(failed.double().mean(dim=(1, 2, 3, 4)).numpy(), [0.01, 0.2, 0.7], atol=0.01)
    assert bool((failed[0] <= failed[1]).all() and (failed[1] <= failed[2]).all())
    # a low-probability map alone takes the sparse path; beside a high one, the dense path:
    # its failures (ties included: probabilities just above a multiple of 2^-24) are the same
    low = torch.full((1, 2, 3), 1e-3 + 0.3 / 2**RANDOM_BITS, dtype=torch.float64)
    draws = draws.clone()
    scaled = (1e-3 + 0.3 / 2**RANDOM_BITS) * 2**RANDOM_BITS
    draws.view(-1)[::50] = int(scaled)  # many ties, resolved by the tie stream in flat order
    alone = _failures(draws, low, np.random.default_rng(2))
    tie_rate = dense(alone, 1, draws)[0].reshape(-1)[::50].double().mean().item()
    assert tie_rate == pytest.approx(scaled - int(scaled), abs=0.03)
    assert isinstance(alone, tuple)
    beside = _failures(draws, torch.cat([low, grid[2:]]), np.random.default_rng(2))
    assert isinstance(beside, torch.Tensor)
    assert torch.equal(dense(alone, 1, draws)[0], dense(beside, 2, draws)[0])


# ---------------------------------------------------------------------------------------------
# the network


def test_clean_accuracy_is_the_int8_networks(reference, net):
    int8 = quantized_model(reference.model, quantize_weights(reference.model))
    _, expected = evaluate(int8, reference.data.x_test, reference.data.y_test)
    for semantics in ("drop_product", "psum_error"):
        zero = accuracy_under_errors(net, uniform(net, 0.0), semantics, repeats=2, seed=0)
        assert zero.clean_accuracy == expected
        assert zero.mean_accuracy == expected and zero.per_repeat.tolist() == [expected] * 2 and zero.std == 0
        # a probability too small to ever fail still runs the injection path (draws of 0 are ties)
        tiny = accuracy_under_errors(net, uniform(net, 1e-300), semantics, repeats=2, seed=0)
        assert tiny.per_repeat.tolist() == [expected] * 2
    # another evaluation set; and a SensitivityStudy (anything with .reference and .quantized) works alike
    images, labels = reference.data.x_test[:100], reference.data.y_test[:100]
    study_like = SimpleNamespace(reference=reference, quantized=quantize_weights(reference.model))
    subset = accuracy_under_errors(study_like, uniform(net, 0.0), repeats=1, images=images, labels=labels)
    assert subset.clean_accuracy == evaluate(int8, images, labels)[1] == subset.mean_accuracy
    assert prepare_network(study_like).activation_scales == net.activation_scales


def test_every_product_dropped_leaves_the_bias_only_network(reference, net):
    zeros = {name: np.zeros(shape, dtype=np.float32) for name, shape in net.layer_shapes.items()}
    _, bias_only = evaluate(with_weights(reference.model, zeros), reference.data.x_test, reference.data.y_test)
    result = accuracy_under_errors(net, uniform(net, 1.0), "drop_product", repeats=2, seed=0)
    assert result.per_repeat.tolist() == [bias_only] * 2
    assert bias_only < 0.2  # every image gets fc3's bias as logits: one class


@pytest.mark.parametrize("strategy", ["conventional", "column4to1"])
def test_errors_on_macs_that_hold_no_weight_change_nothing(net, strategy):
    permutation = permutation_for(net, strategy=strategy)
    ones = {name: np.ones(shape) for name, shape in net.layer_shapes.items()}
    never_used = loads_of(ones, permutation).sum(axis=0) == 0
    assert never_used.sum() > 256 * 256 // 2  # this small network leaves most of a 256 x 256 array idle
    idle_only = np.where(never_used, 1.0, 0.0)
    for design in ("proposed", "thundervolt", "tpu"):
        table = accuracy_sweep(net, {"idle": idle_only}, permutation, design, repeats=2, seed=0)
        assert table.loc[0, "accuracy_mean"] == table.loc[0, "clean_accuracy"]
        assert table.loc[0, "accuracy_std"] == 0


def test_accuracy_falls_as_the_drop_probability_grows(net):
    permutation = permutation_for(net)
    grid = [1e-3, 1e-2, 3e-2, 0.1, 0.3]
    table = accuracy_sweep(net, {p: np.full((256, 256), p) for p in grid}, permutation, "proposed",
                           repeats=4, seed=0)
    assert list(table.columns[:4]) == ["label", "accuracy_mean", "accuracy_std", "repeats"]
    accuracy = table["accuracy_mean"].to_numpy()
    # common random numbers: the failures at p are a subset of those at any larger p
    assert np.all(np.diff(accuracy) <= 0.005)
    assert accuracy[0] >= table.loc[0, "clean_accuracy"] - 0.01
    assert accuracy[-1] < accuracy[0] - 0.3
    assert table.attrs["seconds_per_inference"] > 0


def test_partial_sum_errors_hurt_more_than_dropped_products(net):
    permutation = permutation_for(net)
    for p in (1e-4, 1e-3):
        drop = accuracy_under_errors(net, uniform(net, p), "drop_product", repeats=3, seed=1, permutation=permutation)
        psum = accuracy_under_errors(net, uniform(net, p), "psum_error", repeats=3, seed=1, permutation=permutation)
        assert psum.mean_accuracy < drop.mean_accuracy - 0.2


def test_sweep_rows_do_not_depend_on_the_other_maps(net):
    permutation = permutation_for(net, strategy="column2to1")
    rng = np.random.default_rng(5)
    maps = {"low": rng.random((256, 256)) * 2e-3, "high": rng.random((256, 256)) * 0.05}
    for design, (semantics, shift_rows) in DESIGNS.items():
        both = accuracy_sweep(net, maps, permutation, design, repeats=2, seed=3)
        alone = accuracy_sweep(net, {"high": maps["high"]}, permutation, design, repeats=2, seed=3)
        assert np.array_equal(both.attrs["per_repeat"]["high"], alone.attrs["per_repeat"]["high"])
        # the sweep is the design's semantics on the design's (thundervolt: row-shifted) weight probabilities
        per_weight = weight_error_probabilities(maps["low"], permutation, net.layer_shapes, shift_rows=shift_rows)
        direct = accuracy_under_errors(net, per_weight, semantics, repeats=2, seed=3, permutation=permutation)
        assert np.array_equal(both.attrs["per_repeat"]["low"], direct.per_repeat)


def test_bad_arguments_are_clear_errors(net):
    permutation = permutation_for(net)
    with pytest.raises(EdaError, match="semantics must be one of"):
        accuracy_under_errors(net, uniform(net, 0.0), "flip", repeats=1)
    with pytest.raises(EdaError, match=r"probabilities\['fc1'\] must be shaped like the layer's weight \(120, 64\)"):
        accuracy_under_errors(net, {"fc1": np.zeros((64, 120))}, repeats=1)
    with pytest.raises(EdaError, match="unknown layer"):
        accuracy_under_errors(net, {"fc9": np.zeros((2, 2))}, repeats=1)
    with pytest.raises(EdaError, match=r"flip_bit_probabilities must have shape \(24,\)"):
        accuracy_under_errors(net, uniform(net, 0.0), "psum_error", repeats=1, flip_bit_probabilities=[1.0])
    with pytest.raises(EdaError, match="repeats must be a positive integer"):
        accuracy_under_errors(net, uniform(net, 0.0), repeats=0)
    with pytest.raises(EdaError, match="design must be one of"):
        accuracy_sweep(net, {"a": np.zeros((256, 256))}, permutation, "razor")
    with pytest.raises(EdaError, match=r"mac_error_maps\['a'\]: mac_error_probability must have"):
        accuracy_sweep(net, {"a": np.zeros((8, 8))}, permutation, "proposed")
    with pytest.raises(EdaError, match="study_or_reference must be"):
        prepare_network(object())
    assert set(net.layer_shapes) == set(MAPPED_LAYERS)
    assert column_row_orders(permutation, net.layer_shapes)["fc2"].shape == (84, 1, 120)
    assert isinstance(accuracy_sweep(net, {"a": np.zeros((256, 256))}, permutation, "tpu", repeats=1), pd.DataFrame)
