"""Characterize design variants: synthesis at each delay target, then STA and power.

One variant = one design at one synthesis delay target. Its run folder holds
00-rtl/, 01-synth/ and 02-sta-<corner>/ with every script and log. Finished runs are
cached under <cache>/runs/<key>/, where the key hashes everything that can change
the result (RTL, scripts, liberty, analysis settings, tool versions); a run is built
in a temporary folder and renamed into place only when complete, so a killed run
leaves nothing a later run would trust.
"""

from __future__ import annotations

import json
import os
import platform as host
import shutil
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from eda import __version__
from eda.core.errors import EdaError
from eda.core.executors import is_worker_loss, local_workers
from eda.core.files import atomic_write_text, build_once, locked, remove_orphaned_dirs, replace_dir, sha256_file, sha256_text
from eda.core.liberty import PreparedLiberty, prepare_corner_liberty
from eda.core.platforms import Platform
from eda.core.runner import check_timeout, find_tool, kill_running_tools
from eda.core.script_words import check_abc_safe_folder
from eda.core.step import State, run_step
from eda.flow.sta import StaSettings, StaticTiming, sta_executable
from eda.flow.synth import Synthesize, synthesis_scripts
from eda.flow.versions import tool_versions
from eda.designs.registry import Variant

# Bump when step code changes what a cached run would contain.
RUN_FORMAT_VERSION = "2"

CSV_COLUMNS = [
    "kind", "platform", "corner", "vdd", "temp_c", "target_ps", "area_um2", "area_sequential_um2",
    "area_combinational_um2", "delay_ns", "power_w", "power_internal_w", "power_switching_w",
    "power_leakage_w", "power_activity_propagated", "cells", "power_clock_ns", "input_activity", "razor_window_slack_ns",
    "critical_startpoint", "critical_endpoint", "run_dir", "cache_key",
]






@dataclass
class Toolchain:
    yosys: str
    sta: str
    versions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def detect(cls) -> "Toolchain":
        return cls(find_tool("yosys", "YOSYS_EXE"), sta_executable(), tool_versions("yosys", "sta"))


@dataclass
class Characterization:
    table: pd.DataFrame
    runs: list[dict]  # manifest entries, one per variant
    tools: Toolchain
    liberties: dict[str, PreparedLiberty]


# OpenSTA takes its command units from the first liberty it reads, and the STA script writes the
# clock period as a bare number: with a ps library (asap7) a "10 ns" clock would be 10 ps, and
# every reported time would be in ps. So the period is given in the library's unit and the times
# read back are converted to ns. ns libraries (sky130, nangate45, gf180, ihp) are unchanged.
_TIME_UNIT_NS = {"ns": 1.0, "ps": 1e-3, "fs": 1e-6, "us": 1e3}
_TIME_METRICS = ("sta__delay_ns", "sta__clock_period_ns", "sta__razor_window_slack_ns", "sta__arrival_ns")


def time_unit_ns(liberty: PreparedLiberty) -> float:
    """ns per time unit of a prepared library (its time_unit attribute; ns when it states none)."""
    unit = liberty.info.get("time_unit") or "ns"
    if unit not in _TIME_UNIT_NS:
        raise EdaError(f"{liberty.source}: time_unit {unit!r} is not one of 1{', 1'.join(_TIME_UNIT_NS)}")
    return _TIME_UNIT_NS[unit]


def in_library_time(settings: StaSettings, unit_ns: float) -> StaSettings:
    return settings if unit_ns == 1.0 else replace(settings, clock_period_ns=settings.clock_period_ns / unit_ns)


def metrics_in_ns(metrics: dict, unit_ns: float) -> dict:
    if unit_ns == 1.0:
        return metrics
    return {k: (round(v * unit_ns, 7) if k in _TIME_METRICS and isinstance(v, (int, float)) else v) for k, v in metrics.items()}


