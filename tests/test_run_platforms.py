"""A reduced `eda run` end to end on the PDKs other than sky130hd (issue 16 item 1): gf180 and ihp-sg13g2
(the method half with their FO4 tables fitted to their liberty voltage corners) and asap7 (no voltage
model: the run stops after the characterization with a message saying so).

Each run uses a fresh cache, so every yosys and OpenSTA run really runs; the configuration is reduced
the way tests/data/reduced_run.toml is (three delay targets from the platform's range, a 16x16 array,
one iso-area budget, 100 test images, one injection pass) and its supplies stop before the deep
error region, where one injection point alone takes minutes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eda.cli.main import main
from eda.core.platforms import load_platform
from eda.spice.table import platform_fo4_table

pytestmark = pytest.mark.slow

KINDS = ("tpu", "thundervolt", "proposed")

# targets: three ABC delay targets inside the platform's [characterize] targets_ps range (ps).
# error_vdds: the error tables' supplies; the lowest makes the largest size fail, so the sizer's
# automatic supply exists. accuracy_vdds: the accuracy sweep stops above it (cheap points).
# delay_ns: plausible critical-path delays of an 8x8 MAC with 24-bit accumulate at the nominal corner.
PLATFORMS = {
    "gf180": dict(targets=[4000, 7000, 12000], error_vdds=[5.0, 4.0, 3.3, 2.8], accuracy_vdds=[5.0, 4.0, 3.3],
                  delay_ns=(3.0, 20.0)),
    "ihp-sg13g2": dict(targets=[1500, 3000, 5000], error_vdds=[1.2, 1.15, 1.1, 1.05, 1.0],
                       accuracy_vdds=[1.2, 1.15, 1.1], delay_ns=(1.5, 10.0)),
    "asap7": dict(targets=[300, 600, 900], error_vdds=[], accuracy_vdds=[], delay_ns=(0.1, 1.5)),
    "nangate45": dict(targets=[400, 800, 1400], error_vdds=[], accuracy_vdds=[], delay_ns=(0.3, 3.0)),
}


def reduced_config(platform: str, folder: Path) -> Path:
    spec = PLATFORMS[platform]
    text = f"""platform = "{platform}"
kinds = {json.dumps(list(KINDS))}
corners = []

[characterize]
targets_ps = {json.dumps(spec["targets"])}
jobs = 2

[errors]
vdds = {json.dumps(spec["error_vdds"])}
process_samples = 300
dta_cycles = 1000

[method]
array_rows = 16
array_cols = 16
iso_fractions = [0.5]
table_budget = 0

[accuracy]
vdds = {json.dumps(spec["accuracy_vdds"])}
repeats = 1
min_repeats = 1

[power]
activity_cycles = 128

