"""Static timing and power of a netlist with OpenSTA at one liberty corner."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..liberty import PreparedLiberty
from ..parsers.sta import StaReport, parse_sta_log
from ..platforms import Platform
from ..runner import run_tool, find_tool
from .base import State, Step


@dataclass(frozen=True)
class StaSettings:
    """What the timing/power analysis assumes; all of it lands in the cache key."""

    clock_period_ns: float = 10.0
    input_activity: float = 0.2  # toggles per clock cycle on every data input
    shadow_delay_fraction: float = 0.25  # Razor shadow latch closes this fraction of a period after clk
    clock_port: str = "clk"
    shadow_clock_port: str = "clk_shadow"
    endpoint_count: int = 200


STA_SCRIPT = """\
# voltscale timing and power: {top} on {liberty_name}
read_liberty {liberty}
read_verilog {netlist}
link_design {top}
set period {period}
create_clock -name clk -period $period [get_ports {clock_port}]
set clock_ports [get_ports {clock_port}]
{shadow}
set data_inputs [delete_from_list [all_inputs] $clock_ports]
{late_inputs}
if {{[llength $data_inputs] > 0}} {{
    set_input_delay 0 -clock clk $data_inputs
    set_driving_cell -lib_cell {driver} $data_inputs
}}
set_output_delay 0 -clock clk [all_outputs]
set_load {load} [all_outputs]
set_power_activity -input -activity {activity}
puts "@@ critical_path"
report_checks -from [get_clocks clk] -to [get_clocks clk] -path_delay max -digits 4
puts "@@ endpoints"
report_checks -from [get_clocks clk] -to [get_clocks clk] -path_delay max -group_count {endpoints} -endpoint_count 1 -format end -digits 4
{shadow_report}
puts "@@ power"
# The activity trace tells whether propagation reached the register outputs:
# OpenSTA 2.0.17 sometimes stops at the first register stage (see parsers/sta.py).
sta::set_debug power_activity 3
report_power -digits 6
sta::set_debug power_activity 0
puts "@@ end"
"""

SHADOW_CLOCK = """\
# Razor shadow latches: transparent from 0.5P+d to P+d, so a late-arriving D is
# caught until d after the main flop's edge (multicycle: same data as that edge).
create_clock -name clk_shadow -period $period -waveform [list [expr {{$period*(0.5+{frac})}}] [expr {{$period*(1.0+{frac})}}]] [get_ports {port}]
set_multicycle_path -setup 2 -from [get_clocks clk] -to [get_clocks clk_shadow]
set clock_ports [get_ports {{{clock_port} {port}}}]
"""

SHADOW_REPORT = """\
puts "@@ shadow"
report_checks -to [get_clocks clk_shadow] -path_delay max -digits 4
"""


def sta_script(top: str, netlist: Path, liberty: PreparedLiberty, platform: Platform, settings: StaSettings, ports: set[str]) -> str:
    has_shadow = settings.shadow_clock_port in ports
    # An upstream Razor error (thundervolt's err_in) is known only when the upstream
    # shadow latch closes, so it is timed from clk_shadow's closing edge.
    late = [p for p in ("err_in",) if p in ports and has_shadow]
    late_inputs = "\n".join(
        f"set_input_delay 0 -clock clk_shadow -clock_fall [get_ports {p}]\nset data_inputs [delete_from_list $data_inputs [get_ports {p}]]"
        for p in late
    )
    return STA_SCRIPT.format(
        top=top,
        liberty_name=liberty.source.name,
        liberty=liberty.path,
        netlist=netlist,
        period=settings.clock_period_ns,
        clock_port=settings.clock_port,
        shadow=SHADOW_CLOCK.format(frac=settings.shadow_delay_fraction, port=settings.shadow_clock_port, clock_port=settings.clock_port)
        if has_shadow
        else "",
        late_inputs=late_inputs,
        driver=platform.driver,
        load=round(platform.output_load_ff / liberty.cap_unit_ff, 9),
        activity=settings.input_activity,
        endpoints=settings.endpoint_count,
        shadow_report=SHADOW_REPORT if has_shadow else "",
    )


def sta_executable() -> str:
    """OpenSTA: a user's newer build through $OPENSTA_EXE (the ORFS variable) wins over Debian's."""
    return find_tool("sta", "OPENSTA_EXE")


class StaticTiming(Step):
    id = "sta"
    inputs = ("netlist",)
    outputs = ("sta_report",)

    def __init__(self, top: str, corner: str, liberty: PreparedLiberty, platform: Platform, settings: StaSettings, ports: set[str], timeout_s: float):
        self.top, self.corner, self.liberty, self.platform = top, corner, liberty, platform
        self.settings, self.ports, self.timeout_s = settings, ports, timeout_s

    def run(self, state: State, step_dir: Path):
        netlist = Path(os.path.relpath(Path(state.views["netlist"]).resolve(), step_dir.resolve()))
        script = sta_script(self.top, netlist, self.liberty, self.platform, self.settings, self.ports)
        (step_dir / "sta.tcl").write_text(script)
        run = run_tool([sta_executable(), "-no_init", "-exit", "sta.tcl"], cwd=step_dir, name="sta", timeout_s=self.timeout_s)
        report = parse_sta_log(run.log_text(), source=run.log_path)
        report.endpoints.to_csv(step_dir / "endpoints.csv", index=False)
        metrics = {
            "sta__corner": self.corner,
            **sta_metrics(report, self.settings),
            "sta__arrival_ns": report.critical_path.arrival_ns,
            "sta__power_sequential_w": report.power_groups["Sequential"].total_w,
            "sta__power_combinational_w": report.power_groups["Combinational"].total_w,
            "sta__activity_pins_set": report.activity.pins_set,
            "sta__activity_register_outputs": report.activity.register_outputs_reached,
        }
        return {"sta_report": run.log_path, "endpoints": step_dir / "endpoints.csv"}, metrics


def sta_metrics(report: StaReport, settings: StaSettings) -> dict:
    """Delay, power and Razor window of one OpenSTA run, as step metrics."""
    period = settings.clock_period_ns
    power = report.power_total
    metrics = {
        "sta__clock_period_ns": period,
        "sta__input_activity": settings.input_activity,
        # Minimum clock period of the register-to-register paths: arrival plus
        # setup (ideal clocks), i.e. period minus worst slack.
        "sta__delay_ns": round(period - report.critical_path.slack_ns, 4),
        "sta__critical_startpoint": report.critical_path.startpoint,
        "sta__critical_endpoint": report.critical_path.endpoint,
        "sta__power_internal_w": power.internal_w,
        "sta__power_switching_w": power.switching_w,
        "sta__power_leakage_w": power.leakage_w,
        "sta__power_w": power.total_w,
        "sta__warnings": len(report.warnings),
        "sta__power_activity_propagated": report.activity.propagated,
    }
    if report.shadow_path is not None:
        metrics["sta__razor_window_slack_ns"] = report.shadow_path.slack_ns
    return metrics
