"""`eda errtable` end to end on a real characterization (Yosys + OpenSTA): the size table and
the per-bit table traced through the synthesized netlist."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from eda.cli.main import main

FO4_CSV = """vdd,fo4_mean_ps,fo4_sigma_ps,samples,seed
1.8,83.0,2.2,500,1
1.6,104.0,3.0,500,1
1.4,147.0,5.0,500,1
1.2,262.0,12.0,500,1
1.0,802.0,68.6,500,1
"""


@pytest.fixture(scope="module")
def errtable_run(tmp_path_factory, liberty_seed):
    base = tmp_path_factory.mktemp("errtable")
    cache = base / "cache"
    shutil.copytree(liberty_seed, cache / "liberty")
    characterized = base / "char"
    assert main(["--cache-dir", str(cache), "characterize", "--kind", "proposed", "--kind", "tpu",
                 "--targets", "2200,3200", "--corner", "ss_n40C_1v40", "--corner", "ff_100C_1v95",
                 "-j", "2", "--out", str(characterized)]) == 0
    fo4 = base / "fo4.csv"
    fo4.write_text(FO4_CSV)
    out = base / "errtable"
    assert main(["errtable", "--characterization", str(characterized / "characterization.csv"), "--fo4", str(fo4),
                 "--samples", "500", "--out", str(out)]) == 0
    return characterized, fo4, out


def test_size_table_has_every_size_and_voltage(errtable_run):
    characterized, _, out = errtable_run
    table = pd.read_csv(out / "error_probability.csv")
    assert {"area_um2", "delay_ns", "vdd", "clock_ns", "p_error"} <= set(table.columns)
    assert sorted(table["vdd"].unique()) == [1.0, 1.2, 1.4, 1.6, 1.8]
    sizes = table.drop_duplicates("area_um2")
    characterization = pd.read_csv(characterized / "characterization.csv")
    proposed = characterization[(characterization["kind"] == "proposed") & (characterization["corner"] == "tt_025C_1v80")]
    assert len(sizes) == 2 and set(sizes["area_um2"]) == set(proposed["area_um2"])
    # Default clock: the slowest size just meets timing at the nominal supply.
    assert table["clock_ns"].iloc[0] == pytest.approx(proposed["delay_ns"].max())
    markdown = (out / "error_probability.md").read_text()
    assert "| area (um^2) | delay (ns) | 1.80 V |" in markdown
    for plot in ("error_probability_vs_area.png", "input_error_probability_vs_area.png", "bit_error_probability.png"):
        assert (out / plot).read_bytes()[:4] == b"\x89PNG"


def test_per_bit_table_traces_every_register_bit(errtable_run):
    _, _, out = errtable_run
    bits = pd.read_csv(out / "bit_error_probability.csv")
    groups = bits.groupby("group")["bit"].agg(lambda b: sorted(set(b)))
    assert groups["accumulator"] == list(range(24))
    assert groups["product"] == list(range(16))  # 6 plain flops + 10 Razor flops of `proposed`
    delay = bits.drop_duplicates(["group", "bit"]).set_index(["group", "bit"])["delay_ns"]
    # Carries ripple upward: the accumulator's top bits come later than its bottom bits.
    assert delay[("accumulator", 23)] > delay[("accumulator", 0)] + 0.5
    assert delay[("product", 15)] > delay[("product", 0)]
    # Per bit, a lower supply never lowers the error probability; at one voltage a
    # later bit never fails less often than an earlier one.
    for _, rows in bits.groupby(["group", "bit"]):
        p = rows.sort_values("vdd", ascending=False)["p_error"].to_numpy()
        assert (np.diff(p) >= -1e-15).all()
    at_12 = bits[bits["vdd"] == 1.2].sort_values("delay_ns")
    assert (np.diff(at_12["p_error"].to_numpy()) >= -1e-12).all()
    assert at_12["p_error"].iloc[0] < at_12["p_error"].iloc[-1]


def test_unknown_voltage_and_bad_csv_are_clear_errors(errtable_run, tmp_path, capsys):
    characterized, fo4, _ = errtable_run
    code = main(["errtable", "--characterization", str(characterized / "characterization.csv"), "--fo4", str(fo4),
                 "--vdd", "0.7", "--out", str(tmp_path / "x")])
    assert code == 1 and "0.7 V outside the FO4 table (1 to 1.8 V)" in capsys.readouterr().err
    broken = tmp_path / "broken.csv"
    broken.write_text("kind,corner\nproposed,tt_025C_1v80\n")
    code = main(["errtable", "--characterization", str(broken), "--fo4", str(fo4), "--out", str(tmp_path / "y")])
    assert code == 1 and "missing column(s) target_ps, area_um2, delay_ns" in capsys.readouterr().err


def test_voltage_scaling_table_compares_models_with_sta_corners(errtable_run):
    from eda.spice.table import load_fo4_table
    from eda.outputs.scaling import scaling_markdown
    from eda.method.scaling import voltage_scaling_table

    characterized, fo4, _ = errtable_run
    table = voltage_scaling_table(pd.read_csv(characterized / "characterization.csv"), load_fo4_table(fo4), "tt_025C_1v80")
    assert len(table) == 2 * 2 * 2  # kinds x targets x corners
    slow, fast = table[table["corner"] == "ss_n40C_1v40"], table[table["corner"] == "ff_100C_1v95"]
    assert (slow["delay_ratio_sta"] > 1.5).all() and (fast["delay_ratio_sta"] < 1).all()
    # FO4 model at 1.4 V: 147 / 83 from the table; 1.95 V is outside it and left blank.
    assert slow["delay_ratio_fo4_model"].to_numpy() == pytest.approx(147 / 83)
    assert fast["delay_ratio_fo4_model"].isna().all()
    assert slow["dynamic_power_v2_rule_w"].to_numpy() == pytest.approx(slow["dynamic_power_nominal_w"].to_numpy() * (1.4 / 1.8) ** 2)
    assert (slow["dynamic_power_sta_w"] < slow["dynamic_power_nominal_w"]).all()
    assert (fast["dynamic_power_sta_w"] > fast["dynamic_power_nominal_w"]).all()
    # Leakage is hotter at the fast corner (100 C) by orders of magnitude.
    assert (fast["leakage_sta_w"] > 100 * fast["leakage_nominal_w"]).all()
    markdown = scaling_markdown(table, str(fo4))
    assert "process ss (FO4 model: tt); -40 C (FO4 model: 25 C)" in markdown
    assert "n/a (outside FO4 table)" in markdown
