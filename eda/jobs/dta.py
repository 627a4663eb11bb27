"""Timing-error probabilities measured by timing simulation (`eda dta`).

For every Pareto-optimal size of a MAC kind (eda/method/errtable.py mac_sizes):

1. operands: uniform random int8 activations and weights and partial sums (explicit seed), or
   an operand CSV (columns a, w, psum_in: e.g. the workload's own stream), turned into
   eda/verify/mac_sim.py vectors by eda/jobs/power.py operand_vectors (psum_in meets its own
   product, the weight register loads when the weight changes);
2. the dynamic timing analysis of the synthesized netlist at the nominal supply
   (eda/flow/dta.py: yosys JSON, OpenSTA SDF, numpy timing simulation checked against the
   golden MAC), cached under <cache>/dta/<key>/, the key hashing the netlist, the vectors, the
   liberty, the STA settings, the simulation mode, the code and the tool versions;
3. the measured per-bit and per-MAC error probabilities at every supply (eda/method/measured_errors.py),
   eqs. 7-9 with the configured p and with p fitted to the measurement, written by
   eda/outputs/measured_errors.py.

One simulation serves every voltage and clock: the voltage model scales all delays alike.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from eda.core.errors import EdaError
from eda.core.paths import shown_path
from eda.core.files import atomic_write_text, build_once, remove_orphaned_dirs, sha256_file
from eda.core.liberty import PreparedLiberty
from eda.core.platforms import Platform
from eda.core.step import State, run_step
from eda.designs.mac import MAC_KINDS, MacParams, mac_ports
from eda.flow.dta import DEFAULT_MODE, DEFAULT_WARMUP_CYCLES, ENDPOINTS_FILE, SETTLE_FILE, NetlistJson, TimingSimulation, WriteSdf
from eda.flow.sta import StaSettings
from eda.flow.versions import tool_versions
from eda.jobs.power import operand_vectors, vectors_digest
from eda.method.errmodel import DEFAULT_PROPAGATION_P
from eda.method.errtable import ErrorModelSettings, default_clock_ns, mac_sizes
from eda.method.measured_errors import (PropagationFit, delay_scales, fit_propagation_p, log10_error, measured_error_tables,
                                        model_table, register_bits, required_time_ns, side_by_side)
from eda.outputs.measured_errors import write_measured_outputs

# Bump when a step changes what a cached run would contain (the code's own digest is in the key too).
DTA_FORMAT_VERSION = "1"
DTA_TOOLS = ("yosys", "sta")
DEFAULT_CYCLES = 10_000
DEFAULT_SEED = 1
# The array is weight stationary: a MAC keeps its weight while activations stream past.
# Random operands redraw the weight every this many operations, so one run averages over
# weights yet mostly sees a held weight, as in the array.
WEIGHT_HOLD_CYCLES = 16
OPERAND_CSV_COLUMNS = ("a", "w", "psum_in")


@dataclass(frozen=True)
class DtaRun:
    """One cached timing simulation of one netlist."""

    run_dir: Path
    cache_key: str
    cached: bool
    runtime_s: float  # wall time of this call (the build, or reading the cache)
    build_s: float  # the steps' own runtimes when it was built
    required_ns: np.ndarray  # [endpoints, cycles]: settle + setup of the final edge
    endpoints: pd.DataFrame
    metrics: dict


# ---------------------------------------------------------------------------
# operands


def random_operands(n: int, seed: int, params: MacParams) -> pd.DataFrame:
    """Uniform random codes (a_code, w_code, psum_in) for n operations; the weight is redrawn every WEIGHT_HOLD_CYCLES."""
    if n < 1:
        raise EdaError(f"number of operations must be >= 1, got {n}")
    rng = np.random.default_rng(seed)

    def uniform(bits: int, size: int) -> np.ndarray:
        return rng.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1, size=size, endpoint=True)

    weights = np.repeat(uniform(params.w_bits, n // WEIGHT_HOLD_CYCLES + 1), WEIGHT_HOLD_CYCLES)[:n]
    return pd.DataFrame({"a_code": uniform(params.a_bits, n), "w_code": weights, "psum_in": uniform(params.acc_bits, n)})


def read_operand_csv(path: Path, n: int) -> pd.DataFrame:
    """The first n operations of an operand CSV (columns a, w, psum_in), as operand_vectors wants them."""
    try:
        table = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise EdaError(f"{path}: not a readable operand table: {exc}") from None
    missing = [c for c in OPERAND_CSV_COLUMNS if c not in table.columns]
    if missing:
        raise EdaError(f"{path} lacks column(s) {', '.join(missing)}; expected {', '.join(OPERAND_CSV_COLUMNS)} (one row per operation)")
    if len(table) < n:
        raise EdaError(f"{path} holds {len(table)} operations; {n} are needed (the cycles plus the warm-up); pass fewer --cycles")
    values = table.loc[: n - 1, list(OPERAND_CSV_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    if values.isna().any().any() or not np.all(values == np.round(values)):
        raise EdaError(f"{path}: columns {', '.join(OPERAND_CSV_COLUMNS)} must hold integers")
    return pd.DataFrame({"a_code": values["a"].astype(np.int64), "w_code": values["w"].astype(np.int64),
                         "psum_in": values["psum_in"].astype(np.int64)})


# ---------------------------------------------------------------------------
# one netlist


def _code_digest() -> str:
    """The simulator, the SDF reader and every script template a run writes: editing one invalidates cached runs."""
    from eda.flow import dta, gatesim, sta
    from eda.parsers import sdf

    digest = hashlib.sha256()
    for module in (dta, sdf):
        digest.update(Path(module.__file__).read_bytes())
    for text in (gatesim.GATE_MODEL_SCRIPT, sta.STA_SCRIPT, sta.SHADOW_CLOCK, sta.SHADOW_REPORT):
        digest.update(text.encode())
    return digest.hexdigest()


def _cache_key(netlist: Path, params: MacParams, liberty: PreparedLiberty, platform: Platform, settings: StaSettings,
               vectors: pd.DataFrame, warmup_cycles: int, mode: str, tools: dict) -> str:
    payload = {"format": DTA_FORMAT_VERSION, "netlist": sha256_file(netlist), "mac": params.as_dict(), "liberty": liberty.key,
               "platform_cells": [platform.driver, platform.output_load_ff], "sta": asdict(settings),
               "vectors": vectors_digest(vectors), "warmup_cycles": warmup_cycles, "mode": mode, "code": _code_digest(),
               "tools": tools}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def _build(netlist: Path, params: MacParams, vectors: pd.DataFrame, liberty: PreparedLiberty, platform: Platform,
           settings: StaSettings, warmup_cycles: int, mode: str, run_dir: Path, timeout_s: float) -> None:
    netlist_dir = run_dir / "00-netlist"
    netlist_dir.mkdir(parents=True)
    (netlist_dir / "netlist.v").write_bytes(netlist.read_bytes())  # the cached run must not depend on the source folder
    atomic_write_text(netlist_dir / "source.txt", f"{netlist}\n")
    state = State({"netlist": netlist_dir / "netlist.v"})
    state = run_step(NetlistJson(params.module, liberty, timeout_s), state, run_dir / "01-netlist-json", run_dir)
    ports = {p.name for p in mac_ports(params)}
    state = run_step(WriteSdf(params.module, liberty, platform, settings, ports, timeout_s), state, run_dir / "02-sdf", run_dir)
    state = run_step(TimingSimulation(params, vectors, warmup_cycles, settings, mode), state, run_dir / "03-dta", run_dir)
    atomic_write_text(run_dir / "metrics.json", json.dumps(state.to_json(run_dir), indent=1))


def run_dta(netlist: Path, params: MacParams, vectors: pd.DataFrame, liberty: PreparedLiberty, platform: Platform,
            settings: StaSettings, cache_dir: Path, *, warmup_cycles: int = DEFAULT_WARMUP_CYCLES, mode: str = DEFAULT_MODE,
            timeout_s: float = 600.0, tools: dict | None = None) -> DtaRun:
    """The timing simulation of one synthesized MAC netlist (run, or reuse from the cache)."""
    netlist = Path(netlist)
    if not netlist.is_file():
        raise EdaError(f"netlist {netlist} not found")
    key = _cache_key(netlist, params, liberty, platform, settings, vectors, warmup_cycles, mode, tools or tool_versions(*DTA_TOOLS))
    cache_dir = Path(cache_dir).resolve()
    final_dir = cache_dir / "dta" / key
    start = time.monotonic()
    cached = build_once(final_dir, cache_dir / "failed" / f"dta-{params.kind}-{key}",
                        lambda run_dir: _build(netlist, params, vectors, liberty, platform, settings, warmup_cycles, mode, run_dir,
                                               timeout_s), str(netlist))
    metrics = json.loads((final_dir / "metrics.json").read_text())["metrics"]
    endpoints = pd.read_csv(final_dir / "03-dta" / ENDPOINTS_FILE)
    with np.load(final_dir / "03-dta" / SETTLE_FILE) as data:
        required = required_time_ns(data["settle_ns"], data["final"], endpoints["setup_rise_ns"], endpoints["setup_fall_ns"])
    build_s = sum(v for k, v in metrics.items() if k.endswith("__runtime_s"))
    return DtaRun(final_dir, key, cached, round(time.monotonic() - start, 3), round(build_s, 3), required, endpoints, metrics)


# ---------------------------------------------------------------------------
# a characterization table


def netlist_of(row, characterization_csv: Path, cache_dir: Path) -> Path:
    """The size's netlist: its run folder beside the table, else the characterization cache (by cache_key)."""
    beside = characterization_csv.parent / str(row["run_dir"]) / "01-synth" / "netlist.v"
    if beside.is_file():
        return beside
    cached = cache_dir / "runs" / str(row.get("cache_key", "")) / "01-synth" / "netlist.v"
    if row.get("cache_key") and cached.is_file():
        return cached
    raise EdaError(f"{characterization_csv}: no netlist for {row['kind']} at {row['target_ps']} ps: neither {beside} nor "
                   f"{cached} exists (the run folders are written beside the table by `eda characterize` and `eda run`)")


