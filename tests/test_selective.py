"""Selective bit protection (eda selective): the bit-choice search and the rates against hand-worked
numbers, the RTL bit-exact against numpy in iverilog (no error: the tpu golden model; late bits and
replays: the protected bits recover), all bits protected = no flip in the network, the area of a real
synthesis growing with the protected bits, and bad bit sets refused with a clear message."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from eda.cli.main import cli
from eda.core.errors import EdaError
from eda.designs.selective import SelectiveMac, bits_text, check_protected_bits, render_selective_mac, selective_design
from eda.method.selective import (array_replay_fraction, choose_target, damage_scores, energy_per_inference_j,
                                  interpolated_power, lateness, protection_rates, rank_bits, replay_fraction,
                                  smallest_passing_prefix)


# ------------------------------------------------------------------------------------------ the search


def test_bit_choice_hand_worked():
    # Four bits. P(late) at the target supply and the effect of one flip of each:
    p_late = np.array([0.10, 0.00, 0.20, 0.05])
    effect = np.array([1.0, 5.0, 2.0, 10.0])
    # damage = p x e = [0.1, 0, 0.4, 0.5]: bit 3 first, then 2, then 0; bit 1 is never late.
    assert damage_scores(p_late, effect).tolist() == pytest.approx([0.1, 0.0, 0.4, 0.5])
    ranking = rank_bits(p_late, effect)
    assert ranking == [3, 2, 0]
    # The loss left with the top k protected: the damage of the others, bound 0.2.
    left = {0: 1.0, 1: 0.5, 2: 0.1, 3: 0.0}
    tried = []

    def passes(k):
        tried.append(k)
        return left[k] <= 0.2

    search = smallest_passing_prefix(len(ranking), passes)
    assert search.k == 2 and sorted(ranking[:search.k]) == [2, 3]
    # none first, then all candidates, then bisection: 0 fails, 3 passes, 1 fails, 2 passes.
    assert tried == [0, 3, 1, 2] and search.evaluated == {0: False, 3: True, 1: False, 2: True}
    assert smallest_passing_prefix(3, lambda k: True).k == 0
    assert smallest_passing_prefix(3, lambda k: False).k is None
    assert smallest_passing_prefix(0, lambda k: k > 0).k is None
    # Ties (a zero measured effect) go to the higher bit; a late bit with no effect is still a candidate.
    assert rank_bits(np.array([0.1, 0.1, 0.1]), np.array([0.0, 1.0, 0.0])) == [1, 2, 0]


def test_protection_rates_hand_worked():
    # Three bits over four cycles, settle + setup at nominal (ns); clock 1 ns, window 0.25, delay scale 1.
    required = np.array([[0.9, 1.1, -np.inf, 1.3],    # bit 0: late in cycles 1 and 3, beyond the window in 3
                         [1.1, 0.5, 0.5, 1.1],        # bit 1: late in cycles 0 and 3
                         [0.2, 0.2, 1.2, 0.2]])       # bit 2: late in cycle 2
    late, beyond = lateness(required, 1.0, 1.0, 0.25)
    assert late.tolist() == [[False, True, False, True], [True, False, False, True], [False, False, True, False]]
    assert beyond.tolist() == [[False, False, False, True], [False] * 4, [False] * 4]
    none = protection_rates(late, beyond, ())
    assert (none.p_flip, none.replay, none.p_late_any) == (1.0, 0.0, 1.0)
    assert none.flip_weights.tolist() == [0.5, 0.5, 0.25]
    # Protect bit 0: its cycles 1 and 3 are replays, cycle 3 also an error (beyond the window);
    # errors remain in cycles 0, 2 (bits 1, 2) and 3: p_flip 3/4.
    zero = protection_rates(late, beyond, (0,))
    assert (zero.p_flip, zero.replay) == (0.75, 0.5)
    assert zero.flip_weights.tolist() == [0.25, 0.5, 0.25]
    both = protection_rates(late, beyond, (1, 2))
    assert (both.p_flip, both.replay) == (0.5, 0.75)  # bit 0 unprotected: cycles 1, 3
    every = protection_rates(late, beyond, (0, 1, 2))
    assert (every.p_flip, every.replay) == (0.25, 1.0) and every.flip_weights.tolist() == [0.25, 0.0, 0.0]
    # At a higher supply (delay scale 0.8) nothing is beyond the window: all protected, no error at all.
    late, beyond = lateness(required, 0.8, 1.0, 0.25)
    assert protection_rates(late, beyond, (0, 1, 2)).p_flip == 0.0


def test_energy_and_replay_hand_worked():
    # 100 W at 1.8 V, 1.2 V: x 4/9; 150 cycles of 4 ns; 10% replays: x 1.1.
    assert energy_per_inference_j(100.0, 1.2, 1.8, 150, 4.0, 0.1) == pytest.approx(100 * 4 / 9 * 150 * 4e-9 * 1.1)
    assert array_replay_fraction(0.0, 1000) == 0.0 and array_replay_fraction(1.0, 5) == 1.0
    assert array_replay_fraction(0.01, 2) == pytest.approx(1 - 0.99 ** 2)
    assert array_replay_fraction(1e-6, 62537) == pytest.approx(1 - (1 - 1e-6) ** 62537, rel=1e-9)
    assert replay_fraction(0.01, "mac", 1000) == 0.01
    assert interpolated_power(6, 10.0, 14.0, 24) == pytest.approx(11.0)
    candidates = pd.DataFrame({"vdd": [1.8, 1.7, 1.6, 1.5], "feasible": [True, True, True, False],
                               "energy_per_inference_j": [3.0, 2.0, 2.0, 1.0]})
    assert float(choose_target(candidates)["vdd"]) == 1.7  # lowest feasible energy; tie to the higher supply
    with pytest.raises(EdaError, match="no supply"):
        choose_target(candidates.assign(feasible=False))
    with pytest.raises(EdaError, match="replay scope"):
        replay_fraction(0.1, "global", 10)


# ------------------------------------------------------------------------------------------ bad bit sets


def test_bad_bit_sets_rejected():
    assert check_protected_bits([23, 3, 16]) == (3, 16, 23)
    assert check_protected_bits(np.array([1, 0])) == (0, 1)
    assert check_protected_bits([]) == ()
    for bad, match in (([24], r"bit\(s\) 24 outside the 24-bit partial sum"), ([-1, 5], "-1 outside"),
                       ([3, 5, 3], r"bit\(s\) 3 given more than once"), ([1.5], "whole numbers"),
                       ([True], "whole numbers"), ("16-23", "string"), (7, "list of bit indices")):
        with pytest.raises(EdaError, match=match):
            check_protected_bits(bad)
    with pytest.raises(EdaError, match="outside"):
        SelectiveMac((0, 30))
    runner = CliRunner()
    for value, match in (("3,3", "more than once"), ("20-25", "outside"), ("a,b", "not a list of bit indices")):
        result = runner.invoke(cli, ["selective", "--out", "unused", "--protected", value])
        assert result.exit_code == 2 and match in result.output, result.output
    assert bits_text((0, 1, 2, 5, 7, 8)) == "0-2,5,7-8" and bits_text(()) == "none"


# ------------------------------------------------------------------------------------------ RTL


@pytest.mark.parametrize("bits", [(3,) + tuple(range(16, 24)), (), tuple(range(24))], ids=["3,16-23", "none", "all"])
def test_rtl_bit_exact_against_numpy(tmp_path, bits):
    from eda.verify.selective_sim import verify_selective

    mac = SelectiveMac(bits)
    check = verify_selective(mac, 600, 0, workdir=tmp_path, flip_rate=0.08)
    assert check.passed, check.summary()
    # No error: the tpu golden model cycle for cycle; errors: the protected flips were all replayed.
    assert check.clean_vs_tpu.cycles_compared >= 600 and check.requests > 0
    assert check.protected_flips == 0 if not bits else check.protected_flips > 5
    assert check.unprotected_flips == 0 if len(bits) == 24 else check.unprotected_flips > 5


def test_rtl_protected_bits_recover_and_others_do_not(tmp_path):
    from eda.verify.mac_sim import compare_outputs, golden_mac, random_vectors
    from eda.verify.selective_sim import recovered_outputs, replayed_stream, selective_vectors, simulate_selective

    mac = SelectiveMac(tuple(range(16, 24)))
    base = random_vectors(mac.params, 200, 3)
    corners = len(base) - 200
    flips = np.zeros(len(base), dtype=np.int64)
    flips[corners + 10] = 1 << 20          # protected: caught and replayed
    flips[corners + 50] = 1 << 4           # unprotected: stays
    flips[corners + 90] = (1 << 23) | 1    # both: the sign bit recovers, bit 0 stays
    stream = replayed_stream(mac, selective_vectors(base, None, flips))
    assert stream.protected_flips == 2 and len(stream.vectors) == len(base) + 2
    outputs = simulate_selective(mac, stream.vectors, tmp_path)
    assert int((outputs["err_out"] == 1).sum()) == 2  # one flag per protected flip, cleared by the replay
    recovered = recovered_outputs(outputs, stream)
    expected = golden_mac(mac.params, base)
    wrong = compare_outputs(expected, recovered[expected.columns])
    assert [(m.cycle, m.port, m.expected ^ m.actual) for m in wrong.first_mismatches] == [
        (corners + 50, "psum_out", 1 << 4), (corners + 90, "psum_out", 1)]


def test_rendered_rtl_has_razor_flops_only_on_protected_bits():
    text = render_selective_mac(SelectiveMac((0, 23)))
    assert "razor_ff #(.WIDTH(2)) psum_razor" in text and "reg [21:0] psum_plain;" in text
    assert "psum_out = {psum_razor_q[1], psum_plain[21]," in text and text.rstrip().endswith("endmodule")
    plain = render_selective_mac(SelectiveMac(()))
    assert "razor_ff" not in plain and "assign err_out = 1'b0;" in plain
    assert selective_design(SelectiveMac((5,))).kind == "selective-1b-000020"


# ------------------------------------------------------------------------------------------ the network


def test_all_bits_protected_is_no_flip():
    from eda.nn.faults import injected_logits, stream
    from eda.nn.fashion import load_reference
    from eda.nn.selective import conventional_orders, selective_faults

    rng = np.random.default_rng(0)
    required = rng.uniform(0.5, 1.2, size=(24, 400))  # late in places, never beyond a 0.25 window
    late, beyond = lateness(required, 1.0, 1.0, 0.25)
    every = protection_rates(late, beyond, tuple(range(24)))
    assert every.p_flip == 0.0 and not every.flip_weights.any() and every.replay == every.p_late_any > 0
    unprotected = protection_rates(late, beyond, ())
    assert unprotected.p_flip == unprotected.p_late_any and unprotected.replay == 0.0

    network = load_reference()
    images = torch.from_numpy(np.random.default_rng(1).random((6, 1, 28, 28), dtype=np.float32))
    shapes = network.layer_shapes()
    orders = conventional_orders(network, 256, 256)
    scales = {name: 0.05 for name in shapes}

    def streams(layer, kind):
        return stream(1, "test", "selective", 1.0, 0, layer, kind)

    clean = network.forward(images)
    protected, counts = injected_logits(network, images, selective_faults(network, every.p_flip, every.flip_weights,
                                                                          orders, scales), streams)
    assert sum(counts.values()) == 0 and torch.equal(protected, clean)
    # The same draw with the unprotected rate does change the logits (the test would see a flip).
    hit, counts = injected_logits(network, images, selective_faults(network, 1e-4, np.eye(24)[23], orders, scales), streams)
    assert sum(counts.values()) > 0 and not torch.equal(hit, clean)


# ------------------------------------------------------------------------------------------ synthesis


def test_area_grows_with_protected_bits(cache, platforms_root):
    from eda.core.platforms import load_platform
    from eda.designs.registry import Variant
    from eda.flow.characterize import characterize
    from eda.flow.sta import StaSettings

    platform = load_platform("sky130hd", platforms_root)
    sets = [(), tuple(range(16, 24)), tuple(range(24))]
    variants = [Variant(replace(selective_design(SelectiveMac(bits)), static_inputs=frozenset({"err_in"})), 4000)
                for bits in sets]
    table = characterize(variants, platform, StaSettings(), cache, jobs=1, progress=False).table.set_index("kind")
    rows = [table.loc[SelectiveMac(bits).label] for bits in sets]
    areas = [row["area_um2"] for row in rows]
    sequential = [row["area_sequential_um2"] for row in rows]
    assert areas[0] < areas[1] < areas[2], areas
    assert sequential[0] < sequential[1] < sequential[2], sequential
    # each Razor bit adds a shadow flop and a held comparison: on sky130hd about 20 um2 of sequential cells
    assert 10 < (sequential[2] - sequential[0]) / 24 < 40
    assert all(math.isfinite(row["power_w"]) and row["power_w"] > 0 for row in rows)


def test_read_run_of_the_committed_report():
    from eda.jobs.selective import read_run

    report = Path(__file__).resolve().parent.parent / "reports" / "sky130hd"
    run = read_run(report)
    assert run.macs == 65536 and 0 < run.busy_macs <= run.macs and run.clock_ns > 0
    assert int(run.tpu_size["target_ps"]) == int(run.measured_bits["target_ps"].iloc[0])
    assert set(run.measured_bits.loc[run.measured_bits["group"] == "accumulator", "bit"]) == set(range(24))
    with pytest.raises(EdaError, match="finished `eda run`"):
        read_run(report / "nowhere")
