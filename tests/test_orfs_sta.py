"""Post-route re-timing of ORFS results at every corner (eda/backends/orfs/sta_corners.py).

ORFS cannot run here, so the post-route data is qflow's: GrayWolf places and qrouter
routes a small MAC, voltscale's extraction writes the routed netlist and qrouter's RC as
SPEF, and the tests put them where ORFS's finish stage writes 6_final.v and 6_final.spef.

* osu018 (one corner, Debian's qflow-tech-osu018) routes completely: every net annotated,
  results checked against the qflow backend's own OpenSTA runs on the same files.
* sky130hd has three corners but qrouter leaves some nets unrouted there (README, "Place
  and route"); its partial route still gives real RC for the routed nets, enough to check
  the corner ordering and that the unannotated nets are exactly the unrouted ones.
* characterize_with_orfs runs `make` in a stand-in FLOW_HOME whose `finish` target puts
  those files (and a real ORFS 6_report.log) where ORFS would.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from eda.designs.registry import Variant
from eda.flow.characterize import prepare_corners
from eda.designs.registry import mac_design
from eda.core.errors import EdaError
from eda.core.files import sha256_file
from eda.core.liberty import PreparedLiberty
from eda.backends.orfs.characterize import characterize_with_orfs
from eda.backends.orfs.design import OrfsSettings, render_sdc
from eda.backends.orfs.sta_corners import MANIFEST, RETIMED_COLUMNS, FinalResults, PostRouteOptions, final_results, post_route_script, retime_corners
from eda.backends.orfs.table import ORFS_COLUMNS
from eda.core.platforms import load_platform
from eda.backends.qflow import characterize_qflow, parse_route_log, prepare_qflow
from eda.backends.qflow.steps import Extraction, QflowPlacement, QflowRouting, QflowSynthesis
from eda.designs.mac import MacParams
from eda.core.step import State, run_step
from eda.flow.sta import SPEF_READ, StaSettings, StaticTiming, parse_spef_annotation, sta_script
from eda.flow.synth import Synthesize

# The smallest MACs worth routing: 4-bit operands, 12-bit accumulator (~200 cells, seconds to route).
SMALL = {kind: MacParams(kind, 4, 4, 12, 4) for kind in ("tpu", "proposed")}
TARGET_PS = 3000


def orfs_results(work_home: Path, platform: str, nickname: str, variant: str, netlist: Path, spef: Path,
                 sdc_text: str | None = None) -> Path:
    """Put a routed netlist and its SPEF where ORFS's finish stage writes them."""
    results = work_home / "results" / platform / nickname / variant
    results.mkdir(parents=True)
    shutil.copy(netlist, results / "6_final.v")
    shutil.copy(spef, results / "6_final.spef")
    if sdc_text is not None:
        (results / "6_final.sdc").write_text(sdc_text)
    return results


# --------------------------------------------------------------------------- no tools


