"""Every text parser, fed arbitrary text or a real report cut at a random place, returns a result
or raises EdaError naming its input; never another exception (issue 18: property-based tests
cover every parser). The table loaders and the OpenSTA log parser have their own properties in
tests/test_parser_properties.py."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from eda.core.errors import EdaError
from eda.parsers import qflow, sdf, yosys
from eda.parsers.orfs import metrics, reports, units

PARSERS = {
    "sdf": lambda text: sdf.parse_sdf(text),
    "dcalc": sdf.parse_dcalc,
    "yosys stat": lambda text: yosys.parse_stat_json(text, "top"),
    "yosys warnings": yosys.log_warnings,
    "qflow route log": qflow.parse_route_log,
    "qflow rc": qflow.parse_rc,
    "qflow def": qflow.parse_def,
    "lef macro sizes": qflow.parse_lef_macro_sizes,
    "qflow tech vars": qflow.parse_tech_vars,
    "qflow netlist ports": lambda text: qflow.parse_netlist_ports(text, "top"),
    "orfs metrics": metrics.parse_metrics_json,
    "orfs report sections": reports.split_report_sections,
    "orfs finish report": lambda text: reports.parse_finish_report(text, 1.0),
    "orfs report log": reports.parse_report_log,
    "orfs synth stat": reports.parse_synth_stat,
    "orfs clock periods": reports.parse_clock_min_periods,
    "orfs capture edge": reports.parse_capture_edge,
    "orfs time unit": units.parse_time_unit_ns,
    "orfs elapsed": reports.parse_elapsed_s,
}

# Characters the formats are made of, so that random text often gets past the first token.
ALPHABET = st.sampled_from(list("(){}[]:;,.=-+*/\\\"'_ \n\t0123456789eE") + list("abcdefgnpsuxyzADEFGHIKLMNOPRSTVW"))
KEYWORDS = st.sampled_from(["(DELAYFILE", "(CELL", "(IOPATH", "Startpoint:", "Endpoint:", "data arrival time", "slack",
                            '{"modules":', '"area":', "Chip area", "Number of cells", "COMPONENTS", "END", "MACRO",
                            "SIZE", "BY", "set ", "module top(", "input", "output", "endmodule", "Total", "1ns", "ps",
                            "report_", "Elapsed time:", "clock", "period_min", "\n"])
TEXT = st.lists(st.one_of(st.text(ALPHABET, max_size=12), KEYWORDS), max_size=40).map("".join)


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXT)
def test_parser_returns_or_raises_a_clear_error(name, text):
    try:
        PARSERS[name](text)
    except EdaError:
        pass


LIBERTY_WORDS = st.sampled_from(["library (lib) {", "cell (c) {", "pin (A) {", "}", "area : 1.5 ;", "time_unit : \"1ns\" ;",
                                 "capacitive_load_unit (1, pf) ;", "function : \"A\" ;", "ff (IQ, IQN) {",
                                 "/* c */", "\"", ";", "\n", "(", ")"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=st.lists(st.one_of(st.text(ALPHABET, max_size=8), LIBERTY_WORDS), max_size=40).map("".join))
def test_liberty_structure_check_returns_groups_or_a_clear_error(tmp_path, text):
    from eda.core.liberty import check_structure

    try:
        groups = check_structure(text, tmp_path / "x.lib")
    except EdaError:
        return
    assert all(0 <= start <= end <= len(text) for _, start, end in groups)


VCD_WORDS = st.sampled_from(["$timescale 1ps $end", "$scope module tb $end", "$var wire 1 ! a $end", "$var wire 4 \" b [3:0] $end",
                             "$upscope $end", "$enddefinitions $end", "#0", "#10", "#20", "0!", "1!", "b1010 \"", "bx \"",
                             "z!", "$dumpvars", "$end", "\n"])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(lines=st.lists(VCD_WORDS, max_size=30))
def test_vcd_reader_returns_activity_or_a_clear_error(tmp_path, lines):
    from eda.parsers.vcd import read_activity

    path = tmp_path / "dump.vcd"
    path.write_text("\n".join(lines) + "\n")
    try:
        table = read_activity(path, "tb", 0, 20, 10.0)
    except EdaError:
        return
    assert (table["activity"] >= 0).all() and table["duty"].between(0, 1).all()
