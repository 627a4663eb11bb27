"""`eda cross-pdk`: the arithmetic on hand-made tables, and the command on the committed sky130hd run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from eda.cli.main import cli
from eda.core.errors import EdaError
from eda.method import cross_pdk

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "reports" / "sky130hd"


def error_table(kind: str, sizes: list[tuple[int, float, float]], vdds: list[float], p: dict) -> pd.DataFrame:
    """sizes: (target_ps, area, delay); p[(size_index, vdd)] = p_error (0 where absent)."""
    return pd.DataFrame([{"kind": kind, "size_index": i, "target_ps": t, "area_um2": a, "delay_ns": d, "vdd": v,
                          "clock_ns": 2.0, "p_error": p.get((i, v), 0.0)}
                         for i, (t, a, d) in enumerate(sizes) for v in vdds])


def characterization(kind: str, rows: list[tuple[int, float]], corner: str = "tt") -> pd.DataFrame:
    return pd.DataFrame([{"kind": kind, "corner": corner, "target_ps": t, "power_w": w} for t, w in rows])


def test_ladder_joins_each_size_with_its_power_at_the_nominal_corner():
    errors = error_table("tpu", [(3000, 100.0, 2.0), (2000, 120.0, 1.5)], [1.0, 0.9], {})
    char = pd.concat([characterization("tpu", [(3000, 1e-3), (2000, 2e-3)]),
                      characterization("tpu", [(3000, 9.0), (2000, 9.0)], corner="ss")])
    ladder = cross_pdk.ladder(errors, char, "p", "tt", 1.0)
    assert ladder["power_mw"].tolist() == [1.0, 2.0] and ladder["size_index"].tolist() == [0, 1]
    with pytest.raises(EdaError, match=r"p: no characterization row at corner tt for targets \[2000\]"):
        cross_pdk.ladder(errors, characterization("tpu", [(3000, 1e-3)]), "p", "tt", 1.0)


def test_sizes_are_relative_to_the_fastest_tpu_of_their_own_platform():
    ladders = pd.DataFrame([
        {"platform": "a", "kind": "tpu", "size_index": 0, "area_um2": 100.0, "delay_ns": 2.0, "power_mw": 4.0},
        {"platform": "a", "kind": "tpu", "size_index": 1, "area_um2": 150.0, "delay_ns": 1.0, "power_mw": 5.0},
        {"platform": "a", "kind": "proposed", "size_index": 0, "area_um2": 300.0, "delay_ns": 0.5, "power_mw": 2.5},
        {"platform": "b", "kind": "tpu", "size_index": 0, "area_um2": 10.0, "delay_ns": 4.0, "power_mw": 1.0},
    ])
    out = cross_pdk.relative_to_tpu(ladders)
    assert out["area_vs_fastest_tpu"].tolist() == [100 / 150, 1.0, 2.0, 1.0]
    assert out["delay_vs_fastest_tpu"].tolist() == [2.0, 1.0, 0.5, 1.0]
    assert out["power_vs_fastest_tpu"].tolist() == [0.8, 1.0, 0.5, 1.0]
    with pytest.raises(EdaError, match="c: no tpu sizes"):
        cross_pdk.relative_to_tpu(pd.DataFrame([{**ladders.iloc[2].to_dict(), "platform": "c"}]))
    summary = cross_pdk.ladder_summary(out).set_index(["platform", "kind"])
    assert summary.loc[("a", "tpu"), "sizes"] == 2 and summary.loc[("a", "tpu"), "area_span"] == pytest.approx(0.5)
    assert summary.loc[("a", "tpu"), "delay_span"] == pytest.approx(1.0)


def test_onset_is_the_highest_supply_with_p_error_at_the_threshold():
    vdds = [1.0, 0.9, 0.8, 0.7]
    p = {(0, 0.9): 1e-3, (0, 0.8): 0.1, (0, 0.7): 1.0, (1, 0.9): 9.9e-4, (1, 0.7): 0.5}
    onsets = cross_pdk.error_onsets(error_table("tpu", [(3000, 100.0, 2.0), (2000, 120.0, 1.5)], vdds, p), "x", 1.25)
    assert onsets["onset_vdd_v"].tolist() == [0.9, 0.7]
    assert onsets["onset_vs_nominal"].tolist() == pytest.approx([0.72, 0.56])
    assert onsets["p_error_at_lowest"].tolist() == [1.0, 0.5]
    never = cross_pdk.error_onsets(error_table("tpu", [(3000, 100.0, 2.0)], vdds, {}), "x", 1.0)
    assert np.isnan(never["onset_vdd_v"].iloc[0])


def test_the_command_puts_the_run_side_by_side_with_its_sources(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["cross-pdk", str(RUN), "--out", str(out)])
    assert result.exit_code == 0, result.output
    ladders = pd.read_csv(out / "ladders.csv")
    char = pd.read_csv(RUN / "characterization.csv")
    nominal = char[char["corner"] == "tt_025C_1v80"]
    for kind in ("tpu", "thundervolt", "proposed"):
        errors = pd.read_csv(RUN / "errors" / kind / "error_probability.csv")
        mine = ladders[ladders["kind"] == kind]
        assert len(mine) == errors["size_index"].nunique()
        for row in mine.itertuples():
            power = nominal[(nominal["kind"] == kind) & (nominal["target_ps"] == row.target_ps)]["power_w"].iloc[0]
            assert row.power_mw == pytest.approx(power * 1e3)
    table2 = pd.read_csv(out / "table2.csv")
    source = pd.read_csv(RUN / "table2.csv")
    assert table2["vmin_v"].tolist() == source["vmin_v"].tolist()
    assert table2["vmin_vs_nominal"].tolist() == pytest.approx((source["vmin_v"] / 1.8).tolist())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["runs"][0]["platform"] == "sky130hd" and "ngspice" in manifest["runs"][0]["voltage_model"]
    assert "sky130hd/table2.csv" in manifest["sources"]
    assert (out / "ladders.png").stat().st_size > 1000
    assert "| sky130hd | proposed |" in (out / "cross_pdk.md").read_text()


def test_a_characterization_only_run_is_named_and_bad_folders_are_refused(tmp_path):
    only = tmp_path / "only"
    only.mkdir()
    for name in ("manifest.json", "characterization.csv"):
        shutil.copy(RUN / name, only / name)
    out = tmp_path / "out"
    # two runs on one platform
    result = CliRunner().invoke(cli, ["cross-pdk", str(RUN), str(only), "--out", str(out)])
    assert isinstance(result.exception, EdaError) and "are both runs on sky130hd" in str(result.exception)
    # a characterization-only folder alone: nothing to put side by side
    result = CliRunner().invoke(cli, ["cross-pdk", str(only), "--out", str(out)])
    assert isinstance(result.exception, EdaError) and "none of the run folders has error tables" in str(result.exception)
    assert not out.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["cross-pdk", str(empty), "--out", str(out)])
    assert isinstance(result.exception, EdaError) and f"{empty / 'manifest.json'} does not exist" in str(result.exception)


def test_a_run_without_the_method_half_contributes_its_ladders_and_error_tables(tmp_path):
    errors_only = tmp_path / "errors_only"
    errors_only.mkdir()
    for name in ("manifest.json", "characterization.csv"):
        shutil.copy(RUN / name, errors_only / name)
    shutil.copytree(RUN / "errors", errors_only / "errors")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["cross-pdk", str(errors_only), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = (out / "cross_pdk.md").read_text()
    assert "method half not run: no Table II" in text and "No run folder has the method half." in text
    onsets = pd.read_csv(out / "error_onsets.csv")
    assert set(onsets["kind"]) == {"tpu", "thundervolt", "proposed"} and onsets["onset_vdd_v"].notna().all()
    assert json.loads((out / "manifest.json").read_text())["runs"][0]["method_ran"] is False


def test_pareto_ladder_keeps_the_netlists_no_other_beats():
    char = pd.DataFrame([
        # target, area, delay: 3000 and 3500 are one netlist; 2500 is bigger and no faster than 2000
        {"kind": "tpu", "corner": "tt", "target_ps": 3500, "area_um2": 100.0, "delay_ns": 3.0, "power_w": 1e-3},
        {"kind": "tpu", "corner": "tt", "target_ps": 3000, "area_um2": 100.0, "delay_ns": 3.0, "power_w": 1e-3},
        {"kind": "tpu", "corner": "tt", "target_ps": 2500, "area_um2": 130.0, "delay_ns": 2.5, "power_w": 2e-3},
        {"kind": "tpu", "corner": "tt", "target_ps": 2000, "area_um2": 120.0, "delay_ns": 2.5, "power_w": 3e-3},
        {"kind": "tpu", "corner": "tt", "target_ps": 1500, "area_um2": 150.0, "delay_ns": 2.0, "power_w": 4e-3},
        {"kind": "tpu", "corner": "ss", "target_ps": 1500, "area_um2": 1.0, "delay_ns": 0.1, "power_w": 4e-3},
    ])
    ladder = cross_pdk.pareto_ladder(char, "p", "tt")
    assert ladder["target_ps"].tolist() == [3000, 2000, 1500] and ladder["size_index"].tolist() == [0, 1, 2]
    assert ladder["power_mw"].tolist() == [1.0, 3.0, 4.0]
    with pytest.raises(EdaError, match="p: no characterization row at corner ff"):
        cross_pdk.pareto_ladder(char, "p", "ff")
