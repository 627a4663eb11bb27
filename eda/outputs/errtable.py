"""Writing the error-probability outputs: CSV, the wide markdown table, plots, manifest."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from eda.method.errtable import ErrorModelSettings, wide_table
from eda.core.paths import shown_path
from eda.core.files import atomic_write_text, save_figure, sha256_file
import numpy as np

CSV_NAME = "error_probability.csv"


def format_probability(value: float) -> str:
    if value == 0:
        return "0"
    return f"{value:.2e}" if value < 0.01 else f"{value:.3f}"


def markdown_table(table: pd.DataFrame, value: str = "p_error") -> str:
    wide = wide_table(table, value)
    header = "| area (um^2) | delay (ns) | " + " | ".join(f"{v:.2f} V" for v in wide.columns) + " |"
    rule = "|---:|---:|" + "---:|" * len(wide.columns)
    delays = table.drop_duplicates("area_um2").set_index("area_um2")["delay_ns"]
    lines = [header, rule]
    for area, row in wide.iterrows():
        lines.append(f"| {area:.1f} | {delays[area]:.3f} | " + " | ".join(format_probability(x) for x in row) + " |")
    return "\n".join(lines)


def error_table_markdown(table: pd.DataFrame, settings: ErrorModelSettings, sources: dict[str, str]) -> str:
    kind = table["kind"].iloc[0] if "kind" in table.columns else "MAC"
    clock = table["clock_ns"].iloc[0]
    interpolated = sorted(table.loc[table["fo4_interpolated"], "vdd"].unique())
    lines = [
        f"# Timing-error probability of the {kind} MAC sizes",
        "",
        f"Clock period {clock:.4g} ns; p = {settings.propagation_p:g}, N = {settings.critical_paths} critical paths (eqs. 7-8), "
        f"process variation by {settings.process_samples} Monte Carlo samples of eq. 9 (seed {settings.seed}).",
        "Sizes (set A) down, supply voltages across; each entry is f(a_k) (set P) at that voltage.",
        "",
        "## With process variation (eqs. 7-9)",
        "",
        markdown_table(table, "p_error"),
        "",
        "## Input-dependent only (eqs. 7-8, every stage at the mean FO4 delay)",
        "",
        markdown_table(table, "p_error_input_only"),
        "",
        "Sources: " + "; ".join(f"{name}: `{path}`" for name, path in sources.items()) + ".",
    ]
    if interpolated:
        lines.append(f"FO4 statistics interpolated (log-linear) at {', '.join(f'{v:g}' for v in interpolated)} V.")
    return "\n".join(lines) + "\n"


def plot_error_probability(table: pd.DataFrame, value: str, title: str, path: Path) -> None:
    """Error probability against area, one line per voltage (log scale): the paper's Figs. 5 and 7."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    shown = 0
    for vdd, rows in sorted(table.groupby("vdd"), reverse=True):
        rows = rows.sort_values("area_um2")
        if (rows[value] > 0).any():
            ax.plot(rows["area_um2"], rows[value].where(rows[value] > 0), marker="o", markersize=3, label=f"{vdd:.2f} V")
            shown += 1
    ax.set_yscale("log")
    ax.set_xlabel("MAC area (um$^2$)")
    ax.set_ylabel("timing-error probability")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    if shown:
        ax.legend(fontsize=7, ncol=2, title="VDD", title_fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def write_error_table(table: pd.DataFrame, out_dir: Path, settings: ErrorModelSettings, inputs: dict[str, Path],
                      command: list[str]) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = {
        "csv": out_dir / CSV_NAME,
        "markdown": out_dir / "error_probability.md",
        "plot": out_dir / "error_probability_vs_area.png",
        "plot_input_only": out_dir / "input_error_probability_vs_area.png",
    }
    kind = table["kind"].iloc[0] if "kind" in table.columns else "MAC"
    clock = table["clock_ns"].iloc[0]
    plot_error_probability(table, "p_error", f"{kind}: eqs. 7-9 (with process variation), clock {clock:.3g} ns", outputs["plot"])
    plot_error_probability(table, "p_error_input_only", f"{kind}: eqs. 7-8 (input-dependent only), clock {clock:.3g} ns",
                           outputs["plot_input_only"])
    relative = {name: os.path.relpath(path, out_dir) for name, path in inputs.items()}
    atomic_write_text(outputs["markdown"], error_table_markdown(table, settings, relative))
    columns = ["kind", "size_index", "target_ps", "area_um2", "delay_ns", "vdd", "clock_ns", "p_error", "p_error_input_only",
               "path_stages", "clock_stages", "fo4_mean_ps", "fo4_sigma_ps", "fo4_interpolated"]
    atomic_write_text(outputs["csv"], table[[c for c in columns if c in table.columns]].to_csv(index=False))
    manifest = {
        "command": command,
        "settings": settings.__dict__,
        "inputs": {name: {"path": shown_path(path), "sha256": sha256_file(path)} for name, path in inputs.items()},
        "outputs": {name: path.name for name, path in outputs.items()},
        "method": "eda/method/errmodel.py: eqs. 7-9 of Shin et al. 2019; sizes = Pareto front of the characterization at the nominal corner",
    }
    atomic_write_text(out_dir / "error_probability_manifest.json", json.dumps(manifest, indent=1))
    return outputs








def plot_bit_heatmap(table: pd.DataFrame, title: str, path: Path) -> None:
    """Bits down (product, then accumulator; MSB on top), voltages across, log10 p_error in colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = table[table["group"].isin(["product", "accumulator"])]
    wide = shown.pivot_table(index=["group", "bit"], columns="vdd", values="p_error")
    order = sorted(wide.index, key=lambda gb: (gb[0] != "accumulator", -gb[1]))
    wide = wide.loc[order, sorted(wide.columns, reverse=True)]
    with np.errstate(divide="ignore"):
        log_p = np.log10(wide.to_numpy())
    floor = -12.0
    fig, ax = plt.subplots(figsize=(7.5, max(4.0, 0.16 * len(wide))))
    image = ax.imshow(np.maximum(log_p, floor), aspect="auto", cmap="magma", vmin=floor, vmax=0)
    ax.set_xticks(range(len(wide.columns)), [f"{v:.2f}" for v in wide.columns], rotation=90, fontsize=7)
    ax.set_yticks(range(len(wide)), [f"{'acc' if g == 'accumulator' else 'prod'}[{b}]" for g, b in wide.index], fontsize=6)
    ax.set_xlabel("supply voltage (V)")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label=f"log10 p_error (floor {floor:g})")
    fig.tight_layout()
    save_figure(fig, path)


def write_path_split(split: pd.DataFrame, proposed, out_dir: Path) -> None:
    """path_split.csv and .md: per kind and size, where the critical path lies (jobs/errors.py)."""
    if split.empty:
        return
    atomic_write_text(out_dir / "path_split.csv", split.to_csv(index=False))
    lines = ["# Path split: the worst path into each MAC register, per size (STA, nominal corner)", "",
             "The paper's proposed MAC relies on its adder and MUX paths being about half the critical path, so that "
             f"Razor flops on the multiplier stage suffice. Here its accumulate adder is `{proposed.accumulate_adder}`, "
             "synthesized at half the MAC's delay target (`mac.accumulate_adder`, flow/synth.py). "
             "`accumulate` is the worst path into the partial-sum register: for the proposed MAC the adder and "
             "its MUX (ABC maps the MUX into the adder's last gates or a mux2 cell, so the two are not separable "
             "after synthesis); for tpu and thundervolt, which add inside one multiply-accumulate, the whole MAC. "
             "`product stage`: the proposed MAC's multiplier, into the product register.", "",
             "| kind | target (ps) | area (um^2) | critical path (ns) | product stage (ns) | accumulate (ns) | accumulate / critical |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in split.itertuples():
        product = "" if pd.isna(row.product_stage_ns) else f"{row.product_stage_ns:.3f}"
        lines.append(f"| {row.kind} | {row.target_ps} | {row.area_um2:.0f} | {row.critical_path_ns:.3f} | {product} | "
                     f"{row.accumulate_ns:.3f} | {row.accumulate_fraction:.0%} |")
    atomic_write_text(out_dir / "path_split.md", "\n".join(lines) + "\n")
