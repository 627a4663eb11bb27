"""Inputs and outputs of the heterogeneous MAC sizer (eda/method/sizer.py) and the `eda size` command.

Reads an error-probability table (one row per MAC size and supply voltage) and a
sensitivity map; writes the sizing map (CSV and .npy), a JSON and markdown summary, the
size histogram (paper Fig. 12(b)) and a grey-scale picture of the map (Fig. 12(c)).
Every file is written atomically.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from eda.core.files import atomic_write_bytes, atomic_write_text, make_dir, save_figure
from eda.method.sizer import SizingResult, expected_degradation

if TYPE_CHECKING:
    import pandas as pd



# --------------------------------------------------------------------------- inputs






# --------------------------------------------------------------------------- outputs


def size_histogram(result: SizingResult, n_sizes: int) -> np.ndarray:
    return np.bincount(result.size_index.ravel(), minlength=n_sizes)


def summary_dict(result: SizingResult, sizes: pd.DataFrame, sensitivity: np.ndarray | None = None,
                 iso_index: int | None = None) -> dict:
    counts = size_histogram(result, len(sizes))
    summary = {
        "solver": result.solver,
        "seconds": result.seconds,
        "array_shape": list(result.size_index.shape),
        "n_macs": int(result.size_index.size),
        "objective": result.objective,
        "lower_bound": result.lower_bound,
        "gap": result.gap,
        "proven_optimal": result.proven_optimal,
        "lp_bound": None if math.isnan(result.lp_bound) else result.lp_bound,
        "core_macs": result.core_macs,
        "budget_um2": result.budget_um2,
        "total_area_um2": result.total_area_um2,
        "area_quantum_um2": result.area_quantum_um2,
        "vdd": float(sizes["vdd"].iloc[0]),
        "clock_ns": float(sizes["clock_ns"].iloc[0]),
        "sizes": [
            {"size_index": k, "area_um2": float(row.area_um2), "delay_ns": float(row.delay_ns),
             "p_error": float(row.p_error), "count": int(counts[k])}
            for k, row in enumerate(sizes.itertuples())
        ],
    }
    if iso_index is not None and sensitivity is not None:
        iso_objective = expected_degradation(sensitivity, sizes["p_error"].to_numpy(), np.full(sensitivity.size, iso_index))
        summary["iso_area"] = {
            "size_index": iso_index,
            "area_um2": float(sizes["area_um2"].iloc[iso_index]),
            "objective_identical_macs": iso_objective,
            "objective_ratio": result.objective / iso_objective if iso_objective > 0 else None,
        }
    return summary


def summary_markdown(summary: dict) -> str:
    status = "proven optimal" if summary["proven_optimal"] else f"certified gap {summary['gap']:.4g}"
    lines = [
        "# Heterogeneous MAC sizing",
        "",
        f"{summary['array_shape'][0]} x {summary['array_shape'][1]} MACs at {summary['vdd']:g} V, clock {summary['clock_ns']:g} ns; "
        f"solver `{summary['solver']}` ({status}, {summary['seconds']:.2f} s).",
        "",
        f"- expected accuracy degradation sum_i s_i f(a_i) (eq. 10): {summary['objective']:.10g}",
        f"- certified lower bound: {summary['lower_bound']:.10g} (gap {summary['gap']:.3g})",
        f"- total area: {summary['total_area_um2']:.2f} um^2 of a budget of {summary['budget_um2']:.2f} um^2 "
        f"(area grid {summary['area_quantum_um2']:g} um^2)",
    ]
    if "iso_area" in summary:
        iso = summary["iso_area"]
        ratio = "n/a" if iso["objective_ratio"] is None else f"{iso['objective_ratio']:.4g}"
        lines.append(f"- identical MACs of size {iso['size_index']} ({iso['area_um2']:.2f} um^2, same area): "
                     f"{iso['objective_identical_macs']:.10g}; heterogeneous / identical = {ratio}")
    lines += ["", "| size | area (um^2) | delay (ns) | p_error | MACs |", "|---:|---:|---:|---:|---:|"]
    for row in summary["sizes"]:
        lines.append(f"| {row['size_index']} | {row['area_um2']:.2f} | {row['delay_ns']:.3f} | {row['p_error']:.3e} | {row['count']} |")
    return "\n".join(lines) + "\n"


def plot_histogram(result: SizingResult, sizes: pd.DataFrame, path: Path) -> None:
    """MACs per size (paper Fig. 12(b))."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = size_histogram(result, len(sizes))
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(np.arange(len(sizes)), counts, color="0.35")
    ax.set_xticks(np.arange(len(sizes)), [f"{a:.0f}" for a in sizes["area_um2"]], rotation=60, fontsize=7)
    ax.set_xlabel("MAC area (um$^2$)")
    ax.set_ylabel("number of MACs")
    ax.set_title(f"MAC sizes, {result.size_index.shape[0]} x {result.size_index.shape[1]} array "
                 f"({result.solver}, budget {result.budget_um2:.4g} um$^2$)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def plot_size_map(result: SizingResult, sizes: pd.DataFrame, path: Path) -> None:
    """Grey-scale map of MAC areas over the array: darkest = largest, white = smallest (Fig. 12(c))."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    areas = sizes["area_um2"].to_numpy()[result.size_index]
    fig, ax = plt.subplots(figsize=(5.5, 5))
    # Fixed scale over all sizes, so maps of different runs compare by eye.
    image = ax.imshow(areas, cmap="Greys", vmin=float(sizes["area_um2"].min()), vmax=float(sizes["area_um2"].max()),
                      interpolation="nearest")
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    ax.set_title("MAC area over the array", fontsize=9)
    fig.colorbar(image, ax=ax, label="MAC area (um$^2$)", shrink=0.8)
    fig.tight_layout()
    save_figure(fig, path)


def write_sizing_outputs(result: SizingResult, sizes: pd.DataFrame, out_dir: Path, *,
                         sensitivity: np.ndarray | None = None, iso_index: int | None = None,
                         command: list[str] | None = None) -> dict[str, Path]:
    out_dir = make_dir(Path(out_dir))
    outputs = {
        "map_csv": out_dir / "size_map.csv",
        "map_npy": out_dir / "size_map.npy",
        "sizes_csv": out_dir / "sizes.csv",
        "summary_json": out_dir / "sizing_summary.json",
        "summary_md": out_dir / "sizing_summary.md",
        "histogram_png": out_dir / "size_histogram.png",
        "map_png": out_dir / "size_map.png",
    }
    text = io.StringIO()
    np.savetxt(text, result.size_index, fmt="%d", delimiter=",")
    atomic_write_text(outputs["map_csv"], text.getvalue())
    buffer = io.BytesIO()
    np.save(buffer, result.size_index)
    atomic_write_bytes(outputs["map_npy"], buffer.getvalue())
    listing = sizes.copy()
    listing.insert(0, "size_index", np.arange(len(sizes)))
    listing["count"] = size_histogram(result, len(sizes))
    atomic_write_text(outputs["sizes_csv"], listing.to_csv(index=False))
    summary = summary_dict(result, sizes, sensitivity, iso_index)
    summary["command"] = command
    summary["outputs"] = {name: p.name for name, p in outputs.items()}
    atomic_write_text(outputs["summary_json"], json.dumps(summary, indent=1))
    atomic_write_text(outputs["summary_md"], summary_markdown(summary))
    plot_histogram(result, sizes, outputs["histogram_png"])
    plot_size_map(result, sizes, outputs["map_png"])
    return outputs


# --------------------------------------------------------------------------- command


