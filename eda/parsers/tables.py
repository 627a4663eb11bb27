"""Reading the user-given inputs of `eda size`: an error-probability table and a sensitivity map, checked."""

from __future__ import annotations

from pathlib import Path
import numpy as np
from eda.core.errors import EdaError
import pandas as pd


ERRTABLE_COLUMNS = ["area_um2", "delay_ns", "vdd", "clock_ns", "p_error"]


VDD_TOLERANCE = 1e-6


def load_error_table(path: Path, vdd: float | None = None, clock_ns: float | None = None) -> pd.DataFrame:
    """The sizes at one supply voltage (and clock): rows sorted by area, index = size index."""
    import pandas as pd  # here, not at import: keeps `eda --help` quick once registered
    path = Path(path)
    if not path.is_file():
        raise EdaError(f"error-probability table {path} does not exist")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise EdaError(f"cannot read the error-probability table {path}: {exc}") from exc
    missing = [c for c in ERRTABLE_COLUMNS if c not in table.columns]
    if missing:
        raise EdaError(f"{path} lacks the column(s) {', '.join(missing)}; expected {', '.join(ERRTABLE_COLUMNS)}")
    for column in ERRTABLE_COLUMNS:
        table[column] = pd.to_numeric(table[column], errors="coerce")
    vdds = sorted(table["vdd"].dropna().unique())
    if vdd is None:
        if len(vdds) != 1:
            raise EdaError(f"{path} holds several supply voltages ({', '.join(f'{v:g}' for v in vdds)} V): choose one with --vdd")
        vdd = vdds[0]
    rows = table[np.isclose(table["vdd"], vdd, rtol=0, atol=VDD_TOLERANCE)]
    if rows.empty:
        raise EdaError(f"{path} has no rows at {vdd:g} V; it has {', '.join(f'{v:g}' for v in vdds)} V")
    clocks = sorted(rows["clock_ns"].dropna().unique())
    if clock_ns is not None:
        rows = rows[np.isclose(rows["clock_ns"], clock_ns, rtol=0, atol=1e-9)]
        if rows.empty:
            raise EdaError(f"{path} has no rows at {vdd:g} V with clock {clock_ns:g} ns; clocks: {', '.join(f'{c:g}' for c in clocks)} ns")
    elif len(clocks) > 1:
        raise EdaError(f"{path} has several clock periods at {vdd:g} V ({', '.join(f'{c:g}' for c in clocks)} ns): choose one with --clock-ns")
    bad = rows[ERRTABLE_COLUMNS].isna().any(axis=1)
    if bad.any():
        raise EdaError(f"{path}: {int(bad.sum())} row(s) at {vdd:g} V have empty or non-numeric values in {', '.join(ERRTABLE_COLUMNS)}")
    rows = rows.rename(columns={"size_index": "source_size_index"})
    keep = ERRTABLE_COLUMNS + [c for c in ("source_size_index", "kind", "target_ps") if c in rows.columns]
    return rows[keep].sort_values("area_um2", kind="stable").reset_index(drop=True)


def load_sensitivity(path: Path) -> np.ndarray:
    """An M x N sensitivity map from .npy or .csv (comma-separated numbers, no header)."""
    path = Path(path)
    if not path.is_file():
        raise EdaError(f"sensitivity map {path} does not exist")
    try:
        if path.suffix == ".npy":
            data = np.load(path, allow_pickle=False)
        elif path.suffix in (".csv", ".txt"):
            data = np.loadtxt(path, delimiter=",", ndmin=2)
        else:
            raise EdaError(f"sensitivity map {path}: use a .npy or .csv file")
    except ValueError as exc:
        raise EdaError(f"cannot read the sensitivity map {path}: {exc}") from exc
    data = np.asarray(data, dtype=float) if data.dtype.kind in "biuf" else None
    if data is None:
        raise EdaError(f"sensitivity map {path} is not numeric")
    if data.ndim == 1:
        data = data[None, :]
    if data.ndim != 2:
        raise EdaError(f"sensitivity map {path} has shape {data.shape}; expected M x N")
    return data
