"""The qflow place-and-route backend: parsers on real qrouter output, then real runs.

The slow tests synthesize each MAC kind, place it with GrayWolf and route it with qrouter
(Debian's qflow on osu018), and time the routed netlist with OpenSTA without and with the
extracted parasitics. Each kind is one test, so pytest-xdist runs them side by side.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from eda.core.errors import EdaError
from eda.backends.qflow import CSV_COLUMNS, characterize_qflow, parse_rc, parse_route_log, prepare_qflow
from eda.backends.qflow.extract import build_name_map, def_to_verilog, rc_to_spef
from eda.parsers.qflow import DefComponent, DefDesign, Port, parse_netlist_ports, parse_tech_vars
from eda.designs.mac import MAC_KINDS

# Real lines of qrouter's write_delays output (osu018, mac_proposed at 3000 ps).
RC_BRANCHING = ("product_ext[11] 1 DFFPOSX1_52/Q 3 ( 3.41333 0.0007536 ( 1.6 0.0003864 XOR2X1_2/B ) , "
                "( 16.32 0.00313678 ( 0.853333 0.00019776 NOR2X1_17/A ) , ( 1.81333 0.00040932 NAND2X1_30/A ) ) ) ")
RC_TERMINAL_THEN_BRANCH = ("err_out 1 LATCH_11/Q 3 ( 0.426667 0.00014624 BUFX2_3/A , ( 10.0267 0.002202 "
                           "( 0.266667 6.57e-05 BUFX2_5/A , ( 1.6 0.000363 PIN/err_out ) ) ) ) ")
RC_INPUT_PORT = "a_in[0] 1 PIN/a_in[0] 1 ( 2.45333 0.00054828 DFFPOSX1_31/D ) "

# qrouter's log: a complete route (osu018) and the end of an incomplete one (sky130hd, shortened list).
ROUTE_LOG_OK = """\
*** Running stage1 routing with defaults
Failed to route net _0361_
Progress: Stage 1 total routes completed: 1689
Failed net routes: 19
*** Running stage2 routing with options mask 10, effort 10
Progress: Stage 2 total routes completed: 1790
*** Running stage3 routing with defaults, 1st round
Progress: Stage 3 total routes completed: 3333
*** Running stage3 routing with defaults, 2nd round
Progress: Stage 3 total routes completed: 4893
Final: No failed routes!
*** Writing DEF file mac_proposed_route.def
*** Writing RC file mac_proposed_route.rc
"""
ROUTE_LOG_FAILED = """\
*** Writing DEF file mac_proposed_route.def
----------------------------------------------
Final: Failed net routes: 78
List of failed nets follows:
 _0217_
 _0240_
 a_out[1]
 _0264_
 _0217_
 a_out[1]

