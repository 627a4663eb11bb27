"""Approximate-multiplier MACs (eda approx): generated multipliers against their numpy model in
iverilog, the MAC that wraps them, error statistics, the integer network with product tables,
and the greedy per-layer assignment."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from eda.cli.main import cli
from eda.core.errors import EdaError
from eda.designs.approx import (DEFAULT_LEVELS, approx_design, exact_lut, multiplier_lut, parse_level, render_multiplier,
                                user_multiplier)
from eda.designs.mac import MacParams
from eda.method.approx import chip_cost, error_statistics, greedy_assignment
from eda.verify.mac_sim import compare_outputs, golden_mac, random_vectors, simulate_mac
from eda.verify.mult_sim import golden_approx_mac, simulate_approx_mac, simulate_products

TPU = MacParams("tpu")
USER_MULT = """
module my_mult (input wire signed [7:0] a, input wire signed [7:0] b, output wire signed [15:0] p);
    // an exact product with its two low bits cleared: not bilinear in the bits of a
    assign p = (a * b) & ~16'sd3;
endmodule
"""


def user_expected() -> np.ndarray:
    return exact_lut() & ~3  # two's complement: the same bits cleared


def test_exact_level_is_the_signed_product_and_levels_parse():
    assert np.array_equal(multiplier_lut(parse_level("exact")), exact_lut())
    assert parse_level("bam2-6").hbl == 2 and parse_level("bam2-6").vbl == 6
    assert parse_level("trunc4").vbl == 4
    for bad in ("trunc", "trunc16", "bam9-1", "approx3"):
        with pytest.raises(EdaError, match="level"):
            parse_level(bad)
    # Truncation only removes low columns: the products of a level agree with the exact ones above bit k - 1
    # up to the borrow of the dropped part, so the error is bounded by the dropped columns' weight.
    for k in (2, 4, 6):
        error = multiplier_lut(parse_level(f"trunc{k}")) - exact_lut()
        assert np.abs(error).max() < k * (1 << k)
    assert "columns i + j < 4" in render_multiplier(parse_level("trunc4"))


@pytest.mark.parametrize("level", DEFAULT_LEVELS)
def test_generated_multiplier_matches_numpy_model_on_every_pair(level, tmp_path):
    multiplier = parse_level(level)
    assert np.array_equal(simulate_products(multiplier, tmp_path), multiplier_lut(multiplier))


@pytest.mark.parametrize("level", ["exact", "trunc8", "bam2-6"])
def test_approx_mac_matches_golden_model(level, tmp_path):
    multiplier = parse_level(level)
    vectors = random_vectors(TPU, 1500, seed=3)
    actual = simulate_approx_mac(multiplier, vectors, tmp_path)
    result = compare_outputs(golden_approx_mac(TPU, vectors, multiplier_lut(multiplier)), actual)
    assert result.passed, result.summary()
    if level == "exact":  # the generated exact array in the MAC behaves as the tpu MAC's `*`
        assert compare_outputs(golden_mac(TPU, vectors), actual).passed
        assert compare_outputs(golden_mac(TPU, vectors), simulate_mac(TPU, vectors, tmp_path / "tpu")).passed
    else:  # and the approximate one does not
        assert not compare_outputs(golden_mac(TPU, vectors), actual).passed


def test_user_multiplier_is_simulated_and_wrapped(tmp_path):
    path = tmp_path / "my_mult.v"
    path.write_text(USER_MULT)
    multiplier = user_multiplier(path, "my_mult")
    products = simulate_products(multiplier, tmp_path / "sim")
    assert np.array_equal(products, user_expected())
    vectors = random_vectors(TPU, 800, seed=5)
    actual = simulate_approx_mac(multiplier, vectors, tmp_path / "mac")
    assert compare_outputs(golden_approx_mac(TPU, vectors, products), actual).passed
    design = approx_design(multiplier)
    assert set(design.sources) == {"my_mult.v", "mac_approx_user_my_mult.v"} and design.user_rtl

    path.write_text("module bad (input [7:0] a, input [7:0] b, output [7:0] p); assign p = a; endmodule\n")
    with pytest.raises(EdaError, match="ports"):
        user_multiplier(path, "bad")


def test_error_statistics():
    exact = error_statistics("exact", exact_lut())
    assert exact["mean_abs_error"] == 0 and exact["worst_case_error"] == 0 and exact["error_probability"] == 0
    assert exact["mean_relative_error"] == 0
    off_by_one = error_statistics("plus1", exact_lut() + 1)
    assert off_by_one["mean_abs_error"] == 1 and off_by_one["worst_case_error"] == 1
    assert off_by_one["error_probability"] == 1 and off_by_one["mean_error"] == 1
    # relative error 1 / max(|a b|, 1): an exact 0 (511 of the pairs) counts as 1
    magnitude = np.abs(exact_lut())
    assert off_by_one["mean_relative_error"] == pytest.approx(np.mean(1 / np.maximum(magnitude, 1)))
    assert (magnitude == 0).sum() == 511
    trunc = error_statistics("trunc2", multiplier_lut(parse_level("trunc2")))
    # dropping columns 0 and 1 removes a0b0 + 2(a1b0 + a0b1): mean 0.25 + 2 * 0.5 = 1.25 over uniform bits
    assert trunc["mean_abs_error"] == pytest.approx(1.25) and trunc["worst_case_error"] == 5


def test_greedy_assignment_and_chip_cost():
    import pandas as pd

    loss = {"trunc8": 0.05, "trunc4": 0.004}  # accuracy lost per layer holding the level

    def accuracy(assignment):
        return 0.9 - sum(loss.get(level, 0.0) for level in assignment.values())

    result = greedy_assignment(["conv1", "conv2", "fc"], ["trunc8", "trunc4", "exact"], "exact", accuracy, 0.01)
    assert result.levels == {"conv1": "trunc4", "conv2": "trunc4", "fc": "exact"}
    assert result.baseline_accuracy == 0.9 and result.accuracy == pytest.approx(0.892)
    assert [(t.layer, t.level, t.accepted) for t in result.trials][:2] == [("conv1", "trunc8", False), ("conv1", "trunc4", True)]
    per_level = pd.DataFrame({"level": ["exact", "trunc4"], "area_um2": [10.0, 6.0], "power_w": [1e-3, 5e-4]})
    cost = chip_cost(result.levels, {"conv1": 100, "conv2": 10, "fc": 1}, per_level)
    assert cost.iloc[-1]["area_um2"] == pytest.approx(100 * 6 + 10 * 6 + 10)
    with pytest.raises(EdaError, match="bound"):
        greedy_assignment(["conv1"], ["exact"], "exact", accuracy, 1.5)


@pytest.fixture(scope="module")
def reference_int8():
    from eda.nn.data import load_fashion_mnist
    from eda.nn.fashion import load_reference
    from eda.nn.lut_inference import int8_network

    network = load_reference()
    net = int8_network(network, load_fashion_mnist("train").images[:500])
    return network, net, load_fashion_mnist("test")


def test_lut_inference_is_bit_exact_against_the_literal_lookup(reference_int8):
    from eda.nn.lut_inference import int8_forward

    network, net, test = reference_int8
    images = torch.from_numpy(test.images[:4])
    exact = int8_forward(net, images)
    # The exact multiplier's table, looked up product by product, gives the integer network bit for bit.
    assert torch.equal(int8_forward(net, images, {n: exact_lut() for n in network.layer_names}, gather=True), exact)
    assert torch.equal(int8_forward(net, images, {n: exact_lut() for n in network.layer_names}), exact)
    # Approximate tables: the fast (feature convolution) path equals the lookup, bilinear or not.
    tables = {"trunc6": multiplier_lut(parse_level("trunc6")), "bam2-6": multiplier_lut(parse_level("bam2-6")),
              "user": user_expected()}
    for name, table in tables.items():
        luts = {n: table for n in network.layer_names}
        fast, literal = int8_forward(net, images, luts), int8_forward(net, images, luts, gather=True)
        assert torch.equal(fast, literal), name
        assert not torch.equal(fast, exact), name


def test_int8_network_matches_the_float_activation_network(reference_int8):
    from eda.nn.lut_inference import int8_accuracy

    network, net, test = reference_int8
    count = 400
    with torch.no_grad():
        reference = (network.forward(torch.from_numpy(test.images[:count])).argmax(1).numpy() == test.labels[:count]).mean()
    # int8 activations (one scale per layer) move few decisions of the int8-weight network
    assert abs(int8_accuracy(net, test.images[:count], test.labels[:count]) - reference) <= 0.01
    with pytest.raises(EdaError, match="layer"):
        int8_accuracy(net, test.images[:2], test.labels[:2], {"conv9": exact_lut()})


def test_approx_command_is_registered_and_checks_levels(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["approx", "--help"])
    assert result.exit_code == 0 and "--max-loss" in result.output
    result = runner.invoke(cli, ["approx", "--levels", "trunc4,bogus", "--out", str(tmp_path)])
    assert isinstance(result.exception, EdaError) and "bogus" in str(result.exception)
