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
