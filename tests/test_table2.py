"""Table II arithmetic, minimum voltages, budgets and switching overhead, on hand-made inputs
whose expected values are worked out here by hand (not by the code under test)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eda.core.errors import EdaError
from eda.method.hetero import auto_sizing_vdd, budgets_for, size_for_budgets, sizes_at, uniform_map
from eda.method.overhead import switching_overhead
from eda.method.table2 import DesignSpec, minimum_voltages, size_counts, table2

# Two sizes of one kind: small (index 0) and large (index 1). Power reported at a 10 ns clock.
SIZES = pd.DataFrame({
    "area_um2": [100.0, 150.0],
    "power_internal_w": [2e-3, 3e-3], "power_switching_w": [1e-3, 1e-3], "power_leakage_w": [1e-6, 2e-6],
    "power_w": [3.001e-3, 4.002e-3], "power_clock_ns": [10.0, 10.0],
    "run_dir": ["runs/k-D3000", "runs/k-D2000"], "cache_key": ["aaa", "bbb"],
}, index=pd.Index([0, 1], name="size_index"))


def spec(name, counts, clock_ns=5.0, vmin=0.9, kind="k", dataflow="conventional"):
    return DesignSpec(name, kind, dataflow, counts, clock_ns, vmin)


def test_dynamic_power_follows_the_clock_and_leakage_does_not():
    row = table2([spec("tpu", {0: 3, 1: 1}, clock_ns=5.0)], {"k": SIZES}, None, 1.8, "tech").iloc[0]
    # dynamic at 5 ns = 2x the 10 ns figure: small 3 mW -> 6 mW, large 4 mW -> 8 mW; leakage as reported
    expected_w = 3 * (6e-3 + 1e-6) + 1 * (8e-3 + 2e-6)
    assert row["power_nominal_w"] == pytest.approx(expected_w, rel=1e-12)
    assert row["frequency_mhz"] == pytest.approx(200.0)
    assert row["throughput_gops"] == pytest.approx(2 * 4 * 200e6 / 1e9)
    assert row["area_mm2"] == pytest.approx((3 * 100 + 150) / 1e6)
    # the paper's V^2 rule at Vmin
    assert row["power_scaled_w"] == pytest.approx(expected_w * (0.9 / 1.8) ** 2)
    assert row["energy_per_op_pj"] == pytest.approx(expected_w * 0.25 / (2 * 4 * 200e6) * 1e12)  # J per op, in pJ


def test_provenance_columns_name_the_runs_of_every_size():
    row = table2([spec("tpu", {1: 1, 0: 3})], {"k": SIZES}, None, 1.8, "tech").iloc[0]
    assert row["mac_runs"] == "runs/k-D3000@aaa:3;runs/k-D2000@bbb:1"
    assert row["overhead_runs"] == ""


def test_switching_overhead_adds_area_and_clock_scaled_power():
    overheads = pd.DataFrame([{"kind": "k", "dataflow": "column2to1", "area_overhead_per_mac_um2": 10.0,
                               "power_overhead_per_mac_w": 1e-4, "power_clock_ns": 10.0,
                               "tile_run_dir": "runs/tile-k-column2to1-D2000", "base_run_dir": "runs/tile-k-conventional-D2000"}])
    plain = table2([spec("a", {0: 4})], {"k": SIZES}, overheads, 1.8, "t").iloc[0]
    switched = table2([spec("b", {0: 4}, dataflow="column2to1")], {"k": SIZES}, overheads, 1.8, "t").iloc[0]
    assert switched["area_mm2"] - plain["area_mm2"] == pytest.approx(4 * 10.0 / 1e6)
    assert switched["power_nominal_w"] - plain["power_nominal_w"] == pytest.approx(4 * 1e-4 * 10.0 / 5.0)
    assert switched["overhead_runs"] == "tiles/runs/tile-k-column2to1-D2000;tiles/runs/tile-k-conventional-D2000"
    with pytest.raises(EdaError, match="no switching overhead"):
        table2([spec("c", {0: 4}, dataflow="column4to1")], {"k": SIZES}, overheads, 1.8, "t")


def test_savings_against_each_baseline():
    specs = [spec("tpu", {1: 4}, vmin=1.8), spec("thundervolt", {1: 4}, vmin=1.2), spec("x", {0: 4}, vmin=0.9)]
    table = table2(specs, {"k": SIZES}, None, 1.8, "t").set_index("design")
    # same sizes, so the scaled powers differ only by (Vmin/Vnom)^2
    assert table.loc["thundervolt", "power_saving_vs_tpu"] == pytest.approx(1 - (1.2 / 1.8) ** 2)
    assert table.loc["tpu", "power_saving_vs_tpu"] == 0
    small, large = 6e-3 + 1e-6, 8e-3 + 2e-6
    assert table.loc["x", "power_saving_vs_thundervolt"] == pytest.approx(1 - small * 0.81 / (large * 1.44))


def test_unknown_size_index_is_an_error():
    with pytest.raises(EdaError, match="size index"):
        table2([spec("a", {5: 1})], {"k": SIZES}, None, 1.8, "t")


def test_minimum_voltage_is_the_lowest_passing_supply_above_the_first_failure():
    sweep = pd.DataFrame({
        "design": ["d"] * 5, "budget": ["m"] * 5, "vdd": [1.8, 1.6, 1.4, 1.2, 1.0],
        # 1.2 V passes again, but 1.4 V failed first: Vmin is 1.6 V
        "accuracy_mean": [0.90, 0.88, 0.80, 0.89, 0.5], "clean_accuracy": [0.90] * 5,
    })
    row = minimum_voltages(sweep, 0.03).iloc[0]
    assert row["vmin_v"] == 1.6 and row["accuracy_at_vmin"] == 0.88
    failing = sweep.assign(accuracy_mean=0.1)
    assert np.isnan(minimum_voltages(failing, 0.03).iloc[0]["vmin_v"])


def test_budgets_pick_sizes_up_the_list_and_auto_vdd_finds_the_threshold():
    sizes = pd.DataFrame({"area_um2": [10.0, 11.0, 12.0, 13.0, 14.0]})
    budgets = budgets_for(sizes, (0.0, 0.5, 1.0), ("a", "b", "c"))
    assert [b.size_index for b in budgets] == [0, 2, 4]
    assert [b.area_per_mac_um2 for b in budgets] == [10.0, 12.0, 14.0]
    errors = pd.DataFrame({"vdd": [1.8, 1.8, 1.5, 1.5, 1.2, 1.2], "area_um2": [1, 2] * 3,
                           "p_error": [0, 0, 0.1, 5e-4, 0.5, 2e-3]})
    assert auto_sizing_vdd(errors, 1) == 1.2     # the largest size reaches 1e-3 only at 1.2 V
    assert auto_sizing_vdd(errors, 0) == 1.5
    assert list(sizes_at(errors, 1.5)["p_error"]) == [0.1, 5e-4]
    with pytest.raises(EdaError, match="no rows at 1.3"):
        sizes_at(errors, 1.3)


def test_the_sized_map_spends_its_budget_on_the_sensitive_macs():
    sizes = pd.DataFrame({"area_um2": [10.0, 20.0], "p_error": [0.5, 0.0]})
    sensitivity = np.array([[5.0, 0.0], [0.0, 1.0]])
    budgets = budgets_for(sizes, (0.5,), ("half",))   # round(0.5 * 1) = 0: every MAC small
    budgets[0] = type(budgets[0])("half", 0.5, 0, 15.0)  # 4 x 15 = 60 um^2: room for two large MACs
    result = size_for_budgets({"column": sensitivity}, sizes, budgets)[("column", "half")]
    assert result.size_index.tolist() == [[1, 0], [0, 1]]
    assert size_counts(result.size_index) == {0: 2, 1: 2}
    assert (uniform_map((2, 3), 4) == 4).all()


def test_overhead_is_the_tile_difference_per_mac():
    tiles = pd.DataFrame({
        "kind": ["tile-p-conventional", "tile-p-column2to1", "tile-p-column4to1"], "corner": ["tt"] * 3,
        "area_um2": [800.0, 880.0, 960.0], "delay_ns": [3.0, 3.1, 3.2], "power_w": [8e-3, 8.8e-3, 9.6e-3],
        "power_clock_ns": [10.0] * 3, "run_dir": ["runs/a", "runs/b", "runs/c"],
    })
    table = switching_overhead(tiles, "p", "tt", rows=4, cols=2).set_index("dataflow")
    assert table.loc["column", "area_overhead_per_mac_um2"] == 0
    assert table.loc["column2to1", "area_overhead_per_mac_um2"] == pytest.approx(10.0)
    assert table.loc["column4to1", "power_overhead_per_mac_w"] == pytest.approx(2e-4)
    assert table.loc["column4to1", "base_run_dir"] == "runs/a"