----------------------------------------------
*** Writing RC file mac_proposed_route.rc
"""

def test_rc_trees_parse_with_branches_and_terminals():
    nets = parse_rc("\n".join([RC_BRANCHING, RC_TERMINAL_THEN_BRANCH, RC_INPUT_PORT]) + "\n")
    assert set(nets) == {"product_ext[11]", "err_out", "a_in[0]"}
    branching = nets["product_ext[11]"]
    assert branching.driver == "DFFPOSX1_52/Q" and branching.sinks == 3
    assert sorted(branching.terminals()) == ["NAND2X1_30/A", "NOR2X1_17/A", "XOR2X1_2/B"]
    assert len(branching.root.children) == 2 and branching.root.terminal is None
    assert branching.res_ohm == pytest.approx(3.41333 + 1.6 + 16.32 + 0.853333 + 1.81333)
    assert branching.cap_pf == pytest.approx(0.0007536 + 0.0003864 + 0.00313678 + 0.00019776 + 0.00040932)
    # A terminal followed by ", (" continues the route from that pin.
    err = nets["err_out"]
    assert err.root.terminal == "BUFX2_3/A" and err.terminals() == ["BUFX2_3/A", "BUFX2_5/A", "PIN/err_out"]
    assert nets["a_in[0]"].driver == "PIN/a_in[0]"


def test_rc_parse_errors_name_the_line():
    with pytest.raises(EdaError, match=r"rc:2: unbalanced"):
        parse_rc(RC_INPUT_PORT + "\n" + RC_BRANCHING.rstrip(") ") + "\n", source="rc")


def test_route_log_final_counts():
    ok = parse_route_log(ROUTE_LOG_OK)
    assert ok.complete and ok.failed_nets == 0 and ok.stage1_failed == 19 and ok.passes == 4
    failed = parse_route_log(ROUTE_LOG_FAILED)
    assert not failed.complete and failed.failed_nets == 78
    assert failed.failed_net_names == ("_0217_", "_0240_", "a_out[1]", "_0264_")  # listed once per failed route
    with pytest.raises(EdaError, match="no 'Final:' line"):
        parse_route_log("*** Running stage1 routing with defaults\n")


def test_spef_from_rc_uses_the_netlist_names():
    ports = [Port("a_in", "input", 0, 0), Port("err_out", "output", None, None)]
    comps = {n: DefComponent(n, n.rsplit("_", 1)[0], 0.0, 0.0, "N") for n in
             ("DFFPOSX1_52", "XOR2X1_2", "NOR2X1_17", "NAND2X1_30", "LATCH_11", "BUFX2_3", "BUFX2_5", "DFFPOSX1_31", "FILL_0")}
    design = DefDesign("mac", 100, (0, 0, 10, 10), comps, {"a_in[0]": "a_in[0]", "err_out": "err_out", "vdd": "vdd"}, {
        "product_ext[11]": [("DFFPOSX1_52", "Q"), ("XOR2X1_2", "B"), ("NOR2X1_17", "A"), ("NAND2X1_30", "A")],
        "err_out": [("PIN", "err_out"), ("LATCH_11", "Q"), ("BUFX2_3", "A"), ("BUFX2_5", "A")],
        "a_in[0]": [("PIN", "a_in[0]"), ("DFFPOSX1_31", "D")],
    })
    cells = {"DFFPOSX1", "XOR2X1", "NOR2X1", "NAND2X1", "LATCH", "BUFX2"}
    names = build_name_map(design, ports, cells)
    assert "FILL_0" not in names.instances  # not in the liberty: left out of the netlist
    assert names.nets["err_out"] == "err_out" and names.nets["product_ext[11]"].startswith("qn_")
    verilog = def_to_verilog(design, "mac", ports, names)
    assert "input [0:0] a_in;" in verilog and "output err_out;" in verilog and "FILL" not in verilog
    assert re.search(r"DFFPOSX1 DFFPOSX1_52 \(\.Q\(qn_\d+\)\);", verilog)
    spef, summary = rc_to_spef(parse_rc("\n".join([RC_BRANCHING, RC_TERMINAL_THEN_BRANCH, RC_INPUT_PORT])), "mac", ports, names)
    assert summary.nets == 3 and not summary.incomplete_nets and not summary.skipped_nets
    net = names.nets["product_ext[11]"]
    block = spef.split(f"*D_NET {net} ")[1].split("*END")[0]
    assert "*I DFFPOSX1_52:Q O" in block and "*I XOR2X1_2:B I" in block
    assert len(re.findall(r"^\d+ \S+ \S+ \S+$", block.split("*RES")[1], re.M)) == 5  # one resistor per segment
    assert "*P err_out O" in spef and "*P a_in[0] I" in spef
    assert summary.wire_cap_pf == pytest.approx(sum(n.cap_pf for n in parse_rc(RC_BRANCHING + "\n" + RC_TERMINAL_THEN_BRANCH
                                                                                  + "\n" + RC_INPUT_PORT).values()))


def test_tech_vars_and_netlist_ports():
    assert parse_tech_vars('set bufcell=BUFX2\t;# buffer\nset fillcell = "FILL"\nset tiehi=""\n') == {
        "bufcell": "BUFX2", "fillcell": "FILL", "tiehi": ""}
    ports = parse_netlist_ports("module m(clk, a, y);\n  input clk;\n  input [7:0] a;\n  output [3:0] y;\nendmodule\n", "m")
    assert [(p.name, p.direction) for p in ports] == [("clk", "input"), ("a", "input"), ("y", "output")]
    assert ports[1].bits()[0] == "a[7]" and len(ports[2].bits()) == 4


# --- real placement and routing ------------------------------------------------------------

@pytest.fixture(scope="module")
def qflow_setup(tmp_path_factory):
    return prepare_qflow("osu018", tmp_path_factory.mktemp("qflow-cache"))


@pytest.mark.slow
@pytest.mark.parametrize("kind", MAC_KINDS)
def test_mac_places_routes_and_gets_slower_with_wires(kind, qflow_setup, tmp_path):
    """Slow (~15-25 s per kind): a real qflow placement and route of each MAC kind."""
    result = characterize_qflow(kind, 3000, qflow_setup, tmp_path)
    run = result.run_dir
    # Routing really completed: qrouter's own log says so.
    route_log = run / "04-route" / "log" / "route.log"
    assert parse_route_log(route_log.read_text()).failed_nets == 0 == result.route.failed_nets
    m = result.metrics
    # The cells placed are the cells synthesized, and every routed net has its RC tree.
    assert m["extract__cells"] == m["synth__cells"] == m["qflow_synth__cells"]
    assert m["extract__rc_nets"] >= 0.95 * m["extract__nets"] and m["extract__incomplete_rc_nets"] == 0
    assert m["extract__wire_cap_ff"] > 0
    # Same netlist: the wires only add delay (a few %, not a different circuit).
    syn, lay = result.synthesis, result.layout
    assert syn.delay_ns > 0.5
    assert syn.delay_ns <= lay.delay_ns <= 1.5 * syn.delay_ns
    assert syn.power_w > 0 and lay.power_w > 0
    assert lay.power_switching_w > syn.power_switching_w  # wire capacitance switches too
    assert lay.power_leakage_w == pytest.approx(syn.power_leakage_w)
    # Area: the die holds the cells and the fill between them.
    assert 0 < result.cell_area_um2 < result.die_area_um2
    assert lay.area_um2 == result.die_area_um2 and syn.area_um2 == result.cell_area_um2
    # Only the layout analysis reads the parasitics.
    assert "read_spef" in (run / "07-sta-layout" / "sta.tcl").read_text()
    assert "read_spef" not in (run / "06-sta-synthesis" / "sta.tcl").read_text()
    for stage in ("01-synth", "02-qflow-synth", "03-place", "04-route", "05-extract", "06-sta-synthesis", "07-sta-layout"):
        assert (run / stage / "state_out.json").is_file(), stage
    assert (run / "03-place" / "qflow-place.log").is_file() and (run / "03-place" / "log" / "place.log").is_file()
    if kind != "tpu":
        assert syn.razor_window_slack_ns is not None and lay.razor_window_slack_ns is not None


@pytest.mark.slow
def test_failed_stage_is_named_with_its_logs(qflow_setup, tmp_path):
    """A real GrayWolf failure (an option it rejects) stops the run at placement."""
    with pytest.raises(EdaError) as info:
        characterize_qflow("proposed", 3000, qflow_setup, tmp_path, project_vars='set graywolf_options = "-bogus"\n')
    message = str(info.value)
    assert "qflow stage 'place' failed" in message
    assert str(tmp_path / "proposed-D3000" / "03-place" / "log" / "place.log") in message
    assert "graywolf failed" in message
    assert not (tmp_path / "proposed-D3000" / "metrics.json").exists()


@pytest.mark.slow
def test_layout_command_writes_csv_and_side_by_side_table(tmp_path, qflow_setup):
    from eda.cli.layout import qflow_command

    out = tmp_path / "out"
    cache = qflow_setup.liberty.path.parents[2]  # the module's cache: the prepared liberty is reused
    result = CliRunner().invoke(qflow_command, ["--kind", "proposed", "--targets", "2500", "--out", str(out), "-j", "1"],
                                obj={"cache_dir": str(cache)})
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "layout.csv")
    assert list(table.columns) == CSV_COLUMNS
    assert list(table["stage"]) == ["synthesis", "layout"] and set(table["target_ps"]) == {2500}
    synth, layout = table.iloc[0], table.iloc[1]
    assert layout["delay_ns"] >= synth["delay_ns"] and layout["power_w"] > synth["power_w"] > 0
    assert layout["area_um2"] > synth["area_um2"] and layout["failed_nets"] == 0
    md = (out / "layout.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| proposed | 2500 |"))
    assert f"{synth['delay_ns']:.3f}" in row and f"{layout['delay_ns']:.3f}" in row
    assert Path(layout["run_dir"], "07-sta-layout", "sta.log").is_file()


@pytest.mark.slow
def test_user_verilog_goes_through_the_same_flow(qflow_setup, tmp_path):
    from eda.designs.registry import user_design

    source = tmp_path / "mult4.v"
    source.write_text("module mult4(input [3:0] a, input [3:0] b, output [7:0] y);\n  assign y = a * b;\nendmodule\n")
    result = characterize_qflow(user_design([source], "mult4", register_io=True), 2000, qflow_setup, tmp_path / "runs")
    assert result.kind == "mult4" and result.route.complete
    assert result.synthesis.delay_ns <= result.layout.delay_ns and result.layout.power_w > 0
    assert result.metrics["extract__cells"] == result.metrics["synth__cells"]
