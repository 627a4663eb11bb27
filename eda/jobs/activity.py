"""Activity-based power of the MAC sizes Table II uses, and the leakage law beside it.

For every (kind, size index) a Table II design's sizing map uses, the size's synthesized netlist
(its characterization run folder) is simulated at gate level on the workload's own int8 operands
and its power reported by OpenSTA with every net's measured activity (`eda power`'s
`measure_power`, cached under <cache>/activity_power/<key>/), at the nominal corner and the
characterization's power clock. The table this returns is what eda/method/table2.py weights by
the sizing maps; eda/method/power_model.py scales it to each design's clock and Vmin, leakage with
the platform's leakage table (eda/spice/leakage.py).

The operands (eda/nn/operands.py): one MAC of the array running the reference network on held-out
test images (conv2, the typical row, filter 0). Every MAC of a design is assumed to see that
stream, idle ones included.

`eda run` writes the table to power/activity_by_size.csv and a copy of the leakage table to
power/leakage.csv; `eda report` reads both back (it reruns no tool).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from eda.core.errors import EdaError
from eda.core.files import atomic_write_text, sha256_file
from eda.designs.mac import MacParams
from eda.jobs.config import mac_params
from eda.flow.sta import StaSettings
from eda.jobs.power import DEFAULT_WARMUP_CYCLES, measure_power

ACTIVITY_FILE = Path("power") / "activity_by_size.csv"
LEAKAGE_FILE = Path("power") / "leakage.csv"
ACTIVITY_COLUMNS = [
    "kind", "size_index", "target_ps", "area_um2", "corner", "power_clock_ns", "input_activity",
    "power_activity_w", "power_activity_internal_w", "power_activity_switching_w", "power_activity_leakage_w",
    "power_vectorless_w", "activity_over_vectorless", "mean_toggle_rate", "cycles_simulated", "warmup_cycles",
    "operands", "run_dir", "activity_cache_key",
]


def needed_sizes(specs, sizes_by_kind: dict[str, pd.DataFrame]) -> dict[str, list[int]]:
    """{kind: sorted size indices} that the designs' sizing maps use."""
    wanted: dict[str, set[int]] = {}
    for spec in specs:
        wanted.setdefault(spec.kind, set()).update(int(k) for k in spec.size_counts)
    for kind, indices in wanted.items():
        if kind not in sizes_by_kind:
            raise EdaError(f"no sizes of MAC kind {kind!r}")
        unknown = sorted(indices - set(int(i) for i in sizes_by_kind[kind].index))
        if unknown:
            raise EdaError(f"{kind}: size index(es) {unknown} are not in its size list")
    return {kind: sorted(indices) for kind, indices in wanted.items()}


def netlist_path(report_dir: Path, run_dir: str, cache_key: str | None, cache_dir: Path) -> Path:
    """The size's synthesized netlist: beside the characterization table, else in the run cache."""
    candidates = [Path(report_dir) / str(run_dir) / "01-synth" / "netlist.v"]
    if cache_key:
        candidates.append(Path(cache_dir) / "runs" / str(cache_key) / "01-synth" / "netlist.v")
    for path in candidates:
        if path.is_file():
            return path
    raise EdaError(f"no netlist for {run_dir} (looked at {', '.join(map(str, candidates))}); the run folders are written "
                   "beside characterization.csv by `eda characterize` and `eda run`")


