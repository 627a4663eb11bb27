"""The error-table part of a job: one MAC kind's error-probability table and the per-bit table of its largest size."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
import pandas as pd
from eda.core.errors import EdaError
from eda.method.errtable import ErrorModelSettings, default_clock_ns, error_probability_table, mac_sizes
from eda.core.files import atomic_write_text
from eda.outputs.errtable import format_probability, write_error_table


def write_bit_errors(size_row: pd.Series, run_root: Path, corner: str, params, fo4: pd.DataFrame, nominal_vdd: float,
                     clock_ns: float, vdds: list[float] | None, settings: ErrorModelSettings, out_dir: Path,
                     cache_dir: Path | None = None) -> dict[str, Path] | None:
    """Per-bit error probabilities of one characterized size, from its run folder; None if the folder is absent."""
    from eda.method.bit_errors import bit_delays, bit_error_table
    from eda.outputs.errtable import plot_bit_heatmap
    from eda.parsers.netlist import register_output_nets

    run_dir = run_root / str(size_row["run_dir"])
    netlist, endpoints_csv = run_dir / "01-synth" / "netlist.v", run_dir / f"02-sta-{corner}" / "endpoints.csv"
    if not (netlist.is_file() and endpoints_csv.is_file()):
        return None
    endpoints = pd.read_csv(endpoints_csv)
    delays = bit_delays(endpoints, register_output_nets(netlist, cache_dir), params, float(size_row["power_clock_ns"]),
                        source=str(endpoints_csv))
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


def path_split_table(characterization: pd.DataFrame, csv_path: Path, params, corner: str,
                     cache_dir: Path | None = None) -> pd.DataFrame:
    """Per size of one kind: the worst paths into the product and partial-sum registers, from each
    size's STA endpoint report (empty if the run folders are not beside the characterization).
    cache_dir: where netlists already read are remembered (eda/parsers/netlist.py)."""
    from eda.method.bit_errors import bit_delays, path_split
    from eda.parsers.netlist import register_output_nets

    rows = []
    for _, size in mac_sizes(characterization, params.kind, corner, source=str(csv_path)).iterrows():
        run_dir = csv_path.parent / str(size["run_dir"])
        netlist, endpoints_csv = run_dir / "01-synth" / "netlist.v", run_dir / f"02-sta-{corner}" / "endpoints.csv"
        if not (netlist.is_file() and endpoints_csv.is_file()):
            continue
        delays = bit_delays(pd.read_csv(endpoints_csv), register_output_nets(netlist, cache_dir), params, float(size["power_clock_ns"]),
                            source=str(endpoints_csv))
        rows.append({"kind": params.kind, "target_ps": int(size["target_ps"]), "area_um2": float(size["area_um2"]),
                     **path_split(delays), "endpoints": os.path.relpath(endpoints_csv, csv_path.parent)})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class KindErrorOutputs:
    sizes: pd.DataFrame
    clock_ns: float
    voltages: int
    table: dict[str, Path]
    bits: dict[str, Path] | None  # None when the run folders are not beside the characterization


def write_kind_errors(characterization: pd.DataFrame, csv_path: Path, params, corner: str, fo4: pd.DataFrame, fo4_path: Path, clock_ns: float | None, vdds: list[float] | None,
                      settings: ErrorModelSettings, out_dir: Path, command: list[str], cache_dir: Path | None = None) -> KindErrorOutputs:
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
                            vdds, replace(settings, critical_paths=1), out_dir, cache_dir)
    return KindErrorOutputs(sizes, clock, table["vdd"].nunique(), outputs, bits)
