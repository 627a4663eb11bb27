"""Table II of the paper for our designs: pure computation on tables the flow wrote.

Every number is derived from (a) the characterization table (OpenSTA area, delay, power of
each MAC size), (b) the tile overheads (eda/designs/tile.py), (c) the sizing maps, (d) the minimum
voltages from the accuracy sweep. How, per column:

- frequency: 1 / the kind's error-table clock (every size of the kind meets it at nominal).
- throughput: 2 operations (multiply, add) per MAC per cycle: 2 x MACs x f.
- area: sum over the sizing map of each MAC's synthesized area, plus MACs x the dataflow's
  switching overhead per MAC (tile measurement). Synthesis area: no placement utilization.
- power at nominal: each MAC's OpenSTA power was reported at `power_clock_ns` with the stated
  input activity; its dynamic part (internal + switching) scales with frequency to the design's
  clock, leakage does not; summed over the sizing map, plus the switching overhead (dynamic).
- scaled power: power at nominal x (Vmin / Vnom)^2, the paper's rule (Table II footnote).
- savings: 1 - scaled power / baseline's scaled power (the paper's ratio), and the same with
  energy per operation (power / throughput), which also credits a faster clock.

Activity-based power (when `table2` gets the per-size table of eda/jobs/activity.py and a leakage
table; eda/method/power_model.py has the laws): each size's power from gate-level simulation on
the workload's own operands, summed over the sizing map plus the switching overhead, at nominal
and at Vmin with dynamic power x (V/Vnom)^2 and leakage with its own law; energy per operation and
per inference (power x cycles_per_inference / f) and the savings on these powers.

Provenance (one hop from a number to its runs; `eda trace` follows it): `mac_runs` lists, per MAC
size in the design, `run_dir@cache_key:count` of the characterization row it came from;
`overhead_runs` the tile runs of the switching overhead (switched tile, conventional tile).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from eda.core.errors import EdaError
from eda.method.power_model import activity_columns

BASELINES = ("tpu", "thundervolt")


@dataclass(frozen=True)
class DesignSpec:
    design: str                      # row name: tpu, thundervolt, proposed-column, ...
    kind: str                        # MAC kind
    dataflow: str                    # conventional, column, column2to1, column4to1
    size_counts: dict[int, int]      # size index -> MACs of that size
    clock_ns: float
    vmin_v: float                    # NaN if even the nominal supply misses the accuracy target
    cycles_per_inference: float = float("nan")  # clock cycles of one inference (the workload's; NaN: not given)


def size_counts(size_map: np.ndarray) -> dict[int, int]:
    values, counts = np.unique(np.asarray(size_map), return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts)}


def mac_power_at_clock_w(size_row: pd.Series, clock_ns: float) -> float:
    """A MAC's nominal power at `clock_ns`: dynamic power scales with frequency, leakage does not."""
    dynamic_w = float(size_row["power_internal_w"]) + float(size_row["power_switching_w"])
    return dynamic_w * float(size_row["power_clock_ns"]) / clock_ns + float(size_row["power_leakage_w"])


def design_row(spec: DesignSpec, sizes: pd.DataFrame, overhead: pd.Series | None, nominal_vdd: float,
               technology: str, bits: int) -> dict:
    """One Table II row. sizes: the kind's Pareto sizes (index = size index) with area and power columns."""
    macs = sum(spec.size_counts.values())
    unknown = [k for k in spec.size_counts if k not in sizes.index]
    if unknown:
        raise EdaError(f"{spec.design}: the sizing map uses size index(es) {unknown} that the {spec.kind} size list "
                       f"(0..{len(sizes) - 1}) does not have")
    area_um2 = sum(count * float(sizes.loc[k, "area_um2"]) for k, count in spec.size_counts.items())
    power_w = sum(count * mac_power_at_clock_w(sizes.loc[k], spec.clock_ns) for k, count in spec.size_counts.items())
    overhead_area_um2 = overhead_power_w = 0.0
    if overhead is not None:
        overhead_area_um2 = macs * float(overhead["area_overhead_per_mac_um2"])
        overhead_power_w = macs * float(overhead["power_overhead_per_mac_w"]) * float(overhead["power_clock_ns"]) / spec.clock_ns
    frequency_hz = 1e9 / spec.clock_ns
    ops_per_s = 2.0 * macs * frequency_hz
    power_nominal_w = power_w + overhead_power_w
    scaled_w = power_nominal_w * (spec.vmin_v / nominal_vdd) ** 2 if np.isfinite(spec.vmin_v) else np.nan
    return {
        "design": spec.design, "kind": spec.kind, "dataflow": spec.dataflow, "technology": technology,
        "bitwidth_bits": bits, "macs": macs, "frequency_mhz": frequency_hz / 1e6, "clock_ns": spec.clock_ns,
        "throughput_gops": ops_per_s / 1e9,
        "area_mm2": (area_um2 + overhead_area_um2) / 1e6, "mac_area_mm2": area_um2 / 1e6,
        "switching_area_mm2": overhead_area_um2 / 1e6,
        "power_nominal_w": power_nominal_w, "nominal_vdd": nominal_vdd, "vmin_v": spec.vmin_v,
        "power_scaled_w": scaled_w, "energy_per_op_pj": scaled_w / ops_per_s * 1e12,
        "energy_per_op_nominal_pj": power_nominal_w / ops_per_s * 1e12,
        "mac_runs": mac_runs(spec, sizes), "overhead_runs": overhead_runs(overhead),
    }


