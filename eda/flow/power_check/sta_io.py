"""OpenSTA's side of the check: the Tcl script we give it, running it, parsing its output.

The script makes OpenSTA report power (design total and per instance) and dump, per
instance pin, what its power code works from: rise/fall slews, the load of the net a
pin drives, and whether the pin is in the clock network.  Per-pin activity and duty
come from OpenSTA's own activity propagation, read from its `power_activity` debug
trace: 2.0.17 has no other way to report them.

Parsers are pure (text in, dataclass or DataFrame out); `read_sta_outputs` reads the
files a run left in its work directory.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from eda.core.errors import EdaError
from eda.parsers.sta import PowerRow, parse_power
from eda.core.runner import ToolRun, find_tool, run_tool
from eda.core.script_words import tcl_word, verilog_identifier

# --------------------------------------------------------------------------------------
# Running OpenSTA
# --------------------------------------------------------------------------------------

STA_SCRIPT_NAME = "power_check.tcl"
PIN_DUMP_NAME = "pin_data.tsv"
DESIGN_POWER_REPORT = "design_power.rpt"
INSTANCE_POWER_REPORT = "instance_power.rpt"

_STA_SCRIPT = """\
# Written by eda/flow/power_check/sta_io.py: OpenSTA power plus the per-pin data behind it.
read_liberty {liberty}
read_verilog {netlist}
link_design {top}
create_clock -name power_check_clk -period [sta::time_sta_ui {period_s!r}] [get_ports {{{clock_port}}}]
set_input_delay 0 -clock power_check_clk [delete_from_list [all_inputs] [get_ports {{{clock_port}}}]]
set_power_activity -input -activity {input_activity!r}

# OpenSTA 2.0.17 has no command that reports pin activities; its propagation trace
# ("power_activity: set <pin> <activity> <duty>") is the only place they appear.
sta::set_debug power_activity 3
report_power -digits 6 > {design_report}
sta::set_debug power_activity 0
report_power -instances [get_cells *] -digits 6 > {instance_report}

proc power_check_slew {{pin property}} {{
  if {{[catch {{get_property $pin $property}} slew]}} {{ return "-" }}
  return $slew
}}

set out [open {pin_dump} w]
puts $out "time_ui_s\\t[sta::time_ui_sta 1.0]"
foreach port [get_ports *] {{
  puts $out "port\\t[get_full_name $port]\\t[get_property $port direction]"
}}
set corner [sta::cmd_corner]
foreach inst [get_cells *] {{
  puts $out "instance\\t[get_full_name $inst]\\t[get_property $inst ref_name]"
  foreach pin [get_pins -of_objects $inst] {{
    set direction [get_property $pin direction]
    set net [get_nets -of_objects $pin]
    set net_name "-"
    set load_f 0.0
    if {{$net != "" && $net != "NULL"}} {{
      set net_name [get_full_name $net]
      if {{$direction == "output" || $direction == "tristate" || $direction == "bidirect"}} {{
        # Load as OpenSTA's power code sees it: the larger of rise and fall.
        set rise_f [sta::Net_capacitance $net rise $corner max]
        set fall_f [sta::Net_capacitance $net fall $corner max]
        set load_f [expr {{max($rise_f, $fall_f)}}]
      }}
    }}
    set is_clock 0
    set vertices [sta::Pin_vertices $pin]
    if {{[llength $vertices] > 0 && [lindex $vertices 0] != "NULL"}} {{
      set is_clock [sta::Vertex_is_clock [lindex $vertices 0]]
    }}
    set rise_slew [power_check_slew $pin actual_rise_transition_max]
    set fall_slew [power_check_slew $pin actual_fall_transition_max]
    set fields [list pin [get_full_name $pin] [get_property $pin lib_pin_name] $direction $net_name]
    puts $out [join [concat $fields [list $rise_slew $fall_slew $load_f $is_clock]] "\\t"]
  }}
}}
# Marks a complete dump: OpenSTA exits 0 even when the script stops on an error.
puts $out "end"
close $out
"""


def _tcl_path(path: Path) -> str:
    # Braced as before; a path with braces or backslashes gets tcl_word's backslash quoting.
    return tcl_word(path, braced=True)


def write_sta_script(
    work_dir: Path,
    *,
    netlist: Path,
    liberty: Path,
    top: str,
    clock_port: str,
    clock_period_s: float,
    input_activity: float,
) -> Path:
    """Write the OpenSTA script into `work_dir`; its reports and pin dump go there too."""
    script = work_dir / STA_SCRIPT_NAME
    script.write_text(
        _STA_SCRIPT.format(
            liberty=_tcl_path(liberty),
            netlist=_tcl_path(netlist),
            top=tcl_word(verilog_identifier(top, "top module")),
            clock_port=verilog_identifier(clock_port, "clock port"),
            period_s=clock_period_s,
            input_activity=float(input_activity),
            design_report=_tcl_path(work_dir / DESIGN_POWER_REPORT),
            instance_report=_tcl_path(work_dir / INSTANCE_POWER_REPORT),
            pin_dump=_tcl_path(work_dir / PIN_DUMP_NAME),
        )
    )
    return script


def run_sta(script: Path, work_dir: Path, *, timeout_s: float) -> ToolRun:
    """Run OpenSTA on `script` in `work_dir`; raise unless it finished the pin dump."""
    sta = find_tool("sta", "OPENSTA_EXE")
    run = run_tool([sta, "-no_init", "-exit", str(script)], cwd=work_dir, name="power_check_sta", timeout_s=timeout_s)
    dump_path = work_dir / PIN_DUMP_NAME
    if not dump_path.is_file() or not dump_path.read_text().endswith("end\n"):
        raise EdaError(f"OpenSTA stopped before finishing {dump_path}; see the errors in {run.log_path}")
    return run


# --------------------------------------------------------------------------------------
# Parsing what OpenSTA reports
# --------------------------------------------------------------------------------------

_ACTIVITY_TRACE_RE = re.compile(r"^power_activity: set (\S+) (\S+) (\S+)\s*$", re.MULTILINE)
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_INSTANCE_ROW_RE = re.compile(rf"^\s*({_NUMBER})\s+({_NUMBER})\s+({_NUMBER})\s+({_NUMBER})\s+(\S+)\s*$", re.MULTILINE)


def parse_activity_trace(text: str) -> dict[str, tuple[float, float]]:
    """Final (activity per clock period, duty) of each pin in OpenSTA's power_activity trace.

    Register outputs are set again on each propagation pass; the last value is the one
    OpenSTA uses.
    """
    return {match.group(1): (float(match.group(2)), float(match.group(3))) for match in _ACTIVITY_TRACE_RE.finditer(text)}


def parse_instance_power_report(text: str) -> pd.DataFrame:
    """`report_power -instances` rows: instance, internal/switching/leakage/total in W."""
    rows = [
        (m.group(5), float(m.group(1)), float(m.group(2)), float(m.group(3)), float(m.group(4)))
        for m in _INSTANCE_ROW_RE.finditer(text)
    ]
    return pd.DataFrame(
        rows, columns=["instance", "internal_power_sta_w", "switching_power_sta_w", "leakage_power_sta_w", "total_power_sta_w"]
    )


@dataclass(frozen=True)
class StaPinData:
    """The pin dump written by the Tcl script, still in OpenSTA's terms."""

    time_ui_s: float
    input_ports: tuple[str, ...]
    instance_cells: Mapping[str, str]  # instance -> cell
    # instance -> list of (pin path, port, direction, net, slew rise ui, slew fall ui, load F, is_clock)
    instance_pins: Mapping[str, list[tuple[str, str, str, str, float | None, float | None, float, bool]]]