def _cache_key(variant: Variant, platform: Platform, liberties: dict[str, PreparedLiberty], settings: StaSettings, tools: Toolchain) -> str:
    nominal = liberties[platform.nominal_corner]
    sources = [Path("../00-rtl") / name for name in sorted(variant.design.sources)]
    scripts = synthesis_scripts(variant.design.top, sources, variant.target_ps, nominal, platform, variant.design.split_nets,
                                variant.design.module_targets, variant.design.user_rtl)
    # The liberty's content is keyed by lib.key; its path inside the cache must not
    # be, or a moved cache would never hit.
    scripts = {name: text.replace(str(nominal.path), "<liberty>") for name, text in scripts.items()}
    payload = {
        "format": RUN_FORMAT_VERSION,
        "top": variant.design.top,
        "rtl": {name: sha256_text(text) for name, text in sorted(variant.design.sources.items())},
        "scripts": scripts,
        "liberty": {corner: lib.key for corner, lib in sorted(liberties.items())},
        "platform_cells": [platform.driver, platform.output_load_ff],
        "sta": asdict(settings),
        "tools": tools.versions,
    }
    # Only where the STA runs in another time unit (in_library_time), so the other keys stay valid.
    units = {corner: time_unit_ns(lib) for corner, lib in sorted(liberties.items()) if time_unit_ns(lib) != 1.0}
    if units:
        payload["sta_time_unit_ns"] = units
    if variant.design.static_inputs:  # only then, so the MACs' existing cache keys stay valid
        payload["static_inputs"] = sorted(variant.design.static_inputs)
    return sha256_text(json.dumps(payload, sort_keys=True))[:24]


def _run_variant(variant: Variant, platform: Platform, liberties: dict[str, PreparedLiberty], settings: StaSettings,
                 tools: Toolchain, run_dir: Path, timeout_s: float) -> State:
    rtl_dir = run_dir / "00-rtl"
    rtl_dir.mkdir(parents=True)
    paths = []
    for name, text in sorted(variant.design.sources.items()):
        (rtl_dir / name).write_text(text)
        paths.append(rtl_dir / name)
    state = State({"verilog": tuple(paths)})
    nominal = liberties[platform.nominal_corner]
    state = run_step(Synthesize(variant.design.top, variant.target_ps, nominal, platform, timeout_s, variant.design.split_nets,
                                      variant.design.module_targets, variant.design.user_rtl), state, run_dir / "01-synth", run_dir)
    corner_metrics = {}
    for corner, liberty in liberties.items():
        unit_ns = time_unit_ns(liberty)
        step = StaticTiming(variant.design.top, corner, liberty, platform, in_library_time(settings, unit_ns),
                            set(variant.design.ports), timeout_s, variant.design.static_inputs)
        after = run_step(step, state, run_dir / f"02-sta-{corner}", run_dir)
        corner_metrics[corner] = metrics_in_ns({k: v for k, v in after.metrics.items() if k.startswith("sta__")}, unit_ns)
    final = state.updated({}, {"corners": corner_metrics})
    atomic_write_text(run_dir / "metrics.json", json.dumps(final.to_json(run_dir), indent=1))
    return final


def characterize_variant(variant: Variant, platform: Platform, liberties: dict[str, PreparedLiberty], settings: StaSettings,
                         tools: Toolchain, cache_dir: Path, timeout_s: float) -> dict:
    """Run (or reuse) one variant; return its manifest entry with the metrics."""
    key = _cache_key(variant, platform, liberties, settings, tools)
    final_dir = cache_dir / "runs" / key
    start = time.monotonic()
    cached = build_once(final_dir, cache_dir / "failed" / f"{variant.name}-{key}",
                        lambda run_dir: _run_variant(variant, platform, liberties, settings, tools, run_dir, timeout_s),
                        variant.name)
    metrics = json.loads((final_dir / "metrics.json").read_text())["metrics"]
    return {"variant": variant.name, "kind": variant.design.kind, "top": variant.design.top, "target_ps": variant.target_ps,
            "cache_key": key, "cache_dir": str(final_dir), "cached": cached, "runtime_s": round(time.monotonic() - start, 3),
            "rtl_sha256": {n: sha256_text(t) for n, t in sorted(variant.design.sources.items())}, "metrics": metrics}


def _rows(entry: dict, platform: Platform) -> list[dict]:
    m = entry["metrics"]
    rows = []
    for corner_name, cm in m["corners"].items():
        corner = platform.corners[corner_name]
        rows.append({
            "kind": entry["kind"], "platform": platform.name, "corner": corner_name, "vdd": corner.vdd, "temp_c": corner.temp_c,
            "target_ps": entry["target_ps"], "area_um2": m["synth__area_um2"],
            "area_sequential_um2": m["synth__area_sequential_um2"], "area_combinational_um2": m["synth__area_combinational_um2"],
            "delay_ns": cm["sta__delay_ns"], "power_w": cm["sta__power_w"], "power_internal_w": cm["sta__power_internal_w"],
            "power_switching_w": cm["sta__power_switching_w"], "power_leakage_w": cm["sta__power_leakage_w"],
            "power_activity_propagated": cm["sta__power_activity_propagated"],
            "cells": m["synth__cells"], "power_clock_ns": cm["sta__clock_period_ns"], "input_activity": cm["sta__input_activity"],
            "razor_window_slack_ns": cm.get("sta__razor_window_slack_ns"),
            "critical_startpoint": cm["sta__critical_startpoint"], "critical_endpoint": cm["sta__critical_endpoint"],
            "run_dir": f"runs/{entry['variant']}", "cache_key": entry["cache_key"],
        })
    return rows