def test_missing_final_outputs_name_the_file_and_the_orfs_step(tmp_path):
    with pytest.raises(EdaError) as info:
        final_results(tmp_path, "sky130hd", "mac_tpu", "D3000")
    message = str(info.value)
    assert str(tmp_path / "results/sky130hd/mac_tpu/D3000/6_final.v") in message
    assert "scripts/final_report.tcl" in message and str(tmp_path / "logs/sky130hd/mac_tpu/D3000/6_report.log") in message
    results = tmp_path / "results/sky130hd/mac_tpu/D3000"
    results.mkdir(parents=True)
    (results / "6_final.v").write_text("module mac_tpu (clk);\n  input clk;\nendmodule\n")
    with pytest.raises(EdaError) as info:
        final_results(tmp_path, "sky130hd", "mac_tpu", "D3000")
    message = str(info.value)
    assert f"no parasitics {results / '6_final.spef'}" in message
    assert "OpenRCX" in message and "RCX_RULES" in message and "retime=False" in message
    (results / "6_final.spef").write_text("*SPEF\n")
    with pytest.raises(EdaError, match=r"SDC .*constraint-D3000.sdc .* does not exist"):
        final_results(tmp_path, "sky130hd", "mac_tpu", "D3000", fallback_sdc=tmp_path / "constraint-D3000.sdc")
    found = final_results(tmp_path, "sky130hd", "mac_tpu", "D3000")
    assert (found.top, found.sdc, found.constraints) == ("mac_tpu", None, "embedded")
    (results / "6_final.sdc").write_text("create_clock -name clk -period 3 [get_ports clk]\n")
    assert final_results(tmp_path, "sky130hd", "mac_tpu", "D3000").sdc == results / "6_final.sdc"
    assert final_results(tmp_path, "sky130hd", "mac_tpu", "D3000", use_final_sdc=False).sdc is None
    (results / "6_final.v").write_text("module a (x);\n input x;\nendmodule\nmodule b (y);\n input y;\nendmodule\n")
    with pytest.raises(EdaError, match=r"cannot tell the top module \(2 modules: a, b\); pass top="):
        final_results(tmp_path, "sky130hd", "mac_tpu", "D3000")
    with pytest.raises(EdaError, match="min_annotated_fraction must be in"):
        PostRouteOptions(min_annotated_fraction=1.5)


def test_spef_annotation_counts_only_read_spef_warnings():
    # Lines as OpenSTA 2.0.17 printed them for a SPEF of another netlist; the last warning
    # comes from read_sdc, after the counts, and is not the SPEF's.
    log = ("@@ parasitics\n"
           "Warning: 6_final.spef, line 75 instance OAI21X1_30:Y not found.\n"
           "Warning: 6_final.spef, line 79 net OAI21X1_30 not found.\n"
           "spef nets with driver and load: 212\nspef nets not annotated: 3\n"
           "spef not annotated: qn_4\nspef not annotated: qn_9\nspef not annotated: a_out[0]\n"
           "Warning: 6_final.sdc, line 3 port 'x' not found.\n@@ clocks\nclock clk 3.000000\n")
    annotation = parse_spef_annotation(log)
    assert (annotation.nets, annotation.unannotated, annotation.unannotated_names) == (212, 3, ("qn_4", "qn_9", "a_out[0]"))
    assert len(annotation.warnings) == 2 and annotation.annotated_fraction == pytest.approx(209 / 212)
    with pytest.raises(EdaError, match=r"sta.log: no SPEF annotation counts"):
        parse_spef_annotation("@@ parasitics\nError: cannot open '6_final.spef'.\n", "sta.log")


def test_post_route_script_is_the_embedded_script_plus_spef_sdc_and_power_clock(tmp_path, platforms_root):
    platform = load_platform("sky130hd", platforms_root)
    liberty = PreparedLiberty(Path("/pdk/tt.lib.gz"), Path("/cache/tt.lib"), "key", {"cap_unit_ff": 1000.0})
    base = tmp_path / "results"
    step_dir = tmp_path / "voltscale" / "sta-tt"
    ports = {"clk", "clk_shadow", "a_in"}
    embedded_results = FinalResults(base / "6_final.v", base / "6_final.spef", None, "mac")
    settings = StaSettings()
    # Ideal clocks, no SDC: exactly the embedded script with the SPEF block after link_design.
    script = post_route_script(embedded_results, step_dir, liberty, platform, settings, ports,
                               PostRouteOptions(propagated_clocks=False))
    embedded = sta_script("mac", Path("../../results/6_final.v"), liberty, platform, settings, ports)
    spef_block = SPEF_READ.format(spef="{../../results/6_final.spef}", listed=19)
    assert script.replace(spef_block, "") == embedded
    assert "read_spef" not in embedded and "@@ parasitics" not in embedded
    # With the design's SDC, propagated clocks and the power clock, in this order.
    sdc_results = FinalResults(base / "6_final.v", base / "6_final.spef", base / "6_final.sdc", "mac")
    script = post_route_script(sdc_results, step_dir, liberty, platform, settings, ports, PostRouteOptions())
    order = ["link_design mac", "read_spef {../../results/6_final.spef}", "read_sdc {../../results/6_final.sdc}",
             "set_cmd_units -time ns", "set_propagated_clock [all_clocks]", 'puts "@@ critical_path"',
             'puts "@@ shadow"', "set power_scale [expr {10.0 / [get_property [get_clocks clk] period]}]",
             'puts "@@ power"', "report_power"]
    positions = [script.index(line) for line in order]
    assert positions == sorted(positions)
    assert "create_clock -name clk -period $period" not in script  # the embedded constraints are replaced
    assert "set_load" not in script and "set_driving_cell" not in script
    at_sdc_clock = post_route_script(sdc_results, step_dir, liberty, platform, settings, ports,
                                     PostRouteOptions(power_at_sdc_clock=True))
    assert "power_scale" not in at_sdc_clock


