"""Internal power recomputed from liberty tables vs what OpenSTA 2.0.17 reports.

Runs real yosys (to synthesize a registered 8x8 signed MAC) and real OpenSTA on
nangate45 and sky130hd.  sky130hd is checked twice: on the normalized copy the project
uses (eda.core.liberty.prepare_liberty: default_operating_conditions moved after its group),
where the two must agree, and on the raw file, where OpenSTA reports zero internal
power: the bug the copy works around.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from eda.core.liberty import prepare_liberty, read_liberty_text
from eda.flow.power_check import LibraryPowerModel, PowerTable, check_internal_power, describe, filter_liberty_cells, infer_when, liberty_cell_names, netlist_cell_types, parse_function, read_internal_power_model
from eda.core.runner import find_tool, run_tool

# Relative to the platform data root (the platforms_root fixture, $EDA_PLATFORMS_DIR).
NANGATE45_LIB = Path("nangate45/lib/NangateOpenCellLibrary_typical.lib.gz")
SKY130HD_LIB = Path("sky130hd/lib/sky130_fd_sc_hd__tt_025C_1v80.lib.gz")

INPUT_ACTIVITY = 0.1
TOTAL_TOLERANCE = 0.05
# Per instance, agreement is limited by OpenSTA's activity trace printing duties with
# two decimals; the 95th percentile stays well under this.
INSTANCE_P95_TOLERANCE = 0.02

MAC_RTL = """\
module mac8 (
  input clk,
  input signed [7:0] a,
  input signed [7:0] b,
  output reg signed [19:0] acc
);
  reg signed [7:0] a_q, b_q;
  always @(posedge clk) begin
    a_q <= a;
    b_q <= b;
    acc <= acc + a_q * b_q;
  end