def mac_runs(spec: DesignSpec, sizes: pd.DataFrame) -> str:
    """`run_dir@cache_key:count` per size of the design (empty when the sizes carry no run columns)."""
    if "run_dir" not in sizes.columns:
        return ""
    key = sizes["cache_key"] if "cache_key" in sizes.columns else pd.Series("", index=sizes.index)
    return ";".join(f"{sizes.loc[k, 'run_dir']}@{key.loc[k]}:{count}" for k, count in sorted(spec.size_counts.items()))


def overhead_runs(overhead: pd.Series | None) -> str:
    if overhead is None or "tile_run_dir" not in overhead.index:
        return ""
    runs = [f"tiles/{overhead['tile_run_dir']}"]
    if "base_run_dir" in overhead.index:
        runs.append(f"tiles/{overhead['base_run_dir']}")
    return ";".join(runs)


def with_savings(table: pd.DataFrame) -> pd.DataFrame:
    """Savings of every row against each baseline row present (tpu, thundervolt)."""
    table = table.copy()
    for base in BASELINES:
        match = table[table["design"] == base]
        if match.empty:
            continue
        ref = match.iloc[0]
        table[f"power_saving_vs_{base}"] = 1.0 - table["power_scaled_w"] / ref["power_scaled_w"]
        table[f"energy_saving_vs_{base}"] = 1.0 - table["energy_per_op_pj"] / ref["energy_per_op_pj"]
        if "power_activity_vmin_w" in table.columns:
            table[f"power_activity_saving_vs_{base}"] = 1.0 - table["power_activity_vmin_w"] / ref["power_activity_vmin_w"]
            table[f"energy_activity_saving_vs_{base}"] = (1.0 - table["energy_per_op_activity_pj"]
                                                          / ref["energy_per_op_activity_pj"])
    return table


def table2(specs: list[DesignSpec], sizes_by_kind: dict[str, pd.DataFrame], overheads: pd.DataFrame | None,
           nominal_vdd: float, technology: str, bits: int = 8, *, activity: pd.DataFrame | None = None,
           leakage: pd.DataFrame | None = None) -> pd.DataFrame:
    """Table II rows for the given designs, with savings columns.

    overheads: rows (kind, dataflow, area_overhead_per_mac_um2, power_overhead_per_mac_w, power_clock_ns);
    a dataflow with no row there (tpu, thundervolt, conventional) has none.
    activity: per (kind, size_index) activity-based MAC power (eda/jobs/activity.py); with it, the
    activity columns (eda/method/power_model.py activity_columns), leakage scaled by `leakage`
    (vdd, leakage_a; None: the V^2 rule).
    """
    rows = []
    for spec in specs:
        if spec.kind not in sizes_by_kind:
            raise EdaError(f"{spec.design}: no sizes of MAC kind {spec.kind!r}")
        overhead = None
        if overheads is not None and spec.dataflow not in ("conventional",):
            match = overheads[(overheads["kind"] == spec.kind) & (overheads["dataflow"] == spec.dataflow)]
            if match.empty:
                raise EdaError(f"{spec.design}: no switching overhead measured for {spec.kind} / {spec.dataflow}")
            overhead = match.iloc[0]
        row = design_row(spec, sizes_by_kind[spec.kind], overhead, nominal_vdd, technology, bits)
        row["cycles_per_inference"] = spec.cycles_per_inference
        row["energy_per_inference_uj"] = row["power_scaled_w"] * spec.cycles_per_inference * spec.clock_ns * 1e-9 * 1e6
        if activity is not None:
            overhead_w = 0.0 if overhead is None else (row["macs"] * float(overhead["power_overhead_per_mac_w"])
                                                       * float(overhead["power_clock_ns"]) / spec.clock_ns)
            row.update(activity_columns(spec, activity, overhead_w, nominal_vdd, leakage, row["throughput_gops"] * 1e9))
        rows.append(row)
    return with_savings(pd.DataFrame(rows))


