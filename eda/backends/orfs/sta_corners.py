"""Post-route timing and power of an ORFS result at every liberty corner of the platform.

ORFS times its layout once, at the platform's nominal liberty. Voltage scaling needs the
same layout at the other corners (sky130hd: ss_n40C_1v40 and ff_100C_1v95 beside
tt_025C_1v80), so this step runs OpenSTA once per corner on ORFS's final netlist with its
extracted parasitics, with the embedded backend's script (eda/flow/sta.py: same reports,
same delay and power definitions, same parsers), and returns characterization rows.

Inputs, in ORFS's results/<platform>/<design nickname>/<FLOW_VARIANT>/ (WORK_HOME layout):

    6_final.v     the routed netlist; written by the finish stage's report step
                  (scripts/final_report.tcl, log logs/.../6_report.log)
    6_final.spef  OpenRCX parasitics; written by the same step, only when the platform sets
                  RCX_RULES and detailed routing ran
    6_final.sdc   the constraints ORFS timed with (optional)

Constraints, the first that exists: 6_final.sdc; the SDC the caller gave (the design
folder's constraint-<variant>.sdc); else the embedded backend's constraints (clock
`StaSettings.clock_period_ns` on `clk`, zero IO delay, driver cell and load from the
platform). With an SDC, `delay_ns` is the SDC clock period minus the worst clk->clk slack
(the embedded definition at the SDC's clock); power is still reported at
`StaSettings.clock_period_ns` and `input_activity` (every clock scaled by one factor just
before report_power), so it compares with the embedded backend's power column.

Clocks are propagated by default: the final netlist holds the clock tree, and ORFS's own
final report also times it with set_propagated_clock. `PostRouteOptions(propagated_clocks=False)`
gives ideal clocks, i.e. exactly the embedded script plus read_spef.

The SPEF must really annotate the netlist: the script compares every driven and loaded
net's wire capacitance before and after read_spef (OpenSTA 2.0.17 has no
report_parasitic_annotation), and the step fails when too few nets changed or read_spef
warned (`min_annotated_fraction`, `max_spef_warnings`).

Outputs, under run_dir (characterize_with_orfs: <WORK_HOME>/voltscale/<nickname>/<variant>/):

    sta-<corner>/   sta.tcl, sta.cmd, sta.log, endpoints.csv, state_in.json, state_out.json
    corners.json    inputs with sha256, liberties, settings, tool version, per-corner metrics;
                    written last and atomically: a run is complete when it exists
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from eda import __version__
from eda.core.errors import EdaError
from eda.core.files import atomic_write_text, sha256_file
from eda.core.liberty import PreparedLiberty
from eda.parsers.sta import parse_sta_log, split_sections
from eda.core.platforms import Platform
from eda.parsers.qflow import parse_netlist_ports
from eda.core.runner import run_tool, tool_version
from eda.core.step import State, Step, run_step
from eda.core.script_words import tcl_word
from eda.flow.sta import SpefAnnotation, StaSettings, parse_spef_annotation, sta_executable, sta_metrics, sta_script
from eda.backends.orfs.table import ORFS_COLUMNS, OrfsRunFolders

MANIFEST = "corners.json"
MAIN_CLOCK = "clk"  # the clock the embedded reports time (eda/flow/sta.py; ORFS SDCs of design.py name it so)

# ORFS's own nominal-corner numbers, kept beside the re-timed ones; and how each row was timed.
RETIME_EXTRA_COLUMNS = ["orfs_delay_ns", "orfs_power_w", "timing_clock_ns", "clock_mode", "constraints",
                        "spef_nets", "spef_unannotated_nets"]
RETIMED_COLUMNS = ORFS_COLUMNS + [c for c in RETIME_EXTRA_COLUMNS if c not in ORFS_COLUMNS]


@dataclass(frozen=True)
class PostRouteOptions:
    """How the post-route analysis differs from the embedded one; recorded in corners.json."""

    propagated_clocks: bool = True  # time the routed clock tree (False: ideal clocks, as the embedded backend)
    power_at_sdc_clock: bool = False  # True: power at the SDC's clock, as ORFS reports it
    min_annotated_fraction: float = 0.99  # of the nets with a driver and a load, annotated by the SPEF
    max_spef_warnings: int = 0  # OpenSTA warnings while reading the SPEF (e.g. a pin it cannot find)
    use_final_sdc: bool = True  # False: ignore 6_final.sdc (use the given SDC or the embedded constraints)

    def __post_init__(self):
        if not 0.0 <= self.min_annotated_fraction <= 1.0:
            raise EdaError(f"min_annotated_fraction must be in [0, 1], got {self.min_annotated_fraction!r}")
        if self.max_spef_warnings < 0:
            raise EdaError(f"max_spef_warnings must be >= 0, got {self.max_spef_warnings!r}")


@dataclass(frozen=True)
class FinalResults:
    """One ORFS run's final netlist, parasitics and constraints."""

    netlist: Path  # 6_final.v
    spef: Path  # 6_final.spef
    sdc: Path | None  # 6_final.sdc, else the fallback SDC, else None (embedded constraints)
    top: str  # DESIGN_NAME: the netlist's top module

    @property
    def constraints(self) -> str:
        return str(self.sdc) if self.sdc is not None else "embedded"