endmodule
"""

# Special-purpose cells (power gating, isolation, probes) synthesis must not pick;
# prepare_liberty marks them dont_use, which yosys' abc honours.
SKY130_DONT_USE = ("sky130_fd_sc_hd__probe_p_*", "sky130_fd_sc_hd__probec_p_*", "sky130_fd_sc_hd__lpflow_*")


@dataclass(frozen=True)
class Platform:
    sta_liberty: Path  # plain-text library OpenSTA reads
    netlist: Path
    power_model: LibraryPowerModel
    work_dir: Path


def _require(path: Path) -> Path:
    assert path.is_file(), f"platform library {path} missing (set EDA_PLATFORMS_DIR)"
    return path


def _synthesize(work_dir: Path, synthesis_liberty: Path) -> Path:
    rtl = work_dir / "mac8.v"
    rtl.write_text(MAC_RTL)
    netlist = work_dir / "mac8_netlist.v"
    script = (
        f"read_verilog {rtl}; synth -top mac8 -flatten; dfflibmap -liberty {synthesis_liberty}; "
        f"abc -liberty {synthesis_liberty}; opt_clean -purge; write_verilog -noattr -noexpr {netlist}"
    )
    run_tool([find_tool("yosys"), "-q", "-p", script], cwd=work_dir, name="yosys", timeout_s=300)
    return netlist


def _power_model(liberty: Path, netlist: Path) -> LibraryPowerModel:
    # Parsed once per module, cut to the cells the netlist uses (a second or less).
    return read_internal_power_model(liberty, netlist_cell_types(netlist.read_text()))


@pytest.fixture(scope="module")
def nangate45(tmp_path_factory, platforms_root) -> Platform:
    work_dir = tmp_path_factory.mktemp("nangate45")
    liberty = work_dir / "NangateOpenCellLibrary_typical.lib"
    liberty.write_text(read_liberty_text(_require(platforms_root / NANGATE45_LIB)))
    netlist = _synthesize(work_dir, liberty)
    return Platform(liberty, netlist, _power_model(liberty, netlist), work_dir)


@pytest.fixture(scope="module")
def sky130hd(tmp_path_factory, platforms_root) -> dict[str, Platform]:
    """Raw and normalized sky130hd sharing one netlist and one power model.

    The two files differ only in where default_operating_conditions sits, which our
    reader resolves either way, and in the normalized copy's dont_use marks, which it
    ignores; so one model serves both.
    """
    work_dir = tmp_path_factory.mktemp("sky130hd")
    source = _require(platforms_root / SKY130HD_LIB)
    raw = work_dir / "sky130hd_tt_raw.lib"
    raw.write_text(read_liberty_text(source))
    # The project's normalized copy serves synthesis (dont_use marks) and OpenSTA alike.
    normalized = prepare_liberty(source, SKY130_DONT_USE, tmp_path_factory.mktemp("liberty_cache")).path
    netlist = _synthesize(work_dir, normalized)
    model = _power_model(normalized, netlist)
    return {
        "raw": Platform(raw, netlist, model, work_dir / "raw"),
        "normalized": Platform(normalized, netlist, model, work_dir / "normalized"),
    }


def _check(platform: Platform, clock_period_ns: float):
    result = check_internal_power(
        platform.netlist,
        platform.sta_liberty,
        top="mac8",
        clock_period_ns=clock_period_ns,
        input_activity=INPUT_ACTIVITY,
        work_dir=platform.work_dir,
        library_model=platform.power_model,
    )
    print(describe(result))
    return result


def _instance_p95_relative_difference(result) -> float:
    per_instance = result.per_instance
    difference = (per_instance["internal_power_ours_w"] - per_instance["internal_power_sta_w"]).abs()
    return float(np.percentile(difference / per_instance["internal_power_sta_w"].abs(), 95))


def test_nangate45_internal_power_matches_opensta(nangate45):
    result = _check(nangate45, clock_period_ns=2.0)

    assert result.internal_power_sta_w > 0
    assert abs(result.relative_difference) < TOTAL_TOLERANCE, describe(result)
    assert _instance_p95_relative_difference(result) < INSTANCE_P95_TOLERANCE
    assert set(result.per_instance["cell"]) >= {"DFF_X1"}, "the MAC's registers must be in the comparison"


def test_sky130hd_normalized_internal_power_matches_opensta(sky130hd):
    result = _check(sky130hd["normalized"], clock_period_ns=5.0)

    assert abs(result.relative_difference) < TOTAL_TOLERANCE, describe(result)
    assert _instance_p95_relative_difference(result) < INSTANCE_P95_TOLERANCE
    # Internal power is most of a standard-cell design's dynamic power; a small share
    # would mean OpenSTA (and we) dropped arcs.
    assert result.internal_power_sta_w > 0
    assert result.internal_power_sta_w / result.total_power_sta_w > 0.2, describe(result)
    assert "default_operating_condition" not in result.sta_run.log_text()


def test_sky130hd_raw_opensta_reports_zero_internal_power(sky130hd):
    """Documents the OpenSTA 2.0.17 bug the normalized copy works around."""
    result = _check(sky130hd["raw"], clock_period_ns=5.0)

    assert "default_operating_condition tt_025C_1v80 not found" in result.sta_run.log_text()
    assert result.internal_power_sta_w == 0.0
    assert result.internal_power_ours_w > 0.0
    assert result.total_power_sta_w > 0.0  # switching and leakage still reported


# ---- pure functions -------------------------------------------------------------------


def test_parse_function_follows_opensta_precedence():
    assert parse_function("(!A) | (!B)") == ("or", ("not", ("port", "A")), ("not", ("port", "B")))
    assert parse_function("A*B+C") == ("or", ("and", ("port", "A"), ("port", "B")), ("port", "C"))
    assert parse_function("A&B^C") == ("and", ("port", "A"), ("xor", ("port", "B"), ("port", "C")))
    assert parse_function("A B' + 1") == ("or", ("and", ("port", "A"), ("not", ("port", "B"))), ("one",))
    assert parse_function("!(A1 & A2)") == ("not", ("and", ("port", "A1"), ("port", "A2")))


def test_infer_when_finds_the_sensitizing_condition_like_opensta():
    nand = parse_function("(!A) | (!B)")
    assert infer_when(nand, "A") == ("port", "B")  # A toggles Y only while B = 1
    assert infer_when(parse_function("!(A1 & A2)"), "A2") == ("port", "A1")
    # Only top-level operands are recognised; OpenSTA then falls back to duty 0.5.
    assert infer_when(parse_function("!(B | (A1 & A2))"), "A1") is None


def test_power_table_interpolates_and_extrapolates_linearly():
    table = PowerTable(
        ("input_transition_time", "total_output_net_capacitance"),
        (np.array([1.0, 2.0]), np.array([10.0, 20.0])),
        np.array([[1.0, 2.0], [3.0, 4.0]]),
    )
    assert table.lookup_j(1.5, 15.0) == pytest.approx(2.5)
    assert table.lookup_j(3.0, 10.0) == pytest.approx(5.0)  # beyond the last slew index
    assert table.lookup_j(1.0, 0.0) == pytest.approx(0.0)  # below the first load index


def test_filter_liberty_cells_keeps_header_and_chosen_cells():
    text = 'library (x) {\n  time_unit : "1ns";\n  cell (A) {\n    pin (Y) { s : "}"; }\n  }\n  cell (B) {\n  }\n}\n'
    filtered = filter_liberty_cells(text, {"B"})
    assert liberty_cell_names(filtered) == ["B"]
    assert filtered.startswith('library (x) {\n  time_unit : "1ns";') and filtered.rstrip().endswith("}")
