"""Independent check of the internal power OpenSTA reports.

OpenSTA 2.0.17 (Debian) silently reports zero internal power when a liberty file names
its default operating conditions before defining them (sky130hd does); the project runs
OpenSTA on a normalized copy instead (`eda.core.liberty.prepare_liberty`).  This package
recomputes internal power from the liberty tables, with the slews, loads and switching
activities OpenSTA itself computed, so the number OpenSTA reports for the normalized
library can be trusted (or not).

Inputs taken from OpenSTA (parsed from its output): per-pin rise/fall slews, per-net load
capacitance, whether a pin is in the clock network, and per-pin activity and duty from
OpenSTA's own activity propagation (its `power_activity` debug trace: 2.0.17 has no other
way to read them).  The tables, units, conditions, duty weights and the sum are ours.

Modules, one job each:

* `boolean`: liberty `function`/`when` expressions, inferred conditions, activities;
* `power_table`: an energy table and its lookup, as OpenSTA's table models do it;
* `liberty_model`: the library's internal power model, read with liberty-parser (after
  cutting the text to the cells a netlist uses);
* `sta_io`: the Tcl script OpenSTA runs, running it, and parsers of what it reports;
* `instance_states`: OpenSTA's per-pin data joined into one state per instance, with
  activities resolved as OpenSTA does;
* `compute`: internal power per instance, following OpenSTA 2.0.17's findInternalPower;
* `check`: `check_internal_power`, which ties them together, and its result.
"""

from eda.flow.power_check.boolean import Activity, Expr, eval_activity, expr_ports, infer_when, parse_function
from eda.flow.power_check.check import InternalPowerCheck, check_internal_power, describe
from eda.flow.power_check.compute import instance_internal_power_w, internal_power_by_instance
from eda.flow.power_check.instance_states import InstanceState, PinState, build_instance_states
from eda.flow.power_check.liberty_model import CellPowerModel, InternalPowerGroup, LibraryPowerModel, filter_liberty_cells, liberty_cell_names, netlist_cell_types, read_internal_power_model
from eda.flow.power_check.power_table import LOAD_VARIABLES, SLEW_VARIABLES, PowerTable
from eda.flow.power_check.sta_io import DESIGN_POWER_REPORT, INSTANCE_POWER_REPORT, PIN_DUMP_NAME, StaOutputs, StaPinData, parse_activity_trace, parse_instance_power_report, parse_pin_dump, read_sta_outputs, run_sta, write_sta_script

__all__ = [
    "Activity",
    "CellPowerModel",
    "DESIGN_POWER_REPORT",
    "Expr",
    "INSTANCE_POWER_REPORT",
    "InstanceState",
    "InternalPowerCheck",
    "InternalPowerGroup",
    "LOAD_VARIABLES",
    "LibraryPowerModel",
    "PIN_DUMP_NAME",
    "PinState",
    "PowerTable",
    "SLEW_VARIABLES",
    "StaOutputs",
    "StaPinData",
    "build_instance_states",
    "check_internal_power",
    "describe",
    "eval_activity",
    "expr_ports",
    "filter_liberty_cells",
    "infer_when",
    "instance_internal_power_w",
    "internal_power_by_instance",
    "liberty_cell_names",
    "netlist_cell_types",
    "parse_activity_trace",
    "parse_function",
    "parse_instance_power_report",
    "parse_pin_dump",
    "read_internal_power_model",
    "read_sta_outputs",
    "run_sta",
    "write_sta_script",
]