def pick_sizes(sizes: pd.DataFrame, count: int | None) -> pd.DataFrame:
    """All Pareto sizes, or `count` of them spread evenly over the list (smallest and largest included)."""
    if count is None or count >= len(sizes):
        return sizes
    if count < 1:
        raise EdaError(f"number of sizes must be >= 1, got {count}")
    return sizes.iloc[np.unique(np.round(np.linspace(0, len(sizes) - 1, count)).astype(int))]


@dataclass(frozen=True)
class KindResult:
    kind: str
    clock_ns: float
    bits: pd.DataFrame  # measured_bit_error_probability rows
    macs: pd.DataFrame  # measured_error_probability rows
    comparison: pd.DataFrame  # measured next to the model with the fitted and the configured p
    fit: PropagationFit | None
    rms_log10_error: dict[float, float]  # at the configured p and the paper's 0.5: how far the model is
    runs: list[dict]


def measure_kind(characterization: pd.DataFrame, characterization_csv: Path, params: MacParams, corner: str, fo4: pd.DataFrame,
                 operands: pd.DataFrame, liberty: PreparedLiberty, platform: Platform, cache_dir: Path, *,
                 sizes: int | None, vdds: list[float] | None, clock_ns: float | None, model: ErrorModelSettings, mode: str,
                 warmup_cycles: int, shadow_delay_fraction: float, jobs: int, timeout_s: float, progress: bool) -> KindResult:
    """Every chosen size of one kind: simulate (cached), then the measured tables and the fitted model."""
    from eda.parsers.netlist import register_output_nets

    pareto = mac_sizes(characterization, params.kind, corner, source=str(characterization_csv))
    nominal_vdd = float(pareto["vdd"].iloc[0])
    clock = clock_ns or default_clock_ns(pareto)  # of every Pareto size, as the error table: the array's one clock
    scales = delay_scales(fo4, vdds if vdds is not None else list(fo4["vdd"]), nominal_vdd)
    chosen = pick_sizes(pareto, sizes)
    vectors = operand_vectors(params, operands)
    tools = tool_versions(*DTA_TOOLS)

    def measure(row) -> tuple[pd.Series, DtaRun]:
        settings = StaSettings(clock_period_ns=float(row["power_clock_ns"]), input_activity=float(row["input_activity"]),
                               shadow_delay_fraction=shadow_delay_fraction)
        netlist = netlist_of(row, characterization_csv, cache_dir)
        return row, run_dta(netlist, params, vectors, liberty, platform, settings, cache_dir, warmup_cycles=warmup_cycles,
                            mode=mode, timeout_s=timeout_s, tools=tools)

    done, errors = [], []
    workers = jobs if jobs > 0 else (os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(measure, row) for _, row in chosen.iterrows()]
        bar = tqdm(as_completed(futures), total=len(futures), desc=f"dta {params.kind}", unit="size", disable=not progress)
        for future in bar:
            try:
                done.append(future.result())
            except EdaError as exc:
                errors.append(str(exc))
    if errors:
        raise EdaError(f"{len(errors)} of {len(chosen)} {params.kind} timing simulations failed; the first:\n{errors[0]}")
    bit_tables, mac_tables, runs = [], [], []
    for row, run in sorted(done, key=lambda item: item[0]["size_index"]):
        netlist = run.run_dir / "00-netlist" / "netlist.v"
        bits = register_bits(run.endpoints, register_output_nets(netlist, cache_dir), params)
        bit_table, mac_table = measured_error_tables(run.required_ns, bits, scales, clock)
        size = {"kind": params.kind, "size_index": int(row["size_index"]), "target_ps": int(row["target_ps"]),
                "area_um2": float(row["area_um2"])}
        bit_tables.append(bit_table.assign(**size))
        mac_tables.append(mac_table.assign(**size, delay_ns=float(row["delay_ns"])))
        runs.append({**size, "delay_ns": float(row["delay_ns"]), "cache_key": run.cache_key, "cache_dir": str(run.run_dir),
                     "cached": run.cached, "runtime_s": run.runtime_s, "build_s": run.build_s,
                     "simulate_s": run.metrics.get("dta__simulate_s"), "cycles": int(run.required_ns.shape[1]),
                     "sta_delay_ns": run.metrics.get("sdf__sta_delay_ns"),
                     "worst_settle_plus_setup_ns": run.metrics.get("dta__worst_settle_plus_setup_ns"),
                     "golden_cycles_compared": run.metrics.get("dta__golden_cycles_compared")})
    macs = pd.concat(mac_tables, ignore_index=True)
    measured_sizes = pareto[pareto["size_index"].isin(macs["size_index"])]
    model_vdds = list(scales["vdd"])
    fit = cached_fit(cache_dir, macs, measured_sizes, fo4, nominal_vdd, clock, model) if (macs["p_error"] > 0).any() else None
    configured = model_table(measured_sizes, fo4, nominal_vdd, clock, model_vdds, model, model.propagation_p)
    fitted = model_table(measured_sizes, fo4, nominal_vdd, clock, model_vdds, model, fit.p) if fit else configured.assign(p_error=np.nan)
    references = {model.propagation_p: configured, DEFAULT_PROPAGATION_P: model_table(measured_sizes, fo4, nominal_vdd, clock,
                                                                                     model_vdds, model, DEFAULT_PROPAGATION_P)}
    rms = {p: log10_error(macs, table) for p, table in references.items()}
    return KindResult(params.kind, clock, pd.concat(bit_tables, ignore_index=True), macs, side_by_side(macs, fitted, configured), fit,
                      rms, runs)


