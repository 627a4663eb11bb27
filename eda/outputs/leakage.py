"""Writing the leakage law: the table (platforms/<p>/leakage_*.csv) and its manifest beside it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from eda.core.files import atomic_write_text
from eda.spice.leakage import LeakageResult, manifest


def leakage_csv(table: pd.DataFrame) -> str:
    """vdd with 4 decimals, currents in A with 6 significant digits, ratios with 6 decimals."""
    view = table.copy()
    for column in view.columns:
        if column == "vdd":
            view[column] = view[column].map(lambda v: f"{v:.4f}")
        elif column.endswith("_a"):
            view[column] = view[column].map(lambda v: f"{v:.6e}")
        else:
            view[column] = view[column].map(lambda v: f"{v:.6f}")
    return view.to_csv(index=False)


def write_leakage_outputs(result: LeakageResult, path: Path, command: list[str], runtime_s: float) -> dict[str, Path]:
    """PATH (the table) and PATH's stem + _manifest.json (command, ngspice, models, every point)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path = path.with_name(f"{path.stem}_manifest.json")
    atomic_write_text(path, leakage_csv(result.table))
    atomic_write_text(manifest_path, json.dumps(manifest(result, command, runtime_s), indent=1) + "\n")
    return {"table": path, "manifest": manifest_path}
