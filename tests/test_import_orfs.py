"""`eda import-orfs` on every real ORFS fixture, and the delay definition / time units on every platform.

The fixtures (../shared/fixtures/orfs, see its README) are read where they are (or through
symlinks in tmp_path); nothing is copied into the repository. Without the folder the
fixture tests skip. The asap7 and gf180 cases are small synthetic reports written here.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd
import pytest

from eda.cli.main import main
from eda.core.errors import EdaError
from eda.backends.orfs.importer import find_runs, import_orfs
from eda.backends.orfs.table import ORFS_COLUMNS, characterization_row, read_orfs_run
from eda.flow.characterize import CSV_COLUMNS
from eda.parsers.orfs.metrics import parse_metrics_json
from eda.parsers.orfs.reports import parse_finish_report
from eda.parsers.orfs.units import TIME_UNIT_NS_BY_PLATFORM, orfs_platform_name, platform_time_unit_ns, resolve_time_unit_ns

HAIBO = "Haibo-S__BFT-asic-impl__flow__"
GURIS = "guris12__my-gcd-orfs-debug__"
IHP = "The-OpenROAD-Project__OpenROAD-flow-scripts__flow__designs__ihp-sg13g2__i2c-gpio-expander__metadata-base-ok.json"


@pytest.fixture(scope="module")
def fixtures_dir() -> Path:
    """The real ORFS outputs; the tests using them skip when the folder is not there."""
    value = os.environ.get("EDA_FIXTURES_DIR")
    if value:
        folder = Path(value) / "orfs"
    else:
        platforms = os.environ.get("EDA_PLATFORMS_DIR")
        folder = Path(platforms).parent / "fixtures" / "orfs" if platforms else Path("/nonexistent")
    if not folder.is_dir():
        pytest.skip(f"ORFS fixture folder {folder} not found (set EDA_FIXTURES_DIR)")
    return folder


def the_file(folder: Path) -> Path:
    (path,) = [p for p in folder.iterdir() if p.name != "ORIGIN.txt"]
    return path


def platform_in_name(folder: Path) -> str:
    """The platform a fixture folder name spells (the README's naming: owner__repo__path)."""
    (name,) = [p for p in TIME_UNIT_NS_BY_PLATFORM if f"__{p}__" in folder.name]
    return name


# --------------------------------------------------------------------------- every fixture


def test_every_fixture_imports_alone(fixtures_dir, tmp_path):
    folders = sorted(p for p in fixtures_dir.iterdir() if p.is_dir())
    assert folders
    for folder in folders:
        for given in (folder, the_file(folder)):  # a folder holding the file, and the file itself
            table, provenance, entries = import_orfs([given], platform_in_name(folder))
            assert list(table.columns) == ORFS_COLUMNS and len(table) == 1, given
            numbers = table[[c for c in CSV_COLUMNS if c in ("area_um2", "delay_ns", "power_w")]].iloc[0]
            assert numbers.notna().any() or the_file(folder).name == "synth_stat.txt", given
            if the_file(folder).name == "synth_stat.txt":
                assert table.loc[0, "synth_area_um2"] > 0
            # Every number names its file; the file's hash is in the manifest entry.
            assert not provenance.empty and provenance["source"].str.contains(the_file(folder).name).all(), given
            assert list(entries[0]["files"]) == [str(the_file(folder))]


def _orfs_tree(work: Path, fixtures: Path) -> Path:
    """A WORK_HOME holding the fixture files where ORFS writes them (symlinks, not copies)."""
    def link(kind: str, platform: str, design: str, folder: str) -> None:
        source = the_file(fixtures / folder)
        target = work / kind / platform / design / "base" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(source)

    link("logs", "nangate45", "gcd", f"{HAIBO}logs__nangate45__gcd__base__6_report.json")
    link("logs", "nangate45", "gcd", f"{HAIBO}logs__nangate45__gcd__base__6_report.log")
    link("reports", "nangate45", "gcd", f"{HAIBO}reports__nangate45__gcd__base__6_finish.rpt")
    link("reports", "nangate45", "gcd", f"{HAIBO}reports__nangate45__gcd__base__synth_stat.txt")
    link("logs", "sky130hd", "gcd", f"{GURIS}logs__sky130hd__gcd__base__6_report.json")
    link("reports", "sky130hd", "gcd", f"{GURIS}reports__sky130hd__gcd__base__6_finish.rpt")
    return work


def test_cli_imports_an_orfs_tree_and_a_metadata_file(fixtures_dir, tmp_path, capsys):
    work = _orfs_tree(tmp_path / "flow", fixtures_dir)
    out = tmp_path / "out"
    assert main(["import-orfs", str(work), str(the_file(fixtures_dir / IHP)), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and "i2c-gpio-expander" in printed
    assert sorted(p.name for p in out.iterdir()) == ["characterization.csv", "manifest.json", "provenance.csv"]
    table = pd.read_csv(out / "characterization.csv")
    assert list(table.columns) == ORFS_COLUMNS and list(table.columns[:len(CSV_COLUMNS)]) == CSV_COLUMNS
    assert list(table["platform"]) == ["nangate45", "sky130hd", "ihp-sg13g2"]
    assert list(table["corner"]) == ["typical", "tt_025C_1v80", "typ_1p20V_25C"]  # our configs' nominal corners
    # One delay definition: capture edge - slack of the worst path of the clock, and that path is named.
    assert table["delay_ns"].tolist() == pytest.approx([0.46 + 0.0551163, 1e9 / 3.78311e8, 20.0 - 3.88761])
    assert (table.loc[0, "critical_startpoint"], table.loc[0, "critical_endpoint"]) == ("dpath.a_reg.out[5]$_DFFE_PP_", "resp_msg[12]")
    assert table.loc[1, "critical_endpoint"] == "resp_msg[15]"  # 1.10 + 1.54 = 2.64 = 1000 / 378.31
    assert pd.isna(table.loc[2, "critical_endpoint"]) and "no timing report" in table.loc[2, "critical_path_source"]
    assert table.loc[0, "reg_to_reg_delay_ns"] == pytest.approx(0.48) and table.loc[1, "reg_to_reg_delay_ns"] == pytest.approx(2.54)
    assert table.loc[0, "area_um2"] == 850.136 and table.loc[2, "power_w"] == 7.30843e-05
    assert pd.isna(table.loc[0, "input_activity"]) and pd.isna(table.loc[0, "target_ps"])

    provenance = pd.read_csv(out / "provenance.csv")
    delay = provenance[(provenance["row"] == 1) & (provenance["column"] == "delay_ns")].iloc[0]
    assert delay["source"] == f"{work}/logs/sky130hd/gcd/base/6_report.json:finish__timing__fmax__clock:core_clock"
    area = provenance[(provenance["row"] == 0) & (provenance["column"] == "synth_area_um2")].iloc[0]
    assert area["source"].endswith("reports/nangate45/gcd/base/synth_stat.txt:Chip area")
    assert set(provenance["row"]) == {0, 1, 2}

    manifest = json.loads((out / "manifest.json").read_text())
    assert [r["platform"] for r in manifest["runs"]] == ["nangate45", "sky130hd", "ihp-sg13g2"]
    assert all(len(sha) == 64 for r in manifest["runs"] for sha in r["files"].values())
    assert manifest["runs"][2]["design"] == "i2c-gpio-expander" and manifest["runs"][2]["flow_variant"] == "base"


def test_one_run_folder_of_a_tree_and_platform_errors(fixtures_dir, tmp_path):
    work = _orfs_tree(tmp_path / "flow", fixtures_dir)
    (run,) = find_runs(work / "reports" / "sky130hd" / "gcd" / "base")
    assert (run.platform, run.design, run.flow_variant) == ("sky130hd", "gcd", "base")
    assert run.files.finish is not None and run.files.stage_jsons  # the logs/ sibling is found too
    with pytest.raises(EdaError, match="--platform nangate45 but its metrics' run__flow__platform says ihp-sg13g2"):
        import_orfs([the_file(fixtures_dir / IHP)], "nangate45")
    with pytest.raises(EdaError, match="cannot tell the ORFS platform.*pass --platform"):
        import_orfs([the_file(fixtures_dir / f"{GURIS}logs__sky130hd__gcd__base__6_report.json")])
    with pytest.raises(EdaError, match="not an ORFS output this command reads"):
        import_orfs([the_file(fixtures_dir / IHP).parent / "ORIGIN.txt"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EdaError, match="no ORFS outputs"):
        import_orfs([empty])


# --------------------------------------------------------------------------- time units of every platform


def test_time_unit_of_every_platform_and_alias(fixtures_dir, tmp_path):
    assert {p: platform_time_unit_ns(p) for p in ("asap7", "gf180", "gf180mcu", "GF180MCU", "sky130_fd_sc_hd", "ihp-sg13g2",
                                                 "nangate45", "sky130hs")} == {
        "asap7": 1e-3, "gf180": 1.0, "gf180mcu": 1.0, "GF180MCU": 1.0, "sky130_fd_sc_hd": 1.0, "ihp-sg13g2": 1.0,
        "nangate45": 1.0, "sky130hs": 1.0}
    assert orfs_platform_name("gf180mcu") == "gf180" and orfs_platform_name("myplatform") == "myplatform"
    # A platform we do not know is read in the unit its metrics state; without one it is refused.
    assert resolve_time_unit_ns("myplatform", 1e-3) == 1e-3
    with pytest.raises(EdaError, match="time unit of ORFS platform 'myplatform' is not known"):
        resolve_time_unit_ns("myplatform", None)
    # read_orfs_run accepted gf180 but refused its PDK's name gf180mcu.
    metadata = tmp_path / "reports/gf180mcu/i2c/base/metadata.json"
    metadata.parent.mkdir(parents=True)
    metadata.symlink_to(the_file(fixtures_dir / IHP))
    assert read_orfs_run(tmp_path, "gf180mcu", "i2c", "base")["delay_ns"] == pytest.approx(20.0 - 3.88761)


# --------------------------------------------------------------------------- synthetic asap7 / gf180 reports

_RULE = "-" * 74


def _section(title: str, body: str) -> str:
    return f"{'=' * 74}\n{title}\n{_RULE}\n{body}\n"


def _path(start: str, end: str, capture: float, arrival: float, required: float, edge: str = "rise") -> str:
    slack = required - arrival
    return f"""Startpoint: {start} (clocked by clk)
Endpoint: {end} (clocked by clk)
Path Group: clk
Path Type: max

  Delay    Time   Description
---------------------------------------------------------
   0.00    0.00   clock clk (rise edge)
{arrival:7.2f} {arrival:7.2f}   data arrival time

{capture:7.2f} {capture:7.2f}   clock clk ({edge} edge)
{required:7.2f} {required:7.2f}   data required time
---------------------------------------------------------
{required:7.2f}   data required time
{-arrival:7.2f}   data arrival time
---------------------------------------------------------
{slack:7.2f}   slack ({'MET' if slack >= 0 else 'VIOLATED'})
"""


def _asap7_report(min_period: str | None = None) -> str:
    """asap7 (ps): the worst path is an input path (slack -50 ps), the worst reg-to-reg one -20 ps, clock 400 ps."""
    text = _section("finish report_worst_slack", "worst slack max -50.00")
    text += _section("finish report_checks -path_delay max", _path("in_a", "acc_reg[3]", 400.0, 430.0, 380.0))
    text += _section("finish report_checks -path_delay max reg to reg", _path("a_reg[1]", "acc_reg[7]", 400.0, 400.0, 380.0))
    if min_period:
        text += _section("finish report_clock_min_period", min_period)
    return text


def test_asap7_delay_and_named_path_are_one_path():
    finish = parse_finish_report(_asap7_report(), 1e-3)
    row = characterization_row(platform="asap7", time_unit_ns=1e-3, finish=finish, design="mac")
    # Before: delay_ns 0.42 (reg to reg) while critical_* named in_a -> acc_reg[3] (the input path).
    assert row["delay_ns"] == pytest.approx(0.45)
    assert (row["critical_startpoint"], row["critical_endpoint"]) == ("in_a", "acc_reg[3]")
    assert row["reg_to_reg_delay_ns"] == pytest.approx(0.42)
    assert row["power_clock_ns"] == pytest.approx(0.4)
    # An ORFS whose min period leaves port paths out gives the reg-to-reg delay: that path is named.
    older = parse_finish_report(_asap7_report("clk period_min = 420.00 fmax = 2380.95"), 1e-3)
    row = characterization_row(platform="asap7", time_unit_ns=1e-3, finish=older, design="mac")
    assert row["delay_ns"] == pytest.approx(1e3 / 2380.95)
    assert (row["critical_startpoint"], row["critical_endpoint"]) == ("a_reg[1]", "acc_reg[7]")
    assert row["critical_path_source"] == "6_finish.rpt:report_checks -path_delay max reg to reg"
    # A min period no reported path has: no path is named rather than a wrong one.
    odd = parse_finish_report(_asap7_report("clk period_min = 500.00 fmax = 2000.00"), 1e-3)
    row = characterization_row(platform="asap7", time_unit_ns=1e-3, finish=odd, design="mac")
    assert row["critical_startpoint"] is None and "no reported path" in row["critical_path_source"]


def test_gf180_delay_is_the_runs_own_period_minus_its_slack():
    metrics = parse_metrics_json(json.dumps({"finish__timing__setup__ws": -0.5, "constraints__clocks__details": ["clk: 12.0000"],
                                             "run__flow__platform__time_units": "1ns"}))
    # Asked for 10 ns, ORFS ran at 12 ns (its SDC): the delay is 12 + 0.5, not 10 + 0.5.
    row = characterization_row(platform="gf180", time_unit_ns=1.0, metrics=metrics, clock_period_ns=10.0, design="mac")
    assert row["delay_ns"] == pytest.approx(12.5) and row["power_clock_ns"] == 12.0
    assert row["critical_startpoint"] is None and row["critical_path_source"].startswith("no timing report")
    # With the report, the worst path itself gives the delay and is named; ws gives the digits.
    report = _section("finish report_checks -path_delay max", _path("b_reg[0]", "acc_reg[2]", 12.0, 11.9, 11.4))
    row = characterization_row(platform="gf180", time_unit_ns=1.0, metrics=metrics, finish=parse_finish_report(report, 1.0),
                               clock_period_ns=10.0, design="mac")
    assert row["delay_ns"] == pytest.approx(12.5) and row["critical_endpoint"] == "acc_reg[2]"
    assert "capture edge (rise) - slack (metrics JSON:finish__timing__setup__ws)" in row["delay_source"]
    assert math.isnan(row["reg_to_reg_delay_ns"])