# --------------------------------------------------------------------------- osu018: complete routes


@pytest.fixture(scope="module")
def osu018(tmp_path_factory):
    """Real qflow place and route of the small TPU and proposed MACs on osu018 (~3 s each)."""
    work = tmp_path_factory.mktemp("osu018")
    setup = prepare_qflow("osu018", work / "cache")
    runs = {kind: characterize_qflow(mac_design(params), TARGET_PS, setup, work / "runs") for kind, params in SMALL.items()}
    return setup, runs


@pytest.mark.slow
def test_osu018_post_route_equals_qflow_layout_sta_and_wires_add_delay(tmp_path, osu018):
    setup, runs = osu018
    run = runs["tpu"]
    spef = run.run_dir / "05-extract" / "parasitics.spef"
    orfs_results(tmp_path, "osu018", "mac_tpu", "D3000", run.run_dir / "05-extract" / "netlist.v", spef)
    results = final_results(tmp_path, "osu018", "mac_tpu", "D3000")
    assert results.top == "mac_tpu" and results.sdc is None
    run_dir = tmp_path / "voltscale" / "mac_tpu" / "D3000"
    corners = retime_corners(results, setup.platform, {"typical": setup.liberty}, run_dir,
                             options=PostRouteOptions(propagated_clocks=False))
    m = corners["typical"]
    # Every routed net annotated, nothing OpenSTA could not match.
    assert m["spef__nets"] > 150 and m["spef__unannotated_nets"] == 0 and m["spef__warnings"] == 0
    # Ideal clocks and the embedded constraints: the qflow backend's layout analysis of the same files.
    assert m["sta__delay_ns"] == run.layout.delay_ns and m["sta__power_w"] == run.layout.power_w
    # Against the same netlist without parasitics (osu018 has no wire-load model: no wires at all).
    assert m["sta__delay_ns"] > run.synthesis.delay_ns
    assert m["sta__power_switching_w"] > run.synthesis.power_switching_w
    assert m["sta__power_leakage_w"] == pytest.approx(run.synthesis.power_leakage_w)
    assert (m["vdd"], m["temp_c"], m["sta__constraints"], m["sta__clock_mode"]) == (1.8, 25.0, "embedded", "ideal")
    # One folder per corner with its script, log and state; the manifest written last.
    step = run_dir / "sta-typical"
    for name in ("sta.tcl", "sta.cmd", "sta.log", "endpoints.csv", "state_in.json", "state_out.json"):
        assert (step / name).is_file(), name
    assert "read_spef {../../../../results/osu018/mac_tpu/D3000/6_final.spef}" in (step / "sta.tcl").read_text()
    assert json.loads((step / "state_out.json").read_text())["metrics"]["sta__delay_ns"] == m["sta__delay_ns"]
    manifest = json.loads((run_dir / MANIFEST).read_text())
    assert manifest["inputs"]["spef"]["sha256"] == sha256_file(spef)
    assert manifest["corners"]["typical"] == m and manifest["options"]["propagated_clocks"] is False
    assert manifest["sta"]["version"].startswith("2.") and manifest["constraints"] == "embedded"
    # Propagated clocks (the default) time qrouter's clock net: a different, still close, delay.
    propagated = retime_corners(results, setup.platform, {"typical": setup.liberty}, tmp_path / "propagated")["typical"]
    assert propagated["sta__clock_mode"] == "propagated"
    assert propagated["sta__delay_ns"] != m["sta__delay_ns"]
    assert propagated["sta__delay_ns"] == pytest.approx(m["sta__delay_ns"], rel=0.05)
    assert "clock network delay (propagated)" in (tmp_path / "propagated" / "sta-typical" / "sta.log").read_text()


