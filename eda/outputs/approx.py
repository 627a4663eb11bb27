"""Writing `eda approx`: approx.csv (one row per multiplier level), approx_assignment.csv (the
per-layer choice and its chip cost), approx_trials.csv (every accuracy the greedy measured),
approx_characterization.csv (every delay target), approx_products.npz (the simulated product
tables), approx.md (the tables for reading) and manifest.json."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from eda.core.files import atomic_write_bytes, atomic_write_text, sha256_text


@dataclass
class ApproxResult:
    levels: pd.DataFrame  # one row per level: error statistics, area/delay/power at the chosen target, accuracy
    characterization: pd.DataFrame  # every level at every target (eda.flow.characterize's rows)
    assignment: pd.DataFrame  # per layer: level, macs, area, power; total rows for the assignment and all-exact
    trials: pd.DataFrame  # layer, level, accuracy, accepted (selection images)
    products: dict[str, np.ndarray]  # level -> (256, 256) simulated products
    summary: dict  # accuracies, bound, images, target: what the markdown's text and the manifest say


def _markdown_table(frame: pd.DataFrame, formats: dict[str, str]) -> str:
    columns = list(frame.columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in frame.itertuples(index=False):
        cells = []
        for column, value in zip(columns, row):
            fmt = formats.get(column)
            cells.append(format(value, fmt) if fmt and isinstance(value, (int, float, np.number)) and not pd.isna(value)
                         else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


LEVEL_FORMATS = {"mean_abs_error": ".2f", "error_probability": ".4f", "mean_relative_error": ".4f", "mean_error": ".2f",
                 "nmed": ".2e", "area_um2": ".1f", "delay_ns": ".3f", "power_w": ".3e", "test_accuracy": ".4f"}
ASSIGN_FORMATS = {"area_um2": ".4g", "power_w": ".4g"}


def approx_markdown(result: ApproxResult) -> str:
    s = result.summary
    main = result.levels[["level", "mean_abs_error", "worst_case_error", "error_probability", "mean_relative_error",
                          "area_um2", "delay_ns", "power_w", "test_accuracy"]]
    text = [
        "# Approximate-multiplier MACs (AutoApprox)\n",
        f"Platform {s['platform']}, corner {s['corner']}; area, delay and power of one MAC synthesized at the "
        f"{s['target_ps']} ps target (power at a {s['clock_period_ns']} ns clock, input activity {s['input_activity']}). "
        f"Error statistics over all 65,536 signed operand pairs from iverilog; relative error of an exact product of 0 "
        f"is |error| / 1. Accuracy: top-1 of the integer network ({s['network']}) on {s['test_images']} test images "
        f"with every layer's multiplies replaced by the level's simulated product table.\n",
        _markdown_table(main, LEVEL_FORMATS),
        f"\n## Per-layer assignment (max loss {s['max_loss']:.4f})\n",
        f"Greedy over layers (most MACs first), levels most approximate first (by mean absolute error), accuracy on "
        f"{s['selection_images']} {s['selection_source']} (all-exact {s['selection_baseline']:.4f}, "
        f"assignment {s['selection_accuracy']:.4f}). On the test set: all-exact {s['test_exact_accuracy']:.4f}, "
        f"assignment {s['test_assignment_accuracy']:.4f}. One array of min(K, {s['array_rows']}) x min(F, "
        f"{s['array_cols']}) MACs per layer.\n",
        _markdown_table(result.assignment, ASSIGN_FORMATS),
        f"\nArea {s['area_saving']:.1%} and power {s['power_saving']:.1%} below the all-exact chip.\n",
        "\n## Greedy trials\n",
        _markdown_table(result.trials, {"accuracy": ".4f"}),
    ]
    return "\n".join(text)


def _products_npz(products: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{level: table.astype(np.int32) for level, table in products.items()})
    return buffer.getvalue()


def write_approx_outputs(result: ApproxResult, out_dir: Path, command: list[str], runtime_s: float) -> dict[str, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / name for name in ("approx.csv", "approx_assignment.csv", "approx_trials.csv",
                                               "approx_characterization.csv", "approx_products.npz", "approx.md",
                                               "manifest.json")}
    atomic_write_text(paths["approx.csv"], result.levels.to_csv(index=False))
    atomic_write_text(paths["approx_assignment.csv"], result.assignment.to_csv(index=False))
    atomic_write_text(paths["approx_trials.csv"], result.trials.to_csv(index=False))
    atomic_write_text(paths["approx_characterization.csv"], result.characterization.to_csv(index=False))
    atomic_write_bytes(paths["approx_products.npz"], _products_npz(result.products))
    atomic_write_text(paths["approx.md"], approx_markdown(result))
    manifest = {
        "command": command, "runtime_s": round(runtime_s, 1), **result.summary,
        "product_tables_sha256": {level: sha256_text(table.astype(np.int64).tobytes().hex())
                                  for level, table in result.products.items()},
        "files": sorted(name for name in paths if name != "manifest.json"),
    }
    atomic_write_text(paths["manifest.json"], json.dumps(manifest, indent=1, default=str) + "\n")
    return paths