def activity_power_by_size(characterization: pd.DataFrame, report_dir: Path, sizes_by_kind: dict[str, pd.DataFrame],
                           wanted: dict[str, list[int]], operands: pd.DataFrame, operands_label: str, platform,
                           cache_dir: Path, *, corner: str | None = None, mac: MacParams | None = None,
                           shadow_delay_fraction: float = 0.25, warmup_cycles: int = DEFAULT_WARMUP_CYCLES, jobs: int = 0,
                           timeout_s: float = 600.0) -> pd.DataFrame:
    """Activity-based power (ACTIVITY_COLUMNS) of each wanted (kind, size index), at the nominal corner.

    sizes_by_kind: per kind, index size_index with target_ps, area_um2, run_dir, cache_key, power_w and
    power_clock_ns (eda/jobs/inputs.py kind_sizes). The stated input activity of the STA settings
    (part of the run's cache key, unused by the annotated power) is the characterization's.
    """
    from eda.flow.characterize import prepare_corners

    corner = corner or platform.nominal_corner
    widths = mac or MacParams("tpu")
    cache_dir = Path(cache_dir).resolve()
    liberty = prepare_corners(platform, [corner], cache_dir)[corner]
    at_corner = characterization[characterization["corner"] == corner]
    tasks = []
    for kind, indices in wanted.items():
        sizes = sizes_by_kind[kind]
        for index in indices:
            size = sizes.loc[index]
            match = at_corner[(at_corner["kind"] == kind) & (at_corner["target_ps"] == int(size["target_ps"]))]
            if match.empty:
                raise EdaError(f"the characterization has no {kind} row at {int(size['target_ps'])} ps, corner {corner}")
            row = match.iloc[0]
            cache_key = size.get("cache_key", row.get("cache_key"))
            netlist = netlist_path(report_dir, str(row["run_dir"]), None if pd.isna(cache_key) else str(cache_key), cache_dir)
            settings = StaSettings(clock_period_ns=float(row["power_clock_ns"]), input_activity=float(row["input_activity"]),
                                   shadow_delay_fraction=shadow_delay_fraction)
            params = replace(widths, kind=kind)
            tasks.append((kind, int(index), size, row, netlist, settings, params))

    # Pareto sizes have distinct netlists, but a design may be measured twice through two sizes of one netlist.
    runs = {}
    unique = {(t[0], sha256_file(t[4]), t[5]): t for t in tasks}

    def measure(task):
        kind, _, _, _, netlist, settings, params = task
        return measure_power(netlist, params, operands, liberty, platform, settings, cache_dir,
                             warmup_cycles=warmup_cycles, timeout_s=timeout_s)

    workers = max(1, min(jobs if jobs > 0 else (os.cpu_count() or 1), len(unique)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {key: pool.submit(measure, task) for key, task in unique.items()}
        for key, future in futures.items():
            runs[key] = future.result()
    rows = []
    for kind, index, size, row, netlist, settings, _ in tasks:
        run = runs[(kind, sha256_file(netlist), settings)]
        vectorless = float(row["power_w"])
        rows.append({
            "kind": kind, "size_index": index, "target_ps": int(size["target_ps"]), "area_um2": float(size["area_um2"]),
            "corner": corner, "power_clock_ns": settings.clock_period_ns, "input_activity": settings.input_activity,
            "power_activity_w": run.power_w, "power_activity_internal_w": run.internal_w,
            "power_activity_switching_w": run.switching_w, "power_activity_leakage_w": run.leakage_w,
            "power_vectorless_w": vectorless, "activity_over_vectorless": run.power_w / vectorless if vectorless > 0 else float("nan"),
            "mean_toggle_rate": run.mean_toggle_rate, "cycles_simulated": run.cycles_simulated,
            "warmup_cycles": run.warmup_cycles, "operands": operands_label, "run_dir": str(row["run_dir"]),
            "activity_cache_key": run.cache_key,
        })
    return pd.DataFrame(rows, columns=ACTIVITY_COLUMNS)


def workload_operands(n_operations: int, *, array_rows: int, cache_dir: Path, seed: int | None = None,
                      epochs: int | None = None):
    """The reference network's operand stream for one typical MAC: (frame, label, meta).

    seed and epochs of the network's training: None for eda/nn/operands.py's defaults."""
    from eda.nn.operands import operand_stream

    training = {k: v for k, v in (("seed", seed), ("epochs", epochs)) if v is not None}
    stream = operand_stream(n_operations=n_operations, array_rows=array_rows, cache_dir=cache_dir, **training)
    return stream.frame, stream.label, stream.meta


# --------------------------------------------------------------------------- the main job's use


@dataclass
class Table2Power:
    """What Table II needs for its activity-based columns (all None/empty: vectorless only)."""

    activity: pd.DataFrame | None = None
    leakage: pd.DataFrame | None = None
    settings: dict = field(default_factory=dict)


def _leakage_for(platform_name: str) -> tuple[pd.DataFrame | None, str]:
    from eda.spice.leakage import load_leakage_table, platform_leakage_table

    from eda.core.paths import REPO_ROOT

    path = platform_leakage_table(platform_name)
    if path is None:
        return None, "none (the platform has no leakage_table): leakage scaled by (V/Vnom)^2"
    shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
    return load_leakage_table(path), str(shown)


def leakage_law_text(source: str) -> str:
    return (f"leakage power x (V/Vnom) x I_leak(V)/I_leak(Vnom), I_leak of sky130_fd_sc_hd__inv_1 from ngspice "
            f"(tt, 25 C, both input states averaged; {source}); dynamic power x (V/Vnom)^2 x (f/f_ref)")


def table2_power(config, platform, inputs, specs, sizes_by_kind: dict[str, pd.DataFrame], cache_dir: Path,
                 operands=None) -> Table2Power:
    """`eda run`: measure (or reuse) the activity-based power of every size the designs use; write power/."""
    if not config.power.activity:
        for stale in (ACTIVITY_FILE, LEAKAGE_FILE):  # of an earlier run into the same folder
            (Path(inputs.out) / stale).unlink(missing_ok=True)
        return Table2Power(settings={"activity": False})
    import click

    out = Path(inputs.out)
    leakage, source = _leakage_for(platform.name)
    cycles = int(config.power.activity_cycles)
    warmup = DEFAULT_WARMUP_CYCLES
    wanted = needed_sizes(specs, sizes_by_kind)
    click.echo(f"activity-based power: {sum(map(len, wanted.values()))} MAC sizes x {cycles} cycles of the network's operands",
               err=True)
    # operands(n) -> (frame, label, meta): the workload's own stream (eda.jobs.workload.mac_operands)
    frame, label, meta = operands(cycles + warmup) if operands is not None else \
        workload_operands(cycles + warmup, array_rows=config.method.array_rows, cache_dir=cache_dir)
    mac = mac_params(config, "tpu")
    table = activity_power_by_size(inputs.characterization, out, sizes_by_kind, wanted, frame, label, platform, cache_dir,
                                   corner=inputs.nominal_corner, mac=mac,
                                   shadow_delay_fraction=float(config.characterize.shadow_delay_fraction),
                                   warmup_cycles=warmup, jobs=config.characterize.jobs,
                                   timeout_s=float(config.characterize.timeout_s))
    (out / ACTIVITY_FILE).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / ACTIVITY_FILE, table.to_csv(index=False))
    if leakage is not None:
        atomic_write_text(out / LEAKAGE_FILE, leakage.to_csv(index=False))
    else:
        (out / LEAKAGE_FILE).unlink(missing_ok=True)
    settings = {"activity": True, "activity_cycles": cycles, "warmup_cycles": warmup, "operands": label,
                "operands_meta": {k: meta.get(k) for k in ("layer", "k", "filter", "images", "zero_activation_fraction",
                                                            "weight_code", "array_row")},
                "leakage_table": source,
                "leakage_law": leakage_law_text(source) if leakage is not None else "leakage power x (V/Vnom)^2 (no leakage table)",
                "activity_file": str(ACTIVITY_FILE)}
    return Table2Power(table, leakage, settings)


def read_table2_power(report_dir: Path, settings: dict) -> Table2Power:
    """`eda report`: the activity table and leakage table a finished run wrote (none if it wrote none)."""
    report_dir = Path(report_dir)
    power = settings.get("power") or {"activity": False}  # a run from before the activity columns has none
    if not power.get("activity"):
        return Table2Power(settings=power)
    if not (report_dir / ACTIVITY_FILE).is_file():
        raise EdaError(f"{report_dir / ACTIVITY_FILE} is missing, but the run measured activity-based power "
                       "(method_manifest.json settings.power); rerun `eda run`")
    from eda.spice.leakage import load_leakage_table

    leakage = load_leakage_table(report_dir / LEAKAGE_FILE) if (report_dir / LEAKAGE_FILE).is_file() else None
    return Table2Power(pd.read_csv(report_dir / ACTIVITY_FILE), leakage, power)
