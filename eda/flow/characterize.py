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
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from eda import __version__
from eda.core.errors import EdaError
from eda.core.files import atomic_write_text, build_once, remove_orphaned_dirs, sha256_file, sha256_text
from eda.core.liberty import PreparedLiberty, prepare_liberty
from eda.core.platforms import Platform
from eda.core.runner import find_tool, tool_version
from eda.core.step import State, run_step
from eda.flow.sta import StaSettings, StaticTiming, sta_executable
from eda.flow.synth import Synthesize, synthesis_scripts
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
        yosys, sta = find_tool("yosys", "YOSYS_EXE"), sta_executable()
        return cls(yosys, sta, {"yosys": tool_version(yosys, ("-V",)), "sta": tool_version(sta, ("-version",))})


@dataclass
class Characterization:
    table: pd.DataFrame
    runs: list[dict]  # manifest entries, one per variant
    tools: Toolchain
    liberties: dict[str, PreparedLiberty]


def _cache_key(variant: Variant, platform: Platform, liberties: dict[str, PreparedLiberty], settings: StaSettings, tools: Toolchain) -> str:
    nominal = liberties[platform.nominal_corner]
    sources = [Path("../00-rtl") / name for name in sorted(variant.design.sources)]
    scripts = synthesis_scripts(variant.design.top, sources, variant.target_ps, nominal, platform, variant.design.split_nets)
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
    state = run_step(Synthesize(variant.design.top, variant.target_ps, nominal, platform, timeout_s, variant.design.split_nets), state, run_dir / "01-synth", run_dir)
    corner_metrics = {}
    for corner, liberty in liberties.items():
        step = StaticTiming(variant.design.top, corner, liberty, platform, settings, set(variant.design.ports), timeout_s,
                            variant.design.static_inputs)
        after = run_step(step, state, run_dir / f"02-sta-{corner}", run_dir)
        corner_metrics[corner] = {k: v for k, v in after.metrics.items() if k.startswith("sta__")}
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
        libs = platform.corners[corner].libs
        if len(libs) != 1:
            raise EdaError(f"platform {platform.name}, corner {corner}: {len(libs)} liberty files; one merged file is supported")
        result[corner] = prepare_liberty(libs[0], platform.dont_use, cache_dir)
    return result


def remove_orphaned_runs(cache_dir: Path) -> int:
    """Delete half-built run folders whose process is gone, e.g. after a kill."""
    return remove_orphaned_dirs(cache_dir / "runs")


def characterize(variants: list[Variant], platform: Platform, settings: StaSettings, cache_dir: Path, *,
                 corners: list[str] | None = None, jobs: int = 0, timeout_s: float = 600.0, progress: bool = True) -> Characterization:
    if not variants:
        raise EdaError("nothing to characterize: no variants (check kinds and targets)")
    cache_dir = Path(cache_dir).resolve()
    remove_orphaned_runs(cache_dir)
    tools = Toolchain.detect()
    liberties = prepare_corners(platform, corners, cache_dir)
    workers = jobs if jobs > 0 else (os.cpu_count() or 1)
    entries: list[dict] = []
    errors: list[str] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(characterize_variant, v, platform, liberties, settings, tools, cache_dir, timeout_s): v for v in variants}
        bar = tqdm(as_completed(futures), total=len(futures), desc="characterize", unit="run", disable=not progress)
        for future in bar:
            try:
                entry = future.result()
            except EdaError as exc:
                errors.append(str(exc))
                continue
            entries.append(entry)
            bar.set_postfix_str(f"{entry['variant']}{' (cached)' if entry['cached'] else ''}")
    if errors:
        raise EdaError(f"{len(errors)} of {len(variants)} runs failed; the first:\n{errors[0]}")
    order = {v.name: i for i, v in enumerate(variants)}
    entries.sort(key=lambda e: order[e["variant"]])
    table = pd.DataFrame([row for e in entries for row in _rows(e, platform)], columns=CSV_COLUMNS)
    return Characterization(table, entries, tools, liberties)


def write_outputs(result: Characterization, out_dir: Path, platform: Platform, settings: StaSettings, command: list[str]) -> Path:
    """characterization.csv, manifest.json and a copy of every run folder under out_dir/runs/."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for entry in result.runs:
        target = out_dir / "runs" / entry["variant"]
        tmp = out_dir / "runs" / f".{entry['variant']}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(entry["cache_dir"], tmp)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
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