_MODULE = re.compile(r"^\s*module\s+(\\\S+|[A-Za-z_][A-Za-z0-9_$]*)", re.M)


def _netlist_top(netlist: Path) -> str:
    """The top module of a final netlist: ORFS writes one flat module (more with SYNTH_HIERARCHICAL)."""
    names = _MODULE.findall(netlist.read_text(errors="replace"))
    if len(names) != 1:
        found = ", ".join(names[:10]) or "none"
        raise EdaError(f"{netlist}: cannot tell the top module ({len(names)} modules: {found}); pass top= (DESIGN_NAME)")
    return names[0]


def final_results(work_home: Path, platform: str, design_nickname: str, flow_variant: str, *, top: str | None = None,
                  fallback_sdc: Path | None = None, use_final_sdc: bool = True) -> FinalResults:
    """Find 6_final.v, 6_final.spef and the constraints of one finished ORFS run; EdaError naming what is missing."""
    folders = OrfsRunFolders.of(Path(work_home), platform, design_nickname, flow_variant)
    report_log = folders.logs / "6_report.log"
    netlist, spef, final_sdc = (folders.results / name for name in ("6_final.v", "6_final.spef", "6_final.sdc"))
    if not netlist.is_file():
        raise EdaError(f"no final netlist {netlist}: ORFS writes it in the finish stage's report step "
                       f"(scripts/final_report.tcl, log {report_log}). Did `make ... finish` complete for "
                       f"{design_nickname} {flow_variant}?")
    if not spef.is_file():
        raise EdaError(f"no parasitics {spef}: ORFS's finish stage writes 6_final.spef with OpenRCX in its report step "
                       f"(scripts/final_report.tcl, log {report_log}) only when platform {platform} sets RCX_RULES and "
                       f"detailed routing ran (SKIP_DETAILED_ROUTE unset). Without it there is nothing post-route to re-time; "
                       f"characterize without re-timing (retime=False) to keep ORFS's own nominal-corner numbers.")
    if use_final_sdc and final_sdc.is_file():
        sdc: Path | None = final_sdc
    elif fallback_sdc is not None:
        if not Path(fallback_sdc).is_file():
            raise EdaError(f"SDC {fallback_sdc} (given for {design_nickname} {flow_variant}, as {final_sdc} is absent) "
                           "does not exist")
        sdc = Path(fallback_sdc)
    else:
        sdc = None
    return FinalResults(netlist, spef, sdc, top or _netlist_top(netlist))


# --------------------------------------------------------------------------- the Tcl around the embedded script

SDC_CONSTRAINTS = """\
# Constraints: the design's SDC, as ORFS timed it, in the liberty's time unit.
read_sdc {sdc}
# Reports below in ns whatever the liberty's unit (asap7: ps); the parsers read ns.
set_cmd_units -time ns
puts "@@ clocks"
foreach clock [all_clocks] {{ puts "clock [get_name $clock] [get_property $clock period]" }}
"""

PROPAGATE = """\
# The final netlist holds the clock tree: time it (ORFS's final report does the same).
set_propagated_clock [all_clocks]
"""

