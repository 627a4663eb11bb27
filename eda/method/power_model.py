"""Power of a MAC and of a Table II design at a scaled supply and clock, and the savings attributed.

Pure numpy/pandas: every input is a number or a table the flow wrote.

One MAC, from a power report taken at the nominal supply Vnom and clock T_ref (its internal,
switching and leakage parts), at supply V and clock T:

    dynamic(V, T) = (internal + switching) x (V / Vnom)^2 x (T_ref / T)
    leakage(V)    = leakage x (V / Vnom) x I_leak(V) / I_leak(Vnom)

The second line is the leakage law: leakage power is V x I_leak, and I_leak(V) comes from a
SPICE table (platforms/<p>/leakage_*.csv, eda/spice/leakage.py: inv_1 of sky130, tt, 25 C),
interpolated linearly in log(I) between its supplies (leakage current is close to exponential
in V through DIBL), never extrapolated. A design's power is the sum over its sizing map's size
counts of the per-size MAC power, plus its switching overhead (dynamic, so scaled like dynamic
power).

Savings, attributed. A design's scaled power is P = A x (P_nom / A) x (P / P_nom): its area, its
power per area at the nominal supply (which carries its clock and switching activity), and its
voltage-scaling factor (what running at Vmin instead of Vnom keeps). Against a baseline the power
ratio is the product of the three factors' ratios,

    P_d / P_b = (A_d / A_b) x (rho_d / rho_b) x (s_d / s_b),

so the log saving -ln(P_d / P_b) is the sum of -ln of each factor: each factor's share of the
log saving is its -ln(factor) / -ln(ratio) (shares sum to 1; a negative share is a factor
that works against the saving), and its points are saving x share (they sum to the saving).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from eda.core.errors import EdaError

FACTORS = ("area", "power_density", "voltage")
FACTOR_TEXT = {"area": "area (MAC sizes and switching hardware)",
               "power_density": "power per area at Vnom (cells, clock, activity)",
               "voltage": "voltage scaling (Vmin, with the power laws)"}


# --------------------------------------------------------------------------- the laws


def _leakage_column(leakage: pd.DataFrame) -> str:
    for column in ("leakage_a", "leakage_ratio"):
        if column in leakage.columns:
            return column
    raise EdaError(f"leakage table needs a leakage_a or leakage_ratio column (has {', '.join(map(str, leakage.columns))})")


def leakage_current_ratio(vdd: float, nominal_vdd: float, leakage: pd.DataFrame) -> float:
    """I_leak(vdd) / I_leak(nominal_vdd), log-linear between the table's supplies; NaN for a NaN vdd."""
    if not np.isfinite(vdd):
        return float("nan")
    table = leakage.sort_values("vdd")
    volts = table["vdd"].to_numpy(dtype=float)
    logs = np.log(table[_leakage_column(table)].to_numpy(dtype=float))
    for v in (vdd, nominal_vdd):
        if not volts[0] - 1e-9 <= v <= volts[-1] + 1e-9:
            raise EdaError(f"supply {v:g} V is outside the leakage table ({volts[0]:g}-{volts[-1]:g} V); "
                           "extend it with `eda leakage --vdd ...`")
    return float(np.exp(np.interp(vdd, volts, logs) - np.interp(nominal_vdd, volts, logs)))


def leakage_factor(vdd: float, nominal_vdd: float, leakage: pd.DataFrame | None) -> float:
    """P_leak(V) / P_leak(Vnom) = (V / Vnom) x I_leak(V) / I_leak(Vnom); without a table, the V^2 rule."""
    if leakage is None:
        return (vdd / nominal_vdd) ** 2
    return vdd / nominal_vdd * leakage_current_ratio(vdd, nominal_vdd, leakage)


def dynamic_factor(vdd: float, nominal_vdd: float, clock_ns: float = 1.0, ref_clock_ns: float = 1.0) -> float:
    """P_dyn(V, T) / P_dyn(Vnom, T_ref) = (V / Vnom)^2 x T_ref / T."""
    return (vdd / nominal_vdd) ** 2 * ref_clock_ns / clock_ns


@dataclass(frozen=True)
class PowerParts:
    dynamic_w: float
    leakage_w: float

    @property
    def total_w(self) -> float:
        return self.dynamic_w + self.leakage_w

    def __add__(self, other: "PowerParts") -> "PowerParts":
        return PowerParts(self.dynamic_w + other.dynamic_w, self.leakage_w + other.leakage_w)

    def __mul__(self, count: float) -> "PowerParts":
        return PowerParts(self.dynamic_w * count, self.leakage_w * count)


def mac_power(internal_w: float, switching_w: float, leakage_w: float, ref_clock_ns: float, *, clock_ns: float,
              vdd: float, nominal_vdd: float, leakage: pd.DataFrame | None) -> PowerParts:
    """One MAC reported at (Vnom, ref_clock_ns), at supply `vdd` and clock `clock_ns`."""
    dynamic = (float(internal_w) + float(switching_w)) * dynamic_factor(vdd, nominal_vdd, clock_ns, float(ref_clock_ns))
    return PowerParts(dynamic, float(leakage_w) * leakage_factor(vdd, nominal_vdd, leakage))


