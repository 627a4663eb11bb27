"""Exact values, column names and order, dtypes, boundaries, defaults and error messages of the pure
method layer behind Table II: eda/method/table2.py, eda/method/overhead.py, eda/method/mapping.py.

Every expectation is worked out by hand in the comments, or (for the array mapping) by a brute-force
reference written here with plain loops from the strategies' description in the module docstring."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from eda.core.errors import EdaError
from eda.method import mapping
from eda.method.mapping import (ArrayPermutation, TileLoad, column_slots, loads_of, map_all_strategies,
                                map_sensitivities, weight_matrix)
from eda.method.overhead import switching_overhead
from eda.method.table2 import (BASELINES, PAPER_BASELINES, PAPER_BEST_DESIGN, PAPER_QUOTED_SAVINGS, PAPER_TABLE2,
                               DesignSpec, design_row, mac_power_at_clock_w, mac_runs, minimum_voltages,
                               overhead_runs, paper_table2, size_counts, table2, with_savings)

REL = 1e-13   # tighter than a 1e12 -> 1000000000001.0 constant change


def exactly(message: str) -> str:
    """A pytest.raises pattern matching the whole message and nothing else."""
    return "^" + re.escape(message) + "$"


# =========================================================================== table2.py

# Three sizes of kind k; every column different per size (and size 2 unused), so a wrong row or
# column shows. Power reported at 10 ns (size 0) and 8 ns (size 1).
SIZES = pd.DataFrame({
    "area_um2": [100.0, 150.0, 170.0],
    "power_internal_w": [2e-3, 3e-3, 9e-3], "power_switching_w": [1e-3, 0.5e-3, 9e-3],
    "power_leakage_w": [1e-6, 3e-6, 9e-6], "power_clock_ns": [10.0, 8.0, 1.0],
    "run_dir": ["runs/s0", "runs/s1", "runs/s2"], "cache_key": ["c0", "c1", "c2"],
}, index=pd.Index([0, 1, 2], name="size_index"))

# The matching (k, column2to1) row is the last; a (k, column4to1) and a (j, column2to1) row precede it.
OVERHEADS = pd.DataFrame([
    {"kind": "k", "dataflow": "column4to1", "area_overhead_per_mac_um2": 99.0, "power_overhead_per_mac_w": 9e-3,
     "power_clock_ns": 1.0, "tile_run_dir": "runs/wrong4", "base_run_dir": "runs/wrongbase"},
    {"kind": "j", "dataflow": "column2to1", "area_overhead_per_mac_um2": 77.0, "power_overhead_per_mac_w": 7e-3,
     "power_clock_ns": 2.0, "tile_run_dir": "runs/wrongj", "base_run_dir": "runs/wrongbase"},
    {"kind": "k", "dataflow": "column2to1", "area_overhead_per_mac_um2": 10.0, "power_overhead_per_mac_w": 1e-4,
     "power_clock_ns": 12.0, "tile_run_dir": "runs/t2", "base_run_dir": "runs/t0"},
])

ROW_COLUMNS = ["design", "kind", "dataflow", "technology", "bitwidth_bits", "macs", "frequency_mhz", "clock_ns",
               "throughput_gops", "area_mm2", "mac_area_mm2", "switching_area_mm2", "power_nominal_w", "nominal_vdd",
               "vmin_v", "power_scaled_w", "energy_per_op_pj", "energy_per_op_nominal_pj", "mac_runs", "overhead_runs"]
TABLE_COLUMNS = ROW_COLUMNS + ["cycles_per_inference", "energy_per_inference_uj"]
ACTIVITY_COLUMNS = ["power_activity_nominal_w", "power_activity_leakage_nominal_w", "switching_overhead_nominal_w",
                    "power_activity_vmin_w", "power_activity_leakage_vmin_w", "energy_per_op_activity_pj",
                    "energy_per_inference_activity_uj", "activity_runs"]

# Hand-worked design "p": sizes {0: 3, 1: 2} at a 4 ns clock, column2to1, Vnom 1.2 V, Vmin 0.9 V.
#   MACs 5; MAC area 3 x 100 + 2 x 150 = 600 um^2; switching area 5 x 10 = 50 um^2.
#   size 0 at 4 ns: (2 + 1) mW x 10/4 + 1 uW = 7.501 mW; size 1: (3 + 0.5) mW x 8/4 + 3 uW = 7.003 mW
#   MACs: 3 x 7.501 + 2 x 7.003 = 36.509 mW; switching: 5 x 0.1 mW x 12/4 = 1.5 mW -> 38.009 mW
#   f = 250 MHz, 2 x 5 x 250e6 = 2.5 GOPS; scaled: 38.009 mW x (0.9/1.2)^2 = 38.009 x 0.5625 = 21.3800625 mW
#   energy/op: 21.3800625e-3 / 2.5e9 = 8.552025 pJ; nominal 15.2036 pJ; per inference 1000 x 4 ns: 85.52025e-3 uJ
P_SPEC = DesignSpec("p", "k", "column2to1", {1: 2, 0: 3}, 4.0, 0.9, cycles_per_inference=1000.0)
P_EXPECTED = {
    "design": "p", "kind": "k", "dataflow": "column2to1", "technology": "tech", "bitwidth_bits": 8, "macs": 5,
    "frequency_mhz": 250.0, "clock_ns": 4.0, "throughput_gops": 2.5, "area_mm2": 650e-6, "mac_area_mm2": 600e-6,
    "switching_area_mm2": 50e-6, "power_nominal_w": 38.009e-3, "nominal_vdd": 1.2, "vmin_v": 0.9,
    "power_scaled_w": 21.3800625e-3, "energy_per_op_pj": 8.552025, "energy_per_op_nominal_pj": 15.2036,
    "mac_runs": "runs/s0@c0:3;runs/s1@c1:2", "overhead_runs": "tiles/runs/t2;tiles/runs/t0",
    "cycles_per_inference": 1000.0, "energy_per_inference_uj": 85.52025e-3,
}


def assert_row(actual, expected):
    for key, value in expected.items():
        if isinstance(value, float):
            assert actual[key] == pytest.approx(value, rel=REL, abs=0), key
        else:
            assert actual[key] == value, key


def test_size_counts_counts_every_index_as_python_ints():
    counts = size_counts(np.array([[2, 0, 2], [5, 2, 0]]))
    assert counts == {0: 2, 2: 3, 5: 1}
    assert list(counts) == [0, 2, 5]
    assert all(type(k) is int and type(v) is int for k, v in counts.items())


def test_mac_power_scales_dynamic_with_clock_and_keeps_leakage():
    # (3 + 0.5) mW reported at 8 ns, run at 2 ns: x 4 = 14 mW, plus 3 uW leakage
    assert mac_power_at_clock_w(SIZES.loc[1], 2.0) == pytest.approx(14.003e-3, rel=REL)
    # at its own reporting clock, the report as is: 3 mW + 1 uW
    assert mac_power_at_clock_w(SIZES.loc[0], 10.0) == pytest.approx(3.001e-3, rel=REL)


def test_design_row_by_hand_with_overhead_and_default_bits():
    overhead = OVERHEADS.iloc[2]
    row = design_row(P_SPEC, SIZES, overhead, 1.2, "tech", 8)
    assert list(row) == ROW_COLUMNS
    assert_row(row, {k: v for k, v in P_EXPECTED.items() if k in ROW_COLUMNS})
    row16 = design_row(P_SPEC, SIZES, None, 1.2, "t16", 16)
    assert row16["bitwidth_bits"] == 16 and row16["technology"] == "t16"
    assert row16["switching_area_mm2"] == 0.0 and row16["overhead_runs"] == ""
    assert row16["power_nominal_w"] == pytest.approx(36.509e-3, rel=REL)
    assert row16["area_mm2"] == pytest.approx(600e-6, rel=REL)


@pytest.mark.parametrize("vmin", [float("nan"), float("inf")])
def test_design_row_without_vmin_has_nan_scaled_power(vmin):
    spec = DesignSpec("n", "k", "conventional", {0: 1}, 10.0, vmin)
    row = design_row(spec, SIZES, None, 1.2, "t", 8)
    assert np.isnan(row["power_scaled_w"]) and np.isnan(row["energy_per_op_pj"])
    # 3.001 mW / (2 x 100 MHz) = 15.005 pJ
    assert row["energy_per_op_nominal_pj"] == pytest.approx(15.005, rel=REL)


def test_table2_row_columns_and_values_by_hand():
    table = table2([P_SPEC], {"k": SIZES}, OVERHEADS, 1.2, "tech")
    assert list(table.columns) == TABLE_COLUMNS
    assert len(table) == 1
    assert_row(table.iloc[0], P_EXPECTED)
    assert table["macs"].dtype == np.int64 and table["bitwidth_bits"].dtype == np.int64


def test_table2_bits_argument_is_used():
    table = table2([P_SPEC], {"k": SIZES}, OVERHEADS, 1.2, "tech", 4)
    assert table.iloc[0]["bitwidth_bits"] == 4


def test_conventional_dataflow_takes_no_overhead_even_with_overheads_given():
    spec = DesignSpec("c", "k", "conventional", {0: 2}, 5.0, 1.2)
    row = table2([spec], {"k": SIZES}, OVERHEADS, 1.2, "t").iloc[0]
    # 2 x ((3 mW x 10/5) + 1 uW) = 12.002 mW; area 200 um^2; at Vnom, scaled = nominal
    assert row["power_nominal_w"] == pytest.approx(12.002e-3, rel=REL)
    assert row["power_scaled_w"] == pytest.approx(12.002e-3, rel=REL)
    assert row["area_mm2"] == pytest.approx(200e-6, rel=REL) and row["switching_area_mm2"] == 0.0
    assert row["overhead_runs"] == ""
    assert np.isnan(row["cycles_per_inference"]) and np.isnan(row["energy_per_inference_uj"])


def test_missing_overhead_row_and_missing_kind_are_named():
    with pytest.raises(EdaError, match=exactly("q: no switching overhead measured for k / column")):
        table2([DesignSpec("q", "k", "column", {0: 1}, 5.0, 1.0)], {"k": SIZES}, OVERHEADS, 1.2, "t")
    with pytest.raises(EdaError, match=exactly("r: no sizes of MAC kind 'z'")):
        table2([DesignSpec("r", "z", "conventional", {0: 1}, 5.0, 1.0)], {"k": SIZES}, None, 1.2, "t")
    # without an overheads table a switched dataflow simply has none
    row = table2([DesignSpec("s", "k", "column4to1", {0: 1}, 10.0, 1.2)], {"k": SIZES}, None, 1.2, "t").iloc[0]
    assert row["power_nominal_w"] == pytest.approx(3.001e-3, rel=REL) and row["switching_area_mm2"] == 0.0


def test_unknown_size_index_message_names_indexes_kind_and_range():
    with pytest.raises(EdaError, match=exactly("u: the sizing map uses size index(es) [7, 3] that the k size list "
                                               "(0..2) does not have")):
        table2([DesignSpec("u", "k", "conventional", {0: 1, 7: 2, 3: 1}, 5.0, 1.0)], {"k": SIZES}, None, 1.2, "t")


def test_mac_runs_sorted_by_size_and_without_cache_key_or_run_dir():
    assert mac_runs(P_SPEC, SIZES) == "runs/s0@c0:3;runs/s1@c1:2"
    assert mac_runs(P_SPEC, SIZES.drop(columns="cache_key")) == "runs/s0@:3;runs/s1@:2"
    assert mac_runs(P_SPEC, SIZES.drop(columns="run_dir")) == ""


def test_overhead_runs_forms():
    assert overhead_runs(None) == ""
    assert overhead_runs(pd.Series({"base_run_dir": "b"})) == ""
    assert overhead_runs(pd.Series({"tile_run_dir": "a"})) == "tiles/a"
    assert overhead_runs(pd.Series({"tile_run_dir": "a", "base_run_dir": "b"})) == "tiles/a;tiles/b"


def test_savings_columns_order_and_values():
    # same sizes {1: 4} at 8 ns (power as reported: 4 x (3.5 mW + 3 uW) = 14.012 mW); only Vmin differs
    specs = [DesignSpec("thundervolt", "k", "conventional", {1: 4}, 8.0, 0.6),
             DesignSpec("tpu", "k", "conventional", {1: 4}, 8.0, 1.2),
             DesignSpec("x", "k", "conventional", {1: 4}, 4.0, 0.3)]
    table = table2(specs, {"k": SIZES}, None, 1.2, "t")
    assert list(table.columns) == TABLE_COLUMNS + ["power_saving_vs_tpu", "energy_saving_vs_tpu",
                                                   "power_saving_vs_thundervolt", "energy_saving_vs_thundervolt"]
    assert list(table["design"]) == ["thundervolt", "tpu", "x"]
    t = table.set_index("design")
    assert t.loc["tpu", "power_saving_vs_tpu"] == 0.0
    assert t.loc["thundervolt", "power_saving_vs_tpu"] == pytest.approx(0.75, rel=REL)   # 1 - (0.6/1.2)^2
    # x at 4 ns: dynamic doubles -> 4 x (7 mW + 3 uW) = 28.012 mW, x (0.3/1.2)^2 = 1/16
    tpu_w, tv_w, x_w = 14.012e-3, 14.012e-3 / 4, 28.012e-3 / 16
    assert t.loc["x", "power_saving_vs_tpu"] == pytest.approx(1 - x_w / tpu_w, rel=REL)
    assert t.loc["x", "power_saving_vs_thundervolt"] == pytest.approx(1 - x_w / tv_w, rel=REL)
    # energy per op: x runs twice as many ops per second
    assert t.loc["x", "energy_saving_vs_tpu"] == pytest.approx(1 - (x_w / 2) / tpu_w, rel=REL)
    assert t.loc["x", "energy_saving_vs_thundervolt"] == pytest.approx(1 - (x_w / 2) / tv_w, rel=REL)
    assert t.loc["tpu", "energy_saving_vs_thundervolt"] == pytest.approx(-3.0, rel=REL)


def test_savings_use_the_first_baseline_row_and_skip_a_missing_baseline():
    table = pd.DataFrame({"design": ["a", "thundervolt", "thundervolt"], "power_scaled_w": [1.0, 4.0, 2.0],
                          "energy_per_op_pj": [3.0, 6.0, 1.0]})
    out = with_savings(table)
    assert list(out.columns) == ["design", "power_scaled_w", "energy_per_op_pj",
                                 "power_saving_vs_thundervolt", "energy_saving_vs_thundervolt"]
    assert out["power_saving_vs_thundervolt"].tolist() == [0.75, 0.0, 0.5]
    assert out["energy_saving_vs_thundervolt"].tolist() == [0.5, 0.0, 1 - 1 / 6]
    assert "power_saving_vs_thundervolt" not in table.columns   # the input is not modified
    assert BASELINES == ("tpu", "thundervolt")


def test_activity_savings_columns_when_present():
    table = pd.DataFrame({"design": ["tpu", "b"], "power_scaled_w": [2.0, 1.0], "energy_per_op_pj": [4.0, 1.0],
                          "power_activity_vmin_w": [8.0, 2.0], "energy_per_op_activity_pj": [5.0, 4.0]})
    out = with_savings(table)
    assert list(out.columns)[5:] == ["power_saving_vs_tpu", "energy_saving_vs_tpu",
                                     "power_activity_saving_vs_tpu", "energy_activity_saving_vs_tpu"]
    assert out["power_activity_saving_vs_tpu"].tolist() == [0.0, 0.75]
    assert out["energy_activity_saving_vs_tpu"].tolist() == [0.0, pytest.approx(0.2, rel=REL)]


ACTIVITY = pd.DataFrame({
    "kind": ["k", "k", "j"], "size_index": [0, 1, 0],
    "power_activity_internal_w": [1e-3, 2e-3, 5.0], "power_activity_switching_w": [0.5e-3, 1e-3, 5.0],
    "power_activity_leakage_w": [1e-6, 2e-6, 5.0], "power_clock_ns": [10.0, 8.0, 1.0],
    "activity_cache_key": ["a0", "a1", "j0"],
})


def test_table2_activity_columns_with_switching_overhead_by_hand():
    # p at 4 ns, V^2 rule (no leakage table): size 0: 1.5 mW x 10/4 + 1 uW = 3.751 mW; size 1: 3 mW x 8/4 + 2 uW
    # = 6.002 mW; 3 x 3.751 + 2 x 6.002 = 23.257 mW; + switching 1.5 mW (as above) = 24.757 mW; leakage 7 uW.
    # At 0.9 V: x 0.5625 -> 13.9258125 mW, leakage 3.9375 uW; per op / 2.5e9 -> 5.570325 pJ;
    # per inference 1000 cycles x 4 ns -> 55.70325e-3 uJ
    conv = DesignSpec("tpu", "k", "conventional", {0: 1}, 10.0, 1.2)
    table = table2([conv, P_SPEC], {"k": SIZES}, OVERHEADS, 1.2, "tech", activity=ACTIVITY)
    assert list(table.columns) == (TABLE_COLUMNS + ACTIVITY_COLUMNS
                                   + ["power_saving_vs_tpu", "energy_saving_vs_tpu", "power_activity_saving_vs_tpu",
                                      "energy_activity_saving_vs_tpu"])
    p = table.set_index("design").loc["p"]
    assert_row(p, {k: v for k, v in P_EXPECTED.items() if k != "design"})
    assert_row(p, {"power_activity_nominal_w": 24.757e-3, "power_activity_leakage_nominal_w": 7e-6,
                   "switching_overhead_nominal_w": 1.5e-3, "power_activity_vmin_w": 13.9258125e-3,
                   "power_activity_leakage_vmin_w": 3.9375e-6, "energy_per_op_activity_pj": 5.570325,
                   "energy_per_inference_activity_uj": 55.70325e-3, "activity_runs": "activity_power/a0:3;activity_power/a1:2"})
    tpu = table.set_index("design").loc["tpu"]
    assert tpu["switching_overhead_nominal_w"] == 0.0
    assert tpu["power_activity_nominal_w"] == pytest.approx(1.501e-3, rel=REL)  # 1.5 mW + 1 uW at its own clock
    assert p["power_activity_saving_vs_tpu"] == pytest.approx(1 - 13.9258125e-3 / 1.501e-3, rel=REL)
    # with a leakage table, leakage follows its law: I(0.9) / I(1.2) = 1/4, so x (0.9/1.2) x 1/4 = 0.1875:
    # 7 uW -> 1.3125 uW; dynamic (24.757 - 0.007) mW x 0.5625 = 13.921875 mW
    leakage = pd.DataFrame({"vdd": [0.9, 1.2], "leakage_a": [1e-12, 4e-12]})
    table = table2([P_SPEC], {"k": SIZES}, OVERHEADS, 1.2, "tech", activity=ACTIVITY, leakage=leakage)
    assert table.loc[0, "power_activity_leakage_vmin_w"] == pytest.approx(1.3125e-6, rel=REL)
    assert table.loc[0, "power_activity_vmin_w"] == pytest.approx(13.9231875e-3, rel=REL)
    assert table.loc[0, "power_activity_nominal_w"] == pytest.approx(24.757e-3, rel=REL)


# --------------------------------------------------------------------------- minimum voltages


def test_minimum_voltages_accuracy_rule_boundary_order_and_columns():
    sweep = pd.DataFrame({
        # design z listed first (kept first), supplies given in ascending order (sorted inside)
        "design": ["z", "z", "z", "z", "a", "a", "a"],
        "budget": ["m", "m", "m", "m", "lo", "lo", "lo"],
        "vdd": [0.9, 1.0, 1.1, 1.2, 1.0, 1.1, 1.2],
        # z: clean 0.75 (the highest supply's), loss 0.25 -> threshold exactly 0.5; 1.0 V sits on it and passes,
        # 0.9 V is below it
        "accuracy_mean": [0.49, 0.5, 0.625, 0.75, 0.9, 0.9, 0.1],
        "clean_accuracy": [0.125, 0.125, 0.125, 0.75, 0.9, 0.9, 0.9],
    })
    out = minimum_voltages(sweep, 0.25)
    assert list(out.columns) == ["design", "budget", "vmin_v", "accuracy_at_vmin", "clean_accuracy", "max_loss"]
    assert out["design"].tolist() == ["z", "a"] and out["budget"].tolist() == ["m", "lo"]
    assert out.loc[0, "vmin_v"] == 1.0 and out.loc[0, "accuracy_at_vmin"] == 0.5
    assert out.loc[0, "clean_accuracy"] == 0.75 and out.loc[0, "max_loss"] == 0.25
    # a: the highest supply already fails (0.1 < 0.9 - 0.25): no Vmin even though lower ones pass
    assert np.isnan(out.loc[1, "vmin_v"]) and np.isnan(out.loc[1, "accuracy_at_vmin"])
    assert out.loc[1, "clean_accuracy"] == 0.9
    # a table of only failing designs still has float (NaN) columns
    alone = minimum_voltages(sweep[sweep["design"] == "a"], 0.25)
    assert alone["vmin_v"].dtype == np.float64 and alone["accuracy_at_vmin"].dtype == np.float64
    assert np.isnan(alone.loc[0, "accuracy_at_vmin"])


def test_minimum_voltages_bound_rule_boundary():
    sweep = pd.DataFrame({
        "design": ["d"] * 4, "budget": ["b"] * 4, "vdd": [1.2, 1.1, 1.0, 0.9],
        # accuracy_mean would fail everything; with the bound column only the bound decides
        "accuracy_mean": [0.0, 0.0, 0.0, float("nan")], "clean_accuracy": [0.9] * 4,
        "loss_upper_bound": [0.0, 0.02, 0.03, 0.0300001],
    })
    out = minimum_voltages(sweep, 0.03)
    assert out.loc[0, "vmin_v"] == 1.0 and out.loc[0, "accuracy_at_vmin"] == 0.0
    # two budgets of one design are two rows
    two = pd.concat([sweep, sweep.assign(budget="c", loss_upper_bound=[0.0, 0.5, 0.0, 0.0])], ignore_index=True)
    out = minimum_voltages(two, 0.03)
    assert out["budget"].tolist() == ["b", "c"] and out["vmin_v"].tolist() == [1.0, 1.2]


def test_sweep_with_bad_numbers_names_the_first_bad_row():
    sweep = pd.DataFrame({
        "design": ["d", "e", "f", "g"], "budget": ["m", "n", "o", "p"], "vdd": [1.2, 1.1, 1.0, 0.9],
        "accuracy_mean": [0.9, 0.9, 0.9, 0.9], "clean_accuracy": [0.9] * 4,
        "loss_upper_bound": [0.0, float("nan"), float("inf"), 0.0],
    })
    with pytest.raises(EdaError, match=exactly("accuracy sweep: loss_upper_bound of e (n) at vdd 1.1 is np.float64(nan); "
                                               "expected a finite number")):
        minimum_voltages(sweep, 0.03)
    # without the bound column, accuracy_mean decides: a text value is coerced and refused
    text = sweep.drop(columns="loss_upper_bound").astype({"accuracy_mean": object})
    text.loc[2, "accuracy_mean"] = "bad"
    text.loc[3, "accuracy_mean"] = float("nan")
    with pytest.raises(EdaError, match=exactly("accuracy sweep: accuracy_mean of f (o) at vdd 1.0 is 'bad'; "
                                               "expected a finite number")):
        minimum_voltages(text, 0.03)
    # the supply is checked before the clean accuracy, the clean accuracy before the decision
    both = sweep.assign(clean_accuracy=[0.9, 0.9, 0.9, np.inf], vdd=[1.2, 1.1, 1.0, np.nan])
    with pytest.raises(EdaError, match=exactly("accuracy sweep: vdd of g (p) at vdd nan is np.float64(nan); expected a finite number")):
        minimum_voltages(both, 0.03)
    # a missing value in a nullable column is refused the same way
    nullable = sweep.drop(columns="loss_upper_bound").assign(
        accuracy_mean=pd.array([True, True, pd.NA, True], dtype="boolean"))
    with pytest.raises(EdaError, match=exactly("accuracy sweep: accuracy_mean of f (o) at vdd 1.0 is <NA>; "
                                               "expected a finite number")):
        minimum_voltages(nullable, 0.03)
    clean = sweep.assign(clean_accuracy=[0.9, 0.9, 0.9, -np.inf], loss_upper_bound=0.0)
    with pytest.raises(EdaError, match=exactly("accuracy sweep: clean_accuracy of g (p) at vdd 0.9 is np.float64(-inf); "
                                               "expected a finite number")):
        minimum_voltages(clean, 0.03)


# --------------------------------------------------------------------------- the paper's table


def test_paper_table_values_and_savings():
    expected = pd.DataFrame([
        ["tpu [5]", "65nm", 8, 65536, 526, 241.3, 66.5, 1.08, 1.08, 66.5],
        ["thundervolt [10]", "65nm", 8, 65536, 526, 282.4, 78.5, 1.08, 0.78, 46.4],
        ["proposed column-wise", "65nm", 8, 65536, 641, 214.2, 72.5, 1.08, 0.73, 33.2],
        ["proposed column-wise 2to1", "65nm", 8, 65536, 641, 220.7, 74.6, 1.08, 0.73, 34.1],
        ["proposed column-wise 4to1", "65nm", 8, 65536, 641, 228.7, 77.2, 1.08, 0.68, 30.5],
    ], columns=["design", "technology", "bitwidth_bits", "macs", "frequency_mhz", "area_mm2", "power_nominal_w",
                "nominal_vdd", "vmin_v", "power_scaled_w"])
    pd.testing.assert_frame_equal(PAPER_TABLE2, expected)
    table = paper_table2()
    assert list(table.columns) == list(expected.columns) + ["power_saving_vs_tpu", "power_saving_vs_thundervolt"]
    scaled = [66.5, 46.4, 33.2, 34.1, 30.5]
    assert table["power_saving_vs_tpu"].tolist() == pytest.approx([1 - s / 66.5 for s in scaled], rel=REL)
    assert table["power_saving_vs_thundervolt"].tolist() == pytest.approx([1 - s / 46.4 for s in scaled], rel=REL)
    assert table.loc[4, "power_saving_vs_tpu"] == pytest.approx(0.541, abs=5e-4)
    assert table.loc[4, "power_saving_vs_thundervolt"] == pytest.approx(0.343, abs=5e-4)
    assert "power_saving_vs_tpu" not in PAPER_TABLE2.columns
    assert PAPER_QUOTED_SAVINGS == {"tpu": 0.541, "thundervolt": 0.342}
    assert PAPER_BASELINES == {"tpu": "tpu [5]", "thundervolt": "thundervolt [10]"}
    assert PAPER_BEST_DESIGN == "proposed column-wise 4to1"


# =========================================================================== overhead.py

TILES = pd.DataFrame({
    "kind": ["mac-p", "tile-p-column4to1", "tile-p-conventional", "tile-pq-conventional", "tile-p-column2to1",
             "tile-p-conventional", "tile-p-column2to1", "tile-p-column4to1"],
    "corner": ["tt", "tt", "tt", "tt", "tt", "ss", "ss", "ss"],
    "area_um2": [1.0, 960.0, 800.0, 5.0, 880.0, 700.0, 701.0, 702.0],
    "delay_ns": [1.0, 3.25, 3.0, 9.0, 3.125, 4.0, 4.0, 4.0],
    "power_w": [1.0, 9.6e-3, 8e-3, 5.0, 8.8e-3, 7e-3, 7e-3, 7e-3],
    "power_clock_ns": [1.0, 10.5, 10.0, 9.0, 10.25, 11.0, 11.0, 11.0],
    "run_dir": ["runs/mac", "runs/c4", "runs/conv", "runs/pq", "runs/c2", "runs/ss0", "runs/ss2", "runs/ss4"],
})
OVERHEAD_COLUMNS = ["kind", "dataflow", "tile_rows", "tile_cols", "tile_area_um2", "tile_delay_ns", "tile_power_w",
                    "power_clock_ns", "tile_run_dir", "base_run_dir", "area_overhead_per_mac_um2",
                    "power_overhead_per_mac_w"]


def test_switching_overhead_default_tile_is_4_by_2():
    out = switching_overhead(TILES, "p", "tt")
    assert list(out.columns) == OVERHEAD_COLUMNS
    assert out["dataflow"].tolist() == ["conventional", "column", "column2to1", "column4to1"]
    assert out["kind"].tolist() == ["p"] * 4
    assert out["tile_rows"].tolist() == [4] * 4 and out["tile_cols"].tolist() == [2] * 4
    assert out["tile_area_um2"].tolist() == [800.0, 800.0, 880.0, 960.0]
    assert out["tile_delay_ns"].tolist() == [3.0, 3.0, 3.125, 3.25]
    assert out["tile_power_w"].tolist() == [8e-3, 8e-3, 8.8e-3, 9.6e-3]
    assert out["power_clock_ns"].tolist() == [10.0, 10.0, 10.25, 10.5]
    assert out["tile_run_dir"].tolist() == ["runs/conv", "runs/conv", "runs/c2", "runs/c4"]
    assert out["base_run_dir"].tolist() == ["runs/conv"] * 4
    # per MAC over 4 x 2 = 8 MACs: (880 - 800) / 8 = 10, (960 - 800) / 8 = 20 um^2; 0.1, 0.2 mW
    assert out["area_overhead_per_mac_um2"].tolist() == [0.0, 0.0, 10.0, 20.0]
    assert out["power_overhead_per_mac_w"].tolist() == pytest.approx([0.0, 0.0, 1e-4, 2e-4], rel=1e-12, abs=1e-18)
    assert out["tile_area_um2"].dtype == np.float64 and out["tile_rows"].dtype == np.int64


def test_switching_overhead_explicit_tile_and_other_corner():
    out = switching_overhead(TILES, "p", "tt", rows=2, cols=5)      # 10 MACs
    assert out["tile_rows"].tolist() == [2] * 4 and out["tile_cols"].tolist() == [5] * 4
    assert out["area_overhead_per_mac_um2"].tolist() == [0.0, 0.0, 8.0, 16.0]
    ss = switching_overhead(TILES, "p", "ss", 1, 1)
    assert ss["area_overhead_per_mac_um2"].tolist() == [0.0, 0.0, 1.0, 2.0]
    assert ss["tile_run_dir"].tolist() == ["runs/ss0", "runs/ss0", "runs/ss2", "runs/ss4"]


def test_switching_overhead_refusals_name_kind_corner_and_dataflow():
    with pytest.raises(EdaError, match=exactly("no conventional p tile at corner ff in the characterization table: "
                                               "the overhead is measured against it")):
        switching_overhead(TILES, "p", "ff")
    no4 = TILES[TILES["run_dir"] != "runs/c4"]
    with pytest.raises(EdaError, match=exactly("no column4to1 p tile at corner tt in the characterization table")):
        switching_overhead(no4, "p", "tt")
    no2 = TILES[TILES["run_dir"] != "runs/c2"]
    with pytest.raises(EdaError, match=exactly("no column2to1 p tile at corner tt in the characterization table")):
        switching_overhead(no2, "p", "tt")


# =========================================================================== mapping.py


def reference_map(layers, rows, cols, strategy):
    """Brute force, loop by loop, from the module docstring's description of the strategies."""
    group = {"conventional": 1, "column": 1, "column2to1": 2, "column4to1": 4}[strategy]
    total = [[0.0] * cols for _ in range(rows)]
    loads, filters_out, sources_out, values_out = [], [], [], []
    for name, weight in layers.items():
        weight = np.asarray(weight, dtype=float)
        f_count = weight.shape[0]
        flat = [list(weight[f].ravel()) for f in range(f_count)]
        k_count = len(flat[0])
        row_tiles, column_tiles = -(-k_count // rows), -(-f_count // cols)
        if strategy == "conventional":
            slot = {f: (f // cols, f % cols) for f in range(f_count)}
        else:
            score = [sum(flat[f]) / k_count for f in range(f_count)]
            order = sorted(range(f_count), key=lambda f: (-score[f], f))
            slot = {f: (rank % column_tiles, cols - 1 - rank // column_tiles) for rank, f in enumerate(order)}
        for ct in range(column_tiles):
            column_filter = [-1] * cols
            for f, (tile, column) in slot.items():
                if tile == ct:
                    column_filter[column] = f
            for rt in range(row_tiles):
                values = [[0.0] * cols for _ in range(rows)]
                source = [[-1] * cols for _ in range(rows)]
                for r in range(rows):
                    k = rt * rows + r
                    for c in range(cols):
                        if column_filter[c] >= 0 and k < k_count:
                            values[r][c] = flat[column_filter[c]][k]
                            source[r][c] = r
                if group > 1:
                    for c in range(cols):
                        for g0 in range(0, rows, group):
                            items = sorted(((values[g0 + i][c], source[g0 + i][c]) for i in range(group)),
                                           key=lambda item: item[0])
                            for i, (v, s) in enumerate(items):
                                values[g0 + i][c], source[g0 + i][c] = v, s
                for r in range(rows):
                    for c in range(cols):
                        total[r][c] += values[r][c]
                loads.append((name, rt, ct))
                filters_out.append(list(column_filter))
                sources_out.append(source)
                values_out.append(values)
    return (np.array(total), loads, np.array(filters_out), np.array(sources_out), np.array(values_out), group)


def integer_layers(seed=0):
    rng = np.random.default_rng(seed)
    # K = 2 x 2 x 2 = 8 (not a multiple of 3, 5, 6), F = 5; an fc layer K = 7, F = 3; integer values with ties
    return {"conv": rng.integers(0, 4, (5, 2, 2, 2)).astype(float),
            "fc": rng.integers(0, 6, (3, 7)).astype(float)}


@pytest.mark.parametrize("strategy, rows, cols", [
    (strategy, rows, cols) for strategy, group in (("conventional", 1), ("column", 1), ("column2to1", 2), ("column4to1", 4))
    for rows, cols in ((4, 2), (4, 4), (8, 3), (12, 8), (2, 1), (1, 6)) if rows % group == 0])
def test_mapping_matches_brute_force(strategy, rows, cols):
    for seed in (0, 1):
        layers = integer_layers(seed)
        total, loads, filters, sources, values, group = reference_map(layers, rows, cols, strategy)
        result = map_sensitivities(layers, rows, cols, strategy)
        assert result.sensitivity.dtype == np.float64
        assert np.array_equal(result.sensitivity, total)
        flat = total.ravel()
        assert result.variance == pytest.approx(sum((x - flat.mean()) ** 2 for x in flat) / flat.size, rel=1e-12)
        assert type(result.variance) is float
        perm = result.permutation
        assert perm.loads == tuple(TileLoad(*load) for load in loads)
        assert all(type(load) is TileLoad for load in perm.loads)
        assert perm.group_rows == group
        assert perm.shape == (rows, cols)
        assert perm.column_filter.dtype == np.int32 and perm.row_source.dtype == np.int16
        assert np.array_equal(perm.column_filter, filters)
        assert np.array_equal(perm.row_source, sources)
        # loads_of places the values as the permutation says (ints keep their dtype)
        assert np.array_equal(loads_of(layers, perm), values)
        ids = {name: (np.arange(v.size).reshape(v.shape) + 1).astype(np.int32) for name, v in layers.items()}
        _, _, _, _, id_values, _ = reference_map({n: v.astype(float) for n, v in ids.items()}, rows, cols, "conventional")
        placed = loads_of(ids, perm)
        assert placed.dtype == np.int32 and placed.shape == (len(loads), rows, cols)
        # ids placed by the strategy's permutation: the weight each MAC multiplies
        for t, (name, rt, _) in enumerate(loads):
            matrix = ids[name].reshape(ids[name].shape[0], -1).T
            for r in range(rows):
                for c in range(cols):
                    s, f = sources[t][r][c], filters[t][c]
                    assert placed[t, r, c] == (matrix[rt * rows + s, f] if s >= 0 and f >= 0 else 0)


def test_small_conventional_and_group_sort_by_hand():
    # 2 filters x 3 inputs on a 4 x 2 array, 2to1: column 1 (filter 1: 5, 1, 4) and column 0 (filter 0: 1, 2, 3)
    sensitivity = np.array([[1.0, 2.0, 3.0], [5.0, 1.0, 4.0]])
    result = map_sensitivities({"fc": sensitivity}, 4, 2, "column2to1")
    # filter 1 is the more sensitive (mean 10/3 > 2): rightmost column
    assert result.permutation.column_filter.tolist() == [[0, 1]]
    # groups (rows 0-1, rows 2-3): filter 0: (1, 2) stays, (3, idle 0) -> (0, 3); filter 1: (5, 1) -> (1, 5), (4, 0) -> (0, 4)
    assert result.sensitivity.tolist() == [[1.0, 1.0], [2.0, 5.0], [0.0, 0.0], [3.0, 4.0]]
    assert result.permutation.row_source[0].tolist() == [[0, 1], [1, 0], [-1, -1], [2, 2]]
    # mean 16/8 = 2; squares: 1 1 4 25 0 0 9 16 = 56 -> 56/8 - 4 = 3
    assert result.variance == pytest.approx(3.0, rel=1e-12)


def test_column_slots_unsorted_sorted_and_stable():
    tile, column = column_slots(np.array([1.0, 5.0, 2.0, 4.0, 3.0]), 2, False)
    assert tile.tolist() == [0, 0, 1, 1, 2] and column.tolist() == [0, 1, 0, 1, 0]
    # ranks: f1 (5), f3 (4), f4 (3), f2 (2), f0 (1); 3 column tiles; rank r -> tile r % 3, column 1 - r // 3
    tile, column = column_slots(np.array([1.0, 5.0, 2.0, 4.0, 3.0]), 2, True)
    assert tile.tolist() == [1, 0, 0, 1, 2] and column.tolist() == [0, 1, 0, 1, 1]
    assert tile.dtype == np.int64 and column.dtype == np.int64
    # 40 filters with two scores: the 20 of score 2 (odd filters) rank first, in filter order
    scores = np.array([1.0, 2.0] * 20)
    tile, column = column_slots(scores, 8, True)       # 5 column tiles
    ranks = {f: i for i, f in enumerate(list(range(1, 40, 2)) + list(range(0, 40, 2)))}
    assert tile.tolist() == [ranks[f] % 5 for f in range(40)]
    assert column.tolist() == [7 - ranks[f] // 5 for f in range(40)]


def test_weight_matrix_layout_and_refusal():
    weight = np.arange(2 * 3 * 1 * 2).reshape(2, 3, 1, 2)
    assert weight_matrix(weight).tolist() == [[0, 6], [1, 7], [2, 8], [3, 9], [4, 10], [5, 11]]
    assert weight_matrix(np.arange(6).reshape(3, 2)).tolist() == [[0, 2, 4], [1, 3, 5]]
    with pytest.raises(EdaError, match=exactly("a layer weight needs at least 2 dimensions (filters first), "
                                               "got shape (3,)")):
        weight_matrix(np.ones(3))
    with pytest.raises(EdaError, match=re.escape("got shape ()")):
        weight_matrix(np.float64(1.0))


def test_module_constants():
    assert mapping.STRATEGIES == ("conventional", "column", "column2to1", "column4to1")
    assert mapping.GROUP_ROWS == {"conventional": 1, "column": 1, "column2to1": 2, "column4to1": 4}
    assert mapping.IDLE == -1


@pytest.mark.parametrize("rows, cols, strategy, message", [
    (4, 4, "rowwise", "unknown mapping strategy 'rowwise'; choose one of conventional, column, column2to1, column4to1"),
    (0, 4, "conventional", "array size must be positive integers, got 0 x 4"),
    (4, 0, "conventional", "array size must be positive integers, got 4 x 0"),
    (2.5, 4, "conventional", "array size must be positive integers, got 2.5 x 4"),
    (4, 1.5, "conventional", "array size must be positive integers, got 4 x 1.5"),
    (6, 4, "column4to1", "strategy column4to1 sorts groups of 4 rows: the row count 6 must be a multiple of 4"),
    (3, 4, "column2to1", "strategy column2to1 sorts groups of 2 rows: the row count 3 must be a multiple of 2"),
])
def test_array_refusals(rows, cols, strategy, message):
    with pytest.raises(EdaError, match=exactly(message)):
        map_sensitivities({"a": np.ones((2, 2))}, rows, cols, strategy)


def test_layer_refusals_and_edge_values():
    with pytest.raises(EdaError, match=exactly("no layers to map")):
        map_sensitivities({}, 4, 4)
    with pytest.raises(EdaError, match=exactly("layer 'e' has no weights")):
        map_sensitivities({"ok": np.ones((1, 1)), "e": np.ones((2, 0))}, 4, 4)
    for bad in (-np.ones((2, 2)), np.full((2, 2), np.inf), np.full((2, 2), np.nan)):
        with pytest.raises(EdaError, match=exactly("layer 'b': sensitivities must be finite and non-negative")):
            map_sensitivities({"b": bad}, 4, 4)
    # zeros are legal sensitivities; 1 x 1 is a legal array
    assert map_sensitivities({"z": np.zeros((2, 2))}, 1, 1).sensitivity.tolist() == [[0.0]]
    # float32 sensitivities (as torch gives them) are ranked in float64: filter 1's mean (1 + 2^-23) / 3 is above
    # filter 0's 1/3, though in float32 the two sums round to the same 1.0
    f32 = np.array([[1.0, 0.0, 0.0], [1.0, 2.0**-24, 2.0**-24]], dtype=np.float32)
    assert map_sensitivities({"f": f32}, 3, 2, "column").permutation.column_filter.tolist() == [[0, 1]]
    # integer sensitivities are taken as float
    assert map_sensitivities({"i": np.array([[3, 1]])}, 2, 1).sensitivity.dtype == np.float64
    with pytest.raises(EdaError, match=exactly("no values for layer 'fc'")):
        loads_of({"conv": np.ones((2, 2))}, map_sensitivities({"fc": np.ones((2, 2))}, 2, 2).permutation)


def test_defaults_are_a_256_by_256_conventional_array():
    layer = {"fc": np.array([[1.0, 1.0], [3.0, 3.0]])}
    result = map_sensitivities(layer)
    assert result.sensitivity.shape == (256, 256) and result.permutation.group_rows == 1
    # conventional: filter 0 in column 0 (column-wise sorting would put filter 1 at column 255)
    assert result.permutation.column_filter[0, :3].tolist() == [0, 1, -1]
    assert result.sensitivity[:2, :2].tolist() == [[1.0, 3.0], [1.0, 3.0]]
    every = map_all_strategies(layer)
    assert list(every) == ["conventional", "column", "column2to1", "column4to1"]
    assert all(m.sensitivity.shape == (256, 256) for m in every.values())
    assert [m.permutation.group_rows for m in every.values()] == [1, 1, 2, 4]
    assert every["column"].permutation.column_filter[0, 254:].tolist() == [0, 1]
    some = map_all_strategies(layer, 4, 3, ("column",))
    assert list(some) == ["column"] and some["column"].sensitivity.tolist() == [[0, 1, 3], [0, 1, 3], [0, 0, 0], [0, 0, 0]]


def test_index_type_widens_at_2_to_the_15():
    layer = {"fc": np.ones((1, 1))}
    assert map_sensitivities(layer, 1, 2**15 - 1).permutation.row_source.dtype == np.int16
    assert map_sensitivities(layer, 2**15, 1).permutation.row_source.dtype == np.int32
    assert map_sensitivities(layer, 1, 2**15).permutation.row_source.dtype == np.int32


def test_array_permutation_shape_is_rows_by_cols():
    perm = ArrayPermutation((), np.zeros((0, 5), dtype=np.int32), np.zeros((0, 3, 5), dtype=np.int16), 1)
    assert perm.shape == (3, 5)
    assert loads_of({"x": np.ones((2, 2), dtype=np.int8)}, perm).shape == (0, 3, 5)
    assert loads_of({"x": np.ones((2, 2), dtype=np.int8)}, perm).dtype == np.int8
