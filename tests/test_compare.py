"""`eda compare` on the committed reports/sky130hd (read-only; outputs to tmp_path): every system present, the
savings recomputed here by hand from the source CSVs, the combination's supply checked against the FO4 table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from eda.cli.main import cli
from eda.core.errors import EdaError
from eda.core.files import sha256_file
from eda.jobs.compare import REQUIRED, build, table2_at

REPORT = Path(__file__).resolve().parents[1] / "reports" / "sky130hd"
MAX_LOSS = 0.01


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    result = CliRunner().invoke(cli, ["compare", str(REPORT), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, pd.read_csv(out / "compare.csv")


def _row(table: pd.DataFrame, system: str) -> pd.Series:
    match = table[table["system"] == system]
    assert len(match) == 1, f"{system}: {len(match)} rows"
    return match.iloc[0]


def _vmin_by_hand(points: pd.DataFrame, max_loss: float) -> float:
    vmin = math.nan
    for _, p in points.sort_values("vdd", ascending=False).iterrows():
        if p["loss_upper_bound"] > max_loss:
            break
        vmin = p["vdd"]
    return vmin


def _fo4_ratio_by_hand(vdd: float) -> float:
    fo4 = pd.read_csv(REPORT / "fo4.csv").sort_values("vdd")
    mean = lambda v: math.exp(np.interp(v, fo4["vdd"], np.log(fo4["fo4_mean_ps"])))
    return mean(vdd) / mean(1.8)


def _lowest_supply_by_hand(delay: float, reference: float) -> float:
    best = 1.8
    for k in range(1, 91):
        v = round(1.8 - 0.01 * k, 2)
        if delay * _fo4_ratio_by_hand(v) > reference:
            break
        best = v
    return best


def test_every_system_present_and_files_written(written):
    out, table = written
    systems = set(table["system"])
    for name in ("tpu", "thundervolt", "proposed-uniform", "proposed-column", "proposed-column2to1", "proposed-column4to1",
                 "selective bit protection (bits 11,13-23)", "approx: all-exact multipliers", "approx: per-layer assignment",
                 "combination: approx assignment + voltage scaling", "bit-width: static 8-bit", "bit-width: dynamic 4->6->8",
                 "combination: dynamic 4->6->8 + voltage scaling"):
        assert name in systems
    assert (table["role"] == "combination (ours)").sum() == 2
    assert table["source"].notna().all() and table["baseline"].notna().all() and table["energy_basis"].notna().all()
    for name in ("compare.csv", "compare.md", "compare.html", "table2_max_loss_0.01.csv", "manifest.json"):
        assert (out / name).is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    for name in REQUIRED:
        assert manifest["sources"][name]["sha256"] == sha256_file(REPORT / name)
    assert "| tpu |" in (out / "compare.md").read_text()


def test_table2_savings_by_hand(written):
    _, table = written
    committed = pd.read_csv(REPORT / "table2.csv").set_index("design")
    sweep = pd.read_csv(REPORT / "accuracy" / "accuracy.csv")
    budget = json.loads((REPORT / "method_manifest.json").read_text())["settings"]["table_budget"]
    energy = {}
    for design, row in committed.iterrows():
        vmin = _vmin_by_hand(sweep[(sweep["design"] == design) & (sweep["budget"] == budget)], MAX_LOSS)
        # power at nominal x (Vmin / 1.8)^2 x cycles x clock, in uJ (W x ns = nJ)
        energy[design] = row["power_nominal_w"] * (vmin / 1.8) ** 2 * row["cycles_per_inference"] * row["clock_ns"] * 1e-3
        got = _row(table, design)
        assert got["vdd_v"] == pytest.approx(vmin)
        assert got["energy_per_inference_uj"] == pytest.approx(energy[design], rel=1e-9)
    for design in committed.index:
        assert _row(table, design)["saving_vs_tpu"] == pytest.approx(1 - energy[design] / energy["tpu"], rel=1e-9, abs=1e-12)

    selective = pd.read_csv(REPORT / "selective" / "selective.csv")
    points = selective[selective["design"] == "selective"]
    vmin = _vmin_by_hand(points, MAX_LOSS)
    e_sel = float(points.loc[(points["vdd"] - vmin).abs() < 1e-9, "energy_per_inference_uj_mac"].iloc[0])
    got = _row(table, "selective bit protection (bits 11,13-23)")
    assert got["vdd_v"] == pytest.approx(vmin)
    assert got["saving_vs_tpu"] == pytest.approx(1 - e_sel / energy["tpu"], rel=1e-9)


def test_table2_at_the_runs_threshold_is_the_committed_table():
    table, _, _ = table2_at(REPORT, 0.03, {})
    committed = pd.read_csv(REPORT / "table2.csv")
    for column in ("vmin_v", "power_scaled_w", "energy_per_inference_uj", "area_mm2"):
        np.testing.assert_allclose(table[column].to_numpy(), committed[column].to_numpy(), rtol=1e-12)


def test_approx_and_bitwidth_savings_and_combination_supplies_by_hand(written):
    _, table = written
    approx = pd.read_csv(REPORT / "approx" / "approx.csv").set_index("level")
    assignment = pd.read_csv(REPORT / "approx" / "approx_assignment.csv")
    assignment = assignment[~assignment["layer"].str.startswith("total")]
    macs = json.loads((REPORT / "bitwidth" / "manifest.json").read_text())["macs_per_layer"]
    exact_pj = approx.loc["exact", "power_w"] * 10.0 * 1e3  # W x 10 ns = 1e4 pJ x W
    e_exact = sum(macs[l] for l in assignment["layer"]) * exact_pj * 1e-6
    e_assign = sum(macs[l] * approx.loc[lv, "power_w"] * 1e4 for l, lv in zip(assignment["layer"], assignment["level"])) * 1e-6
    supplies = {l: _lowest_supply_by_hand(approx.loc[lv, "delay_ns"], approx.loc["exact", "delay_ns"])
                for l, lv in zip(assignment["layer"], assignment["level"])}
    e_comb = sum(macs[l] * approx.loc[lv, "power_w"] * 1e4 * (supplies[l] / 1.8) ** 2
                 for l, lv in zip(assignment["layer"], assignment["level"])) * 1e-6
    assert _row(table, "approx: all-exact multipliers")["energy_per_inference_uj"] == pytest.approx(e_exact, rel=1e-9)
    assert _row(table, "approx: per-layer assignment")["saving_vs_tpu"] == pytest.approx(1 - e_assign / e_exact, rel=1e-9)
    combo = _row(table, "combination: approx assignment + voltage scaling")
    assert combo["saving_vs_tpu"] == pytest.approx(1 - e_comb / e_exact, rel=1e-9)
    assert combo["vdd_v"] == pytest.approx(min(supplies.values()))
    assert supplies["fc2"] == pytest.approx(1.63)  # bam2-6: 5.4678 ns x r(V) <= 6.6313 ns

    policies = pd.read_csv(REPORT / "bitwidth" / "bitwidth.csv")
    test = policies[policies["images_from"].str.contains("test")].set_index("policy")
    e_static = test.loc["static 8-bit", "energy_per_inference_j"]
    e_dyn = test.loc["dynamic 4->6->8", "energy_per_inference_j"]
    assert _row(table, "bit-width: dynamic 4->6->8")["saving_vs_tpu"] == pytest.approx(1 - e_dyn / e_static, rel=1e-9)
    mac = pd.read_csv(REPORT / "bitwidth" / "bitwidth_macs.csv").set_index("width")
    v4 = _lowest_supply_by_hand(mac.loc[4, "delay_ns"], mac.loc[8, "delay_ns"])
    v6 = _lowest_supply_by_hand(mac.loc[6, "delay_ns"], mac.loc[8, "delay_ns"])
    # at v4 the 4x4 MAC meets the 8x8's delay, 0.01 V lower it does not
    assert mac.loc[4, "delay_ns"] * _fo4_ratio_by_hand(v4) <= mac.loc[8, "delay_ns"]
    assert mac.loc[4, "delay_ns"] * _fo4_ratio_by_hand(v4 - 0.01) > mac.loc[8, "delay_ns"]
    assert v4 == pytest.approx(1.55)  # on the FO4 table's own point: 4.5177 ns x 112.0962/83.4321 = 6.070 <= 6.1408 ns
    d = test.loc["dynamic 4->6->8"]
    e_dyn_v = 9177600 * (d["runs_4b"] * mac.loc[4, "power_w"] * (v4 / 1.8) ** 2
                         + d["runs_6b"] * mac.loc[6, "power_w"] * (v6 / 1.8) ** 2
                         + d["runs_8b"] * mac.loc[8, "power_w"]) * 10e-9
    combo = _row(table, "combination: dynamic 4->6->8 + voltage scaling")
    assert combo["vdd_v"] == pytest.approx(v4)
    assert combo["saving_vs_tpu"] == pytest.approx(1 - e_dyn_v / e_static, rel=1e-9)
    assert combo["accuracy"] == pytest.approx(d["accuracy"])  # zero-error point: the nominal accuracy


def _partial_copy(tmp_path: Path, drop: str) -> Path:
    """A run folder of symlinks to the committed one, without the file `drop` (relative path)."""
    run = tmp_path / "run"
    for name in REQUIRED + ("tiles/switching_overhead.csv", "power/activity_by_size.csv", "power/leakage.csv",
                            "errors/tpu/error_probability.csv", "errors/thundervolt/error_probability.csv",
                            "errors/proposed/error_probability.csv"):
        if name == drop or not (REPORT / name).exists():
            continue
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        if not (run / name).exists():
            (run / name).symlink_to(REPORT / name)
    return run


def test_missing_source_file_is_named(tmp_path):
    run = _partial_copy(tmp_path, "selective/selective.csv")
    with pytest.raises(EdaError, match="selective/selective.csv"):
        build(run, MAX_LOSS)


def test_missing_column_is_named(tmp_path):
    run = _partial_copy(tmp_path, "approx/approx.csv")
    pd.read_csv(REPORT / "approx" / "approx.csv").drop(columns=["delay_ns"]).to_csv(run / "approx" / "approx.csv", index=False)
    with pytest.raises(EdaError, match="delay_ns"):
        build(run, MAX_LOSS)
    result = CliRunner().invoke(cli, ["compare", str(run), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and isinstance(result.exception, EdaError) and "delay_ns" in str(result.exception)
