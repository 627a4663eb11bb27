"""Static timing and power of a netlist with OpenSTA at one liberty corner."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from eda.core.errors import EdaError
from eda.core.liberty import PreparedLiberty
from eda.parsers.sta import StaReport, parse_sta_log, split_sections
from eda.core.platforms import Platform
from eda.core.runner import run_tool, find_tool
from eda.core.script_words import is_plain, tcl_word, verilog_identifier
from eda.core.step import State, Step


@dataclass(frozen=True)
class StaSettings:
    """What the timing/power analysis assumes; all of it lands in the cache key."""

    clock_period_ns: float = 10.0
    input_activity: float = 0.2  # toggles per clock cycle on every data input
    shadow_delay_fraction: float = 0.25  # Razor shadow latch closes this fraction of a period after clk
    clock_port: str = "clk"
    shadow_clock_port: str = "clk_shadow"
    endpoint_count: int = 200


# The script is three parts so that a post-route analysis (eda/backends/orfs/sta_corners.py) can read
# parasitics after linking and take its constraints from the design's SDC, yet report
# exactly what the embedded backend reports. STA_SCRIPT is the embedded backend's script.
STA_SETUP = """\
# voltscale timing and power: {top} on {liberty_name}
read_liberty {liberty}
read_verilog {netlist}
link_design {top}
{parasitics}"""

STA_CONSTRAINTS = """\
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
"""

STA_REPORTS = """\
{extra_constraints}set_power_activity -input -activity {activity}
{static_inputs}puts "@@ critical_path"
report_checks -from [get_clocks clk] -to [get_clocks clk] -path_delay max -digits 4
puts "@@ endpoints"
report_checks -from [get_clocks clk] -to [get_clocks clk] -path_delay max -group_count {endpoints} -endpoint_count 1 -format end -digits 4
{shadow_report}
{before_power}puts "@@ power"
# The activity trace tells whether propagation reached the register outputs:
# OpenSTA 2.0.17 sometimes stops at the first register stage (see parsers/sta.py).
sta::set_debug power_activity 3
report_power -digits 6
sta::set_debug power_activity 0
puts "@@ end"
"""

# The embedded backend's script: the parts without the post-route hooks, which render empty
# there (so this text, which cache keys hash, did not change when the parts were split).
STA_SCRIPT = re.sub(r"\{(parasitics|extra_constraints|before_power)\}", "", STA_SETUP + STA_CONSTRAINTS + STA_REPORTS)

# With a SPEF: every net's wire capacitance before and after read_spef. A net whose value
# read_spef left unchanged kept the liberty's wire-load estimate (or none): the SPEF did not
# annotate it. OpenSTA 2.0.17 has no report_parasitic_annotation, and read_spef only warns
# about SPEF nets missing from the netlist, not about netlist nets missing from the SPEF.
# Only nets with a driver and a load count (an unloaded output has nothing to annotate).
SPEF_READ = """\
proc voltscale_wire_caps {{}} {{
    set corner [sta::cmd_corner]
    set caps [dict create]
    foreach net [get_nets *] {{
        set drivers 0
        set loads 0
        set pins [$net connected_pin_iterator]
        while {{[$pins has_next]}} {{
            set pin [$pins next]
            if {{[$pin is_driver]}} {{ incr drivers }} elseif {{[$pin is_load]}} {{ incr loads }}
        }}
        $pins finish
        if {{$drivers > 0 && $loads > 0}} {{
            dict set caps [get_full_name $net] [$net wire_capacitance "rise" $corner "max"]
        }}
    }}
    return $caps
}}
set wire_caps_before [voltscale_wire_caps]
puts "@@ parasitics"
read_spef {spef}
set unannotated {{}}
dict for {{net cap}} [voltscale_wire_caps] {{
    if {{$cap == [dict get $wire_caps_before $net]}} {{ lappend unannotated $net }}
}}
puts "spef nets with driver and load: [dict size $wire_caps_before]"
puts "spef nets not annotated: [llength $unannotated]"
foreach net [lrange $unannotated 0 {listed}] {{ puts "spef not annotated: $net" }}
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


