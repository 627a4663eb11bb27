"""A reduced `eda run` end to end (real Yosys, OpenSTA, training and injection), and the
internal consistency of its Table II report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eda.cli.main import main

pytest.importorskip("torch")

CONFIG = Path(__file__).parent / "data" / "reduced_run.toml"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reduced_run(tmp_path_factory, liberty_seed):
    """A fresh cache (only the prepared liberty seeded), so every yosys and OpenSTA run really runs."""
    root = tmp_path_factory.mktemp("reduced")
    cache, out = root / "cache", root / "report"
    shutil.copytree(liberty_seed, cache / "liberty")
    assert main(["--cache-dir", str(cache), "run", "--config", str(CONFIG), "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert not any(run["cached"] for run in manifest["runs"]), "the end-to-end run must not come from a cache"
    return out


def test_every_output_is_written(reduced_run):
    for name in ("characterization.csv", "table2.csv", "table2.md", "report.html", "method_manifest.json",
                 "accuracy/accuracy.csv", "accuracy/vmin.csv", "accuracy/accuracy.png", "sensitivity/variances.csv",
                 "sizing/sizings.csv", "tiles/switching_overhead.csv", "errors/proposed/error_probability.csv"):
        assert (reduced_run / name).is_file(), name
    html = (reduced_run / "report.html").read_text()
    for image in ("accuracy/accuracy.png", "sensitivity/column4to1.png"):
        assert image in html and (reduced_run / image).read_bytes()[:4] == b"\x89PNG"


def test_savings_come_from_the_listed_powers(reduced_run):
    table = pd.read_csv(reduced_run / "table2.csv").set_index("design")
    for base in ("tpu", "thundervolt"):
        expected = 1 - table["power_scaled_w"] / table.loc[base, "power_scaled_w"]
        np.testing.assert_allclose(table[f"power_saving_vs_{base}"], expected, rtol=1e-12)
        ops = 2 * table["macs"] * table["frequency_mhz"] * 1e6
        energy = table["power_scaled_w"] / ops * 1e12
        np.testing.assert_allclose(table["energy_per_op_pj"], energy, rtol=1e-9)
    nominal = table["nominal_vdd"].iloc[0]
    np.testing.assert_allclose(table["power_scaled_w"], table["power_nominal_w"] * (table["vmin_v"] / nominal) ** 2)


def test_vmin_agrees_with_the_accuracy_sweep(reduced_run):
    sweep = pd.read_csv(reduced_run / "accuracy" / "accuracy.csv")
    vmin = pd.read_csv(reduced_run / "accuracy" / "vmin.csv")
    settings = json.loads((reduced_run / "method_manifest.json").read_text())["settings"]
    table = pd.read_csv(reduced_run / "table2.csv").set_index("design")
    for row in vmin.itertuples():
        points = sweep[(sweep["design"] == row.design) & (sweep["budget"] == row.budget)]
        passing = points["accuracy_mean"] >= points["clean_accuracy"] - row.max_loss
        if np.isnan(row.vmin_v):
            assert not passing[points["vdd"] == points["vdd"].max()].all()
            continue
        # every supply at or above Vmin passes; the next one below (if swept) fails
        assert passing[points["vdd"] >= row.vmin_v - 1e-9].all()
        below = points[points["vdd"] < row.vmin_v - 1e-9].sort_values("vdd", ascending=False)
        if len(below):
            assert below["accuracy_mean"].iloc[0] < below["clean_accuracy"].iloc[0] - row.max_loss
        if row.budget == settings["table_budget"] and row.design in table.index:
            assert table.loc[row.design, "vmin_v"] == pytest.approx(row.vmin_v)


def test_areas_agree_with_the_sizing_maps(reduced_run):
    table = pd.read_csv(reduced_run / "table2.csv").set_index("design")
    settings = json.loads((reduced_run / "method_manifest.json").read_text())["settings"]
    budget = settings["table_budget"]
    errors = pd.read_csv(reduced_run / "errors" / "proposed" / "error_probability.csv")
    areas = errors.drop_duplicates("size_index").sort_values("area_um2")["area_um2"].to_numpy()
    overhead = pd.read_csv(reduced_run / "tiles" / "switching_overhead.csv").set_index("dataflow")
    for strategy in ("column", "column2to1", "column4to1"):
        size_map = np.load(reduced_run / "sizing" / f"{strategy}-{budget}" / "size_map.npy")
        mac_area = areas[size_map].sum()
        expected = mac_area + size_map.size * overhead.loc[strategy, "area_overhead_per_mac_um2"]
        assert table.loc[f"proposed-{strategy}", "area_mm2"] == pytest.approx(expected / 1e6, rel=1e-9)
        # iso-area: the sized array's MACs fit the budget of identical MACs of the budget's size
        budget_size = settings["budgets"][budget]["size_index"]
        assert mac_area <= size_map.size * areas[budget_size] + 1e-6
    assert overhead.loc["column4to1", "area_overhead_per_mac_um2"] > overhead.loc["column2to1", "area_overhead_per_mac_um2"] > 0


def test_report_command_rerenders_with_another_threshold(reduced_run, capsys):
    before = pd.read_csv(reduced_run / "table2.csv")
    assert main(["report", str(reduced_run), "--max-loss", "0.5"]) == 0
    after = pd.read_csv(reduced_run / "table2.csv")
    # a looser threshold never raises a minimum voltage
    merged = before.merge(after, on="design", suffixes=("_before", "_after"))
    finite = merged.dropna(subset=["vmin_v_before", "vmin_v_after"])
    assert (finite["vmin_v_after"] <= finite["vmin_v_before"] + 1e-9).all()
    assert "proposed-column4to1" in capsys.readouterr().out


def test_trace_goes_from_a_table2_number_to_the_opensta_logs(reduced_run, capsys):
    assert main(["trace", str(reduced_run), "table2.csv", "proposed-column", "power_nominal_w"]) == 0
    out = capsys.readouterr().out
    table = pd.read_csv(reduced_run / "table2.csv").set_index("design")
    characterization = pd.read_csv(reduced_run / "characterization.csv")
    nominal = characterization[characterization["corner"] == characterization["corner"].iloc[0]].set_index("run_dir")
    overhead = pd.read_csv(reduced_run / "tiles" / "switching_overhead.csv").set_index("dataflow")
    # the runs named in mac_runs, read from characterization.csv (not from the code under test),
    # reproduce the reported power: dynamic power scaled to the design's clock, leakage as is
    row = table.loc["proposed-column"]
    power_w = 0.0
    for part in row["mac_runs"].split(";"):
        run_dir, _, rest = part.partition("@")
        count = int(rest.rpartition(":")[2])
        mac = nominal.loc[run_dir]
        dynamic = (mac["power_internal_w"] + mac["power_switching_w"]) * mac["power_clock_ns"] / row["clock_ns"]
        power_w += count * (dynamic + mac["power_leakage_w"])
        assert run_dir in out
        assert f"{run_dir}/02-sta-{mac['corner']}/sta.log" in out
        assert (reduced_run / run_dir / f"02-sta-{mac['corner']}" / "sta.log").is_file()
    column = overhead.loc["column"]
    power_w += row["macs"] * column["power_overhead_per_mac_w"] * column["power_clock_ns"] / row["clock_ns"]
    assert row["power_nominal_w"] == pytest.approx(power_w, rel=1e-9)
    assert "yosys.log" in out


def test_trace_names_bad_rows_and_columns(reduced_run, capsys):
    assert main(["trace", str(reduced_run), "table2.csv", "no-such-design", "power_nominal_w"]) == 1
    assert "no row whose design is 'no-such-design'" in capsys.readouterr().err
    assert main(["trace", str(reduced_run), "table2.csv", "0", "nope"]) == 1
    assert "has no column 'nope'" in capsys.readouterr().err
