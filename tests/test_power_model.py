"""Table II's power model: the voltage and leakage laws (hand-computed), the savings attribution, the
committed leakage table against a fresh ngspice run, and one activity-based power measurement of a
synthesized MAC through eda/jobs/activity.py (real yosys, iverilog, OpenSTA)."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pandas as pd
import pytest

from eda.cli.main import main
from eda.core.errors import EdaError
from eda.method.power_model import (FACTORS, attribute_saving, design_power, leakage_current_ratio, mac_power,
                                    savings_attribution)
from eda.method.table2 import DesignSpec, table2
from eda.spice.leakage import load_leakage_table, platform_leakage_table

# A made-up leakage law: the current doubles from 1.0 to 1.4 V and again from 1.4 to 1.8 V.
LEAKAGE = pd.DataFrame({"vdd": [1.0, 1.4, 1.8], "leakage_a": [1e-12, 2e-12, 4e-12], "leakage_ratio": [0.25, 0.5, 1.0]})


def test_one_mac_at_a_scaled_voltage_and_clock_by_hand():
    # Reported at 1.8 V and 10 ns: 2 mW internal, 1 mW switching, 1 uW leakage. Run at 1.2 V and 5 ns.
    parts = mac_power(2e-3, 1e-3, 1e-6, 10.0, clock_ns=5.0, vdd=1.2, nominal_vdd=1.8, leakage=LEAKAGE)
    dynamic = 3e-3 * (1.2 / 1.8) ** 2 * (10.0 / 5.0)          # 2.6667 mW
    current_ratio = math.sqrt(2) * 1e-12 / 4e-12               # 1.2 V is halfway (log-linear) between 1e-12 and 2e-12 A
    leakage = 1e-6 * (1.2 / 1.8) * current_ratio               # 0.2357 uW, not 1e-6 * (1.2/1.8)^2 = 0.444 uW
    assert parts.dynamic_w == pytest.approx(dynamic, rel=1e-12)
    assert parts.leakage_w == pytest.approx(leakage, rel=1e-12)
    assert parts.leakage_w == pytest.approx(0.2357e-6, rel=1e-3)
    assert parts.total_w == pytest.approx(dynamic + leakage, rel=1e-12)
    # At the nominal supply and reference clock nothing changes.
    same = mac_power(2e-3, 1e-3, 1e-6, 10.0, clock_ns=10.0, vdd=1.8, nominal_vdd=1.8, leakage=LEAKAGE)
    assert same.total_w == pytest.approx(3.001e-3, rel=1e-12)
    # The ratio column alone gives the same law; outside the table it is an error, not an extrapolation.
    assert leakage_current_ratio(1.2, 1.8, LEAKAGE[["vdd", "leakage_ratio"]]) == pytest.approx(current_ratio, rel=1e-12)
    with pytest.raises(EdaError, match="outside the leakage table"):
        leakage_current_ratio(0.9, 1.8, LEAKAGE)


def test_design_power_sums_the_size_counts_and_scales_the_overhead_as_dynamic():
    per_size = pd.DataFrame({"internal_w": [2e-3, 3e-3], "switching_w": [1e-3, 1e-3], "leakage_w": [1e-6, 2e-6],
                             "clock_ns": [10.0, 10.0]}, index=pd.Index([0, 1], name="size_index"))
    total = design_power({0: 3, 1: 1}, per_size, clock_ns=10.0, vdd=1.4, nominal_vdd=1.8, leakage=LEAKAGE,
                         overhead_dynamic_w=4e-4)
    v2, leak = (1.4 / 1.8) ** 2, (1.4 / 1.8) * 0.5
    assert total.dynamic_w == pytest.approx((3 * 3e-3 + 4e-3 + 4e-4) * v2, rel=1e-12)
    assert total.leakage_w == pytest.approx((3 * 1e-6 + 2e-6) * leak, rel=1e-12)
    with pytest.raises(EdaError, match="no power"):
        design_power({7: 1}, per_size, clock_ns=10.0, vdd=1.4, nominal_vdd=1.8, leakage=LEAKAGE)


SIZES = pd.DataFrame({
    "area_um2": [100.0, 150.0], "target_ps": [3000, 2000],
    "power_internal_w": [2e-3, 3e-3], "power_switching_w": [1e-3, 1e-3], "power_leakage_w": [1e-6, 2e-6],
    "power_w": [3.001e-3, 4.002e-3], "power_clock_ns": [10.0, 10.0],
}, index=pd.Index([0, 1], name="size_index"))
# Activity-based power of the same sizes: half the dynamic power, the same leakage.
ACTIVITY = pd.DataFrame({
    "kind": ["k", "k"], "size_index": [0, 1], "power_activity_internal_w": [1e-3, 1.5e-3],
    "power_activity_switching_w": [0.5e-3, 0.5e-3], "power_activity_leakage_w": [1e-6, 2e-6], "power_clock_ns": [10.0, 10.0],
    "activity_cache_key": ["k0", "k1"],
})


def test_table2_activity_columns_by_hand():
    specs = [DesignSpec("tpu", "k", "conventional", {1: 4}, 5.0, 1.8),
             DesignSpec("thundervolt", "k", "conventional", {1: 4}, 5.0, 1.4),
             DesignSpec("x", "k", "conventional", {0: 2, 1: 2}, 5.0, 1.0, cycles_per_inference=1000.0)]
    table = table2(specs, {"k": SIZES}, None, 1.8, "t", activity=ACTIVITY, leakage=LEAKAGE).set_index("design")
    # x at nominal and 5 ns: dynamic 2 x (1.5 + 2.0) mW x 2 = 14 mW, leakage 2 x (1 + 2) uW = 6 uW
    assert table.loc["x", "power_activity_nominal_w"] == pytest.approx(14e-3 + 6e-6, rel=1e-12)
    # at 1.0 V: dynamic x (1/1.8)^2; leakage x (1/1.8) x 0.25 (the table's current ratio at 1.0 V)
    x_vmin = 14e-3 / 1.8 ** 2 + 6e-6 / 1.8 * 0.25
    assert table.loc["x", "power_activity_vmin_w"] == pytest.approx(x_vmin, rel=1e-12)
    assert table.loc["x", "power_activity_leakage_vmin_w"] == pytest.approx(6e-6 / 1.8 * 0.25, rel=1e-12)
    ops = 2 * 4 * 200e6
    assert table.loc["x", "energy_per_op_activity_pj"] == pytest.approx(x_vmin / ops * 1e12, rel=1e-12)
    # energy per inference: power x cycles / f = x_vmin x 1000 x 5 ns, in uJ; NaN where no cycles are given
    assert table.loc["x", "energy_per_inference_activity_uj"] == pytest.approx(x_vmin * 1000 * 5e-9 * 1e6, rel=1e-12)
    assert np.isnan(table.loc["tpu", "energy_per_inference_activity_uj"])
    tpu_vmin = 4 * 2 * 2e-3 + 4 * 2e-6                       # at nominal (Vmin 1.8 V)
    assert table.loc["x", "power_activity_saving_vs_tpu"] == pytest.approx(1 - x_vmin / tpu_vmin, rel=1e-12)
    assert table.loc["x", "activity_runs"] == "activity_power/k0:2;activity_power/k1:2"
    # the vectorless columns are what they were: (Vmin / Vnom)^2 on the stated-activity power
    assert table.loc["x", "power_scaled_w"] == pytest.approx(table.loc["x", "power_nominal_w"] / 1.8 ** 2, rel=1e-12)
    with pytest.raises(EdaError, match="no activity-based power"):
        table2([DesignSpec("y", "k", "conventional", {0: 1}, 5.0, 1.0)], {"k": SIZES}, None, 1.8, "t",
               activity=ACTIVITY[ACTIVITY["size_index"] == 1], leakage=LEAKAGE)


def test_attribution_factors_multiply_back_to_the_ratio():
    design = {"area": 90.0, "nominal_w": 30.0, "scaled_w": 12.0}
    base = {"area": 100.0, "nominal_w": 40.0, "scaled_w": 25.0}
    out = attribute_saving(design, base)
    assert out["power_ratio"] == pytest.approx(12 / 25)
    assert out["area_ratio"] * out["power_density_ratio"] * out["voltage_ratio"] == pytest.approx(12 / 25, rel=1e-12)
    assert out["area_ratio"] == pytest.approx(0.9)
    assert out["power_density_ratio"] == pytest.approx((30 / 90) / (40 / 100))
    assert out["voltage_ratio"] == pytest.approx((12 / 30) / (25 / 40))
    assert sum(out[f"{f}_share"] for f in FACTORS) == pytest.approx(1.0)
    assert sum(out[f"{f}_points"] for f in FACTORS) == pytest.approx(1 - 12 / 25)
    # Same hardware, lower Vmin only: the whole saving is the voltage's.
    only_v = attribute_saving({"area": 1.0, "nominal_w": 1.0, "scaled_w": 0.5}, {"area": 1.0, "nominal_w": 1.0, "scaled_w": 0.8})
    assert only_v["voltage_share"] == pytest.approx(1.0) and only_v["area_points"] == pytest.approx(0.0)


def test_attribution_of_the_papers_table_reproduces_its_savings():
    from eda.method.table2 import PAPER_BASELINES, paper_table2

    table = savings_attribution(paper_table2(), source="paper", nominal="power_nominal_w", scaled="power_scaled_w",
                                baselines=PAPER_BASELINES).set_index(["design", "baseline"])
    best = table.loc[("proposed column-wise 4to1", "tpu")]
    assert best["saving"] == pytest.approx(1 - 30.5 / 66.5)                   # 54.1%
    assert table.loc[("proposed column-wise 4to1", "thundervolt"), "saving"] == pytest.approx(1 - 30.5 / 46.4)  # 34.3%
    for _, row in table.iterrows():
        assert row["area_ratio"] * row["power_density_ratio"] * row["voltage_ratio"] == pytest.approx(row["power_ratio"])
        assert sum(row[f"{f}_points"] for f in FACTORS) == pytest.approx(row["saving"])
    # Most of the paper's saving vs TPU is the lower Vmin (0.68 V against 1.08 V).
    assert best["voltage_points"] > 0.5 > best["saving"] - best["voltage_points"]


def test_report_renders_the_activity_columns_and_the_attribution():
    from eda.outputs.report import attribution_table, table2_markdown

    specs = [DesignSpec("tpu", "k", "conventional", {1: 4}, 5.0, 1.8),
             DesignSpec("thundervolt", "k", "conventional", {1: 4}, 5.0, 1.4),
             DesignSpec("x", "k", "conventional", {0: 4}, 5.0, 1.0)]
    table = table2(specs, {"k": SIZES}, None, 1.8, "t", activity=ACTIVITY, leakage=LEAKAGE)
    settings = {"power": {"activity": True, "activity_cycles": 64, "warmup_cycles": 4, "operands": "made up",
                          "leakage_law": "the law"}}
    text = table2_markdown(table, settings)
    assert "activity @Vmin (W)" in text and "## Savings, attributed" in text and "54.1%" in text and "34.2%" in text
    assert "the law" in text and "made up" in text
    attribution = attribution_table(table)
    assert set(attribution["power"]) == {"vectorless", "activity", "paper"}
    ours = attribution[(attribution["design"] == "x") & (attribution["baseline"] == "tpu")].set_index("power")
    assert ours.loc["activity", "saving"] == pytest.approx(table.set_index("design").loc["x", "power_activity_saving_vs_tpu"])


# --------------------------------------------------------------------------- the committed leakage table


def test_committed_leakage_table_is_monotonic_and_one_point_regenerates(tmp_path):
    committed = load_leakage_table(platform_leakage_table("sky130hd"))
    assert (np.diff(committed["vdd"]) > 0).all()
    assert (np.diff(committed["leakage_a"]) > 0).all() and (np.diff(committed["leakage_ratio"]) > 0).all()
    assert committed.set_index("vdd").loc[1.8, "leakage_ratio"] == 1.0
    assert committed["vdd"].min() <= 0.9 and committed["vdd"].max() >= 1.95   # the FO4 table's range
    # ngspice again, at 1.40 V only (the command adds the nominal 1.80 V for the ratio)
    out = tmp_path / "leakage.csv"
    assert main(["leakage", "--vdd", "1.40", "--out", str(out), "--work-dir", str(tmp_path / "run")]) == 0
    fresh = load_leakage_table(out).set_index("vdd")
    assert list(fresh.index) == [1.4, 1.8]
    old = committed.set_index("vdd")
    for column in ("leakage_a", "leakage_ratio", "nand2_1_leakage_a"):
        assert fresh.loc[1.4, column] == pytest.approx(old.loc[1.4, column], rel=0.01), column
    assert (tmp_path / "run" / "ngspice.log").is_file() and (tmp_path / "run" / "ngspice.cmd").is_file()
    assert (tmp_path / "leakage_manifest.json").is_file()


# --------------------------------------------------------------------------- activity-based power of a real MAC


def test_activity_power_of_a_synthesized_mac_is_below_the_vectorless_one(platforms_root, liberty_seed, tmp_path):
    pytest.importorskip("torch")
    from eda.designs.mac import MacParams
    from eda.designs.registry import Variant, mac_design
    from eda.flow.characterize import characterize, write_outputs
    from eda.flow.sta import StaSettings
    from eda.core.platforms import load_platform
    from eda.jobs.activity import activity_power_by_size, needed_sizes, workload_operands

    cache, out = tmp_path / "cache", tmp_path / "report"
    shutil.copytree(liberty_seed, cache / "liberty")
    platform = load_platform("sky130hd", platforms_root)
    settings = StaSettings()
    result = characterize([Variant(mac_design(MacParams("proposed")), 3000)], platform, settings, cache, jobs=1, progress=False)
    write_outputs(result, out, platform, settings, ["pytest"])
    row = result.table[result.table["corner"] == platform.nominal_corner].iloc[0]
    sizes = pd.DataFrame([{"target_ps": 3000, "area_um2": row["area_um2"], "power_internal_w": row["power_internal_w"],
                           "power_switching_w": row["power_switching_w"], "power_leakage_w": row["power_leakage_w"],
                           "power_w": row["power_w"], "power_clock_ns": row["power_clock_ns"], "run_dir": row["run_dir"],
                           "cache_key": row["cache_key"]}], index=pd.Index([0], name="size_index"))
    specs = [DesignSpec("proposed-uniform", "proposed", "conventional", {0: 4}, float(row["delay_ns"]), 1.4)]
    wanted = needed_sizes(specs, {"proposed": sizes})
    assert wanted == {"proposed": [0]}
    # One training epoch (seconds, not a minute): its ReLU activations are sparse too (half of these are 0).
    frame, label, _ = workload_operands(204, seed=0, epochs=1, array_rows=256, cache_dir=cache)
    activity = activity_power_by_size(result.table, out, {"proposed": sizes}, wanted, frame, label, platform, cache,
                                      warmup_cycles=4, jobs=1, timeout_s=300)
    measured = activity.iloc[0]
    assert measured["cycles_simulated"] == 200 and measured["target_ps"] == 3000
    assert measured["power_activity_w"] == pytest.approx(measured["power_activity_internal_w"] + measured["power_activity_switching_w"]
                                                         + measured["power_activity_leakage_w"], rel=1e-3)
    # The network's operands (many zero activations, one weight held) toggle less than activity 0.2 on every input.
    assert 0 < measured["power_activity_w"] < measured["power_vectorless_w"] == row["power_w"]
    print(f"proposed @3000 ps: activity {measured['power_activity_w'] * 1e3:.4f} mW, vectorless "
          f"{measured['power_vectorless_w'] * 1e3:.4f} mW, ratio {measured['activity_over_vectorless']:.3f}")
    table = table2(specs, {"proposed": sizes}, None, float(platform.nominal.vdd), "sky130hd", activity=activity,
                   leakage=load_leakage_table(platform_leakage_table("sky130hd"))).iloc[0]
    assert table["power_activity_nominal_w"] < table["power_nominal_w"]
    assert table["power_activity_vmin_w"] < table["power_scaled_w"]
    # The same measurement again comes from the cache.
    again = activity_power_by_size(result.table, out, {"proposed": sizes}, wanted, frame, label, platform, cache,
                                   warmup_cycles=4, jobs=1)
    assert again.iloc[0]["activity_cache_key"] == measured["activity_cache_key"]
    assert again.iloc[0]["power_activity_w"] == measured["power_activity_w"]
