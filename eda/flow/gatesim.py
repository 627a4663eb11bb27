"""Gate-level simulation of a synthesized MAC and OpenSTA power with per-pin activity.

Four steps, each in its own folder (see base.py), used by eda/jobs/power.py:

1. GateLevelModel (yosys): the synthesized netlist plus simulation bodies for its
   library cells. `read_liberty` without `-lib` builds every cell from its liberty
   `function`, `ff` and `latch` groups, so the model is exactly the logic OpenSTA
   times. The hierarchy is kept (one module per cell type), so the MAC module's nets
   are the netlist's nets, one for one, under the same names.
2. GateLevelSimulation (iverilog, vvp): the project's MAC testbench (rtl/tb_mac.v.j2,
   the cycle convention of eda/verify/mac_sim.py) on the gate-level model, plus a second top
   module that dumps the MAC's own nets (`$dumpvars(1, tb_mac.dut)`) to a VCD from
   the measured window on.
3. NetActivity: toggles per clock period and duty of every net, from the VCD.
4. AnnotatedPower (OpenSTA): the STA script of flow/sta.py (same liberty, clocks,
   input/output constraints, driver and load) with every net's measured activity and
   duty set on every pin of the net, then report_power.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from eda.core.errors import EdaError
from eda.core.files import atomic_write_text
from eda.core.liberty import PreparedLiberty
from eda.parsers.sta import parse_sta_log
from eda.parsers.vcd import read_activity
from eda.core.platforms import Platform
from eda.designs.mac import MacParams, mac_ports, template_environment
from eda.core.runner import find_tool, run_tool
from eda.core.script_words import LIBERTY_COPY, yosys_word
from eda.verify.mac_sim import CLOCK_PORTS, SIM_OUTPUT_FILE, TESTBENCH_FILE, TESTBENCH_TEMPLATE, TESTBENCH_TOP, stimulus_arrays, write_hex
from eda.core.step import State, Step
from eda.flow.sta import StaSettings, sta_executable, sta_script

# rtl/tb_mac.v.j2 applies vector k at time 10k, raises clk at 10k+5, samples the
# outputs at 10k+6 and lowers clk at 10k+10, with the next vector (time units of
# the testbench, no `timescale`). The measured window starts and ends at 10k+7,
# where nothing changes, so every period in it holds exactly one rising edge.
TB_PERIOD = 10
TB_QUIET_OFFSET = 7
VCD_FILE = "activity.vcd"
VCD_SCOPE = f"{TESTBENCH_TOP}.dut"
DUMP_MODULE = "voltscale_vcd_dump"

GATE_MODEL_SCRIPT = """\
# voltscale gate-level simulation model of {top}.
# Without -lib, read_liberty gives each cell a body from its function/ff/latch groups.
read_liberty -ignore_miss_func {liberty}
read_verilog {netlist}
# A cell whose liberty has no function for an output (sky130hd: the clock gates) is
# skipped by read_liberty, so a netlist using one fails here, naming it.
hierarchy -check -top {top}
select -assert-none =A:blackbox
write_verilog -noattr sim_model.v
"""

DUMP_TEMPLATE = """\
// Dumps the MAC's own nets (depth 1: not the cells' insides) from the start of the
// measured window; the first values in the file are the state at that time.
module {module};
    initial begin
        $dumpfile("{vcd}");
        #{start} $dumpvars(1, {scope});
    end
endmodule
"""

ANNOTATION_TCL = """\
# Measured switching activity: net -> {{activity duty}}, activity in transitions
# per clock period (OpenSTA's -activity unit), duty = fraction of time at 1.
set voltscale_activity [dict create]
{entries}

