"""Writing the measured timing-error outputs of `eda dta`: CSVs, the fitted p, markdown beside the model."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd

from eda import __version__
from eda.core.files import atomic_write_text
from eda.outputs.errtable import format_probability

BIT_CSV = "measured_bit_error_probability.csv"
MAC_CSV = "measured_error_probability.csv"
COMPARISON_CSV = "measured_vs_model.csv"
FIT_JSON = "fitted_p.json"
MARKDOWN = "measured_error_probability.md"

# `protected` is last: the accuracy injection draws unprotected bits into the partial sum.
BIT_COLUMNS = ["kind", "size_index", "target_ps", "area_um2", "vdd", "clock_ns", "group", "bit", "p_late", "protected"]
MAC_COLUMNS = ["kind", "size_index", "target_ps", "area_um2", "delay_ns", "vdd", "clock_ns", "p_error", "p_protected",
               "p_unprotected", "cycles"]
COMPARISON_COLUMNS = MAC_COLUMNS[:8] + ["p_model_fitted", "p_model_configured"]


def _cell(*values: float) -> str:
    return " / ".join("-" if pd.isna(v) else format_probability(float(v)) for v in values)


def _wide(table: pd.DataFrame, columns: list[str]) -> list[str]:
    """Sizes down, voltages across (highest first); each entry joins `columns` with slashes."""
    vdds = sorted(table["vdd"].unique(), reverse=True)
    lines = ["| area (um^2) | delay (ns) | " + " | ".join(f"{v:.2f} V" for v in vdds) + " |",
             "|---:|---:|" + "---:|" * len(vdds)]
    for _, rows in table.sort_values("area_um2").groupby("size_index", sort=False):
        by_vdd = rows.set_index(rows["vdd"].round(6))
        first = rows.iloc[0]
        cells = [_cell(*(by_vdd.loc[round(v, 6), c] for c in columns)) for v in vdds]
        lines.append(f"| {first['area_um2']:.1f} | {first['delay_ns']:.3f} | " + " | ".join(cells) + " |")
    return lines


def _fit_line(result) -> str:
    others = "; ".join(f"p = {p:g}: {value:.2f}" for p, value in sorted(result.rms_log10_error.items(), reverse=True))
    if result.fit is None:
        return f"No error measured at any size and voltage: no p fitted. RMS log10 error of the model: {others}."
    bound = " (at the search bound: the model cannot follow the measurement closer)" if result.fit.at_bound else ""
    return (f"Fitted p = **{result.fit.p:.3f}**{bound}: RMS log10 error {result.fit.rms_log10_error:.2f} over "
            f"{result.fit.points} (size, voltage) points with a measured error; with {others}.")


def measured_markdown(results: list, meta: dict) -> str:
    configured_p = meta["model"]["propagation_p"]
    lines = [
        "# Timing-error probability measured by timing simulation",
        "",
        f"Each size's synthesized netlist is simulated with OpenSTA's SDF delays at the nominal corner ({meta['corner']}), "
        f"{meta['mode']} delays, {meta['cycles']} cycles after {meta['warmup_cycles']} warm-up cycles; operands: "
        f"{meta['operands']}. Every cycle's register values matched the golden MAC. A register bit is late when "
        "(settle + setup) x mu(V)/mu(V_nom) exceeds the clock (FO4 mean ratio from the FO4 table; no process variation).",
        "",
        f"Each entry: measured / eqs. 7-9 with the fitted p / eqs. 7-9 with the configured p = {configured_p:g} "
        f"(N = {meta['model']['critical_paths']} paths, {meta['model']['process_samples']} process samples). "
        "0 means no failing cycle was seen (below ~1/cycles).",
    ]
    for result in results:
        lines += ["", f"## {result.kind} (clock {result.clock_ns:.4g} ns)", "", _fit_line(result), ""]
        lines += _wide(result.comparison, ["p_error", "p_model_fitted", "p_model_configured"])
        lines += ["", f"Late protected / unprotected bits per cycle ({_protection(result.kind)}):", ""]
        lines += _wide(result.macs, ["p_protected", "p_unprotected"])
    return "\n".join(lines) + "\n"


def _protection(kind: str) -> str:
    return {"proposed": "protected: the Razor product bits; the product is dropped",
            "thundervolt": "protected: every partial-sum bit; the shadow value is taken",
            "tpu": "no bit is protected"}.get(kind, "")


def write_measured_outputs(results: list, out_dir: Path, meta: dict) -> dict[str, Path]:
    """The per-bit and per-MAC CSVs, measured beside the model, the fitted p per kind and a markdown summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"bits": out_dir / BIT_CSV, "macs": out_dir / MAC_CSV, "comparison": out_dir / COMPARISON_CSV,
             "fit": out_dir / FIT_JSON, "markdown": out_dir / MARKDOWN}
    atomic_write_text(paths["bits"], pd.concat([r.bits for r in results])[BIT_COLUMNS].to_csv(index=False))
    atomic_write_text(paths["macs"], pd.concat([r.macs for r in results])[MAC_COLUMNS].to_csv(index=False))
    atomic_write_text(paths["comparison"], pd.concat([r.comparison for r in results])[COMPARISON_COLUMNS].to_csv(index=False))
    fits = {r.kind: {"p": r.fit.p if r.fit else None, "rms_log10_error": r.fit.rms_log10_error if r.fit else None,
                     "points": r.fit.points if r.fit else 0, "at_bound": r.fit.at_bound if r.fit else None,
                     "rms_log10_error_at": {f"{p:g}": v for p, v in r.rms_log10_error.items()}, "clock_ns": r.clock_ns,
                     "runs": r.runs}
            for r in results}
    manifest = {"tool": {"name": "voltscale", "version": __version__}, "created_unix": int(time.time()), **meta,
                "fitted_p": fits, "outputs": {name: path.name for name, path in paths.items()}}
    atomic_write_text(paths["fit"], json.dumps(manifest, indent=1, default=str))
    atomic_write_text(paths["markdown"], measured_markdown(results, meta))
    return paths