@pytest.mark.slow
def test_osu018_sdc_clock_times_and_embedded_clock_powers(tmp_path, osu018):
    """The design's SDC (as design.py writes it for ORFS) sets the timing clock; power is at 10 ns."""
    setup, runs = osu018
    run = runs["proposed"]
    design = mac_design(SMALL["proposed"])
    netlist, spef = run.run_dir / "05-extract" / "netlist.v", run.run_dir / "05-extract" / "parasitics.spef"
    timed = {}
    for period_ps, at_sdc_clock in ((3000, False), (10000, True)):
        work = tmp_path / f"P{period_ps}"
        sdc = render_sdc(design.top, design.ports, period_ps, 1.0, OrfsSettings(), f"D{period_ps}")
        orfs_results(work, "osu018", design.top, "D3000", netlist, spef, sdc)
        results = final_results(work, "osu018", design.top, "D3000")
        assert results.sdc.name == "6_final.sdc"
        timed[period_ps] = retime_corners(results, setup.platform, {"typical": setup.liberty}, work / "run",
                                          options=PostRouteOptions(power_at_sdc_clock=at_sdc_clock),
                                          ports=set(design.ports))["typical"]
    at3, at10 = timed[3000], timed[10000]
    assert (at3["sta__timing_clock_ns"], at3["sta__power_clock_ns"]) == (3.0, 10.0)
    assert (at10["sta__timing_clock_ns"], at10["sta__power_clock_ns"]) == (10.0, 10.0)
    assert at3["sta__delay_ns"] == pytest.approx(3.0 - at3["sta__slack_ns"], abs=1e-4)
    # clk->clk minimum period does not depend on the period it was timed at.
    assert at3["sta__delay_ns"] == pytest.approx(at10["sta__delay_ns"], abs=2e-4)
    # Scaling the 3 ns clocks (clk and the Razor shadow clock) to 10 ns before report_power
    # gives the power of an SDC written at 10 ns.
    for key in ("sta__power_w", "sta__power_internal_w", "sta__power_switching_w", "sta__power_leakage_w"):
        assert at3[key] == pytest.approx(at10[key], rel=1e-6), key
    assert at3["sta__razor_window_slack_ns"] is not None and at3["sta__constraints"].endswith("6_final.sdc")
    log = (tmp_path / "P3000" / "run" / "sta-typical" / "sta.log").read_text()
    assert re.search(r"^clock clk_shadow 3\.0+$", log, re.M) and "clock network delay (propagated)" in log
    # An SDC whose clock has another name (ORFS's own designs say core_clock) is refused by name.
    work = tmp_path / "core_clock"
    orfs_results(work, "osu018", design.top, "D3000", netlist, spef, "create_clock -name core_clock -period 3 [get_ports clk]\n")
    with pytest.raises(EdaError, match=r"6_final\.sdc defines no clock named 'clk' \(clocks: core_clock\)"):
        retime_corners(final_results(work, "osu018", design.top, "D3000"), setup.platform, {"typical": setup.liberty},
                       work / "run", ports=set(design.ports))


