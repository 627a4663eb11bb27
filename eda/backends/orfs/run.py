"""Run OpenROAD-flow-scripts: `make DESIGN_CONFIG=... FLOW_VARIANT=...` in $FLOW_HOME.

Each run's make output goes to <work_home>/voltscale/<nickname>/<variant>/make.log (with
make.cmd, the exact command); ORFS's own per-stage logs go to
<work_home>/logs/<platform>/<nickname>/<variant>/<N>_<M>_<step>.log, since WORK_HOME is set
to keep every output out of the ORFS checkout. Tool locations are ORFS's own variables,
OPENROAD_EXE, YOSYS_EXE and OPENSTA_EXE, passed through when set. Several variants run at
once; ORFS's NUM_CORES is split between them unless set.

When a run fails, the stage log written last by that run names the failing stage
(1 synth, 2 floorplan, 3 place, 4 cts, 5 route, 6 finish) and its error lines are quoted:
see find_failed_stage(), which works on any ORFS logs folder.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from eda.core.errors import EdaError
from eda.core.runner import ToolError, run_tool
from eda.backends.orfs.design import OrfsDesignFolder

STAGES = {1: "synth", 2: "floorplan", 3: "place", 4: "cts", 5: "route", 6: "finish"}
TOOL_VARIABLES = ("OPENROAD_EXE", "YOSYS_EXE", "OPENSTA_EXE")
ERROR_LINES_SHOWN = 10
TAIL_LINES = 15

_STAGE_LOG = re.compile(r"^(\d+)_(?:(\d+)_)?(.+)\.log$")
# OpenROAD "[ERROR GPL-0302] ...", OpenSTA/Tcl "Error: ...", Yosys "ERROR: ...",
# make "make: *** ... Error 1", the time wrapper "Command exited with non-zero status 1".
_ERROR_LINE = re.compile(r"^\s*(\[ERROR [A-Z]+-\d+\]|ERROR:|Error:|make(\[\d+\])?: \*\*\*|Command exited with non-zero status)")


@dataclass(frozen=True)
class StageLog:
    path: Path
    step: str  # file stem, e.g. 3_3_place_gp
    stage: str  # synth, floorplan, place, cts, route, finish (or the step name for unknown numbers)
    order: tuple[int, int]


@dataclass(frozen=True)
class StageFailure:
    log: StageLog
    error_lines: tuple[tuple[int, str], ...]  # (line number, text)
    tail: str  # last lines of the log, for when no line looks like an error

    def describe(self) -> str:
        if self.error_lines:
            shown = "\n".join(f"    {self.log.path.name}:{n}: {text}" for n, text in self.error_lines[:ERROR_LINES_SHOWN])
            more = len(self.error_lines) - ERROR_LINES_SHOWN
            return shown + (f"\n    ... and {more} more error lines" if more > 0 else "")
        return f"    (no error lines; the log ends with)\n{self.tail}"


def stage_log(path: Path) -> StageLog | None:
    """A file named like ORFS's stage logs (1_2_yosys.log, 6_report.log), else None."""
    match = _STAGE_LOG.match(path.name)
    if match is None:
        return None
    major = int(match.group(1))
    minor = int(match.group(2)) if match.group(2) else 10**6  # 6_report after 6_1_merge
    return StageLog(path, path.stem, STAGES.get(major, path.stem), (major, minor))


def stage_logs(logs_dir: Path) -> list[StageLog]:
    """ORFS stage logs in a logs/<platform>/<design>/<variant>/ folder, in flow order."""
    found = [s for s in (stage_log(p) for p in Path(logs_dir).glob("*.log")) if s is not None]
    return sorted(found, key=lambda s: (s.order, s.step))