def prepare_corners(platform: Platform, corners: list[str] | None, cache_dir: Path) -> dict[str, PreparedLiberty]:
    """Prepared liberty per corner; the nominal corner first (synthesis maps onto it)."""
    wanted = corners or [platform.nominal_corner]
    unknown = [c for c in wanted if c not in platform.corners]
    if unknown:
        raise EdaError(f"platform {platform.name} has no corner(s) {', '.join(unknown)}; available: {', '.join(platform.corners)}")
    ordered = [platform.nominal_corner] + [c for c in wanted if c != platform.nominal_corner]
    result = {}
    for corner in ordered:
        # A corner split across several files (asap7) is merged into one library for the tools.
        result[corner] = prepare_corner_liberty(platform.corners[corner].libs, platform.dont_use, cache_dir)
    return result


def remove_orphaned_runs(cache_dir: Path) -> int:
    """Delete half-built run folders whose process is gone, e.g. after a kill."""
    return remove_orphaned_dirs(cache_dir / "runs")


# How often one run may be resubmitted after losing its worker (a killed or vanished process).
MAX_WORKER_LOSSES = 2


def _run_all(pool: Executor, variants: list[Variant], platform: Platform, liberties: dict[str, PreparedLiberty],
             settings: StaSettings, tools: Toolchain, cache_dir: Path, timeout_s: float, progress: bool,
             local: bool) -> tuple[list[dict], list[str]]:
    """Submit characterize_variant (module level, picklable arguments: a Dask worker can run it)
    for each variant; collect the entries and the failures. The progress bar stays here."""
    def submit(variant: Variant) -> Future:
        return pool.submit(characterize_variant, variant, platform, liberties, settings, tools, cache_dir, timeout_s)

    entries: list[dict] = []
    errors: list[str] = []
    futures = {submit(v): v for v in variants}
    losses = {v.name: 0 for v in variants}
    bar = tqdm(total=len(variants), desc="characterize", unit="run", disable=not progress)
    try:
        while futures:
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            for future in done:
                variant = futures.pop(future)
                try:
                    entry = future.result()
                except EdaError as exc:
                    errors.append(str(exc))
                    bar.update()
                    continue
                except Exception as exc:
                    if not is_worker_loss(exc) or losses[variant.name] >= MAX_WORKER_LOSSES:
                        raise
                    losses[variant.name] += 1
                    bar.write(f"{variant.name}: worker lost ({type(exc).__name__}); running it again")
                    futures[submit(variant)] = variant
                    continue
                entries.append(entry)
                bar.update()
                bar.set_postfix_str(f"{entry['variant']}{' (cached)' if entry['cached'] else ''}")
    except BaseException as exc:
        if not local:
            for future in futures:  # the caller's executor lives on: drop this sweep's queued runs
                future.cancel()
        elif isinstance(exc, (KeyboardInterrupt, SystemExit)):
            # Tools run in their own sessions, out of reach of the terminal's Ctrl-C: stop them and
            # the queued runs here, or leaving the pool would wait for every one of them.
            pool.shutdown(wait=False, cancel_futures=True)
            kill_running_tools()
        raise
    finally:
        bar.close()
    return entries, errors


def characterize(variants: list[Variant], platform: Platform, settings: StaSettings, cache_dir: Path, *,
                 corners: list[str] | None = None, jobs: int = 0, timeout_s: float = 600.0, progress: bool = True,
                 executor: Executor | None = None) -> Characterization:
    """Characterize every variant (cached runs are reused).

    The runs execute on `executor` when given (any concurrent.futures executor, e.g. a Dask
    cluster's from eda.core.executors.make_executor; the caller owns and closes it), else on a
    thread pool of `jobs` threads. A run whose worker was lost (KilledWorker, a closed connection)
    is submitted again, up to MAX_WORKER_LOSSES times; a run that fails (EdaError) is not.
    """
    if not variants:
        raise EdaError("nothing to characterize: no variants (check kinds and targets)")
    check_timeout(timeout_s, "--timeout (seconds per tool run)")
    cache_dir = Path(cache_dir).resolve()
    # Synthesis runs under the cache folder; fail before any work when ABC could not read there.
    check_abc_safe_folder(cache_dir, "the cache folder (--cache-dir / $VOLTSCALE_CACHE)")
    remove_orphaned_runs(cache_dir)
    tools = Toolchain.detect()
    liberties = prepare_corners(platform, corners, cache_dir)
    if executor is None:
        with ThreadPoolExecutor(max_workers=local_workers(jobs)) as pool:
            entries, errors = _run_all(pool, variants, platform, liberties, settings, tools, cache_dir, timeout_s, progress,
                                       local=True)
    else:
        entries, errors = _run_all(executor, variants, platform, liberties, settings, tools, cache_dir, timeout_s, progress,
                                   local=False)
    if errors:
        raise EdaError(f"{len(errors)} of {len(variants)} runs failed; the first:\n{errors[0]}")
    order = {v.name: i for i, v in enumerate(variants)}
    entries.sort(key=lambda e: order[e["variant"]])
    table = pd.DataFrame([row for e in entries for row in _rows(e, platform)], columns=CSV_COLUMNS)
    return Characterization(table, entries, tools, liberties)


