"""Delay and power at other supply voltages: the paper's models next to OpenSTA at liberty corners.

- Delay: the inverter-chain model scales a path with the FO4 delay, so the delay
  ratio between two supplies is mu(V) / mu(V_nom) (FO4 at the tt process, 25 C).
- Power: the paper scales dynamic power by (V / V_nom)^2 at a fixed clock; leakage is
  kept apart (it does not follow V^2).

A liberty corner at another voltage also differs in process and temperature (sky130
ss_n40C_1v40 is slow silicon at -40 C); the tables say so next to each number.
"""

from __future__ import annotations

import pandas as pd

from eda.core.errors import EdaError
from eda.method.errtable import stage_statistics


def fo4_delay_ratio(fo4: pd.DataFrame, vdd: float, nominal_vdd: float) -> float:
    """mu(vdd) / mu(nominal) from the FO4 table; NaN outside it (no extrapolation)."""
    low, high = fo4["vdd"].min(), fo4["vdd"].max()
    if not all(low - 1e-9 <= v <= high + 1e-9 for v in (vdd, nominal_vdd)):
        return float("nan")
    mean_ns = stage_statistics(fo4, [vdd, nominal_vdd]).set_index("vdd")["fo4_mean_ns"]
    return float(mean_ns[round(vdd, 6)] / mean_ns[round(nominal_vdd, 6)])


def _corner_note(row, nominal_row, fo4_process: str, fo4_temp_c: float) -> str:
    differences = []
    process = str(row["corner"]).split("_")[0]
    if process != fo4_process:
        differences.append(f"process {process} (FO4 model: {fo4_process})")
    if abs(float(row["temp_c"]) - fo4_temp_c) > 1e-6:
        differences.append(f"{row['temp_c']:g} C (FO4 model: {fo4_temp_c:g} C)")
    return "; ".join(differences) or "same process and temperature"


def voltage_scaling_table(characterization: pd.DataFrame, fo4: pd.DataFrame, nominal_corner: str,
                          fo4_process: str = "tt", fo4_temp_c: float = 25.0) -> pd.DataFrame:
    """One row per variant and non-nominal corner: predicted vs STA-measured delay ratio and power."""
    required = {"kind", "target_ps", "corner", "vdd", "temp_c", "delay_ns", "power_w", "power_internal_w", "power_switching_w", "power_leakage_w"}
    missing = required - set(characterization.columns)
    if missing:
        raise EdaError(f"characterization table lacks column(s) {', '.join(sorted(missing))}")
    nominal = characterization[characterization["corner"] == nominal_corner].set_index(["kind", "target_ps"])
    others = characterization[characterization["corner"] != nominal_corner]
    rows = []
    for _, row in others.iterrows():
        key = (row["kind"], row["target_ps"])
        if key not in nominal.index:
            continue
        base = nominal.loc[key]
        v_ratio = float(row["vdd"]) / float(base["vdd"])
        dynamic_nominal = float(base["power_internal_w"]) + float(base["power_switching_w"])
        dynamic_at_corner = float(row["power_internal_w"]) + float(row["power_switching_w"])
        rows.append({
            "kind": row["kind"], "target_ps": row["target_ps"], "corner": row["corner"], "vdd": row["vdd"], "temp_c": row["temp_c"],
            "nominal_vdd": base["vdd"],
            "delay_nominal_ns": base["delay_ns"], "delay_sta_ns": row["delay_ns"],
            "delay_ratio_sta": float(row["delay_ns"]) / float(base["delay_ns"]),
            "delay_ratio_fo4_model": fo4_delay_ratio(fo4, float(row["vdd"]), float(base["vdd"])),
            "dynamic_power_nominal_w": dynamic_nominal,
            "dynamic_power_v2_rule_w": dynamic_nominal * v_ratio ** 2,
            "dynamic_power_sta_w": dynamic_at_corner,
            "leakage_nominal_w": base["power_leakage_w"], "leakage_sta_w": row["power_leakage_w"],
            "corner_differs_from_model": _corner_note(row, base, fo4_process, fo4_temp_c),
        })
    table = pd.DataFrame(rows)
    if not table.empty:
        table["delay_model_error"] = table["delay_ratio_fo4_model"] / table["delay_ratio_sta"] - 1
        table["power_model_error"] = table["dynamic_power_v2_rule_w"] / table["dynamic_power_sta_w"] - 1
    return table