# create_clock with an existing name redefines that clock in place: IO delays and
# multicycle paths stay attached; OpenSTA 2.0.17 keeps its propagated flag too.
POWER_CLOCK = """\
# Power at {power_ns} ns (the embedded backend's clock), not at the SDC's period, so that
# post-route power compares with the embedded backend's: every clock is redefined with its
# period and edges scaled by one factor, which keeps the Razor shadow clock's phase.
set power_scale [expr {{{power_ns} / [get_property [get_clocks {clock}] period]}}]
foreach clock [all_clocks] {{
    if {{[$clock is_generated]}} {{ continue }}
    set edges {{}}
    # waveform is in seconds; times are in ns (set_cmd_units above)
    foreach edge [$clock waveform] {{ lappend edges [expr {{$edge * 1e9 * $power_scale}}] }}
    set power_period [expr {{[get_property $clock period] * $power_scale}}]
    set sources [get_property $clock sources]
    if {{[llength $sources] > 0}} {{
        create_clock -name [get_name $clock] -period $power_period -waveform $edges $sources
    }} else {{
        create_clock -name [get_name $clock] -period $power_period -waveform $edges
    }}
}}
"""

_CLOCK_LINE = re.compile(r"^clock (\S+) ([-0-9.eE+]+)\s*$", re.M)


def post_route_script(results: FinalResults, step_dir: Path, liberty: PreparedLiberty, platform: Platform,
                      settings: StaSettings, ports: set[str], options: PostRouteOptions,
                      static_inputs: frozenset[str] = frozenset()) -> str:
    """The embedded STA script with read_spef, the design's SDC and the power clock (pure, paths relative to step_dir)."""
    def rel(path: Path) -> Path:
        return Path(os.path.relpath(Path(path).resolve(), step_dir.resolve()))

    propagate = PROPAGATE if options.propagated_clocks else ""
    constraints = before_power = None
    if results.sdc is not None:
        constraints = SDC_CONSTRAINTS.format(sdc=tcl_word(rel(results.sdc), braced=True))
        if not options.power_at_sdc_clock:
            # The redefined clocks are ideal again only if OpenSTA dropped the flag; set it again to be sure.
            before_power = POWER_CLOCK.format(power_ns=settings.clock_period_ns, clock=MAIN_CLOCK) + propagate
    return sta_script(results.top, rel(results.netlist), liberty, platform, settings, ports, static_inputs,
                      spef=rel(results.spef), constraints=constraints, extra_constraints=propagate,
                      before_power=before_power or "", step_dir=step_dir)


def parse_sdc_clocks(log_text: str) -> dict[str, float]:
    """The `@@ clocks` section of SDC_CONSTRAINTS: {clock name: period in ns}."""
    section = split_sections(log_text).get("clocks", "")
    return {name: float(period) for name, period in _CLOCK_LINE.findall(section)}


# --------------------------------------------------------------------------- the step


