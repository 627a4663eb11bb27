"""Writing the sensitivity maps of the four mapping strategies (.npy, .png, variances.csv)."""

from __future__ import annotations

from pathlib import Path
import numpy as np
import pandas as pd
from eda.core.files import atomic_write_bytes, atomic_write_text


def save_npy(path: Path, array: np.ndarray) -> None:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    atomic_write_bytes(path, buffer.getvalue())


def write_sensitivity(maps: dict, out: Path) -> pd.DataFrame:
    from eda.outputs.maps import plot_map

    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for strategy, smap in maps.items():
        save_npy(out / f"{strategy}.npy", smap.sensitivity)
        plot_map(out / f"{strategy}.png", smap.sensitivity, f"{strategy}: variance {smap.variance:.3e}")
        rows.append({"strategy": strategy, "variance": smap.variance, "total": float(smap.sensitivity.sum()),
                     "busy_macs": int((smap.sensitivity > 0).sum()), "map": f"{strategy}.npy"})
    table = pd.DataFrame(rows)
    atomic_write_text(out / "variances.csv", table.to_csv(index=False))
    return table
