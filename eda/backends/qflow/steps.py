"""The qflow stages as voltscale steps: each runs in its own folder, with its command and log.

A qflow project is a folder with source/, synthesis/, layout/ and log/. Every qflow stage
step copies the previous stage's project into its own step folder and runs one
`qflow -T <tech> <stage> <top>` there, so each folder holds the project as that stage
left it, qflow's console output (`qflow-<stage>.log`, command in `.cmd`) and qflow's own
stage log (`log/<stage>.log`).

* QflowSynthesis hands qflow the netlist voltscale's own synthesis mapped (latches on the
  platform's latch cell, ABC at the delay target): `yosys_options = "-s voltscale.ys"`
  makes qflow's synthesize.sh run our script, which only converts that netlist to the
  BLIF qflow expects. Fanout buffering (blifFanout) and output buffers are off, so the
  cells placed are the cells synthesized.
* QflowPlacement: GrayWolf, then qflow's DEF writing, spacers and pin arrangement.
* QflowRouting: qrouter; it writes the routed DEF and the RC trees. qflow's router.sh
  does not notice failed nets (qrouter writes fail.out, the script checks failed.out), so
  the step reads qrouter's final count from log/route.log and fails if it is not zero.
* Extraction: netlist and SPEF from the routed DEF and RC file (see extract.py).
* LayoutSta: OpenSTA with the flow's usual script (clocks, Razor shadow clock, power with
  activity), with or without `read_spef`.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

from eda.core.errors import EdaError
from eda.core.liberty import PreparedLiberty
from eda.parsers.sta import parse_sta_log
from eda.core.platforms import Platform
from eda.core.runner import ToolError, run_tool
from eda.core.step import State, Step
from eda.flow.sta import StaSettings, sta_executable, sta_metrics, sta_script
from eda.backends.qflow.extract import build_name_map, cell_area_um2, def_to_verilog, rc_to_spef
from eda.parsers.qflow import parse_def, parse_lef_macro_sizes, parse_netlist_ports, parse_rc, parse_route_log
from eda.core.script_words import LIBERTY_COPY, yosys_word
from eda.backends.qflow.tech import QflowTech, qflow_executable

PROJECT_ITEMS = ("source", "synthesis", "layout", "log", "project_vars.sh")
STAGE_LOGS = {"synthesize": "synth.log", "place": "place.log", "route": "route.log"}  # qflow's own, under log/

CONVERT_SCRIPT = """\
# voltscale: hand qflow the netlist voltscale synthesized (qflow's synthesize.sh runs this
# instead of its own Yosys script; it expects {top}_mapped.blif in source/).
read_liberty -lib -ignore_miss_dir -setattr blackbox {liberty}
read_verilog {top}.v
hierarchy -check -top {top}
# One name per net: no alias buffers in the BLIF (write_blif -buf turns aliases into buffers).
splitnets
opt_clean -purge
rename -enumerate
write_blif -buf {buf_cell} {buf_in} {buf_out} {top}_mapped.blif
stat
"""

PROJECT_VARS = """\
#!/usr/bin/tcsh -f
# voltscale's qflow project settings (read after the tech file; these win)
set yosys_options = "-s voltscale.ys"
# Place the cells synthesis chose: no fanout re-buffering, no output buffers.
set nofanout = 1
set nobuffers = 1
{extra}"""


def qflow_failure(stage: str, step_dir: Path, exc: ToolError | None = None, detail: str = "") -> EdaError:
    """An error naming the qflow stage, its console log and qflow's own stage log."""
    own = step_dir / "log" / STAGE_LOGS[stage]
    tail = ""
    if own.is_file():
        lines = own.read_text(errors="replace").splitlines()[-12:]
        tail = "\n".join("    " + line for line in lines)
    message = f"qflow stage '{stage}' failed in {step_dir}"
    if detail:
        message += f": {detail}"
    message += f".\n  console log: {step_dir / f'qflow-{stage}.log'}\n  qflow log:   {own}"
    if exc is not None:
        first = str(exc).splitlines()[0]
        message += "\n  " + (first.split(" The log")[0] if "timed out" in first else "qflow exited with a non-zero status")
    if tail:
        message += f"\n  last lines of the qflow log:\n{tail}"
    return EdaError(message)