class PostRouteSta(Step):
    """OpenSTA on ORFS's final netlist + SPEF at one liberty corner."""

    id = "sta"
    inputs = ("netlist", "spef")
    outputs = ("sta_report",)

    def __init__(self, results: FinalResults, corner: str, liberty: PreparedLiberty, platform: Platform,
                 settings: StaSettings, ports: set[str], options: PostRouteOptions, timeout_s: float,
                 static_inputs: frozenset[str] = frozenset()):
        self.results, self.corner, self.liberty, self.platform = results, corner, liberty, platform
        self.settings, self.ports, self.options, self.timeout_s = settings, ports, options, timeout_s
        self.static_inputs = static_inputs

    def run(self, state: State, step_dir: Path):
        script = post_route_script(self.results, step_dir, self.liberty, self.platform, self.settings, self.ports,
                                   self.options, self.static_inputs)
        atomic_write_text(step_dir / "sta.tcl", script)
        run = run_tool([sta_executable(), "-no_init", "-exit", "sta.tcl"], cwd=step_dir, name="sta", timeout_s=self.timeout_s)
        text = run.log_text()
        timing_clock_ns = power_clock_ns = self.settings.clock_period_ns
        if self.results.sdc is not None:
            # Checked first: without clk the reports below fail with a less telling message.
            clocks = parse_sdc_clocks(text)
            if "clocks" in split_sections(text) and MAIN_CLOCK not in clocks:
                raise EdaError(f"{self.results.sdc} defines no clock named {MAIN_CLOCK!r} (clocks: {', '.join(clocks) or 'none'}); "
                               f"the post-route reports time {MAIN_CLOCK}->{MAIN_CLOCK} paths, as the embedded backend does. "
                               f"See {run.log_path}")
            timing_clock_ns = clocks.get(MAIN_CLOCK, math.nan)
            if self.options.power_at_sdc_clock:
                power_clock_ns = timing_clock_ns
        # OpenSTA's own errors (e.g. a command of the SDC it does not know) and missing sections first,
        # then whether the SPEF annotated the netlist.
        report = parse_sta_log(text, source=run.log_path)
        annotation = parse_spef_annotation(text, run.log_path)
        self._check_annotation(annotation, run.log_path)
        atomic_write_text(step_dir / "endpoints.csv", report.endpoints.to_csv(index=False))
        metrics = {
            "sta__corner": self.corner,
            # delay_ns = the timing clock minus the worst clk->clk slack (sta_metrics' definition)
            **sta_metrics(report, replace(self.settings, clock_period_ns=timing_clock_ns)),
            "sta__timing_clock_ns": timing_clock_ns,
            "sta__power_clock_ns": power_clock_ns,
            "sta__clock_mode": "propagated" if self.options.propagated_clocks else "ideal",
            "sta__constraints": self.results.constraints,
            "sta__arrival_ns": report.critical_path.arrival_ns,
            "sta__slack_ns": report.critical_path.slack_ns,
            "sta__power_sequential_w": report.power_groups["Sequential"].total_w,
            "sta__power_combinational_w": report.power_groups["Combinational"].total_w,
            "spef__nets": annotation.nets,
            "spef__unannotated_nets": annotation.unannotated,
            "spef__annotated_fraction": round(annotation.annotated_fraction, 6),
            "spef__warnings": len(annotation.warnings),
        }
        return {"sta_report": run.log_path, "endpoints": step_dir / "endpoints.csv"}, metrics

    def _check_annotation(self, annotation: SpefAnnotation, log_path: Path) -> None:
        spef, options = self.results.spef, self.options
        if len(annotation.warnings) > options.max_spef_warnings:
            shown = "\n    ".join(annotation.warnings[:5])
            raise EdaError(f"OpenSTA warned {len(annotation.warnings)} time(s) reading {spef} (max_spef_warnings="
                           f"{options.max_spef_warnings}); the SPEF does not match {self.results.netlist}:\n    {shown}\n"
                           f"Full log: {log_path}")
        if annotation.nets == 0 or annotation.annotated_fraction < options.min_annotated_fraction:
            names = ", ".join(annotation.unannotated_names[:10])
            raise EdaError(f"{spef} annotates {annotation.nets - annotation.unannotated} of the {annotation.nets} driven and "
                           f"loaded nets of {self.results.netlist} ({annotation.annotated_fraction:.1%}; "
                           f"min_annotated_fraction={options.min_annotated_fraction:g}). Not annotated: {names or '-'}. "
                           f"Full log: {log_path}")


# --------------------------------------------------------------------------- all corners of one run