@pytest.mark.slow
def test_osu018_spef_missing_nets_or_from_another_design_is_refused(tmp_path, osu018):
    setup, runs = osu018
    tpu, proposed = runs["tpu"], runs["proposed"]
    spef_text = (tpu.run_dir / "05-extract" / "parasitics.spef").read_text()
    head, *nets = spef_text.split("\n*D_NET ")
    half = tmp_path / "half.spef"
    half.write_text("\n*D_NET ".join([head, *nets[: len(nets) // 2]]) + "\n")
    orfs_results(tmp_path / "half", "osu018", "mac_tpu", "D3000", tpu.run_dir / "05-extract" / "netlist.v", half)
    results = final_results(tmp_path / "half", "osu018", "mac_tpu", "D3000")
    with pytest.raises(EdaError) as info:
        retime_corners(results, setup.platform, {"typical": setup.liberty}, tmp_path / "half" / "run")
    message = str(info.value)
    assert re.search(rf"annotates {len(nets) // 2} of the \d+ driven and loaded nets", message), message
    assert "min_annotated_fraction=0.99" in message and "sta.log" in message
    assert not (tmp_path / "half" / "run" / MANIFEST).exists()
    # The proposed MAC's SPEF on the TPU's netlist: OpenSTA cannot find its pins.
    orfs_results(tmp_path / "other", "osu018", "mac_tpu", "D3000", tpu.run_dir / "05-extract" / "netlist.v",
                 proposed.run_dir / "05-extract" / "parasitics.spef")
    results = final_results(tmp_path / "other", "osu018", "mac_tpu", "D3000")
    with pytest.raises(EdaError, match=r"OpenSTA warned \d+ time\(s\) reading .*6_final\.spef \(max_spef_warnings=0\)"):
        retime_corners(results, setup.platform, {"typical": setup.liberty}, tmp_path / "other" / "run")


# --------------------------------------------------------------------------- sky130hd: three corners


@pytest.fixture(scope="module")
def sky130hd(tmp_path_factory, liberty_seed, platforms_root):
    """The small TPU MAC placed and routed by qflow on sky130hd; qrouter leaves some nets
    unrouted there, so the stages run one by one and the partial route is extracted."""
    work = tmp_path_factory.mktemp("sky130hd")
    cache = work / "cache"
    shutil.copytree(liberty_seed, cache / "liberty")  # the prepared tt liberty, parsed once per session
    setup = prepare_qflow(load_platform("sky130hd", platforms_root), cache)
    liberties = prepare_corners(setup.platform, list(setup.platform.corners), cache)
    design = mac_design(SMALL["tpu"])
    run = work / "run"
    (run / "00-rtl").mkdir(parents=True)
    sources = []
    for name, text in design.sources.items():
        (run / "00-rtl" / name).write_text(text)
        sources.append(run / "00-rtl" / name)
    state = run_step(Synthesize(design.top, TARGET_PS, setup.liberty, setup.platform, 600), State({"verilog": tuple(sources)}),
                     run / "01-synth", run)
    state = run_step(QflowSynthesis(design.top, setup.tech, setup.liberty, 600), state, run / "02-qflow-synth", run)
    state = run_step(QflowPlacement(design.top, setup.tech, 600), state, run / "03-place", run)
    try:
        state = run_step(QflowRouting(design.top, setup.tech, 600), state, run / "04-route", run)
    except EdaError as exc:
        assert "net(s) unrouted" in str(exc)
        layout = run / "04-route" / "layout"
        state = state.updated({"routed_def": layout / f"{design.top}.def", "rc": layout / f"{design.top}.rc"}, {})
    state = run_step(Extraction(design.top, setup.tech, setup.liberty), state, run / "05-extract", run)
    failed = parse_route_log((run / "04-route" / "log" / "route.log").read_text()).failed_nets
    return {"setup": setup, "liberties": liberties, "design": design, "run": run, "failed_nets": failed,
            "cache": cache, "netlist": state.views["layout_netlist"], "spef": state.views["spef"]}


@pytest.mark.slow
def test_sky130hd_corners_order_and_unannotated_nets_are_the_unrouted_ones(tmp_path, sky130hd):
    setup, liberties, design = sky130hd["setup"], sky130hd["liberties"], sky130hd["design"]
    orfs_results(tmp_path, "sky130hd", design.top, "D3000", sky130hd["netlist"], sky130hd["spef"])
    results = final_results(tmp_path, "sky130hd", design.top, "D3000")
    # The default demands (nearly) every net annotated: the partial route is refused, by name.
    with pytest.raises(EdaError, match=r"annotates \d+ of the \d+ driven and loaded nets .*min_annotated_fraction=0\.99"):
        retime_corners(results, setup.platform, liberties, tmp_path / "strict")
    options = PostRouteOptions(propagated_clocks=False, min_annotated_fraction=0.8)
    corners = retime_corners(results, setup.platform, liberties, tmp_path / "run", options=options, ports=set(design.ports))
    assert list(corners) == ["tt_025C_1v80", "ss_n40C_1v40", "ff_100C_1v95"]
    tt, ss, ff = corners.values()
    for m in (tt, ss, ff):
        # The nets read_spef left alone are exactly the nets qrouter did not route.
        assert m["spef__unannotated_nets"] == sky130hd["failed_nets"]
        assert m["spef__warnings"] == 0 and m["spef__annotated_fraction"] >= 0.8
    assert sky130hd["failed_nets"] > 0 or tt["spef__unannotated_nets"] == 0
    assert (ss["vdd"], tt["vdd"], ff["vdd"]) == (1.4, 1.8, 1.95)
    # Slow-slow at 1.40 V and -40 C is slower than typical, fast-fast at 1.95 V faster.
    assert ss["sta__delay_ns"] > tt["sta__delay_ns"] > ff["sta__delay_ns"]
    # Dynamic power grows with V^2 and leakage with V and temperature (100 C at ff).
    assert ff["sta__power_w"] > tt["sta__power_w"] > ss["sta__power_w"]
    assert ff["sta__power_switching_w"] > tt["sta__power_switching_w"] > ss["sta__power_switching_w"]
    assert ff["sta__power_leakage_w"] > 100 * tt["sta__power_leakage_w"] > 0
    assert tt["sta__power_internal_w"] > 0  # the prepared liberty's fix for OpenSTA 2.0.17 (README)
    # Without the SPEF (the embedded step on the same netlist) OpenSTA uses sky130hd's
    # wire-load model: the routed wires give a different delay and switching power.
    for corner, m in corners.items():
        plain = run_step(StaticTiming(design.top, corner, liberties[corner], setup.platform, StaSettings(), set(design.ports), 600),
                         State({"netlist": results.netlist}), tmp_path / f"no-spef-{corner}").metrics
        assert plain["sta__delay_ns"] != m["sta__delay_ns"], corner
        assert plain["sta__power_switching_w"] != m["sta__power_switching_w"], corner
        assert plain["sta__power_leakage_w"] == pytest.approx(m["sta__power_leakage_w"]), corner


STAND_IN_MAKEFILE = """\
# Stand-in for OpenROAD-flow-scripts' flow/Makefile (OpenROAD cannot be installed here):
# `finish` puts a real post-route netlist and SPEF (qflow's) and a real ORFS 6_report.log
# where ORFS's finish stage writes them, and copies the design's SDC as 6_final.sdc.
include $(DESIGN_CONFIG)
RESULTS = $(WORK_HOME)/results/$(PLATFORM)/$(DESIGN_NICKNAME)/$(FLOW_VARIANT)
LOGS = $(WORK_HOME)/logs/$(PLATFORM)/$(DESIGN_NICKNAME)/$(FLOW_VARIANT)
finish:
\tmkdir -p $(RESULTS) $(LOGS)
\tcp $(POST_ROUTE_DIR)/netlist.v $(RESULTS)/6_final.v
\tif [ -f $(POST_ROUTE_DIR)/parasitics.spef ]; then cp $(POST_ROUTE_DIR)/parasitics.spef $(RESULTS)/6_final.spef; fi
\tcp $(SDC_FILE) $(RESULTS)/6_final.sdc
\tcp $(ORFS_REPORT_LOG) $(LOGS)/6_report.log
"""


@pytest.mark.slow
def test_characterize_with_orfs_retimes_every_variant_at_every_corner(tmp_path, sky130hd, orfs_fixtures, monkeypatch):
    flow = tmp_path / "flow"
    flow.mkdir()
    (flow / "Makefile").write_text(STAND_IN_MAKEFILE)
    post_route = tmp_path / "post-route"
    post_route.mkdir()
    shutil.copy(sky130hd["netlist"], post_route / "netlist.v")
    shutil.copy(sky130hd["spef"], post_route / "parasitics.spef")
    report_log = orfs_fixtures / "Haibo-S__BFT-asic-impl__flow__logs__nangate45__gcd__base__6_report.log" / "6_report.log"
    monkeypatch.setenv("POST_ROUTE_DIR", str(post_route))
    monkeypatch.setenv("ORFS_REPORT_LOG", str(report_log))
    platform = sky130hd["setup"].platform
    variants = [Variant(sky130hd["design"], TARGET_PS)]
    options = PostRouteOptions(min_annotated_fraction=0.8)
    table = characterize_with_orfs(variants, platform, tmp_path / "out", flow_home=flow, parallel=1, post_route=options,
                                   cache_dir=sky130hd["cache"])
    assert list(table.columns) == RETIMED_COLUMNS
    assert list(table["corner"]) == ["tt_025C_1v80", "ss_n40C_1v40", "ff_100C_1v95"]
    assert list(table["vdd"]) == [1.8, 1.4, 1.95] and set(table["kind"]) == {"tpu"} and set(table["target_ps"]) == {3000}
    tt, ss, ff = (table.iloc[i] for i in range(3))
    assert ss["delay_ns"] > tt["delay_ns"] > ff["delay_ns"] and ff["power_w"] > tt["power_w"]
    # Timed at the variant's SDC clock (ORFS's 6_final.sdc, here design.py's constraint SDC), powered at 10 ns.
    assert set(table["timing_clock_ns"]) == {3.0} and set(table["power_clock_ns"]) == {10.0}
    assert set(table["clock_mode"]) == {"propagated"} and all(c.endswith("D3000/6_final.sdc") for c in table["constraints"])
    # Area and ORFS's columns come from ORFS's report (here the real 6_report.log of another design).
    assert set(table["area_um2"]) == {837.0} and set(table["utilization"]) == {0.73}
    assert table["orfs_delay_ns"].isna().all() and table["orfs_power_w"].isna().all()
    out = tmp_path / "out"
    for row in table.itertuples():
        assert (out / row.run_dir / "sta.log").is_file() and row.delay_source.startswith(f"{row.run_dir}/sta.log")
    assert (out / "orfs" / "voltscale" / "mac_tpu" / "D3000" / MANIFEST).is_file()
    written = pd.read_csv(out / "characterization.csv")
    assert list(written["delay_ns"]) == pytest.approx(list(table["delay_ns"]))
    # retime=False: the table as before, one row per variant with ORFS's own numbers.
    plain = characterize_with_orfs(variants, platform, tmp_path / "plain", flow_home=flow, retime=False)
    assert list(plain.columns) == ORFS_COLUMNS and len(plain) == 1 and plain.iloc[0]["corner"] == "tt_025C_1v80"
    # A platform without RCX_RULES leaves no 6_final.spef: the error says where and why.
    (post_route / "parasitics.spef").unlink()
    with pytest.raises(EdaError) as info:
        characterize_with_orfs(variants, platform, tmp_path / "nospef", flow_home=flow, cache_dir=sky130hd["cache"])
    message = str(info.value)
    assert "post-route re-timing failed for 1 of 1 ORFS runs" in message and "mac_tpu D3000" in message
    assert "results/sky130hd/mac_tpu/D3000/6_final.spef" in message and "RCX_RULES" in message
    with pytest.raises(EdaError, match="has no corner"):
        characterize_with_orfs(variants, platform, tmp_path / "badcorner", flow_home=flow, corners=["tt_025C_1v80", "xx"])