class QflowStage(Step):
    stage = ""  # qflow's name for the stage

    def __init__(self, top: str, tech: QflowTech, timeout_s: float):
        self.top, self.tech, self.timeout_s = top, tech, timeout_s

    def run_qflow(self, step_dir: Path) -> None:
        command = [qflow_executable(), "-T", self.tech.name, self.stage, self.top]
        try:
            run_tool(command, cwd=step_dir, name=f"qflow-{self.stage}", timeout_s=self.timeout_s,
                     env={"QFLOW_TECH_DIR": str(self.tech.root), "QFLOW_PROJECT_ROOT": str(step_dir.resolve())})
        except ToolError as exc:
            raise qflow_failure(self.stage, step_dir, exc) from None
        own_log = step_dir / "log" / STAGE_LOGS[self.stage]
        lines = own_log.read_text(errors="replace").strip().splitlines() if own_log.is_file() else []
        if lines and "error condition" in lines[-1]:
            raise qflow_failure(self.stage, step_dir, detail="qflow's log ends on an error condition")

    @staticmethod
    def copy_project(previous: Path, step_dir: Path) -> None:
        for item in PROJECT_ITEMS:
            src = previous / item
            if src.is_dir():
                shutil.copytree(src, step_dir / item, dirs_exist_ok=True)  # copy2 keeps mtimes qflow compares
            elif src.is_file():
                shutil.copy2(src, step_dir / item)

    def expect(self, step_dir: Path, *paths: Path) -> None:
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise qflow_failure(self.stage, step_dir, detail=f"it did not write {', '.join(str(p.relative_to(step_dir)) for p in missing)}")