def minimum_voltages(sweep: pd.DataFrame, max_loss: float) -> pd.DataFrame:
    """Per (design, budget): the lowest evaluated supply at and above which every evaluated point passes.

    A point passes when its one-sided 95% upper bound of the paired accuracy loss (`loss_upper_bound`,
    eda/nn/vmin.py) is at most `max_loss`; tables without that column (older runs) use
    accuracy_mean >= clean_accuracy - max_loss. NaN when the highest supply already fails. Only the
    points a Vmin search evaluated are known: with another threshold than the search's, the answer is
    exact only where the search evaluated the supplies around it."""
    _check_sweep_numbers(sweep)
    rows = []
    for (design, budget), group in sweep.groupby(["design", "budget"], sort=False):
        ordered = group.sort_values("vdd", ascending=False)
        clean = float(ordered["clean_accuracy"].iloc[0])
        vmin = np.nan
        accuracy_at_vmin = np.nan
        for r in ordered.itertuples():
            failed = (r.loss_upper_bound > max_loss) if "loss_upper_bound" in ordered.columns \
                else (r.accuracy_mean < clean - max_loss)
            if failed:
                break
            vmin, accuracy_at_vmin = r.vdd, r.accuracy_mean
        rows.append({"design": design, "budget": budget, "vmin_v": vmin, "accuracy_at_vmin": accuracy_at_vmin,
                     "clean_accuracy": clean, "max_loss": max_loss})
    return pd.DataFrame(rows)


def _check_sweep_numbers(sweep: pd.DataFrame) -> None:
    # NaN compares False both ways: a NaN bound would count as a pass and quietly lower Vmin.
    decision = "loss_upper_bound" if "loss_upper_bound" in sweep.columns else "accuracy_mean"
    for column in ("vdd", "clean_accuracy", decision):
        values = pd.to_numeric(sweep[column], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            row = sweep.iloc[int(np.flatnonzero(bad)[0])]
            raise EdaError(f"accuracy sweep: {column} of {row['design']} ({row['budget']}) at vdd {row['vdd']} is "
                           f"{row[column]!r}; expected a finite number")


# The paper's Table II (65 nm, ResNet-18 on ImageNet), from seeds/002_shin2019_heterogeneous_mac_paper.txt,
# for the reader to compare with; savings recomputed from its powers with the same formula.
PAPER_TABLE2 = pd.DataFrame([
    {"design": "tpu [5]", "technology": "65nm", "bitwidth_bits": 8, "macs": 65536, "frequency_mhz": 526,
     "area_mm2": 241.3, "power_nominal_w": 66.5, "nominal_vdd": 1.08, "vmin_v": 1.08, "power_scaled_w": 66.5},
    {"design": "thundervolt [10]", "technology": "65nm", "bitwidth_bits": 8, "macs": 65536, "frequency_mhz": 526,
     "area_mm2": 282.4, "power_nominal_w": 78.5, "nominal_vdd": 1.08, "vmin_v": 0.78, "power_scaled_w": 46.4},
    {"design": "proposed column-wise", "technology": "65nm", "bitwidth_bits": 8, "macs": 65536, "frequency_mhz": 641,
     "area_mm2": 214.2, "power_nominal_w": 72.5, "nominal_vdd": 1.08, "vmin_v": 0.73, "power_scaled_w": 33.2},
    {"design": "proposed column-wise 2to1", "technology": "65nm", "bitwidth_bits": 8, "macs": 65536, "frequency_mhz": 641,
     "area_mm2": 220.7, "power_nominal_w": 74.6, "nominal_vdd": 1.08, "vmin_v": 0.73, "power_scaled_w": 34.1},
    {"design": "proposed column-wise 4to1", "technology": "65nm", "bitwidth_bits": 8, "macs": 65536, "frequency_mhz": 641,
     "area_mm2": 228.7, "power_nominal_w": 77.2, "nominal_vdd": 1.08, "vmin_v": 0.68, "power_scaled_w": 30.5},
])


# The savings the paper states for its best design (proposed column-wise 4to1), against each baseline;
# recomputed from its rounded Table II powers they are 54.1% and 34.3%.
PAPER_QUOTED_SAVINGS = {"tpu": 0.541, "thundervolt": 0.342}
PAPER_BASELINES = {"tpu": "tpu [5]", "thundervolt": "thundervolt [10]"}
PAPER_BEST_DESIGN = "proposed column-wise 4to1"


def paper_table2() -> pd.DataFrame:
    table = PAPER_TABLE2.copy()
    for base, name in (("tpu", "tpu [5]"), ("thundervolt", "thundervolt [10]")):
        ref = table.loc[table["design"] == name, "power_scaled_w"].iloc[0]
        table[f"power_saving_vs_{base}"] = 1.0 - table["power_scaled_w"] / ref
    return table
