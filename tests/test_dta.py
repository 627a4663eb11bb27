"""Timing-error probabilities measured by timing simulation (eda/flow/dta.py, eda/method/measured_errors.py, `eda dta`).

Real yosys and OpenSTA: a three-gate chain whose settle times are computed by hand from its SDF,
and the tpu and proposed MACs synthesized here (sky130hd, one delay target each).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from eda.cli.main import main
from eda.core.errors import EdaError
from eda.core.liberty import prepare_liberty
from eda.core.platforms import load_platform
from eda.core.step import State, run_step
from eda.designs.mac import MacParams
from eda.designs.registry import Variant, mac_design
from eda.flow.characterize import characterize, prepare_corners, write_outputs
from eda.flow.dta import (NetlistJson, WriteSdf, _scan, cycle_values, load_timing_model, mac_stimulus, output_values,
                          port_stimulus, simulate)
from eda.flow.sta import StaSettings
from eda.jobs.dta import random_operands, run_dta
from eda.jobs.power import operand_vectors
from eda.method.errtable import ErrorModelSettings
from eda.method.measured_errors import (delay_scales, fit_propagation_p, late_cycles, log10_error, measured_error_tables,
                                        model_table, protected_bit)
from eda.outputs.measured_errors import BIT_COLUMNS, MAC_COLUMNS
from eda.parsers.sdf import parse_dcalc, parse_sdf
from eda.spice.table import load_fo4_table, platform_fo4_table
from eda.verify.mac_sim import golden_mac

TARGET_PS = 3000
SETTINGS = StaSettings()
TINY = """module tiny(clk, a, b, c, q);
  input clk, a, b, c;
  output q;
  wire n1, n2, n3;
  sky130_fd_sc_hd__inv_1 u1 (.A(a), .Y(n1));
  sky130_fd_sc_hd__nand2_1 u2 (.A(n1), .B(b), .Y(n2));
  sky130_fd_sc_hd__xor2_1 u3 (.A(n2), .B(c), .X(n3));
  sky130_fd_sc_hd__dfxtp_1 r (.CLK(clk), .D(n3), .Q(q));
