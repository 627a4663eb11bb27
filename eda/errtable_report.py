"""Writing the error-probability outputs: CSV, the wide markdown table, plots, manifest."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from .errors import EdaError
from .errtable import ErrorModelSettings, default_clock_ns, error_probability_table, mac_sizes, wide_table
from .fsutil import atomic_write_text, save_figure, sha256_file

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
        "inputs": {name: {"path": str(path), "sha256": sha256_file(path)} for name, path in inputs.items()},
        "outputs": {name: path.name for name, path in outputs.items()},
        "method": "eda/errmodel.py: eqs. 7-9 of Shin et al. 2019; sizes = Pareto front of the characterization at the nominal corner",
    }
    atomic_write_text(out_dir / "error_probability_manifest.json", json.dumps(manifest, indent=1))
    return outputs


def write_bit_errors(size_row: pd.Series, run_root: Path, corner: str, params, fo4: pd.DataFrame, nominal_vdd: float,
                     clock_ns: float, vdds: list[float] | None, settings: ErrorModelSettings, out_dir: Path) -> dict[str, Path] | None:
    """Per-bit error probabilities of one characterized size, from its run folder; None if the folder is absent."""
    from .bit_errors import bit_delays, bit_error_table, plot_bit_heatmap, register_output_nets

    run_dir = run_root / str(size_row["run_dir"])
    netlist, endpoints_csv = run_dir / "01-synth" / "netlist.v", run_dir / f"02-sta-{corner}" / "endpoints.csv"
    if not (netlist.is_file() and endpoints_csv.is_file()):
        return None
    endpoints = pd.read_csv(endpoints_csv)
    delays = bit_delays(endpoints, register_output_nets(netlist), params, float(size_row["power_clock_ns"]), source=str(endpoints_csv))
    table = bit_error_table(delays, fo4, nominal_vdd, clock_ns, vdds, settings)
    outputs = {"csv": out_dir / "bit_error_probability.csv", "heatmap": out_dir / "bit_error_probability.png",
               "markdown": out_dir / "bit_error_probability.md"}
    title = (f"{params.kind} {size_row['area_um2']:.0f} um^2 (target {size_row['target_ps']} ps): per-bit p_error, "
             f"clock {clock_ns:.3g} ns, p={settings.propagation_p:g}, N={settings.critical_paths}")
    plot_bit_heatmap(table, title, outputs["heatmap"])
    table.insert(0, "target_ps", size_row["target_ps"])
    table.insert(1, "area_um2", size_row["area_um2"])
    atomic_write_text(outputs["csv"], table.to_csv(index=False))
    wide = table.pivot_table(index=["group", "bit"], columns="vdd", values="p_error")
    wide = wide[sorted(wide.columns, reverse=True)]
    lines = [f"# Per-bit timing-error probability: {title}", "",
             f"Bit delays from `{os.path.relpath(endpoints_csv, out_dir)}` (period minus slack); registers traced through "
             f"`{os.path.relpath(netlist, out_dir)}` (paths relative to this file's folder).", "",
             "| bit | delay (ns) | " + " | ".join(f"{v:.2f} V" for v in wide.columns) + " |",
             "|---|---:|" + "---:|" * len(wide.columns)]
    bit_delay = delays.set_index(["group", "bit"])["delay_ns"]
    for (group, bit), row in wide.iterrows():
        lines.append(f"| {group}[{bit}] | {bit_delay[(group, bit)]:.3f} | " + " | ".join(format_probability(x) for x in row) + " |")
    atomic_write_text(outputs["markdown"], "\n".join(lines) + "\n")
    return outputs


@dataclass(frozen=True)
class KindErrorOutputs:
    sizes: pd.DataFrame
    clock_ns: float
    voltages: int
    table: dict[str, Path]
    bits: dict[str, Path] | None  # None when the run folders are not beside the characterization


def write_kind_errors(characterization: pd.DataFrame, csv_path: Path, params, corner: str, fo4: pd.DataFrame, fo4_path: Path, clock_ns: float | None, vdds: list[float] | None,
                      settings: ErrorModelSettings, out_dir: Path, command: list[str]) -> KindErrorOutputs:
    """The error table of one MAC kind's sizes and the per-bit table of its largest size.

    The clock defaults to the slowest size's delay (default_clock_ns); per-bit probabilities use one path per bit."""
    sizes = mac_sizes(characterization, params.kind, corner, source=str(csv_path))
    if "vdd" not in sizes.columns:
        raise EdaError(f"{csv_path}: no vdd column; the supply of corner {corner} is needed for the stage count")
    nominal_vdd = float(sizes["vdd"].iloc[0])
    clock = clock_ns or default_clock_ns(sizes)
    table = error_probability_table(sizes, fo4, nominal_vdd, clock, vdds, settings)
    outputs = write_error_table(table, out_dir, settings, {"characterization": csv_path, "fo4": fo4_path}, command)
    bits = write_bit_errors(sizes.loc[sizes["area_um2"].idxmax()], csv_path.parent, corner, params, fo4, nominal_vdd, clock,
                            vdds, replace(settings, critical_paths=1), out_dir)
    return KindErrorOutputs(sizes, clock, table["vdd"].nunique(), outputs, bits)
