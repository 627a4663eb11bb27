"""Files of `eda voltage-model`: the platform FO4 table with its manifest, and the prediction check."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from eda.core.files import atomic_write_text
from eda.method.voltage_model import AlphaPowerFit, error_summary


def write_fo4_model(out_dir: Path, table_name: str, table: pd.DataFrame, measured: pd.DataFrame,
                    fits: dict[tuple[str, float], AlphaPowerFit], used: tuple[str, float], sigma_fraction: float,
                    platform_name: str, command: list[str]) -> dict[str, Path]:
    """<table>.csv (the FO4 table), <stem>_corners.csv (the FO4 stage at every corner) and
    <stem>_manifest.json (the fit, how sigma was set, where the table extrapolates)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = table_name.removesuffix(".csv")
    paths = {"table": out_dir / table_name, "corners": out_dir / f"{stem}_corners.csv",
             "manifest": out_dir / f"{stem}_manifest.json"}
    atomic_write_text(paths["table"], table.to_csv(index=False, float_format="%.4f"))
    atomic_write_text(paths["corners"], measured.drop(columns=["sta_log"], errors="ignore").to_csv(index=False))
    fit = fits[used]
    manifest = {
        "platform": platform_name,
        "command": command,
        "created_unix": int(time.time()),
        "source": "OpenSTA: FO4 inverter stage (mean of rising and falling stage delays) from the liberty NLDM tables "
                  "at each corner; no SPICE",
        "law": "fo4_mean_ps = k * V / (V - vth)^alpha (Sakurai-Newton alpha-power law)",
        "fitted_to": {"process": used[0], "temp_c": used[1], "vdd": list(fit.vdd), "fo4_ps": list(fit.delay_ps)},
        "fit": {"k": fit.k, "vth_v": fit.vth, "alpha": fit.alpha, "alpha_fitted": fit.alpha_fitted,
                "max_residual_at_fitted_points": fit.max_residual},
        "other_groups": {f"{p} {t:g} C": {"vth_v": f.vth, "alpha": f.alpha, "alpha_fitted": f.alpha_fitted, "vdd": list(f.vdd)}
                         for (p, t), f in fits.items() if (p, t) != used},
        "sigma": f"no Monte Carlo: fo4_sigma_ps = {sigma_fraction:g} * fo4_mean_ps at every voltage "
                 "(eda/method/voltage_model.py DEFAULT_SIGMA_FRACTION says why)",
        "samples_and_seed": "samples = 1 (one deterministic STA measurement), seed = 0 (none)",
        "extrapolated_vdd": [float(v) for v in table["vdd"] if v < min(fit.vdd) - 1e-9 or v > max(fit.vdd) + 1e-9],
    }
    atomic_write_text(paths["manifest"], json.dumps(manifest, indent=1) + "\n")
    return paths


def _percent(value: float) -> str:
    return "n/a" if value is None or np.isnan(value) else f"{value:+.2%}"


def check_markdown(check: pd.DataFrame, measured: pd.DataFrame, fits: dict[tuple[str, float], AlphaPowerFit],
                   platform_name: str, reference_source: str) -> str:
    lines = [f"# Voltage model check: {platform_name}", "",
             "Each MAC size's delay at one liberty corner predicted from its OpenSTA delay at another corner of the same "
             "process and temperature, beside OpenSTA's delay there. Error = prediction / STA - 1.", "",
             f"- **sky130 FO4 ratio**: mu(V2)/mu(V1) of `{reference_source}` (ngspice Monte Carlo, sky130 tt 25 C) at the same "
             "two voltages; n/a where a voltage lies outside that table.",
             "- **sky130 FO4 ratio, scaled V**: the same table at the voltages times 1.80 V / this platform's nominal "
             "supply (the same fraction of each PDK's nominal); n/a outside the table.",
             "- **alpha-power law**: d(V2)/d(V1) of the law fitted to this PDK's FO4 stage at the corners of that group "
             "(below); with three voltages the fit is exact at the FO4 points, so its error here is how far a MAC's "
             "delay departs from an inverter's.",
             "- **platform FO4 table**: the ratio read from the written table (the law, log-interpolated between its rows), "
             "what `eda run` and the error tables use; it is fitted to the nominal corner's process and temperature and "
             "applied here to every pair.", "",
             "## FO4 stage per corner (OpenSTA, liberty NLDM)", "",
             "| corner | process | V | T (C) | FO4 (ps) | rise (ps) | fall (ps) |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in measured.itertuples():
        lines.append(f"| {r.corner} | {r.process} | {r.vdd:g} | {r.temp_c:g} | {r.fo4_ps:.2f} | {r.fo4_rise_ps:.2f} | {r.fo4_fall_ps:.2f} |")
    lines += ["", "## Fitted laws", "", "| process | T (C) | voltages | k | Vth (V) | alpha |", "|---|---:|---|---:|---:|---:|"]
    for (process, temp_c), f in fits.items():
        alpha = f"{f.alpha:.3f}" + ("" if f.alpha_fitted else " (fixed: two voltages)")
        lines.append(f"| {process} | {temp_c:g} | {', '.join(f'{v:g}' for v in f.vdd)} V | {f.k:.4g} | {f.vth:.3f} | {alpha} |")
    if check.empty:
        return "\n".join(lines + ["", "No MAC was characterized at two corners of one process and temperature.", ""])
    lines += ["", "## Largest error per corner pair", "",
              "| from | to | sizes | sky130 FO4 ratio | sky130, scaled V | alpha-power law | platform FO4 table |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for r in error_summary(check).itertuples():
        lines.append(f"| {r.from_corner} ({r.from_vdd:g} V) | {r.to_corner} ({r.to_vdd:g} V) | {r.sizes} | "
                     f"{_percent(r.max_abs_error_reference_fo4)} | {_percent(r.max_abs_error_reference_fo4_scaled)} | "
                     f"{_percent(r.max_abs_error_alpha_power)} | "
                     f"{_percent(r.max_abs_error_platform_fo4)} |")
    lines += ["", "## Per size", "",
              "| kind | target (ps) | from | to | delay from (ns) | STA at to (ns) | sky130 FO4 | error | sky130 scaled V | error | "
              "alpha-power | error | platform table | error |", "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in check.itertuples():
        def ns(v):
            return "n/a" if np.isnan(v) else f"{v:.4f}"
        lines.append(f"| {r.kind} | {r.target_ps} | {r.from_corner} | {r.to_corner} | {r.delay_from_ns:.4f} | {r.delay_sta_ns:.4f} | "
                     f"{ns(r.delay_reference_fo4_ns)} | {_percent(r.error_reference_fo4)} | "
                     f"{ns(r.delay_reference_fo4_scaled_ns)} | {_percent(r.error_reference_fo4_scaled)} | {ns(r.delay_alpha_power_ns)} | "
                     f"{_percent(r.error_alpha_power)} | {ns(r.delay_platform_fo4_ns)} | {_percent(r.error_platform_fo4)} |")
    return "\n".join(lines + [""])


def write_check(out_dir: Path, check: pd.DataFrame, measured: pd.DataFrame, fits: dict[tuple[str, float], AlphaPowerFit],
                platform_name: str, reference_source: str) -> dict[str, Path]:
    """voltage_check.csv (one row per size and ordered corner pair) and voltage_check.md."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out_dir / "voltage_check.csv", "md": out_dir / "voltage_check.md"}
    atomic_write_text(paths["csv"], check.to_csv(index=False))
    atomic_write_text(paths["md"], check_markdown(check, measured, fits, platform_name, reference_source))
    return paths