[workload]
images = 100
"""
    path = folder / f"reduced-{platform}.toml"
    path.write_text(text)
    return path


def run_reduced(platform: str, tmp_path: Path) -> tuple[int, Path]:
    out = tmp_path / "report"
    config = reduced_config(platform, tmp_path)
    try:
        code = main(["--cache-dir", str(tmp_path / "cache"), "run", "--config", str(config), "--out", str(out)])
    except SystemExit as exc:  # click's standalone mode may exit with the code instead of returning it
        code = exc.code
    return code, out


def check_characterization(out: Path, platform: str) -> pd.DataFrame:
    table = pd.read_csv(out / "characterization.csv")
    nominal = load_platform(platform).nominal_corner
    assert set(table["platform"]) == {platform}
    assert set(table["corner"]) == {nominal}
    spec = PLATFORMS[platform]
    configured = load_platform(platform).targets_ps  # the platform's [characterize] range
    assert min(configured) <= min(spec["targets"]) and max(spec["targets"]) <= max(configured)
    low, high = spec["delay_ns"]
    for kind in KINDS:
        rows = table[table["kind"] == kind].sort_values("target_ps")
        assert list(rows["target_ps"]) == spec["targets"], kind
        assert rows["area_um2"].gt(0).all() and rows["cells"].gt(0).all()
        assert rows["delay_ns"].between(low, high).all(), (kind, rows["delay_ns"].tolist())
        assert np.isfinite(rows["power_w"]).all() and rows["power_w"].gt(0).all()
        # The tightest target buys speed with area: faster and larger than the loosest.
        tight, loose = rows.iloc[0], rows.iloc[-1]
        assert tight["delay_ns"] < loose["delay_ns"] and tight["area_um2"] > loose["area_um2"], rows.to_string()
    return table


def check_method(out: Path, platform: str) -> None:
    spec = PLATFORMS[platform]
    for kind in KINDS:
        errors = pd.read_csv(out / "errors" / kind / "error_probability.csv")
        assert sorted(errors["vdd"].unique()) == sorted(spec["error_vdds"])
        assert errors["p_error"].between(0, 1).all()
        # the Pareto sizes: more area, shorter delay; and at every supply a larger size fails no more often
        sizes = errors.drop_duplicates("size_index").sort_values("size_index")
        assert sizes["area_um2"].is_monotonic_increasing and sizes["delay_ns"].is_monotonic_decreasing
        for vdd, rows in errors.groupby("vdd"):
            assert rows.sort_values("size_index")["p_error"].is_monotonic_decreasing, (kind, vdd)
        # lowering the supply never lowers a size's error probability, and the lowest supply makes errors
        for _, rows in errors.groupby("size_index"):
            assert rows.sort_values("vdd", ascending=False)["p_error"].is_monotonic_increasing
        assert errors.loc[errors["vdd"] == min(spec["error_vdds"]), "p_error"].gt(0).all()
    table = pd.read_csv(out / "table2.csv").set_index("design")
    assert {"tpu", "thundervolt", "proposed-column", "proposed-column2to1", "proposed-column4to1"} <= set(table.index)
    nominal_vdd = load_platform(platform).nominal.vdd
    assert table["nominal_vdd"].eq(nominal_vdd).all()
    for column in ("vmin_v", "area_mm2", "power_nominal_w", "power_scaled_w", "energy_per_op_pj"):
        values = table[column].to_numpy(dtype=float)
        assert np.isfinite(values).all() and (values > 0).all(), (column, table[column].to_dict())
    assert table["vmin_v"].between(min(spec["accuracy_vdds"]) - 1e-9, nominal_vdd + 1e-9).all()
    np.testing.assert_allclose(table["power_scaled_w"], table["power_nominal_w"] * (table["vmin_v"] / nominal_vdd) ** 2)
    sweep = pd.read_csv(out / "accuracy" / "accuracy.csv")
    assert set(sweep["vdd"].round(6)) <= set(np.round(spec["accuracy_vdds"], 6))
    assert all(math.isfinite(x) for x in sweep["loss"])
    for name in ("table2.md", "report.html", "method_manifest.json", "run_stages.json", "voltage_scaling.csv", "fo4.csv"):
        assert (out / name).is_file(), name


@pytest.mark.parametrize("platform", ["gf180", "ihp-sg13g2"])
def test_reduced_run_with_the_platforms_voltage_model(platform, tmp_path):
    code, out = run_reduced(platform, tmp_path)
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert not any(run["cached"] for run in manifest["runs"]), "the runs must not come from a cache"
    check_characterization(out, platform)
    check_method(out, platform)
    # the run's FO4 table is the platform's own, fitted to its liberty corners, not sky130's
    assert (out / "fo4.csv").read_text() == platform_fo4_table(platform).read_text()


@pytest.mark.parametrize("platform", ["asap7", "nangate45"])
def test_reduced_run_without_a_voltage_model_stops_after_the_characterization(platform, tmp_path, capsys):
    """asap7's and nangate45's corners differ in process and temperature as well as supply: no voltage law
    can be fitted, so the run writes the characterization and stops with an error naming the missing FO4 table."""
    code, out = run_reduced(platform, tmp_path)
    assert code == 1
    assert f"platform {platform} has no FO4 table" in capsys.readouterr().err
    check_characterization(out, platform)
    assert (out / "summary.md").is_file() and (out / "manifest.json").is_file()
    assert not (out / "table2.csv").exists() and not (out / "errors").exists()