# Every pin of a net gets the net's activity, not only its driver: OpenSTA 2.0.17
# does not carry a driver pin's annotation to the load pins (checked on sky130hd:
# a flop's D-pin internal power stays at the propagated value), and newer
# versions, which propagate it, compute the same from annotated load pins.
#
# `set_power_activity -pins` is the official command, but in Debian's OpenSTA
# 2.0.17 its body assigns `set ports [get_pins_error ...]` and then loops over
# `$pins` (get_pins_error does not exist) and it skips non-input pins. There the
# underlying sta::set_power_pin_activity (activity per clock period) is used;
# newer binaries (e.g. through $OPENSTA_EXE), whose body has no get_pins_error,
# get the official command.
proc voltscale_annotate {{activity clock_ports}} {{
    if {{[catch {{info body set_power_activity}} body]}} {{ set body "" }}
    set official [expr {{![string match {{*get_pins_error*}} $body]}}]
    set nets 0
    set pins 0
    set ports 0
    set missing {{}}
    foreach port [all_inputs] {{
        set name [get_full_name $port]
        if {{[lsearch -exact $clock_ports $name] >= 0}} {{ continue }}
        if {{![dict exists $activity $name]}} {{ lappend missing $name; continue }}
        lassign [dict get $activity $name] a d
        set_power_activity -input_ports $name -activity $a -duty $d
        incr ports
    }}
    foreach net [get_nets *] {{
        set name [get_full_name $net]
        if {{[lsearch -exact $clock_ports $name] >= 0}} {{ continue }}
        set net_pins [get_pins -quiet -of_objects $net]
        if {{[llength $net_pins] == 0}} {{ continue }}
        if {{![dict exists $activity $name]}} {{ lappend missing $name; continue }}
        lassign [dict get $activity $name] a d
        if {{$official}} {{
            # By name: 2.0.17's get_pins matches names only, not pin objects (so do ports above).
            set_power_activity -pins [lmap pin $net_pins {{get_full_name $pin}}] -activity $a -duty $d
        }} else {{
            foreach pin $net_pins {{ sta::set_power_pin_activity $pin $a $d }}
        }}
        incr nets
        incr pins [llength $net_pins]
    }}
    puts "@@ annotation"
    puts "method [expr {{$official ? {{set_power_activity -pins}} : {{sta::set_power_pin_activity}}}}]"
    puts "annotated_ports $ports"
    puts "annotated_nets $nets"
    puts "annotated_pins $pins"
    puts "missing_count [llength $missing]"
    foreach name $missing {{ puts "missing $name" }}
}}
voltscale_annotate $voltscale_activity {{{clock_ports}}}
"""


def _relative(path: Path, step_dir: Path) -> Path:
    # Relative paths keep a finished run folder valid after it is moved into the cache.
    return Path(os.path.relpath(Path(path).resolve(), step_dir.resolve()))


class GateLevelModel(Step):
    id = "gatemodel"
    inputs = ("netlist",)
    outputs = ("sim_model",)

    def __init__(self, top: str, liberty: PreparedLiberty, timeout_s: float):
        self.top, self.liberty, self.timeout_s = top, liberty, timeout_s

    def run(self, state: State, step_dir: Path):
        script = GATE_MODEL_SCRIPT.format(top=self.top, liberty=yosys_word(self.liberty.path, LIBERTY_COPY),
                                          netlist=_relative(state.views["netlist"], step_dir))
        (step_dir / "gatemodel.ys").write_text(script)
        run_tool([find_tool("yosys", "YOSYS_EXE"), "-q", "-l", "yosys.log", "gatemodel.ys"], cwd=step_dir,
                 name="yosys-run", timeout_s=self.timeout_s)
        return {"sim_model": step_dir / "sim_model.v"}, {}


def window_times(n_cycles: int, warmup_cycles: int) -> tuple[int, int]:
    """VCD times [start, end) of the measured cycles warmup_cycles .. n_cycles-1."""
    return TB_PERIOD * (warmup_cycles - 1) + TB_QUIET_OFFSET, TB_PERIOD * (n_cycles - 1) + TB_QUIET_OFFSET


class GateLevelSimulation(Step):
    """Replays stimulus vectors (eda/verify/mac_sim.py format) on the gate-level model; VCD + outputs."""

    id = "gatesim"
    inputs = ("sim_model",)
    outputs = ("vcd", "sim_outputs")

    def __init__(self, params: MacParams, vectors: pd.DataFrame, warmup_cycles: int, timeout_s: float):
        if not 1 <= warmup_cycles < len(vectors):
            raise EdaError(f"warm-up of {warmup_cycles} cycles leaves nothing to measure in {len(vectors)} vectors "
                           "(need 1 <= warm-up < cycles)")
        if params.kind == "proposed" and vectors["force_razor_error"].any():
            # The RTL testbench forces dut.razor_error, a net synthesis renames.
            raise EdaError("forced Razor errors cannot be replayed on a gate-level netlist")
        self.params, self.vectors, self.warmup_cycles, self.timeout_s = params, vectors, warmup_cycles, timeout_s

    def run(self, state: State, step_dir: Path):
        params = self.params
        stimulus = stimulus_arrays(params, self.vectors)
        ports = mac_ports(params)
        stimulus_ports = [p for p in ports if p.direction == "input" and p.name not in CLOCK_PORTS]
        output_ports = [p for p in ports if p.direction == "output"]
        testbench = template_environment().get_template(TESTBENCH_TEMPLATE).render(
            module=params.module, n_cycles=len(self.vectors), ports=ports, stimulus_ports=stimulus_ports,
            output_ports=output_ports, has_shadow_clock=any(p.name == "clk_shadow" for p in ports),
            force_razor_error=False, output_file=SIM_OUTPUT_FILE,
        )
        (step_dir / TESTBENCH_FILE).write_text(testbench)
        start, _ = window_times(len(self.vectors), self.warmup_cycles)
        (step_dir / "vcd_dump.v").write_text(DUMP_TEMPLATE.format(module=DUMP_MODULE, vcd=VCD_FILE, start=start, scope=VCD_SCOPE))
        for port in stimulus_ports:
            write_hex(step_dir / f"{port.name}.hex", stimulus[port.name], port.bits)
        model = _relative(state.views["sim_model"], step_dir)
        run_tool(["iverilog", "-g2005", "-s", TESTBENCH_TOP, "-s", DUMP_MODULE, "-o", "tb.vvp", TESTBENCH_FILE, "vcd_dump.v",
                  str(model)], cwd=step_dir, name="iverilog", timeout_s=self.timeout_s)
        run_tool(["vvp", "-n", "tb.vvp"], cwd=step_dir, name="vvp", timeout_s=self.timeout_s)
        return {"vcd": step_dir / VCD_FILE, "sim_outputs": step_dir / SIM_OUTPUT_FILE}, {
            "gatesim__cycles": len(self.vectors), "gatesim__warmup_cycles": self.warmup_cycles}


class NetActivity(Step):
    """Per-net activity and duty over the measured window (parsers/vcd.py)."""

    id = "activity"
    inputs = ("vcd",)
    outputs = ("activity",)

    def __init__(self, n_cycles: int, warmup_cycles: int, clock_ports: tuple[str, ...]):
        self.n_cycles, self.warmup_cycles, self.clock_ports = n_cycles, warmup_cycles, clock_ports

    def run(self, state: State, step_dir: Path):
        start, end = window_times(self.n_cycles, self.warmup_cycles)
        table = read_activity(Path(state.views["vcd"]), VCD_SCOPE, start, end, TB_PERIOD)
        # Undriven bits (synthesis declares a bus whole and uses some bits) are left out;
        # if one had pins, the power step would find it without activity and stop.
        floating = table[table["floating"]]
        table = table[~table["floating"]]
        atomic_write_text(step_dir / "activity.csv", table.to_csv(index=False))
        atomic_write_text(step_dir / "floating_nets.txt", "".join(f"{n}\n" for n in floating["net"]))
        data = table[~table["net"].isin(self.clock_ports)]
        unknown = data[data["unknown_fraction"] > 0]
        metrics = {
            "activity__cycles": (end - start) // TB_PERIOD,
            "activity__nets": len(data),
            "activity__floating_nets": len(floating),
            "activity__mean_toggle_rate": round(float(data["activity"].mean()), 6),
            "activity__nets_with_unknown": len(unknown),
            "activity__clock_activity": {c: float(table.loc[table["net"] == c, "activity"].iloc[0])
                                         for c in self.clock_ports if (table["net"] == c).any()},
        }
        if len(unknown):
            examples = ", ".join(unknown["net"].head(5))
            raise EdaError(f"{len(unknown)} nets are x or z during the measured window (e.g. {examples}); "
                           f"lengthen the warm-up or check the gate-level model. VCD: {state.views['vcd']}")
        return {"activity": step_dir / "activity.csv"}, metrics


def annotation_tcl(activity: pd.DataFrame, clock_ports: tuple[str, ...]) -> str:
    for name in activity["net"]:
        if any(ch in name for ch in "{}\\ \"$"):
            raise EdaError(f"net name {name!r} cannot be written into the OpenSTA annotation script")
    entries = "\n".join(f"dict set voltscale_activity {{{row.net}}} {{{row.activity:.6g} {min(max(row.duty, 0.0), 1.0):.6g}}}"
                        for row in activity.itertuples(index=False))
    return ANNOTATION_TCL.format(entries=entries, clock_ports=" ".join(clock_ports))


def parse_annotation(text: str, source: Path | str) -> dict:
    """The `@@ annotation` section the script prints: counts and the nets left without data."""
    section = text.split("@@ annotation", 1)
    if len(section) < 2:
        raise EdaError(f"{source}: OpenSTA did not print the annotation summary; the script stopped early")
    body = section[1].split("@@", 1)[0]
    result: dict = {"missing": []}
    for line in body.splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "missing":
            result["missing"].append(value)
        elif key == "method":
            result["method"] = value
        elif key in ("annotated_ports", "annotated_nets", "annotated_pins", "missing_count"):
            result[key] = int(value)
    return result


class AnnotatedPower(Step):
    id = "power"
    inputs = ("netlist", "activity")
    outputs = ("power_report",)

    def __init__(self, top: str, liberty: PreparedLiberty, platform: Platform, settings: StaSettings, ports: set[str],
                 timeout_s: float):
        self.top, self.liberty, self.platform, self.settings, self.ports, self.timeout_s = top, liberty, platform, settings, ports, timeout_s

    def run(self, state: State, step_dir: Path):
        clock_ports = tuple(p for p in (self.settings.clock_port, self.settings.shadow_clock_port) if p in self.ports)
        activity = pd.read_csv(state.views["activity"])
        (step_dir / "activity.tcl").write_text(annotation_tcl(activity, clock_ports))
        # The stated -input activity line stays: it is the default for any input left
        # unannotated, and the annotation overrides it for every data input.
        (step_dir / "power.tcl").write_text(sta_script(self.top, _relative(state.views["netlist"], step_dir), self.liberty,
                                                       self.platform, self.settings, self.ports,
                                                       before_power="source activity.tcl\n", step_dir=step_dir))
        run = run_tool([sta_executable(), "-no_init", "-exit", "power.tcl"], cwd=step_dir, name="sta", timeout_s=self.timeout_s)
        text = run.log_text()
        report = parse_sta_log(text, source=run.log_path)
        annotation = parse_annotation(text, run.log_path)
        if annotation.get("missing_count", 0):
            examples = ", ".join(annotation["missing"][:5])
            raise EdaError(f"{annotation['missing_count']} nets of the netlist have no measured activity (e.g. {examples}); "
                           f"the simulation model and the netlist disagree. Log: {run.log_path}")
        power = report.power_total
        metrics = {
            "power__internal_w": power.internal_w,
            "power__switching_w": power.switching_w,
            "power__leakage_w": power.leakage_w,
            "power__total_w": power.total_w,
            "power__sequential_w": report.power_groups["Sequential"].total_w,
            "power__combinational_w": report.power_groups["Combinational"].total_w,
            "power__clock_period_ns": self.settings.clock_period_ns,
            "power__annotation_method": annotation.get("method"),
            "power__annotated_nets": annotation.get("annotated_nets"),
            "power__annotated_pins": annotation.get("annotated_pins"),
            "power__annotated_ports": annotation.get("annotated_ports"),
            "power__delay_ns": round(self.settings.clock_period_ns - report.critical_path.slack_ns, 4),
        }
        return {"power_report": run.log_path}, metrics


def compare_with_golden(params: MacParams, vectors: pd.DataFrame, outputs_path: Path):
    """The gate-level outputs against eda/verify/mac_sim.py's golden model, cycle by cycle."""
    from eda.verify.mac_sim import read_outputs, compare_outputs, golden_mac

    output_ports = [p for p in mac_ports(params) if p.direction == "output"]
    actual = read_outputs(outputs_path, output_ports, len(vectors))
    return compare_outputs(golden_mac(params, vectors), actual)