def sta_script(top: str, netlist: Path, liberty: PreparedLiberty, platform: Platform, settings: StaSettings, ports: set[str],
               static_inputs: frozenset[str] = frozenset(), *, spef: Path | None = None, spef_nets_listed: int = 20,
               constraints: str | None = None, extra_constraints: str = "", before_power: str = "",
               step_dir: Path | None = None) -> str:
    """static_inputs: ports that hold still while the design computes (an array's weight load and
    MUX selects), given activity 0 instead of settings.input_activity.

    For post-route analyses (all default to the embedded script, unchanged):
    spef: read after link_design, with the annotation check of SPEF_READ (section `@@ parasitics`,
    listing up to spef_nets_listed unannotated nets; see parse_spef_annotation);
    constraints: Tcl that replaces the embedded constraints (e.g. a read_sdc); extra_constraints:
    Tcl run after either; before_power: Tcl run after the timing reports, before report_power.
    step_dir: the folder OpenSTA runs in, for a liberty path it cannot read as given (liberty_word).
    """
    has_shadow = settings.shadow_clock_port in ports
    # An upstream Razor error (thundervolt's err_in) is known only when the upstream
    # shadow latch closes, so it is timed from clk_shadow's closing edge.
    late = [p for p in ("err_in",) if p in ports and has_shadow]
    late_inputs = "\n".join(
        f"set_input_delay 0 -clock clk_shadow -clock_fall [get_ports {p}]\nset data_inputs [delete_from_list $data_inputs [get_ports {p}]]"
        for p in late
    )
    # Names are checked, paths quoted: all of them reach Tcl, which would substitute $ and [...].
    clock_port = tcl_word(verilog_identifier(settings.clock_port, "clock port"))
    shadow_port = tcl_word(verilog_identifier(settings.shadow_clock_port, "shadow clock port"))
    template = STA_SETUP + (STA_CONSTRAINTS if constraints is None else "{constraints}") + STA_REPORTS
    return template.format(
        parasitics=SPEF_READ.format(spef=tcl_word(spef, braced=True), listed=max(spef_nets_listed, 0) - 1) if spef is not None else "",
        constraints=constraints,
        extra_constraints=extra_constraints,
        before_power=before_power,
        top=tcl_word(verilog_identifier(top, "top module")),
        liberty_name=liberty.source.name,
        liberty=liberty_word(liberty.path, step_dir),
        netlist=tcl_word(netlist),
        period=settings.clock_period_ns,
        clock_port=clock_port,
        shadow=SHADOW_CLOCK.format(frac=settings.shadow_delay_fraction, port=shadow_port, clock_port=clock_port)
        if has_shadow
        else "",
        late_inputs=late_inputs,
        driver=platform.driver,
        load=round(platform.output_load_ff / liberty.cap_unit_ff, 9),
        activity=settings.input_activity,
        endpoints=settings.endpoint_count,
        shadow_report=SHADOW_REPORT if has_shadow else "",
        static_inputs=(f"set_power_activity -input_ports [get_ports {{{' '.join(sorted(static_inputs))}}}] -activity 0\n"
                       if static_inputs else ""),
    )


def liberty_word(path: Path, step_dir: Path | None) -> str:
    """The liberty path for OpenSTA's read_liberty, as one Tcl word.

    OpenSTA 2.0.17's read_liberty takes `[file nativename $args]`: the string form of its argument
    list, so a path needing Tcl quoting (space, $, [ ...) reaches the reader still quoted and is not
    found. Such a path is written relative to the run folder instead (the prepared liberty and the
    run share the cache folder, so the relative path is plain); a plain path stays as it was."""
    text = str(path)
    if is_plain(text):
        return text
    if step_dir is not None:
        relative = os.path.relpath(Path(path).resolve(), Path(step_dir).resolve())
        if is_plain(relative):
            return relative
    raise EdaError(f"OpenSTA's read_liberty cannot read {text!r}: its path holds characters other than letters, "
                   "digits and /._-+, and no plain relative path from the run folder leads to it. "
                   "Move the cache folder (--cache-dir / $VOLTSCALE_CACHE) to a plain path")


@dataclass(frozen=True)
class SpefAnnotation:
    """What SPEF_READ printed: how many driven and loaded nets read_spef annotated."""

    nets: int  # nets with a driver and a load
    unannotated: int
    unannotated_names: tuple[str, ...]  # the first few
    warnings: tuple[str, ...]  # OpenSTA warnings printed while reading the SPEF

    @property
    def annotated_fraction(self) -> float:
        return 1.0 - self.unannotated / self.nets if self.nets else 0.0


def parse_spef_annotation(log_text: str, source: Path | str = "OpenSTA log") -> SpefAnnotation:
    """The `@@ parasitics` section of a log from sta_script(spef=...)."""
    section = split_sections(log_text).get("parasitics")
    nets = re.search(r"^spef nets with driver and load: (\d+)$", section or "", re.M)
    missing = re.search(r"^spef nets not annotated: (\d+)$", section or "", re.M)
    if section is None or nets is None or missing is None:
        raise EdaError(f"{source}: no SPEF annotation counts (section '@@ parasitics'); did read_spef stop the script?")
    # Warnings before the counts are read_spef's; later ones belong to the constraints that follow.
    return SpefAnnotation(int(nets.group(1)), int(missing.group(1)),
                          tuple(re.findall(r"^spef not annotated: (.*)$", section, re.M)),
                          tuple(re.findall(r"^Warning: (.*)$", section[:nets.start()], re.M)))


def sta_executable() -> str:
    """OpenSTA: a user's newer build through $OPENSTA_EXE (the ORFS variable) wins over Debian's."""
    return find_tool("sta", "OPENSTA_EXE")


class StaticTiming(Step):
    id = "sta"
    inputs = ("netlist",)
    outputs = ("sta_report",)

    def __init__(self, top: str, corner: str, liberty: PreparedLiberty, platform: Platform, settings: StaSettings, ports: set[str], timeout_s: float,
                 static_inputs: frozenset[str] = frozenset()):
        self.top, self.corner, self.liberty, self.platform = top, corner, liberty, platform
        self.settings, self.ports, self.timeout_s = settings, ports, timeout_s
        self.static_inputs = static_inputs

    def run(self, state: State, step_dir: Path):
        netlist = Path(os.path.relpath(Path(state.views["netlist"]).resolve(), step_dir.resolve()))
        script = sta_script(self.top, netlist, self.liberty, self.platform, self.settings, self.ports, self.static_inputs,
                            step_dir=step_dir)
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