def design_power(size_counts: dict[int, int], per_size: pd.DataFrame, *, clock_ns: float, vdd: float, nominal_vdd: float,
                 leakage: pd.DataFrame | None, overhead_dynamic_w: float = 0.0) -> PowerParts:
    """Sum over the size counts of each size's MAC power, plus the switching overhead.

    per_size: index size_index, columns internal_w, switching_w, leakage_w, clock_ns (the clock the
    parts were reported at). overhead_dynamic_w: the whole design's switching overhead at Vnom and
    `clock_ns` (dynamic: scaled by (V / Vnom)^2).
    """
    unknown = [k for k in size_counts if k not in per_size.index]
    if unknown:
        raise EdaError(f"size index(es) {unknown} have no power (sizes with power: {sorted(per_size.index)})")
    total = PowerParts(0.0, 0.0)
    for k, count in size_counts.items():
        row = per_size.loc[k]
        total = total + mac_power(row["internal_w"], row["switching_w"], row["leakage_w"], row["clock_ns"],
                                  clock_ns=clock_ns, vdd=vdd, nominal_vdd=nominal_vdd, leakage=leakage) * count
    return total + PowerParts(overhead_dynamic_w * dynamic_factor(vdd, nominal_vdd), 0.0)


# --------------------------------------------------------------------------- Table II's activity columns


def activity_columns(spec, activity: pd.DataFrame, overhead_dynamic_w: float, nominal_vdd: float,
                     leakage: pd.DataFrame | None, ops_per_s: float) -> dict:
    """Table II's activity-based columns of one design.

    activity: rows (kind, size_index, power_activity_internal_w, power_activity_switching_w,
    power_activity_leakage_w, power_clock_ns[, activity_cache_key]); spec: a table2.DesignSpec.
    """
    rows = activity[activity["kind"] == spec.kind].drop_duplicates("size_index").set_index("size_index")
    missing = sorted(k for k in spec.size_counts if k not in rows.index)
    if missing:
        raise EdaError(f"{spec.design}: no activity-based power of {spec.kind} size index(es) {missing}")
    per_size = pd.DataFrame({"internal_w": rows["power_activity_internal_w"], "switching_w": rows["power_activity_switching_w"],
                             "leakage_w": rows["power_activity_leakage_w"], "clock_ns": rows["power_clock_ns"]})
    common = dict(clock_ns=spec.clock_ns, nominal_vdd=nominal_vdd, leakage=leakage, overhead_dynamic_w=overhead_dynamic_w)
    nominal = design_power(spec.size_counts, per_size, vdd=nominal_vdd, **common)
    if np.isfinite(spec.vmin_v):
        scaled = design_power(spec.size_counts, per_size, vdd=spec.vmin_v, **common)
    else:
        scaled = PowerParts(float("nan"), float("nan"))
    cycles = float(getattr(spec, "cycles_per_inference", float("nan")))
    frequency_hz = 1e9 / spec.clock_ns
    keys = rows["activity_cache_key"] if "activity_cache_key" in rows.columns else pd.Series("", index=rows.index)
    return {
        "power_activity_nominal_w": nominal.total_w, "power_activity_leakage_nominal_w": nominal.leakage_w,
        "switching_overhead_nominal_w": overhead_dynamic_w,
        "power_activity_vmin_w": scaled.total_w, "power_activity_leakage_vmin_w": scaled.leakage_w,
        "energy_per_op_activity_pj": scaled.total_w / ops_per_s * 1e12,
        "energy_per_inference_activity_uj": scaled.total_w * cycles / frequency_hz * 1e6,
        "activity_runs": ";".join(f"activity_power/{keys.loc[k]}:{count}" for k, count in sorted(spec.size_counts.items())),
    }


# --------------------------------------------------------------------------- savings, attributed


def attribute_saving(design: dict, baseline: dict) -> dict:
    """One saving split into its three factors; design and baseline: area, nominal_w, scaled_w."""
    area_ratio = design["area"] / baseline["area"]
    density_ratio = (design["nominal_w"] / design["area"]) / (baseline["nominal_w"] / baseline["area"])
    voltage_ratio = (design["scaled_w"] / design["nominal_w"]) / (baseline["scaled_w"] / baseline["nominal_w"])
    ratio = design["scaled_w"] / baseline["scaled_w"]
    saving = 1.0 - ratio
    log_saving = -np.log(ratio)
    out = {"power_ratio": ratio, "saving": saving, "log_saving": log_saving}
    for name, factor in zip(FACTORS, (area_ratio, density_ratio, voltage_ratio)):
        share = -np.log(factor) / log_saving if np.isfinite(log_saving) and abs(log_saving) > 1e-12 else float("nan")
        out[f"{name}_ratio"] = factor
        out[f"{name}_share"] = share
        out[f"{name}_points"] = saving * share if not abs(share) < 1e-9 else 0.0  # no -0.0 from ln(1 - eps); NaN stays
    return out


def savings_attribution(table: pd.DataFrame, *, source: str, nominal: str, scaled: str, area: str = "area_mm2",
                        baselines: dict[str, str] | None = None) -> pd.DataFrame:
    """Every design's saving against each baseline present, attributed (one row per design and baseline).

    baselines: {baseline label: its design name in `table`} (default tpu and thundervolt by name).
    Rows whose powers are not finite (a design without a Vmin) are left out.
    """
    baselines = baselines or {"tpu": "tpu", "thundervolt": "thundervolt"}
    rows = []
    for label, name in baselines.items():
        match = table[table["design"] == name]
        if match.empty:
            continue
        base = match.iloc[0]
        b = {"area": float(base[area]), "nominal_w": float(base[nominal]), "scaled_w": float(base[scaled])}
        for _, row in table.iterrows():
            if row["design"] == name:
                continue
            d = {"area": float(row[area]), "nominal_w": float(row[nominal]), "scaled_w": float(row[scaled])}
            if not all(np.isfinite(list(d.values()) + list(b.values()))):
                continue
            rows.append({"design": row["design"], "baseline": label, "power": source,
                         "vmin_v": float(row.get("vmin_v", np.nan)), "baseline_vmin_v": float(base.get("vmin_v", np.nan)),
                         **attribute_saving(d, b)})
    return pd.DataFrame(rows)
