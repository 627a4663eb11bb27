"""Dynamic bit-width (eda bitwidth): the threshold search and the energy arithmetic against hand-worked
numbers, the reduced-width MACs bit-exact in iverilog, the b-bit network at b = 8 against the int8
inference, and a small end-to-end run whose 4x4 MAC comes out smaller than the 8x8 one."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from eda.cli.main import cli
from eda.core.errors import EdaError
from eda.jobs.bitwidth import check_widths, exhaustive_vectors, verify_width, width_params
from eda.method.bitwidth import (candidate_thresholds, classifier_margins, energy_per_op_j, inference_energy_j, policy_row,
                                 run_policy, search_thresholds, static_outcome, wilson_interval)

# Four images at 4, 6 and 8 bits (rows): margins and whether the answer was right.
MARGINS = np.array([[0.1, 0.5, 0.9, 2.0],
                    [0.2, 1.0, 0.3, 3.0],
                    [1.0, 1.0, 1.0, 1.0]])
CORRECT = np.array([[0, 0, 1, 1],
                    [0, 1, 1, 1],
                    [1, 1, 1, 1]], dtype=bool)
ENERGY = [1.0, 2.0, 4.0]  # per operation, 4 / 6 / 8 bits


@pytest.fixture(autouse=True)
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_threshold_search_hand_worked():
    # Bound 0.25 of 4 images: at least 4 - 1 = 3 correct. No escalation gives 2. Escalating image 0 (the
    # lowest 4-bit margin) to 6 bits does not help (wrong there too) unless it also goes on to 8 bits:
    # cost 4x1 + 1x2 + 1x4 = 10. Escalating images 0 and 1 to 6 bits: 0 + 1 + 1 + 1 = 3 correct for
    # 4x1 + 2x2 = 8, the cheapest: t4 between 0.5 and 0.9, no 6 -> 8 escalation.
    search = search_thresholds(MARGINS, CORRECT, ENERGY, 0.25)
    assert search.thresholds == (0.7, -math.inf)
    assert search.baseline_correct == 4 and search.required_correct == 3
    assert search.outcome.correct_count == 3
    assert search.outcome.final_fractions.tolist() == [0.5, 0.5, 0.0]
    assert search.outcome.run_fractions.tolist() == [1.0, 0.5, 0.0]
    assert search.relative_energy == pytest.approx(8 / 4 / 4)
    assert search.exhaustive
    # No loss allowed: every image right. Image 0 must reach 8 bits; through 6 bits it costs images
    # 0 and 1 at 6 bits (image 1 is wrong at 4) and image 0 at 8: 4 + 4 + 4 = 12 (3 per image); t6
    # between image 0's 0.2 and image 1's 1.0.
    exact = search_thresholds(MARGINS, CORRECT, ENERGY, 0.0)
    assert exact.thresholds == (0.7, 0.6)
    assert exact.outcome.correct_count == 4
    assert exact.relative_energy == pytest.approx(12 / 4 / 4)
    # A loose bound: nothing escalated.
    assert search_thresholds(MARGINS, CORRECT, ENERGY, 0.5).thresholds == (-math.inf, -math.inf)
    # The chosen thresholds applied afresh give the same decisions; margins at a threshold stay.
    again = run_policy(MARGINS, CORRECT, exact.thresholds)
    assert again.final_level.tolist() == [2, 1, 0, 0]
    assert run_policy(MARGINS, CORRECT, (0.5, -math.inf)).final_level.tolist() == [1, 0, 0, 0]  # 0.5 is not < 0.5
    # Two precisions (4 -> 8): the smallest escalation rate within the bound, image 0 alone.
    two = search_thresholds(MARGINS[[0, 2]], CORRECT[[0, 2]], [1.0, 4.0], 0.25)
    assert two.thresholds == (0.3,) and two.outcome.run_fractions.tolist() == [1.0, 0.25]
    assert candidate_thresholds(np.array([2.0, 1.0, 1.0])).tolist() == [-math.inf, 1.5, math.inf]


def test_threshold_search_refuses_bad_input():
    with pytest.raises(EdaError, match="two precisions"):
        search_thresholds(MARGINS[:1], CORRECT[:1], [1.0], 0.01)
    with pytest.raises(EdaError, match="one positive energy"):
        search_thresholds(MARGINS, CORRECT, [1.0, 2.0], 0.01)
    with pytest.raises(EdaError, match="bound"):
        search_thresholds(MARGINS, CORRECT, ENERGY, 1.0)
    with pytest.raises(EdaError, match="NaN"):
        search_thresholds(np.where(MARGINS > 2, np.nan, MARGINS), CORRECT, ENERGY, 0.01)
    with pytest.raises(EdaError, match="thresholds"):
        run_policy(MARGINS, CORRECT, (1.0,))
    with pytest.raises(EdaError, match="two classes"):
        classifier_margins(np.ones((3, 1)))


def test_energy_arithmetic_and_interval_by_hand():
    assert classifier_margins(np.array([[1.0, 3.0, 2.5], [0.0, -1.0, 0.0]])).tolist() == [0.5, 0.0]
    # 1.8 mW at a 10 ns clock: 18 pJ per operation.
    assert energy_per_op_j(1.8e-3, 10.0) == pytest.approx(18e-12)
    # 100 MACs; every image at 4 bits (1 pJ), half again at 6 (2 pJ), a quarter at 8 (4 pJ):
    # 100 x (1 + 0.5 x 2 + 0.25 x 4) pJ = 300 pJ.
    assert inference_energy_j([1.0, 0.5, 0.25], 100, [1e-12, 2e-12, 4e-12]) == pytest.approx(300e-12)
    with pytest.raises(EdaError):
        inference_energy_j([1.0, 0.5], 100, [1e-12, 2e-12, 4e-12])
    with pytest.raises(EdaError):
        energy_per_op_j(0.0, 10.0)
    # The table row of the hand-worked policy (bound 0.25) against static 8-bit.
    energy = [1e-12, 2e-12, 4e-12]
    baseline = static_outcome(MARGINS, CORRECT, 2)
    assert baseline.run_fractions.tolist() == [0.0, 0.0, 1.0]
    static6 = policy_row("static 6-bit", (4, 6, 8), static_outcome(MARGINS, CORRECT, 1), 100, energy, baseline, 400e-12)
    assert static6["energy_per_inference_j"] == pytest.approx(200e-12) and static6["saving_vs_static_top"] == pytest.approx(0.5)
    outcome = run_policy(MARGINS, CORRECT, (0.7, -math.inf))
    row = policy_row("dynamic", (4, 6, 8), outcome, 100, energy, baseline, 400e-12)
    assert row["energy_per_inference_j"] == pytest.approx(100 * (1 + 0.5 * 2) * 1e-12)  # 200 pJ
    assert row["saving_vs_static_top"] == pytest.approx(0.5)
    assert row["loss_vs_static_top"] == pytest.approx(0.25)
    assert (row["share_4b"], row["share_6b"], row["share_8b"]) == (0.5, 0.5, 0.0)
    # Wilson 95%: 90 of 100 is [0.8256, 0.9448]; the bounds stay inside [0, 1].
    low, high = wilson_interval(90, 100)
    assert low == pytest.approx(0.82563, abs=1e-5) and high == pytest.approx(0.94477, abs=1e-5)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert (row["accuracy_ci_low"], row["accuracy_ci_high"]) == wilson_interval(3, 4)
    with pytest.raises(EdaError):
        wilson_interval(5, 4)


@pytest.mark.parametrize("bits", [4, 6])
def test_reduced_width_mac_is_bit_exact_in_iverilog(bits, tmp_path):
    params = width_params(bits)
    vectors = exhaustive_vectors(params, seed=0)
    assert len(vectors) == 1 << (2 * bits)
    assert len(set(zip(vectors["a_in"], vectors["w_in"]))) == 1 << (2 * bits)
    row = verify_width(params, vectors=300, seed=1, workdir=tmp_path)
    assert row["mismatches"] == 0 and row["verified_cycles"] > 1 << (2 * bits)
    assert (tmp_path / "mac_tpu.v").read_text().count("[3:0]" if bits == 4 else "[5:0]") >= 2


def test_b_bit_network_at_8_bits_is_the_int8_inference():
    from eda.nn.bitwidth import bitwidth_logits, weight_codes_at
    from eda.nn.data import load_fashion_mnist
    from eda.nn.fashion import load_reference
    from eda.nn.lut_inference import int8_forward, int8_network

    # Rounding by hand: step 16 at 4 bits; 127 -> 8 clipped to 7, 8 -> 1 (half up), 7 -> 0, -8 -> 0,
    # -9 -> -1, -127 -> -8 clipped to -7.
    assert weight_codes_at(np.array([127, 8, 7, -8, -9, -127]), 4).tolist() == [7, 1, 0, 0, -1, -7]
    assert weight_codes_at(np.array([127, -127, 5]), 8).tolist() == [127, -127, 5]
    test = load_fashion_mnist("test").head(60)
    net = int8_network(load_reference(), load_fashion_mnist("train").images[:500])
    expected = int8_forward(net, torch.from_numpy(test.images)).numpy()
    assert np.array_equal(bitwidth_logits(net, test.images, 8, batch=25), expected)
    low = bitwidth_logits(net, test.images, 4)
    assert low.shape == expected.shape and not np.array_equal(low, expected)
    assert (low.argmax(1) == test.labels).mean() > 0.7


def test_widths_are_checked():
    assert check_widths([8, 4, 6]) == (4, 6, 8)
    for bad, match in (([4, 6], "including 8"), ([8], "at least two"), ([4, 4, 8], "repeat"), ([1, 8], "2..8"),
                       ([4, 16], "2..8")):
        with pytest.raises(EdaError, match=match):
            check_widths(bad)
    runner = CliRunner()
    for args, match in ((["--widths", "4,x,8"], "whole numbers"), (["--widths", "4,6"], "including 8"),
                        (["--target", "2"], "too small"), (["--max-loss", "1"], "max-loss")):
        result = runner.invoke(cli, ["bitwidth", "--out", "unused", *args])
        assert result.exit_code == 2 and match in result.output, result.output


def test_bitwidth_command_end_to_end(tmp_path, cache, platforms_root):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["--platforms-dir", str(platforms_root), "--cache-dir", str(cache), "bitwidth",
                                      "--widths", "4,8", "--images", "300", "--selection-images", "300", "-j", "1",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output + str(result.exception)
    macs = pd.read_csv(out / "bitwidth_macs.csv").set_index("width")
    # A real synthesis of each width: the 4x4 MAC is smaller and spends less energy per operation.
    assert macs.loc[4, "area_um2"] < macs.loc[8, "area_um2"]
    assert macs.loc[4, "energy_per_op_j"] < macs.loc[8, "energy_per_op_j"]
    assert (macs["mismatches"] == 0).all() and macs.loc[8, "verified_operand_pairs"] == 65536
    table = pd.read_csv(out / "bitwidth.csv")
    test_rows = table[table["images_from"].str.startswith("Fashion-MNIST test")].set_index("policy")
    assert list(test_rows.index) == ["static 4-bit", "static 8-bit", "dynamic 4->8"]
    assert test_rows.loc["static 8-bit", "saving_vs_static_top"] == 0
    dynamic = test_rows.loc["dynamic 4->8"]
    assert dynamic["energy_per_inference_j"] == pytest.approx(
        dynamic["macs_per_inference"] * (macs.loc[4, "energy_per_op_j"] + dynamic["runs_8b"] * macs.loc[8, "energy_per_op_j"]))
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"network", "fashion_mnist", "platform_config", "liberty", "rtl_sha256"} <= set(manifest["inputs"])
    assert all(len(item["sha256"]) == 64 for item in manifest["inputs"]["fashion_mnist"])
    assert "iverilog" in manifest["tools"] and "yosys" in manifest["tools"]
    text = (out / "bitwidth.md").read_text()
    assert "seed paper" in text and "50%" in text and "dynamic 4->8" in text