class QflowSynthesis(QflowStage):
    id = "qflow_synth"
    stage = "synthesize"
    inputs = ("netlist",)
    outputs = ("qflow_project", "blif")

    def __init__(self, top: str, tech: QflowTech, liberty: PreparedLiberty, timeout_s: float, project_vars: str = ""):
        super().__init__(top, tech, timeout_s)
        self.liberty, self.project_vars = liberty, project_vars

    def run(self, state: State, step_dir: Path):
        for sub in ("source", "synthesis", "layout"):
            (step_dir / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy2(state.views["netlist"], step_dir / "source" / f"{self.top}.v")
        buf_cell, buf_in, buf_out = self.tech.buffer()
        (step_dir / "source" / "voltscale.ys").write_text(CONVERT_SCRIPT.format(
            top=self.top, liberty=yosys_word(self.liberty.path, LIBERTY_COPY), buf_cell=buf_cell, buf_in=buf_in, buf_out=buf_out))
        (step_dir / "project_vars.sh").write_text(PROJECT_VARS.format(extra=self.project_vars))
        self.run_qflow(step_dir)
        blif = step_dir / "synthesis" / f"{self.top}.blif"
        self.expect(step_dir, blif)
        gates = sum(1 for line in blif.read_text().splitlines() if line.startswith((".gate", ".subckt")))
        return {"qflow_project": step_dir, "blif": blif}, {"qflow_synth__cells": gates}


class QflowPlacement(QflowStage):
    id = "place"
    stage = "place"
    inputs = ("qflow_project",)
    outputs = ("qflow_project", "placed_def")

    def run(self, state: State, step_dir: Path):
        self.copy_project(Path(state.views["qflow_project"]), step_dir)
        self.run_qflow(step_dir)
        placed = step_dir / "layout" / f"{self.top}.def"
        self.expect(step_dir, placed)
        design = parse_def(placed.read_text(), source=str(placed))
        return {"qflow_project": step_dir, "placed_def": placed}, {
            "place__components": len(design.components),
            "place__die_area_um2": round(design.die_area_um2, 3),
        }


class QflowRouting(QflowStage):
    id = "route"
    stage = "route"
    inputs = ("qflow_project",)
    outputs = ("qflow_project", "routed_def", "rc")

    def run(self, state: State, step_dir: Path):
        self.copy_project(Path(state.views["qflow_project"]), step_dir)
        self.run_qflow(step_dir)
        log = step_dir / "log" / "route.log"
        self.expect(step_dir, log)
        summary = parse_route_log(log.read_text(errors="replace"), source=str(log))
        if not summary.complete:
            names = ", ".join(summary.failed_net_names[:10])
            raise qflow_failure(self.stage, step_dir, detail=f"qrouter left {summary.failed_nets} net(s) unrouted"
                                f"{f' ({names}, ...)' if names else ''}; the layout is not routable as placed")
        routed, rc = step_dir / "layout" / f"{self.top}.def", step_dir / "layout" / f"{self.top}.rc"
        self.expect(step_dir, routed, rc)
        return {"qflow_project": step_dir, "routed_def": routed, "rc": rc}, {
            "route__failed_nets": summary.failed_nets,
            "route__stage1_failed_nets": summary.stage1_failed,
            "route__passes": summary.passes,
        }


class Extraction(Step):
    """Routed DEF + qrouter RC trees -> post-route netlist.v and parasitics.spef."""

    id = "extract"
    inputs = ("routed_def", "rc", "netlist")
    outputs = ("layout_netlist", "spef")

    def __init__(self, top: str, tech: QflowTech, liberty: PreparedLiberty):
        self.top, self.tech, self.liberty = top, tech, liberty

    def run(self, state: State, step_dir: Path):
        def_path, rc_path = Path(state.views["routed_def"]), Path(state.views["rc"])
        design = parse_def(def_path.read_text(), source=str(def_path))
        ports = parse_netlist_ports(Path(state.views["netlist"]).read_text(), self.top)
        names = build_name_map(design, ports, set(self.liberty.cells))
        sizes: dict[str, tuple[float, float]] = {}
        for lef in self.tech.lef_paths:
            sizes.update(parse_lef_macro_sizes(lef.read_text(errors="replace")))
        rc_nets = parse_rc(rc_path.read_text(), source=str(rc_path))
        netlist = def_to_verilog(design, self.top, ports, names)
        spef, summary = rc_to_spef(rc_nets, self.top, ports, names)
        (step_dir / "netlist.v").write_text(netlist)
        (step_dir / "parasitics.spef").write_text(spef)
        logic_cells = len(design.connected_instances() & set(names.instances))
        cell_area = cell_area_um2(design, names, sizes)
        metrics = {
            "extract__cells": len(names.instances),
            "extract__connected_cells": logic_cells,
            "extract__filler_components": len(design.components) - len(names.instances),
            "extract__cell_area_um2": round(cell_area, 3),
            "extract__die_area_um2": round(design.die_area_um2, 3),
            "extract__utilization": round(cell_area / design.die_area_um2, 4),
            "extract__nets": len(design.nets),
            "extract__rc_nets": summary.nets,
            "extract__wire_cap_ff": round(summary.wire_cap_pf * 1e3, 3),
            "extract__wire_res_ohm": round(summary.wire_res_ohm, 3),
            "extract__incomplete_rc_nets": len(summary.incomplete_nets),
        }
        (step_dir / "extract.json").write_text(json.dumps({**metrics, "incomplete_rc_nets": summary.incomplete_nets,
                                                           "skipped_rc_nets": summary.skipped_nets}, indent=1))
        return {"layout_netlist": step_dir / "netlist.v", "spef": step_dir / "parasitics.spef"}, metrics


class LayoutSta(Step):
    """OpenSTA timing and power of the post-route netlist, with the SPEF (layout) or without (synthesis)."""

    id = "sta"
    inputs = ("layout_netlist",)
    outputs = ("sta_report",)

    def __init__(self, top: str, liberty: PreparedLiberty, platform: Platform, settings: StaSettings, ports: set[str],
                 with_parasitics: bool, timeout_s: float):
        self.top, self.liberty, self.platform, self.settings = top, liberty, platform, settings
        self.ports, self.with_parasitics, self.timeout_s = ports, with_parasitics, timeout_s

    def run(self, state: State, step_dir: Path):
        netlist = Path(os.path.relpath(Path(state.views["layout_netlist"]).resolve(), step_dir.resolve()))
        spef = Path(os.path.relpath(Path(state.views["spef"]).resolve(), step_dir.resolve())) if self.with_parasitics else None
        script = sta_script(self.top, netlist, self.liberty, self.platform, self.settings, self.ports, spef=spef,
                            step_dir=step_dir)
        (step_dir / "sta.tcl").write_text(script)
        run = run_tool([sta_executable(), "-no_init", "-exit", "sta.tcl"], cwd=step_dir, name="sta", timeout_s=self.timeout_s)
        text = run.log_text()
        report = parse_sta_log(text, source=run.log_path)
        spef_warnings = [w for w in report.warnings if ".spef" in w.lower()]
        if self.with_parasitics and spef_warnings:
            raise EdaError(f"OpenSTA did not take all of the SPEF ({len(spef_warnings)} warning(s), e.g. {spef_warnings[0]!r}); "
                           f"see {run.log_path}")
        metrics = {"sta__parasitics": "spef" if self.with_parasitics else "none", **sta_metrics(report, self.settings)}
        (step_dir / "settings.json").write_text(json.dumps(asdict(self.settings), indent=1))
        return {"sta_report": run.log_path}, metrics