FIT_FORMAT = "fit-1"
FIT_CODE = ("measured_errors.py", "errtable.py", "errmodel.py", "scaling.py", "pareto.py")


def cached_fit(cache_dir: Path, measured: pd.DataFrame, sizes: pd.DataFrame, fo4: pd.DataFrame, nominal_vdd: float,
               clock_ns: float, model: ErrorModelSettings) -> PropagationFit:
    """fit_propagation_p, kept under <cache>/fits/<key>.json: the search evaluates eqs. 7-9 a few hundred
    times (most of a rerun whose timing simulations all come from the cache). The key hashes its inputs
    and the code of the error model."""
    from eda.method import measured_errors

    digest = hashlib.sha256(FIT_FORMAT.encode())
    for name in FIT_CODE:
        digest.update((Path(measured_errors.__file__).parent / name).read_bytes())
    for frame in (measured, sizes, fo4):
        digest.update(frame.to_csv(index=False).encode())
    digest.update(json.dumps({"nominal_vdd": nominal_vdd, "clock_ns": clock_ns, "model": asdict(model)}, sort_keys=True).encode())
    path = Path(cache_dir) / "fits" / f"{digest.hexdigest()[:24]}.json"
    if path.is_file():
        try:
            return PropagationFit(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            pass
    fit = fit_propagation_p(measured, sizes, fo4, nominal_vdd, clock_ns, model)
    atomic_write_text(path, json.dumps(asdict(fit)))
    return fit


def dta_report(characterization_csv: Path, out_dir: Path, platform: Platform, cache_dir: Path, *, kinds: list[str] | None = None,
               sizes: int | None = None, cycles: int = DEFAULT_CYCLES, seed: int = DEFAULT_SEED, operands_csv: Path | None = None,
               vdds: list[float] | None = None, clock_ns: float | None = None, fo4_csv: Path | None = None,
               model: ErrorModelSettings = ErrorModelSettings(), mode: str = DEFAULT_MODE, mac: MacParams | None = None,
               warmup_cycles: int = DEFAULT_WARMUP_CYCLES, shadow_delay_fraction: float = 0.25, jobs: int = 0,
               timeout_s: float = 600.0, progress: bool = True, command: list[str] | None = None,
               operands: tuple[pd.DataFrame, str] | None = None) -> tuple[list[KindResult], dict[str, Path]]:
    """Everything `eda dta` does: operands, one timing simulation per size, the measured tables, the fit, the files."""
    from eda.flow.characterize import prepare_corners
    from eda.spice.table import load_fo4_table, platform_fo4_table

    characterization_csv = Path(characterization_csv)
    try:
        characterization = pd.read_csv(characterization_csv)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise EdaError(f"{characterization_csv}: not a readable characterization table: {exc}") from None
    needed = {"kind", "corner", "vdd", "target_ps", "area_um2", "delay_ns", "run_dir", "power_clock_ns", "input_activity"}
    missing = needed - set(characterization.columns)
    if missing:
        raise EdaError(f"{characterization_csv}: characterization table lacks column(s) {', '.join(sorted(missing))}")
    if cycles < 1:
        raise EdaError(f"number of cycles must be >= 1, got {cycles}")
    corner = platform.nominal_corner
    wanted = kinds or [k for k in MAC_KINDS if k in set(characterization["kind"])]
    widths = mac or MacParams("tpu")
    n_operations = cycles + warmup_cycles + 1  # the first vector is the state the first timed cycle starts from
    if operands is not None:  # (a_code, w_code, psum_in frame, label): e.g. the workload's own stream
        operands, operands_label = operands[0].head(n_operations).reset_index(drop=True), operands[1]
        if len(operands) < n_operations:
            raise EdaError(f"{operands_label}: {len(operands)} operations, {n_operations} needed")
    elif operands_csv is not None:
        operands, operands_label = read_operand_csv(Path(operands_csv), n_operations), f"operand table {operands_csv}"
    else:
        operands = random_operands(n_operations, seed, widths)
        operands_label = (f"uniform random int8 activations and weights and 24-bit partial sums (seed {seed}), "
                          f"a new activation and partial sum every cycle, a new weight every {WEIGHT_HOLD_CYCLES}")
    fo4_path = Path(fo4_csv) if fo4_csv else platform_fo4_table(platform.name)
    fo4 = load_fo4_table(fo4_path)
    cache_dir = Path(cache_dir).resolve()
    remove_orphaned_dirs(cache_dir / "dta")
    liberty = prepare_corners(platform, [corner], cache_dir)[corner]
    results = []
    for kind in wanted:
        params = replace(widths, kind=kind)
        results.append(measure_kind(characterization, characterization_csv, params, corner, fo4, operands, liberty, platform,
                                    cache_dir, sizes=sizes, vdds=vdds, clock_ns=clock_ns, model=model, mode=mode,
                                    warmup_cycles=warmup_cycles, shadow_delay_fraction=shadow_delay_fraction, jobs=jobs,
                                    timeout_s=timeout_s, progress=progress))
    meta = {"command": command or [], "operands": operands_label, "cycles": cycles, "warmup_cycles": warmup_cycles, "mode": mode,
            "corner": corner, "characterization": shown_path(characterization_csv), "fo4": shown_path(fo4_path), "model": asdict(model),
            "tools": tool_versions(*DTA_TOOLS)}
    return results, write_measured_outputs(results, Path(out_dir), meta)