def retime_corners(results: FinalResults, platform: Platform, liberties: dict[str, PreparedLiberty], run_dir: Path, *,
                   settings: StaSettings = StaSettings(), options: PostRouteOptions = PostRouteOptions(),
                   ports: set[str] | frozenset[str] | None = None, static_inputs: frozenset[str] = frozenset(),
                   timeout_s: float = 600.0) -> dict[str, dict[str, Any]]:
    """Run PostRouteSta at every corner in `liberties` (see eda.characterize.prepare_corners).

    Each corner gets run_dir/sta-<corner>/; run_dir/corners.json is written last. Returns
    {corner: metrics} in the order of `liberties`. `ports` are the top's port names (for the
    embedded constraints and the Razor shadow report); read from the netlist when not given.
    """
    unknown = [c for c in liberties if c not in platform.corners]
    if unknown:
        raise EdaError(f"platform {platform.name} has no corner(s) {', '.join(unknown)}; available: {', '.join(platform.corners)}")
    if not liberties:
        raise EdaError(f"no corners to re-time {results.netlist} at")
    run_dir = Path(run_dir).resolve()
    (run_dir / MANIFEST).unlink(missing_ok=True)  # a killed re-run must not look complete
    if ports is None:
        ports = {p.name for p in parse_netlist_ports(results.netlist.read_text(errors="replace"), results.top)}
    start = time.monotonic()
    state = State({"netlist": results.netlist, "spef": results.spef, **({"sdc": results.sdc} if results.sdc else {})})
    corners: dict[str, dict[str, Any]] = {}
    for corner, liberty in liberties.items():
        step = PostRouteSta(results, corner, liberty, platform, settings, set(ports), options, timeout_s, static_inputs)
        after = run_step(step, state, run_dir / f"sta-{corner}", run_dir)
        c = platform.corners[corner]
        corners[corner] = {"vdd": c.vdd, "temp_c": c.temp_c, "process": c.process, "run_dir": f"sta-{corner}",
                           **{k: v for k, v in after.metrics.items() if k.startswith(("sta__", "spef__"))}}
    manifest = {
        "tool": {"name": "voltscale", "version": __version__},
        "created_unix": int(time.time()),
        "sta": {"path": sta_executable(), "version": tool_version(sta_executable(), ("-version",))},
        "top": results.top,
        "inputs": {name: {"path": str(path), "sha256": sha256_file(path)}
                   for name, path in (("netlist", results.netlist), ("spef", results.spef), ("sdc", results.sdc)) if path},
        "constraints": results.constraints,
        "platform": platform.name,
        "liberty": {corner: {"path": str(lib.source), "prepared_copy": str(lib.path), "prepared_key": lib.key}
                    for corner, lib in liberties.items()},
        "sta_settings": asdict(settings),
        "options": asdict(options),
        "runtime_s": round(time.monotonic() - start, 3),
        "corners": corners,
    }
    atomic_write_text(run_dir / MANIFEST, json.dumps(manifest, indent=1))
    return corners


def retimed_rows(base: dict[str, Any], corners: dict[str, dict[str, Any]], run_dir: str) -> list[dict[str, Any]]:
    """One characterization row per corner (pure): `base` is the run's ORFS row (read_orfs_run),
    `corners` what retime_corners returned, `run_dir` its folder as the table should name it.

    The embedded backend's columns (eda.characterize.CSV_COLUMNS) come from the re-timing;
    area, cells and ORFS's own columns (setup/hold slacks, fmax, utilization...) stay ORFS's,
    at its nominal corner, with ORFS's delay and power in orfs_delay_ns / orfs_power_w.
    """
    rows = []
    for corner, m in corners.items():
        where = f"{run_dir}/{m['run_dir']}/sta.log"
        row = {c: base.get(c) for c in RETIMED_COLUMNS}
        row.update({
            "corner": corner, "vdd": m["vdd"], "temp_c": m["temp_c"],
            "delay_ns": m["sta__delay_ns"], "power_w": m["sta__power_w"], "power_internal_w": m["sta__power_internal_w"],
            "power_switching_w": m["sta__power_switching_w"], "power_leakage_w": m["sta__power_leakage_w"],
            "power_activity_propagated": m["sta__power_activity_propagated"], "power_clock_ns": m["sta__power_clock_ns"],
            "input_activity": m["sta__input_activity"], "razor_window_slack_ns": m.get("sta__razor_window_slack_ns", math.nan),
            "critical_startpoint": m["sta__critical_startpoint"], "critical_endpoint": m["sta__critical_endpoint"],
            "run_dir": f"{run_dir}/{m['run_dir']}",
            "delay_source": f"{where}: OpenSTA post-route ({m['sta__clock_mode']} clocks, SPEF), timing clock - worst clk->clk slack",
            # critical_* are the re-timed path now, not ORFS's: say so (reg_to_reg_delay_ns stays ORFS's, nominal corner).
            "critical_path_source": f"{where}: report_checks -from clk -to clk (critical_path)",
            "power_source": f"{where}: report_power Total",
            "orfs_delay_ns": base.get("delay_ns"), "orfs_power_w": base.get("power_w"),
            "timing_clock_ns": m["sta__timing_clock_ns"], "clock_mode": m["sta__clock_mode"],
            "constraints": m["sta__constraints"], "spef_nets": m["spef__nets"],
            "spef_unannotated_nets": m["spef__unannotated_nets"],
        })
        rows.append(row)
    return rows
