"""Second place-and-route backend: Debian's qflow (Yosys hand-off, GrayWolf, qrouter).

    from eda.backends.qflow import characterize_qflow
    result = characterize_qflow("proposed", 3000, "osu018", "runs/")
    result.synthesis.delay_ns, result.layout.delay_ns   # same netlist, without / with wires

The tested technology is osu018 from Debian's qflow-tech-osu018: qrouter 1.4.71 does not
complete routing on sky130hd (see platforms/sky130hd/qflow/sky130hd.sh).
`eda layout` (eda/cli/layout.py) writes the CSV and the side-by-side table.
"""

from eda.backends.qflow.flow import DEFAULT_PLATFORM, QflowResult, QflowSetup, StageNumbers, characterize_qflow, prepare_qflow
from eda.parsers.qflow import RouteSummary, parse_def, parse_rc, parse_route_log
from eda.backends.qflow.report import CSV_COLUMNS, markdown, results_table, side_by_side

__all__ = [
    "CSV_COLUMNS", "DEFAULT_PLATFORM", "QflowResult", "QflowSetup", "RouteSummary", "StageNumbers", "characterize_qflow",
    "markdown", "parse_def", "parse_rc", "parse_route_log", "prepare_qflow", "results_table", "side_by_side",
]