def error_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line that reads as an error from OpenROAD, OpenSTA, Yosys or make."""
    return [(n, line.rstrip()) for n, line in enumerate(text.splitlines(), 1) if _ERROR_LINE.match(line)]


def _tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def find_failed_stage(logs_dir: Path, since: float | None = None) -> StageFailure | None:
    """The last stage log in flow order (written at or after `since`, a time.time() value) and its errors.

    make stops at the first failing stage, so the latest stage a run wrote is the one that
    failed; logs older than `since` are left over from earlier runs and ignored.
    """
    logs = stage_logs(logs_dir)
    if since is not None:
        logs = [s for s in logs if s.path.stat().st_mtime >= since]
    if not logs:
        return None
    last = logs[-1]
    text = last.path.read_text(errors="replace")
    return StageFailure(last, tuple(error_lines(text)), _tail(text))


# --------------------------------------------------------------------------- running make


def resolve_flow_home(flow_home: Path | str | None = None) -> Path:
    """ORFS's flow/ folder: the argument, else $FLOW_HOME; it must hold ORFS's Makefile."""
    value = flow_home or os.environ.get("FLOW_HOME")
    if not value:
        raise EdaError("the ORFS backend needs OpenROAD-flow-scripts: set FLOW_HOME to its flow/ folder "
                       "(source OpenROAD-flow-scripts/env.sh) or pass the folder explicitly")
    path = Path(value).expanduser().resolve()
    if not (path / "Makefile").is_file():
        raise EdaError(f"FLOW_HOME={value} is not an OpenROAD-flow-scripts flow/ folder: no Makefile in {path}")
    return path


def tool_variables(environ: dict[str, str] | None = None) -> dict[str, str]:
    """OPENROAD_EXE, YOSYS_EXE, OPENSTA_EXE as set in the environment, checked to be executables."""
    environ = os.environ if environ is None else environ
    found = {}
    for name in TOOL_VARIABLES:
        value = environ.get(name)
        if not value:
            continue
        path = Path(value)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise EdaError(f"{name}={value} is not an executable file; fix or unset it (ORFS then uses its own tools)")
        found[name] = str(path)
    return found


def make_command(design: OrfsDesignFolder, flow_variant: str, *, flow_home: Path, work_home: Path,
                 targets: tuple[str, ...] = ("finish",), variables: dict[str, str] | None = None,
                 make: str = "make") -> list[str]:
    """The make command line of one run (pure)."""
    if flow_variant not in design.clock_periods_ps:
        raise EdaError(f"{design.nickname} has no sizing variant {flow_variant!r} (variants: {', '.join(design.variants)})")
    assignments = {"DESIGN_CONFIG": str(design.config_mk), "FLOW_VARIANT": flow_variant, "WORK_HOME": str(work_home),
                   **(variables or {})}
    return [make, "-C", str(flow_home), *(f"{k}={v}" for k, v in assignments.items()), *targets]


@dataclass(frozen=True)
class OrfsRun:
    design: OrfsDesignFolder
    flow_variant: str
    work_home: Path
    make_log: Path
    runtime_s: float

    @property
    def logs_dir(self) -> Path:
        return self.work_home / "logs" / self.design.platform / self.design.nickname / self.flow_variant


def _run_one(design: OrfsDesignFolder, variant: str, *, flow_home: Path, work_home: Path, targets: tuple[str, ...],
             variables: dict[str, str], timeout_s: float | None) -> OrfsRun:
    run_dir = work_home / "voltscale" / design.nickname / variant
    logs_dir = work_home / "logs" / design.platform / design.nickname / variant
    command = make_command(design, variant, flow_home=flow_home, work_home=work_home, targets=targets, variables=variables)
    start = time.time()
    try:
        run = run_tool(command, cwd=run_dir, name="make", timeout_s=timeout_s)
    except ToolError as exc:
        what = str(exc).splitlines()[0].split(" running ")[0]  # "make failed (exit code 2)" / "make timed out after ..."
        failure = find_failed_stage(logs_dir, since=math.floor(start))
        if failure is None:
            raise EdaError(f"ORFS run {design.nickname} {variant}: {what} before any stage log was written in {logs_dir} "
                           f"(command: {shlex.join(command)}).\n{exc}") from None
        raise EdaError(
            f"ORFS run {design.nickname} {variant}: {what} in stage {failure.log.stage} ({failure.log.step}). "
            f"Stage log: {failure.log.path}\n{failure.describe()}\nmake output: {exc.log_path}"
        ) from None
    return OrfsRun(design, variant, work_home, run.log_path, run.runtime_s)


def run_orfs(jobs: list[tuple[OrfsDesignFolder, str]], *, work_home: Path, flow_home: Path | str | None = None,
             parallel: int = 0, targets: tuple[str, ...] = ("finish",), timeout_s: float | None = None) -> list[OrfsRun]:
    """Run every (design folder, FLOW_VARIANT) pair, `parallel` at a time (0: one per core).

    Raises EdaError naming every failed run, the first in full (stage, stage log, error lines).
    """
    if not jobs:
        raise EdaError("no ORFS runs requested")
    flow = resolve_flow_home(flow_home)
    work_home = Path(work_home).resolve()
    cores = os.cpu_count() or 1
    workers = min(len(jobs), parallel if parallel > 0 else cores)
    variables = tool_variables()
    if not os.environ.get("NUM_CORES"):
        variables["NUM_CORES"] = str(max(1, cores // workers))
    results: dict[int, OrfsRun] = {}
    errors: list[str] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_run_one, design, variant, flow_home=flow, work_home=work_home, targets=targets,
                               variables=variables, timeout_s=timeout_s) for design, variant in jobs]
        for index, future in enumerate(futures):
            try:
                results[index] = future.result()
            except EdaError as exc:
                errors.append(str(exc))
    if errors:
        others = "".join(f"\n  - {e.splitlines()[0]}" for e in errors[1:])
        raise EdaError(f"{len(errors)} of {len(jobs)} ORFS runs failed. First:\n{errors[0]}"
                       + (f"\nOthers:{others}" if others else ""))
    return [results[i] for i in range(len(jobs))]