endmodule
"""
# Cycle by cycle (column 0 is the starting state):
#  1: a falls            -> n1 rises, n2 falls, n3 falls (the chain's slowest edge: the STA path)
#  2: a rises            -> the chain's other edge
#  3: a and b fall       -> b reaches the NAND first and holds n2 at 1: no transition at all
#  4: b and c rise       -> n3 = n2 ^ c ends where it started, after a pulse shorter than the XOR's delay
#  5: a rises (c = 1)    -> n3 falls through the XOR's negative-unate arc
TINY_INPUTS = {"a": [1, 0, 1, 0, 0, 1], "b": [1, 1, 1, 0, 1, 1], "c": [0, 0, 0, 0, 1, 1]}


@pytest.fixture(scope="module")
def platform(platforms_root):
    return load_platform("sky130hd", platforms_root)


@pytest.fixture(scope="module")
def tiny(platform, liberty_seed, tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    shutil.copytree(liberty_seed, root / "cache" / "liberty")
    liberty = prepare_liberty(platform.nominal.libs[0], platform.dont_use, root / "cache")
    (root / "tiny.v").write_text(TINY)
    state = run_step(NetlistJson("tiny", liberty, 60), State({"netlist": root / "tiny.v"}), root / "json", root)
    state = run_step(WriteSdf("tiny", liberty, platform, SETTINGS, {"clk", "a", "b", "c", "q"}, 60), state, root / "sdf", root)
    model = load_timing_model(state.views["netlist_json"], "tiny", state.views["sdf"], state.views["dcalc"], ("clk",))
    stimulus = port_stimulus(model, {port: np.array(values) for port, values in TINY_INPUTS.items()})
    return {"model": model, "stimulus": stimulus, "sdf": parse_sdf(state.views["sdf"].read_text()),
            "dcalc": pd.read_csv(state.views["dcalc"]), "sta": pd.read_csv(state.views["sta_endpoints"]).set_index("endpoint")}


def test_settle_times_of_a_gate_chain_are_the_hand_computed_arrivals(tiny):
    sdf = tiny["sdf"]
    wire = {(r.driver, r.load): {"rise": r.rise_ns, "fall": r.fall_ns} for r in sdf.interconnect.itertuples()}
    arc = {(r.instance, r.from_pin, r.order): {"rise": r.rise_ns, "fall": r.fall_ns} for r in sdf.iopath.itertuples()}
    # The XOR's A->X has two unlabelled IOPATHs; A falling -> X falling is the positive-unate one,
    # the line whose fall delay is nearest report_dcalc's positive-unate fall.
    dcalc = tiny["dcalc"].query("instance == 'u3' and from_pin == 'A' and sense == 'positive_unate' and not from_rise and not to_rise")
    positive = min((0, 1), key=lambda order: abs(arc[("u3", "A", order)]["fall"] - dcalc["delay_ns"].iloc[0]))
    hand = (wire[("a", "u1/A")]["fall"] + arc[("u1", "A", 0)]["rise"] + wire[("u1/Y", "u2/A")]["rise"] + arc[("u2", "A", 0)]["fall"]
            + wire[("u2/Y", "u3/A")]["fall"] + arc[("u3", "A", positive)]["fall"] + wire[("u3/X", "r/D")]["fall"])
    for mode in ("inertial", "transport", "floating"):
        result = simulate(tiny["model"], tiny["stimulus"], mode)
        assert result.settle_ns[0, 0] == pytest.approx(hand, abs=1e-6), mode
        # This edge is the STA's critical path: same arrival, and settle + setup is the STA's minimum period.
        assert hand == pytest.approx(tiny["sta"].loc["r/D", "arrival_ns"], abs=1e-4)
        assert result.settle_plus_setup_ns()[0, 0] == pytest.approx(tiny["sta"].loc["r/D", "delay_ns"], abs=1e-4)
        assert np.all(result.settle_ns <= tiny["sta"].loc["r/D", "arrival_ns"] + 1e-4)
        assert result.final[0].tolist() == [False, True, True, True, False]


def test_masking_and_glitches_depend_on_the_delay_mode(tiny):
    inertial, transport, floating = (simulate(tiny["model"], tiny["stimulus"], m).settle_ns[0] for m in ("inertial", "transport", "floating"))
    # Cycle 3: the early controlling 0 on the NAND masks the other input: no event, but the bound cannot know.
    assert inertial[2] == transport[2] == -np.inf and np.isfinite(floating[2])
    # Cycle 4: a pulse narrower than the XOR's delay reaches the flop only without pulse filtering.
    assert inertial[3] == -np.inf and np.isfinite(transport[3]) and floating[3] == pytest.approx(transport[3], abs=1e-6)
    # Cycle 5: one clean transition: every mode agrees.
    assert inertial[4] == pytest.approx(transport[4], abs=1e-6) and floating[4] == pytest.approx(transport[4], abs=1e-6)


def test_sdf_and_dcalc_parsers():
    text = """(DELAYFILE (TIMESCALE 1ps)
 (CELL (CELLTYPE "x") (INSTANCE u\\.1)
  (DELAY (ABSOLUTE
    (INTERCONNECT a u\\.1/A (10::12) (8::9))
    (IOPATH A X (100::120) (50::60))
    (IOPATH A X (90::95) ())
    (COND B (IOPATH B X (70) (71)))
  ))
  (TIMINGCHECK (SETUP (negedge D) (posedge CLK) (30::40)))))"""
    sdf = parse_sdf(text)
    assert sdf.interconnect.iloc[0].tolist() == ["a", "u.1/A", pytest.approx(0.012), pytest.approx(0.009)]
    rows = sdf.iopath.set_index(["from_pin", "order"])
    assert rows.loc[("A", 0), ["rise_ns", "fall_ns"]].tolist() == pytest.approx([0.12, 0.06])
    assert rows.loc[("A", 1), ["rise_ns", "fall_ns"]].tolist() == pytest.approx([0.095, 0.0])
    assert rows.loc[("B", 0), ["rise_ns", "fall_ns"]].tolist() == pytest.approx([0.07, 0.071])
    assert sdf.setup.iloc[0].tolist() == ["u.1", "D", "fall", "CLK", pytest.approx(0.04)]
    with pytest.raises(EdaError, match="no IOPATH"):
        parse_sdf("(DELAYFILE)")
    dcalc = parse_dcalc("dcalc_arc u3 A X\nArc sense: positive_unate\nA ^ -> X ^\nTable value = 1\nDelay = 0.12\nSlew = 0.3\n"
                        "A v -> X v\nDelay = 0.15\n")
    assert dcalc[["sense", "from_rise", "to_rise", "delay_ns"]].values.tolist() == [["positive_unate", True, True, 0.12],
                                                                                   ["positive_unate", False, False, 0.15]]


def test_hold_loops_are_solved_over_the_whole_stream():
    # state[j+1] from state[j]: set 1, hold, invert, hold, reset 0, invert
    state = _scan(np.array([1, 0, 1, 0, 0, 1], bool), np.array([1, 1, 0, 1, 0, 0], bool), False)
    assert state.tolist() == [False, True, True, False, False, False]


def test_measured_tables_and_protection():
    # Two bits over four cycles: (settle + setup) in ns; -inf: no transition.
    required = np.array([[1.0, 2.4, -np.inf, 3.1], [0.5, 2.9, 3.2, -np.inf]])
    bits = pd.DataFrame({"group": ["product", "accumulator"], "bit": [15, 3], "protected": [True, False]})
    scales = pd.DataFrame({"vdd": [1.8, 1.5], "delay_scale": [1.0, 1.2]})
    bit_table, mac_table = measured_error_tables(required, bits, scales, clock_ns=3.0)
    assert late_cycles(required, 1.2, 3.0).tolist() == [[False, False, False, True], [False, True, True, False]]
    assert bit_table.query("vdd == 1.8")["p_late"].tolist() == [0.25, 0.25]
    assert mac_table.set_index("vdd").loc[1.8, ["p_error", "p_protected", "p_unprotected"]].tolist() == [0.5, 0.25, 0.25]
    assert mac_table.set_index("vdd").loc[1.5, "p_error"] == 0.75  # 2.4 x 1.2 is in time, 2.9 x 1.2 is late
    proposed, thundervolt = MacParams("proposed"), MacParams("thundervolt")
    assert [protected_bit(proposed, "product", b) for b in (5, 6, 15)] == [False, True, True]
    assert not protected_bit(proposed, "accumulator", 23) and protected_bit(thundervolt, "accumulator", 0)
    assert not protected_bit(MacParams("tpu"), "accumulator", 23)


def test_the_fit_recovers_the_p_that_made_the_table(platform):
    fo4 = load_fo4_table(platform_fo4_table("sky130hd"))
    sizes = pd.DataFrame({"size_index": [0, 1], "target_ps": [3500, 2000], "area_um2": [4800.0, 5700.0], "delay_ns": [3.98, 2.79]})
    settings = ErrorModelSettings(process_samples=300)
    vdds = [1.7, 1.6, 1.5, 1.4, 1.3]
    made = model_table(sizes, fo4, 1.8, 3.98, vdds, settings, 0.72)
    fit = fit_propagation_p(made, sizes, fo4, 1.8, 3.98, settings)
    assert fit.p == pytest.approx(0.72, abs=0.005) and fit.rms_log10_error < 0.01 and not fit.at_bound
    assert log10_error(made, model_table(sizes, fo4, 1.8, 3.98, vdds, settings, 0.5)) > 1.0
    assert delay_scales(fo4, [1.8, 1.4], 1.8)["delay_scale"].tolist() == pytest.approx([1.0, 146.6 / 83.4], rel=0.01)


@pytest.fixture(scope="module")
def macs(platform, liberty_seed, tmp_path_factory):
    """The tpu and proposed MACs synthesized and characterized once, as `eda characterize` writes them."""
    cache = tmp_path_factory.mktemp("dta_cache")
    shutil.copytree(liberty_seed, cache / "liberty")
    variants = [Variant(mac_design(MacParams(kind)), TARGET_PS) for kind in ("tpu", "proposed")]
    result = characterize(variants, platform, SETTINGS, cache, jobs=1, progress=False)
    out = tmp_path_factory.mktemp("dta_characterized")
    write_outputs(result, out, platform, SETTINGS, ["pytest"])
    liberty = prepare_corners(platform, None, cache)[platform.nominal_corner]
    runs = {}
    for kind in ("tpu", "proposed"):
        params = MacParams(kind)
        vectors = operand_vectors(params, random_operands(805, seed=3, params=params))
        netlist = out / "runs" / f"{kind}-D{TARGET_PS}" / "01-synth" / "netlist.v"
        runs[kind] = (vectors, run_dta(netlist, params, vectors, liberty, platform, SETTINGS, cache, warmup_cycles=4))
    return {"cache": cache, "csv": out / "characterization.csv", "runs": runs}


@pytest.mark.parametrize("kind", ["tpu", "proposed"])
def test_simulated_registers_equal_the_golden_mac(macs, kind):
    params = MacParams(kind)
    vectors, run = macs["runs"][kind]
    model = load_timing_model(run.run_dir / "01-netlist-json" / "netlist.json", params.module, run.run_dir / "02-sdf" / "design.sdf",
                              run.run_dir / "02-sdf" / "dcalc.csv", ("clk", "clk_shadow"))
    values = cycle_values(model, mac_stimulus(model, params, vectors))
    simulated = output_values(model, values[:, 1:], ["psum_out", "a_out", "w_out"])  # after clock edge k = golden row k
    golden = golden_mac(params, vectors).iloc[: len(simulated)]
    known = golden["psum_out"].notna().to_numpy()
    assert known.sum() >= len(vectors) - 3
    assert np.array_equal(simulated["psum_out"].to_numpy(int)[known], golden["psum_out"].to_numpy(int, na_value=0)[known])
    assert np.array_equal(simulated["a_out"].to_numpy(int), golden["a_out"].to_numpy(int))
    # The Razor latches and error latch (proposed) are held; nothing they drive reaches a main flop while they change.
    assert run.metrics["dta__held_outputs_reaching_endpoints"] == 0
    assert run.metrics["dta__held_elements"] == (11 if kind == "proposed" else 0)


@pytest.mark.parametrize("kind", ["tpu", "proposed"])
def test_no_bit_is_late_at_the_sta_period_and_some_are_at_four_fifths(macs, kind):
    _, run = macs["runs"][kind]
    sta_period = run.metrics["sdf__sta_delay_ns"]
    assert run.required_ns.shape[1] == 800
    assert not late_cycles(run.required_ns, 1.0, sta_period).any()
    late = late_cycles(run.required_ns, 1.0, 0.8 * sta_period)
    assert 0 < late.any(axis=0).mean() < 1
    # No endpoint settles later than its own STA arrival allows (the arcs are OpenSTA's at its worst slews).
    worst = np.max(run.required_ns, axis=1)
    assert np.all(worst <= run.endpoints["sta_delay_ns"].to_numpy() + 1e-3)


def test_eda_dta_writes_the_measured_tables_and_a_fitted_p_that_beats_the_papers(macs, tmp_path):
    out = tmp_path / "dta"
    assert main(["--cache-dir", str(macs["cache"]), "dta", "--characterization", str(macs["csv"]), "--cycles", "800", "--seed", "3",
                 "--vdd", "1.8,1.7,1.6,1.5,1.4,1.3,1.2", "-j", "1", "--out", str(out)]) == 0
    table = pd.read_csv(out / "measured_error_probability.csv")
    bits = pd.read_csv(out / "measured_bit_error_probability.csv")
    assert list(table.columns) == MAC_COLUMNS and list(bits.columns) == BIT_COLUMNS
    assert set(table["kind"]) == {"tpu", "proposed"} and (table["cycles"] == 800).all()
    # The default clock is the (only) size's nominal delay: nothing fails at 1.8 V, more fails lower.
    for _, rows in table.groupby("kind"):
        p = rows.sort_values("vdd", ascending=False)["p_error"].to_numpy()
        assert p[0] == 0 and p[-1] > 0.5 and np.all(np.diff(p) >= 0)
    assert np.all(table["p_error"] >= np.maximum(table["p_protected"], table["p_unprotected"]))
    assert (table.query("kind == 'tpu'")["p_protected"] == 0).all()
    protected = bits.query("kind == 'proposed' and protected")[["group", "bit"]].drop_duplicates()
    assert set(protected["group"]) == {"product"} and sorted(protected["bit"]) == list(range(6, 16))
    fits = json.loads((out / "fitted_p.json").read_text())["fitted_p"]
    for kind in ("tpu", "proposed"):
        assert 0 < fits[kind]["p"] < 1 and fits[kind]["points"] >= 3
        assert fits[kind]["rms_log10_error"] < fits[kind]["rms_log10_error_at"]["0.5"]
    # Same inputs as the fixture's runs: the simulations came from the cache.
    assert all(r["cached"] for kind in fits for r in fits[kind]["runs"])
    assert "measured / eqs. 7-9 with the fitted p" in (out / "measured_error_probability.md").read_text()