def write_outputs(result: Characterization, out_dir: Path, platform: Platform, settings: StaSettings, command: list[str]) -> Path:
    """characterization.csv, manifest.json and a copy of every run folder under out_dir/runs/.

    The run folders are in place before the table naming them is (atomically) written, so a kill
    at any point leaves every row pointing at a complete folder. Writers of one out_dir take
    turns (a lock on the folder), so a table and the run folders it names come from one run.
    """
    runs_dir = out_dir / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    with locked(out_dir):
        remove_orphaned_dirs(runs_dir)  # copies a killed writer left behind
        for entry in result.runs:
            _copy_run_folder(Path(entry["cache_dir"]), runs_dir, entry["variant"])
        return _write_table_and_manifest(result, out_dir, platform, settings, command)


def _same_files(source: Path, copy: Path) -> bool:
    """True if the folder copy holds exactly the files of source, byte for byte."""
    if not copy.is_dir():
        return False
    import filecmp

    def files(folder: Path) -> dict[Path, Path]:
        return {p.relative_to(folder): p for p in folder.rglob("*") if p.is_file()}

    ours, theirs = files(source), files(copy)
    if ours.keys() != theirs.keys():
        return False
    return all(ours[name].stat().st_size == theirs[name].stat().st_size for name in ours) and \
        all(filecmp.cmp(ours[name], theirs[name], shallow=False) for name in ours)


def _copy_run_folder(cached_run: Path, runs_dir: Path, variant: str) -> None:
    """Copy a cached run to runs_dir/<variant> under a unique hidden name, then swap it in whole;
    a copy that already holds the same files is left as it is (and its files' mtimes with it)."""
    if _same_files(cached_run, runs_dir / variant):
        return
    tmp = Path(tempfile.mkdtemp(dir=runs_dir, prefix=f".{variant}.{os.getpid()}."))
    try:
        shutil.copytree(cached_run, tmp, dirs_exist_ok=True)
        replace_dir(tmp, runs_dir / variant)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_table_and_manifest(result: Characterization, out_dir: Path, platform: Platform, settings: StaSettings,
                              command: list[str]) -> Path:
    manifest = {
        "tool": {"name": "voltscale", "version": __version__},
        "command": command,
        "created_unix": int(time.time()),
        "host": {"python": host.python_version(), "system": host.platform()},
        "tools": result.tools.versions,
        "platform": {"name": platform.name, "data_dir": str(platform.data_dir), "config": str(platform.config_path),
                     "config_sha256": sha256_file(platform.config_path)},
        # What the tools read is a prepared copy of each liberty; the notes say what changed.
        "liberty": {corner: {"path": str(lib.source), "sha256": sha256_file(lib.source), "prepared_copy": str(lib.path),
                             "prepared_key": lib.key, "changes": lib.info["notes"]}
                    for corner, lib in sorted(result.liberties.items())},
        "sta_settings": asdict(settings),
        "outputs": {"characterization.csv": "one row per variant and corner; every number from runs/<variant>/ logs"},
        "runs": [{**{k: v for k, v in e.items() if k != "cache_dir"},
                  "logs": {"synth": f"runs/{e['variant']}/01-synth/yosys.log",
                           **{f"sta-{c}": f"runs/{e['variant']}/02-sta-{c}/sta.log" for c in e["metrics"]["corners"]}}}
                 for e in result.runs],
    }
    csv_path = out_dir / "characterization.csv"
    atomic_write_text(csv_path, result.table.to_csv(index=False))
    atomic_write_text(out_dir / "manifest.json", json.dumps(manifest, indent=1))
    return csv_path
