"""Post-layout characterization with qflow: synthesize, place, route, extract, time.

    characterize_qflow("proposed", 3000, "osu018", work_dir) -> QflowResult

One run folder per variant, one subfolder per stage:

    00-rtl/              the RTL
    01-synth/            voltscale's Yosys + ABC synthesis at the delay target
    02-qflow-synth/      qflow project: the netlist handed to qflow (BLIF)
    03-place/            qflow project after GrayWolf placement
    04-route/            qflow project after qrouter (routed DEF, RC trees, log/route.log)
    05-extract/          netlist.v and parasitics.spef of the routed layout
    06-sta-synthesis/    OpenSTA on that netlist without parasitics
    07-sta-layout/       OpenSTA on that netlist with the SPEF (wire load included)
    metrics.json         every step's metrics (written last: a run is complete if it exists)

"Post-synthesis" and "post-layout" numbers come from the same netlist (the cells that
were placed and routed), so the difference is the wires: their capacitance loads the
drivers (slower edges, more switching power) and their resistance adds RC delay.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from eda.designs.registry import Design
from eda.designs.registry import mac_design
from eda.core.errors import EdaError
from eda.core.files import atomic_write_text
from eda.core.liberty import PreparedLiberty, prepare_liberty
from eda.core.platforms import Platform
from eda.designs.mac import MAC_KINDS, MacParams
from eda.core.step import State, run_step
from eda.flow.sta import StaSettings
from eda.flow.synth import Synthesize
from eda.parsers.qflow import RouteSummary, parse_route_log
from eda.backends.qflow.steps import Extraction, LayoutSta, QflowPlacement, QflowRouting, QflowSynthesis
from eda.backends.qflow.tech import QflowTech, qflow_tech, resolve_platform

DEFAULT_PLATFORM = "osu018"
STAGES = ("synthesis", "layout")


@dataclass(frozen=True)
class StageNumbers:
    """One analysis of the variant: post-synthesis (no wires) or post-layout (routed wires)."""

    stage: str  # synthesis | layout
    area_um2: float  # synthesis: cell area; layout: die area
    delay_ns: float  # minimum clock period, clk -> clk
    power_w: float
    power_internal_w: float
    power_switching_w: float
    power_leakage_w: float
    razor_window_slack_ns: float | None
    critical_startpoint: str
    critical_endpoint: str


@dataclass
class QflowResult:
    kind: str
    top: str
    target_ps: int
    platform: str
    run_dir: Path
    synthesis: StageNumbers
    layout: StageNumbers
    route: RouteSummary
    metrics: dict = field(default_factory=dict)

    @property
    def cell_area_um2(self) -> float:
        return self.metrics["extract__cell_area_um2"]

    @property
    def die_area_um2(self) -> float:
        return self.metrics["extract__die_area_um2"]

    def rows(self) -> list[dict]:
        """Two CSV rows, synthesis then layout (see report.CSV_COLUMNS)."""
        m = self.metrics
        common = {
            "cell_area_um2": m["extract__cell_area_um2"], "die_area_um2": m["extract__die_area_um2"],
            "utilization": m["extract__utilization"], "cells": m["extract__cells"],
            "failed_nets": self.route.failed_nets, "routed_nets": m["extract__rc_nets"],
            "platform": self.platform, "clock_period_ns": m["sta_layout__clock_period_ns"],
            "input_activity": m["sta_layout__input_activity"], "run_dir": str(self.run_dir),
        }
        rows = []
        for numbers in (self.synthesis, self.layout):
            rows.append({
                "kind": self.kind, "target_ps": self.target_ps, "stage": numbers.stage, "area_um2": numbers.area_um2,
                "delay_ns": numbers.delay_ns, "power_w": numbers.power_w, "power_internal_w": numbers.power_internal_w,
                "power_switching_w": numbers.power_switching_w, "power_leakage_w": numbers.power_leakage_w,
                "wire_cap_ff": m["extract__wire_cap_ff"] if numbers.stage == "layout" else 0.0,
                "razor_window_slack_ns": numbers.razor_window_slack_ns,
                "critical_startpoint": numbers.critical_startpoint, "critical_endpoint": numbers.critical_endpoint,
                **common,
            })
        return rows


@dataclass(frozen=True)
class QflowSetup:
    """What every variant on a platform shares; made once, before runs start in parallel."""

    platform: Platform
    liberty: PreparedLiberty
    tech: QflowTech


def prepare_qflow(platform: str | Platform = DEFAULT_PLATFORM, cache_dir: Path | None = None,
                  platforms_dir: Path | None = None) -> QflowSetup:
    cache_dir = Path(cache_dir or Path.home() / ".cache" / "voltscale").resolve()
    plat = platform if isinstance(platform, Platform) else resolve_platform(platform, cache_dir, platforms_dir)
    libs = plat.nominal.libs
    if len(libs) != 1:
        raise EdaError(f"platform {plat.name}: {len(libs)} liberty files at the nominal corner; qflow takes one")
    liberty = prepare_liberty(libs[0], plat.dont_use, cache_dir)
    return QflowSetup(plat, liberty, qflow_tech(plat, liberty, cache_dir))


def _numbers(stage: str, metrics: dict, prefix: str, area_um2: float) -> StageNumbers:
    g = lambda key: metrics[f"{prefix}__{key}"]  # noqa: E731
    return StageNumbers(stage, area_um2, g("delay_ns"), g("power_w"), g("power_internal_w"), g("power_switching_w"),
                        g("power_leakage_w"), metrics.get(f"{prefix}__razor_window_slack_ns"),
                        g("critical_startpoint"), g("critical_endpoint"))


def _as_design(design: str | Design) -> Design:
    if isinstance(design, Design):
        return design
    if design not in MAC_KINDS:
        raise EdaError(f"unknown MAC kind {design!r}; kinds: {', '.join(MAC_KINDS)} (or pass an eda.designs Design)")
    return mac_design(MacParams(design, 8, 8, 24, 10))


def characterize_qflow(design: str | Design, target_ps: int, platform: str | Platform | QflowSetup = DEFAULT_PLATFORM,
                       work_dir: Path | str = "qflow-runs", *, settings: StaSettings = StaSettings(),
                       cache_dir: Path | None = None, timeout_s: float = 900.0, project_vars: str = "") -> QflowResult:
    """Synthesize `design` (a MAC kind or a Design) at `target_ps`, place and route it with qflow,
    and time it before and after layout. The run folder is <work_dir>/<kind>-D<target_ps>/.

    `project_vars` is appended to qflow's project_vars.sh (e.g. 'set initial_density = 0.6').
    Raises EdaError naming the failed stage and its log.
    """
    setup = platform if isinstance(platform, QflowSetup) else prepare_qflow(platform, cache_dir)
    design = _as_design(design)
    if not isinstance(target_ps, int) or target_ps <= 0:
        raise EdaError(f"target_ps must be a positive integer (ps), got {target_ps!r}")
    run_dir = (Path(work_dir) / f"{design.kind}-D{target_ps}").resolve()
    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / "00-rtl").mkdir(parents=True)
    start = time.monotonic()
    sources = []
    for name, text in sorted(design.sources.items()):
        (run_dir / "00-rtl" / name).write_text(text)
        sources.append(run_dir / "00-rtl" / name)
    top, lib, tech = design.top, setup.liberty, setup.tech
    state = State({"verilog": tuple(sources)})
    state = run_step(Synthesize(top, target_ps, lib, setup.platform, timeout_s), state, run_dir / "01-synth", run_dir)
    state = run_step(QflowSynthesis(top, tech, lib, timeout_s, project_vars), state, run_dir / "02-qflow-synth", run_dir)
    state = run_step(QflowPlacement(top, tech, timeout_s), state, run_dir / "03-place", run_dir)
    state = run_step(QflowRouting(top, tech, timeout_s), state, run_dir / "04-route", run_dir)
    state = run_step(Extraction(top, tech, lib), state, run_dir / "05-extract", run_dir)
    metrics = dict(state.metrics)
    ports = set(design.ports)
    for stage, spef in (("synthesis", False), ("layout", True)):
        step = LayoutSta(top, lib, setup.platform, settings, ports, spef, timeout_s)
        after = run_step(step, state, run_dir / f"{6 + STAGES.index(stage):02d}-sta-{stage}", run_dir)
        metrics.update({k.replace("sta__", f"sta_{stage}__"): v for k, v in after.metrics.items() if k.startswith("sta__")})
    metrics["total_runtime_s"] = round(time.monotonic() - start, 3)
    atomic_write_text(run_dir / "metrics.json", json.dumps({"kind": design.kind, "top": top, "target_ps": target_ps,
                                                           "platform": setup.platform.name, "metrics": metrics}, indent=1))
    route = parse_route_log((run_dir / "04-route" / "log" / "route.log").read_text(errors="replace"))
    return QflowResult(
        kind=design.kind, top=top, target_ps=target_ps, platform=setup.platform.name, run_dir=run_dir,
        synthesis=_numbers("synthesis", metrics, "sta_synthesis", metrics["extract__cell_area_um2"]),
        layout=_numbers("layout", metrics, "sta_layout", metrics["extract__die_area_um2"]),
        route=route, metrics=metrics,
    )