def parse_pin_dump(text: str) -> StaPinData:
    time_ui_s = 1.0
    input_ports: list[str] = []
    instance_cells: dict[str, str] = {}
    instance_pins: dict[str, list] = {}
    current = None
    for line in text.splitlines():
        fields = line.split("\t")
        kind = fields[0]
        if kind == "time_ui_s":
            time_ui_s = float(fields[1])
        elif kind == "port" and fields[2] == "input":
            input_ports.append(fields[1])
        elif kind == "instance":
            current = fields[1]
            instance_cells[current] = fields[2]
            instance_pins[current] = []
        elif kind == "pin" and current is not None:
            path, port, direction, net, rise, fall, load, is_clock = fields[1:9]
            instance_pins[current].append(
                (
                    path,
                    port,
                    direction,
                    net,
                    None if rise == "-" else float(rise),
                    None if fall == "-" else float(fall),
                    float(load),
                    is_clock == "1",
                )
            )
    return StaPinData(time_ui_s, tuple(input_ports), instance_cells, instance_pins)


@dataclass(frozen=True)
class StaOutputs:
    """Everything the check reads back from one OpenSTA run."""

    pin_data: StaPinData
    activity_trace: Mapping[str, tuple[float, float]]  # pin -> (activity per clock period, duty)
    design_power: Mapping[str, PowerRow]  # report_power group (Sequential, ..., Total) -> W
    instance_power: pd.DataFrame  # as parse_instance_power_report


def read_sta_outputs(work_dir: Path, run: ToolRun) -> StaOutputs:
    """Parse the reports, pin dump and activity trace a `run_sta` run left in `work_dir`."""
    pin_data = parse_pin_dump((work_dir / PIN_DUMP_NAME).read_text())
    design_report = (work_dir / DESIGN_POWER_REPORT).read_text()
    # Debug output follows report redirection, so 2.0.17 writes the trace into the
    # design report; the log is searched too in case a build prints it there.
    activity_trace = parse_activity_trace(run.log_text() + "\n" + design_report)
    if not activity_trace and pin_data.instance_cells:
        raise EdaError(f"no power_activity trace found in {run.log_path}: cannot read OpenSTA's pin activities")
    design_power = parse_power(design_report)
    if "Total" not in design_power:
        raise EdaError("report_power output has no Total row")
    instance_power = parse_instance_power_report((work_dir / INSTANCE_POWER_REPORT).read_text())
    return StaOutputs(pin_data, activity_trace, design_power, instance_power)
