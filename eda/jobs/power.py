"""MAC power with switching activity measured in gate-level simulation (`eda power`).

The characterization's power (eda/flow/sta.py) assumes every data input toggles a stated
`input_activity` times per cycle (0.2 by default) and lets OpenSTA propagate that through
the logic with probabilities. Here the activity is measured instead:

1. operands: the per-cycle (activation, weight, psum_in) a MAC of the array sees, from the
   reference network on real images (eda/nn/operands.py, needs torch) or uniform random
   codes (`random_operands`, no torch);
2. stimulus: eda/verify/mac_sim.py vectors; the weight loads once (weight stationary) and psum_in is
   delayed by the kind's product latency so that each partial sum meets its own product;
3. the synthesized netlist is simulated at gate level (yosys cell models, iverilog), and
   its outputs are checked against eda/verify/mac_sim.py's golden model every cycle, so the activity
   belongs to a netlist that computes the right thing;
4. every net's toggles per clock period and duty, over the cycles after a warm-up, are set
   on every pin of the net in OpenSTA, and report_power runs with the same liberty, clocks
   and constraints as the characterization.

The steps live in eda/flow/gatesim.py (tools) and eda/parsers/vcd.py (VCD counting); this
module is the method, the cache and the command. The simulation has zero delay: a net's
activity counts its functional transitions, not glitches, so dynamic power from glitching
(sizeable in array multipliers) is not in the number.

Each run is cached under <cache>/activity_power/<key>/, the key hashing the netlist, the
stimulus, the liberty, the STA settings, the warm-up and the tool versions; a run is built
in a temporary folder and renamed into place when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from eda import __version__
from eda.core.errors import EdaError
from eda.core.files import atomic_write_text, build_once, remove_orphaned_dirs, sha256_file
from eda.core.liberty import PreparedLiberty
from eda.core.platforms import Platform
from eda.designs.mac import MAC_KINDS, MacParams, mac_ports
from eda.verify.mac_sim import PRODUCT_LATENCY_CYCLES, build_vectors
from eda.core.step import State, run_step
from eda.flow.gatesim import AnnotatedPower, GateLevelModel, GateLevelSimulation, NetActivity, compare_with_golden
from eda.flow.sta import StaSettings
from eda.flow.versions import tool_versions

# Bump when a step changes what a cached run would contain.
POWER_FORMAT_VERSION = "1"
POWER_TOOLS = ("yosys", "iverilog", "sta")
DEFAULT_WARMUP_CYCLES = 4
DEFAULT_CYCLES = 1024  # measured cycles: conv2 has 16 output positions per image, so 64 test images
OPERAND_COLUMNS = ("a_code", "w_code", "psum_in")

CSV_COLUMNS = [
    "kind", "target_ps", "corner", "area_um2", "delay_ns", "clock_period_ns", "stated_input_activity",
    "power_stated_w", "power_stated_internal_w", "power_stated_switching_w", "power_realistic_w", "power_realistic_internal_w", "power_realistic_switching_w",
    "power_realistic_leakage_w", "power_realistic_sequential_w", "power_realistic_combinational_w",
    "realistic_over_stated", "mean_toggle_rate", "cycles_simulated", "warmup_cycles", "operands",
    "annotation_method", "annotated_nets", "annotated_pins", "run_dir", "cache_key", "runtime_s",
]


@dataclass(frozen=True)
class PowerRun:
    """Realistic-activity power of one netlist on one operand stream."""

    kind: str
    power_w: float
    internal_w: float
    switching_w: float
    leakage_w: float
    sequential_w: float
    combinational_w: float
    mean_toggle_rate: float  # transitions per clock period, averaged over the non-clock nets
    cycles_simulated: int  # cycles in the measured window (after the warm-up)
    warmup_cycles: int
    annotation_method: str
    annotated_nets: int
    annotated_pins: int
    run_dir: Path  # the cached run folder: every script, log, VCD and activity.csv
    cache_key: str
    cached: bool
    runtime_s: float


# ---------------------------------------------------------------------------
# operands and stimulus


def random_operands(n: int, seed: int = 0, params: MacParams | None = None) -> pd.DataFrame:
    """Uniform random codes: a new activation and partial sum every cycle, one random weight."""
    params = params or MacParams("tpu")
    if n < 1:
        raise EdaError(f"number of random operands must be >= 1, got {n}")
    rng = np.random.default_rng(seed)

    def uniform(bits: int, size):
        return rng.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1, size=size, endpoint=True)

    weight = int(uniform(params.w_bits, 1)[0]) or 1
    return pd.DataFrame({"a_code": uniform(params.a_bits, n), "w_code": np.full(n, weight, dtype=np.int64),
                         "psum_in": uniform(params.acc_bits, n)})


def zero_operands(n: int) -> pd.DataFrame:
    """All-zero codes (activation, weight and partial sum): only the clock toggles."""
    zeros = np.zeros(n, dtype=np.int64)
    return pd.DataFrame({"a_code": zeros, "w_code": zeros, "psum_in": zeros})


def operand_vectors(params: MacParams, operands: pd.DataFrame) -> pd.DataFrame:
    """eda/verify/mac_sim.py stimulus vectors: operation j's activation and weight in cycle j, its psum_in
    in cycle j + latency (when its product reaches the adder). The weight register loads in
    cycle 0 and whenever the weight code changes."""
    missing = [c for c in OPERAND_COLUMNS if c not in operands.columns]
    if missing:
        raise EdaError(f"operand table lacks column(s) {', '.join(missing)} (expected {', '.join(OPERAND_COLUMNS)})")
    if len(operands) == 0:
        raise EdaError("operand table is empty")
    a = operands["a_code"].to_numpy(dtype=np.int64)
    w = operands["w_code"].to_numpy(dtype=np.int64)
    partial = operands["psum_in"].to_numpy(dtype=np.int64)
    latency = PRODUCT_LATENCY_CYCLES[params.kind]
    psum_in = np.zeros_like(partial)
    psum_in[latency:] = partial[: len(partial) - latency]
    w_load = np.concatenate([[True], w[1:] != w[:-1]])
    return build_vectors(a, w, w_load, psum_in)


# ---------------------------------------------------------------------------
# one netlist


def vectors_digest(vectors: pd.DataFrame) -> str:
    """Hash of a stimulus table (column names and int64 values), for cache keys."""
    digest = hashlib.sha256()
    for name in vectors.columns:
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(vectors[name].to_numpy(dtype=np.int64)).tobytes())
    return digest.hexdigest()


def _scripts_digest() -> str:
    """Every script template a run writes, so that editing one invalidates cached runs."""
    from eda.core.paths import RTL_DIR
    from eda.flow import gatesim, sta
    from eda.verify.mac_sim import TESTBENCH_TEMPLATE

    texts = [gatesim.GATE_MODEL_SCRIPT, gatesim.DUMP_TEMPLATE, gatesim.ANNOTATION_TCL, sta.STA_SCRIPT, sta.SHADOW_CLOCK,
             sta.SHADOW_REPORT, (RTL_DIR / TESTBENCH_TEMPLATE).read_text()]
    return hashlib.sha256("\0".join(texts).encode()).hexdigest()


def _cache_key(netlist: Path, params: MacParams, liberty: PreparedLiberty, platform: Platform, settings: StaSettings,
               vectors: pd.DataFrame, warmup_cycles: int) -> str:
    payload = {
        "format": POWER_FORMAT_VERSION,
        "netlist": sha256_file(netlist),
        "mac": params.as_dict(),
        "liberty": liberty.key,
        "platform_cells": [platform.driver, platform.output_load_ff],
        "sta": asdict(settings),
        "vectors": vectors_digest(vectors),
        "warmup_cycles": warmup_cycles,
        "scripts": _scripts_digest(),
        "tools": tool_versions(*POWER_TOOLS),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def _run(netlist: Path, params: MacParams, vectors: pd.DataFrame, liberty: PreparedLiberty, platform: Platform,
         settings: StaSettings, warmup_cycles: int, run_dir: Path, timeout_s: float) -> State:
    netlist_dir = run_dir / "00-netlist"
    netlist_dir.mkdir(parents=True)
    shutil.copyfile(netlist, netlist_dir / "netlist.v")  # the cached run must not depend on the source folder
    atomic_write_text(netlist_dir / "source.txt", f"{netlist}\n")
    state = State({"netlist": netlist_dir / "netlist.v"})
    state = run_step(GateLevelModel(params.module, liberty, timeout_s), state, run_dir / "01-gatemodel", run_dir)
    state = run_step(GateLevelSimulation(params, vectors, warmup_cycles, timeout_s), state, run_dir / "02-gatesim", run_dir)
    comparison = compare_with_golden(params, vectors, Path(state.views["sim_outputs"]))
    if not comparison.passed:
        raise EdaError(f"the gate-level simulation of {netlist} does not match the golden model, so its activity "
                       f"would belong to a wrong circuit: {comparison.summary()}")
    state = state.updated({}, {"gatesim__golden_cycles_compared": comparison.cycles_compared})
    clock_ports = tuple(p for p in (settings.clock_port, settings.shadow_clock_port) if p in {q.name for q in mac_ports(params)})
    state = run_step(NetActivity(len(vectors), warmup_cycles, clock_ports), state, run_dir / "03-activity", run_dir)
    ports = {p.name for p in mac_ports(params)}
    state = run_step(AnnotatedPower(params.module, liberty, platform, settings, ports, timeout_s), state, run_dir / "04-power", run_dir)
    atomic_write_text(run_dir / "metrics.json", json.dumps(state.to_json(run_dir), indent=1))
    return state


def measure_power(netlist: Path, params: MacParams, operands: pd.DataFrame, liberty: PreparedLiberty, platform: Platform,
                  settings: StaSettings, cache_dir: Path, *, warmup_cycles: int = DEFAULT_WARMUP_CYCLES,
                  timeout_s: float = 600.0) -> PowerRun:
    """Realistic-activity power of one synthesized MAC netlist (run, or reuse from the cache)."""
    netlist = Path(netlist)
    if not netlist.is_file():
        raise EdaError(f"netlist {netlist} not found")
    check_netlist_ports(netlist, params)
    vectors = operand_vectors(params, operands)
    key = _cache_key(netlist, params, liberty, platform, settings, vectors, warmup_cycles)
    cache_dir = Path(cache_dir).resolve()
    final_dir = cache_dir / "activity_power" / key
    start = time.monotonic()
    cached = build_once(final_dir, cache_dir / "failed" / f"power-{params.kind}-{key}",
                        lambda run_dir: _run(netlist, params, vectors, liberty, platform, settings, warmup_cycles, run_dir, timeout_s),
                        str(netlist))
    m = json.loads((final_dir / "metrics.json").read_text())["metrics"]
    return PowerRun(
        kind=params.kind, power_w=m["power__total_w"], internal_w=m["power__internal_w"], switching_w=m["power__switching_w"],
        leakage_w=m["power__leakage_w"], sequential_w=m["power__sequential_w"], combinational_w=m["power__combinational_w"],
        mean_toggle_rate=m["activity__mean_toggle_rate"], cycles_simulated=m["activity__cycles"], warmup_cycles=warmup_cycles,
        annotation_method=m["power__annotation_method"], annotated_nets=m["power__annotated_nets"],
        annotated_pins=m["power__annotated_pins"], run_dir=final_dir, cache_key=key, cached=cached,
        runtime_s=round(time.monotonic() - start, 3),
    )


def remove_orphaned_power_runs(cache_dir: Path) -> int:
    """Delete half-built power-run folders whose process is gone, e.g. after a kill."""
    return remove_orphaned_dirs(Path(cache_dir) / "activity_power")


def check_netlist_ports(netlist: Path, params: MacParams) -> None:
    """The netlist's port widths must be the MAC's (the stimulus is built from `params`)."""
    text = netlist.read_text(errors="replace")
    declared = {}
    for direction, msb, lsb, names in re.findall(r"^\s*(input|output)\s+(?:wire\s+)?(?:\[(\d+):(\d+)\]\s*)?([^;]+);", text, re.M):
        width = abs(int(msb) - int(lsb)) + 1 if msb else 1
        for name in names.split(","):
            declared[name.strip()] = (direction, width)
    for port in mac_ports(params):
        got = declared.get(port.name)
        if got is None:
            raise EdaError(f"{netlist}: no {port.direction} port {port.name!r}; is this a {params.kind} MAC netlist?")
        if got != (port.direction, port.bits):
            raise EdaError(f"{netlist}: port {port.name} is {got[0]} [{got[1]} bits], but the {params.kind} MAC with "
                           f"a_bits={params.a_bits} w_bits={params.w_bits} acc_bits={params.acc_bits} has "
                           f"{port.direction} [{port.bits} bits]; pass the widths it was built with (--a-bits ...)")


# ---------------------------------------------------------------------------
# a characterization table


def select_rows(table: pd.DataFrame, source: Path, kinds: list[str] | None, corner: str, *, sizes: int | None = None,
                targets: list[int] | None = None) -> pd.DataFrame:
    """The characterization rows to measure: one corner, the given kinds, then targets or N sizes per kind.

    N sizes are spread evenly over the kind's distinct areas, smallest and largest included
    (many delay targets give the same netlist; those count once).
    """
    needed = ["kind", "corner", "target_ps", "area_um2", "power_w", "run_dir", "power_clock_ns", "input_activity"]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise EdaError(f"{source}: characterization table lacks column(s) {', '.join(missing)}")
    rows = table[table["corner"] == corner]
    if rows.empty:
        raise EdaError(f"{source}: no rows at corner {corner!r} (corners there: {', '.join(map(str, table['corner'].unique()))})")
    wanted = kinds or [k for k in MAC_KINDS if k in set(rows["kind"])]
    unknown = [k for k in wanted if k not in MAC_KINDS]
    if unknown:
        raise EdaError(f"{', '.join(unknown)}: not a MAC kind ({', '.join(MAC_KINDS)}); only MAC netlists can be simulated here")
    absent = [k for k in wanted if k not in set(rows["kind"])]
    if absent:
        raise EdaError(f"{source}: no rows of kind {', '.join(absent)} at corner {corner}")
    rows = rows[rows["kind"].isin(wanted)]
    if targets:
        chosen = rows[rows["target_ps"].isin(targets)]
        for kind in wanted:
            have = set(chosen.loc[chosen["kind"] == kind, "target_ps"])
            lacking = [t for t in targets if t not in have]
            if lacking:
                raise EdaError(f"{source}: kind {kind} has no row at target(s) {', '.join(map(str, lacking))} ps")
        rows = chosen
    if sizes is not None:
        if sizes < 1:
            raise EdaError(f"number of sizes must be >= 1, got {sizes}")
        picked = []
        for kind in wanted:
            distinct = rows[rows["kind"] == kind].sort_values(["area_um2", "target_ps"]).drop_duplicates("area_um2")
            index = np.unique(np.round(np.linspace(0, len(distinct) - 1, min(sizes, len(distinct)))).astype(int))
            picked.append(distinct.iloc[index])
        rows = pd.concat(picked)
    order = {k: i for i, k in enumerate(wanted)}
    return rows.sort_values(["kind", "target_ps"], key=lambda s: s.map(order) if s.name == "kind" else s).reset_index(drop=True)


def _table_row(row, run: PowerRun, corner: str, settings: StaSettings, operands_label: str) -> dict:
    stated = float(row.power_w)
    return {
        "kind": row.kind, "target_ps": int(row.target_ps), "corner": corner, "area_um2": float(row.area_um2),
        "delay_ns": float(getattr(row, "delay_ns", float("nan"))),
        "clock_period_ns": settings.clock_period_ns, "stated_input_activity": settings.input_activity,
        "power_stated_w": stated, "power_stated_internal_w": float(getattr(row, "power_internal_w", float("nan"))),
        "power_stated_switching_w": float(getattr(row, "power_switching_w", float("nan"))), "power_realistic_w": run.power_w, "power_realistic_internal_w": run.internal_w,
        "power_realistic_switching_w": run.switching_w, "power_realistic_leakage_w": run.leakage_w,
        "power_realistic_sequential_w": run.sequential_w, "power_realistic_combinational_w": run.combinational_w,
        "realistic_over_stated": run.power_w / stated if stated > 0 else float("nan"),
        "mean_toggle_rate": run.mean_toggle_rate, "cycles_simulated": run.cycles_simulated,
        "warmup_cycles": run.warmup_cycles, "operands": operands_label, "annotation_method": run.annotation_method,
        "annotated_nets": run.annotated_nets, "annotated_pins": run.annotated_pins,
        "run_dir": f"runs/{row.kind}-D{int(row.target_ps)}", "cache_key": run.cache_key, "runtime_s": run.runtime_s,
        "cache_path": str(run.run_dir), "cached": run.cached,
    }


def power_table(characterization_csv: Path, platform: Platform, operands: pd.DataFrame, operands_label: str, cache_dir: Path, *,
                kinds: list[str] | None = None, sizes: int | None = None, targets: list[int] | None = None,
                corner: str | None = None, mac: MacParams | None = None, warmup_cycles: int = DEFAULT_WARMUP_CYCLES,
                shadow_delay_fraction: float = 0.25, jobs: int = 0, timeout_s: float = 600.0,
                progress: bool = True) -> pd.DataFrame:
    """Stated and realistic-activity power of every selected size, one row each (CSV_COLUMNS plus cache_path).

    The netlists are the characterization's run folders (beside characterization.csv); the
    clock period and the stated input activity are taken from the table's rows. `mac` gives
    the bit widths (kind ignored; default 8/8/24/10).
    """
    from eda.flow.characterize import prepare_corners

    characterization_csv = Path(characterization_csv)
    try:
        table = pd.read_csv(characterization_csv)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise EdaError(f"{characterization_csv}: not a readable characterization table: {exc}") from None
    corner = corner or platform.nominal_corner
    rows = select_rows(table, characterization_csv, kinds, corner, sizes=sizes, targets=targets)
    cache_dir = Path(cache_dir).resolve()
    remove_orphaned_power_runs(cache_dir)
    liberty = prepare_corners(platform, [corner], cache_dir)[corner]
    widths = mac or MacParams("tpu")

    def netlist_of(row) -> Path:
        netlist = characterization_csv.parent / str(row.run_dir) / "01-synth" / "netlist.v"
        if not netlist.is_file():
            raise EdaError(f"{characterization_csv}: run_dir {row.run_dir!r} of {row.kind} at {row.target_ps} ps has no "
                           f"netlist ({netlist} not found); the run folders are written beside the table by "
                           "`eda characterize` and `eda run`")
        return netlist

    def settings_of(row) -> StaSettings:
        return StaSettings(clock_period_ns=float(row.power_clock_ns), input_activity=float(row.input_activity),
                           shadow_delay_fraction=shadow_delay_fraction)

    def measure(row) -> PowerRun:
        params = replace(widths, kind=row.kind)
        return measure_power(netlist_of(row), params, operands, liberty, platform, settings_of(row), cache_dir,
                             warmup_cycles=warmup_cycles, timeout_s=timeout_s)

    # Several delay targets often give the same netlist: simulate each distinct one once.
    groups: dict[tuple, list] = {}
    for row in rows.itertuples(index=False):
        groups.setdefault((row.kind, sha256_file(netlist_of(row)), row.power_clock_ns, row.input_activity), []).append(row)

    results, errors = [], []
    workers = jobs if jobs > 0 else (os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(measure, members[0]): members for members in groups.values()}
        bar = tqdm(as_completed(futures), total=len(futures), desc="power", unit="netlist", disable=not progress)
        for future in bar:
            members = futures[future]
            try:
                run = future.result()
            except EdaError as exc:
                errors.append(f"{members[0].kind} at {members[0].target_ps} ps: {exc}")
                continue
            results += [_table_row(row, run, corner, settings_of(row), operands_label) for row in members]
            bar.set_postfix_str(f"{members[0].kind}-D{members[0].target_ps}{' (cached)' if run.cached else ''}")
    if errors:
        raise EdaError(f"{len(errors)} of {len(groups)} power runs failed; the first:\n{errors[0]}")
    order = {k: i for i, k in enumerate(MAC_KINDS)}
    out = pd.DataFrame(results)
    return out.sort_values(["kind", "target_ps"], key=lambda s: s.map(order) if s.name == "kind" else s).reset_index(drop=True)


def power_markdown(table: pd.DataFrame, operands_label: str, operands_meta: dict | None = None) -> str:
    """A short report: what was measured, then stated against realistic power per size."""
    first = table.iloc[0]
    lines = [
        "# MAC power with measured switching activity",
        "",
        f"Stated: OpenSTA `report_power` with every data input toggling {first['stated_input_activity']:g} times per cycle "
        "(the characterization). Realistic: the same OpenSTA run with every net's toggles per clock period and duty "
        "measured in a zero-delay gate-level simulation (yosys cell models, iverilog) and set on every pin of the net. "
        f"Clock {first['clock_period_ns']:g} ns, corner {first['corner']}; {int(first['cycles_simulated'])} cycles measured "
        f"after {int(first['warmup_cycles'])} warm-up cycles; every simulated cycle matched the golden model.",
        "",
        f"Operands: {operands_label}.",
    ]
    if operands_meta:
        lines += ["", f"Activation codes: per-layer scale {operands_meta.get('activation_scale', float('nan')):.4g} "
                  f"({operands_meta.get('activation_scale_rule', '')}); "
                  f"{100 * operands_meta.get('zero_activation_fraction', float('nan')):.0f}% of this MAC's activations are 0."]
    lines += [
        "Glitches are not simulated, so glitch power (sizeable in array multipliers) is not in the realistic number.",
        "",
        "| kind | target (ps) | area (um^2) | stated (mW) | realistic (mW) | realistic / stated | internal (mW) | switching (mW) | leakage (nW) | mean toggles / cycle |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in table.itertuples(index=False):
        lines.append(f"| {r.kind} | {r.target_ps} | {r.area_um2:.1f} | {r.power_stated_w * 1e3:.4f} | {r.power_realistic_w * 1e3:.4f} | "
                     f"{r.realistic_over_stated:.3f} | {r.power_realistic_internal_w * 1e3:.4f} | "
                     f"{r.power_realistic_switching_w * 1e3:.4f} | {r.power_realistic_leakage_w * 1e9:.3f} | {r.mean_toggle_rate:.4f} |")
    return "\n".join(lines) + "\n"


def write_power_outputs(table: pd.DataFrame, out_dir: Path, operands_label: str, operands_meta: dict | None = None,
                        command: list[str] | None = None) -> dict[str, Path]:
    """activity_power.csv, activity_power.md, activity_power.json and runs/<kind>-D<target>/ (without VCD and .vvp)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for r in table.drop_duplicates("run_dir").itertuples(index=False):
        target, tmp = out_dir / r.run_dir, out_dir / (str(r.run_dir) + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        # The VCD and the compiled simulation stay in the cache (MBs each); activity.csv has what the VCD said.
        shutil.copytree(r.cache_path, tmp, ignore=shutil.ignore_patterns("*.vcd", "*.vvp"))
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    csv_path, md_path, json_path = out_dir / "activity_power.csv", out_dir / "activity_power.md", out_dir / "activity_power.json"
    atomic_write_text(csv_path, table[CSV_COLUMNS].to_csv(index=False))
    atomic_write_text(md_path, power_markdown(table, operands_label, operands_meta))
    manifest = {"tool": {"name": "voltscale", "version": __version__}, "command": command or [], "created_unix": int(time.time()),
                "tools": tool_versions(*POWER_TOOLS), "operands": {"label": operands_label, **(operands_meta or {})},
                "outputs": {"activity_power.csv": "one row per size: stated and realistic-activity power",
                            "runs/<kind>-D<target>/": "scripts, logs, activity.csv and metrics of each run"}}
    atomic_write_text(json_path, json.dumps(manifest, indent=1, default=str))
    return {"csv": csv_path, "markdown": md_path, "manifest": json_path}


def power_report(characterization_csv: Path, out_dir: Path, platform: Platform, cache_dir: Path, *, operands: str = "network",
                 kinds: list[str] | None = None, sizes: int | None = None, targets: list[int] | None = None,
                 corner: str | None = None, mac: MacParams | None = None, cycles: int = DEFAULT_CYCLES,
                 warmup_cycles: int = DEFAULT_WARMUP_CYCLES, layer: str = "conv2", k: int | None = None, filter_index: int = 0,
                 seed: int = 0, epochs: int | None = None, shadow_delay_fraction: float = 0.25, jobs: int = 0,
                 timeout_s: float = 600.0, progress: bool = True,
                 command: list[str] | None = None) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Everything `eda power` does: operands, power table, outputs. For the main job to call."""
    total = cycles + warmup_cycles
    widths = mac or MacParams("tpu")
    if operands == "network":
        import importlib.util

        if importlib.util.find_spec("torch") is None or importlib.util.find_spec("sklearn") is None:
            raise EdaError("operands from the reference network need torch and scikit-learn: pip install 'voltscale[nn]' "
                           "(or use --operands random)")
        from eda.nn.operands import operand_stream
        from eda.nn.train import DEFAULT_EPOCHS

        stream = operand_stream(layer, k, filter_index, n_operations=total, seed=seed,
                                epochs=DEFAULT_EPOCHS if epochs is None else epochs, cache_dir=cache_dir)
        frame, label, meta = stream.frame, stream.label, stream.meta
    elif operands == "random":
        frame = random_operands(total, seed, widths)
        label, meta = f"uniform random codes (seed {seed}): new activation and psum_in every cycle, weight {int(frame['w_code'].iloc[0])}", {}
    else:
        raise EdaError(f"unknown operand source {operands!r}: use network or random")
    table = power_table(characterization_csv, platform, frame, label, cache_dir, kinds=kinds, sizes=sizes, targets=targets,
                        corner=corner, mac=widths, warmup_cycles=warmup_cycles, shadow_delay_fraction=shadow_delay_fraction,
                        jobs=jobs, timeout_s=timeout_s, progress=progress)
    return table, write_power_outputs(table, out_dir, label, meta, command)


