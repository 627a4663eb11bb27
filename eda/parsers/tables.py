"""Reading the user-given inputs of `eda size`: an error-probability table and a sensitivity map, checked."""

from __future__ import annotations

import json

from pathlib import Path
import numpy as np
from eda.core.errors import EdaError
import pandas as pd


ERRTABLE_COLUMNS = ["area_um2", "delay_ns", "vdd", "clock_ns", "p_error"]


VDD_TOLERANCE = 1e-6
# Monte Carlo noise below this is not a fall of p_error with the supply (eq. 9 draws the same samples at each vdd).
MONOTONE_TOLERANCE = 1e-9
# Columns that must be > 0 (a size has area and delay; a supply and a clock are positive).
_POSITIVE_COLUMNS = ("area_um2", "delay_ns", "vdd", "clock_ns")


def read_table(path: Path, what: str, columns: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """A CSV table with `columns`; EdaError naming the file (and `what` it is) when it is missing,
    empty, unreadable or lacks a column."""
    path = Path(path)
    if not path.is_file():
        raise EdaError(f"{what} {path} does not exist")
    try:
        table = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise EdaError(f"{what} {path} is empty: expected a CSV table with the columns {', '.join(columns) or 'of its kind'}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise EdaError(f"{what} {path} is not a readable CSV table: {exc}") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise EdaError(f"{what} {path} lacks the column(s) {', '.join(missing)}; it has {', '.join(map(str, table.columns))}")
    return table


def check_finite(table: pd.DataFrame, path: Path, columns) -> pd.DataFrame:
    """The table with `columns` as floats; EdaError naming file, column and line of the first cell that is
    empty, not a number, NaN or infinite (NaN would pass every `<` test and quietly change a result)."""
    table = table.copy()
    for column in columns:
        values = pd.to_numeric(table[column], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=float))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            cell = table[column].iloc[row]
            text = "empty (or NaN)" if pd.isna(cell) else f"{str(cell)!r}, not a finite number"
            raise EdaError(f"{path}, line {row + 2}, column {column!r}: {text}; expected a finite number")
        table[column] = values.astype(float)
    return table


def check_between(table: pd.DataFrame, path: Path, column: str, low: float, high: float | None, *,
                  open_low: bool = False) -> None:
    """EdaError naming file, line and column of the first value outside [low, high] ((low, high] with open_low)."""
    values = table[column].to_numpy(dtype=float)
    bad = (values <= low if open_low else values < low) | (False if high is None else values > high)
    if np.any(bad):
        row = int(np.flatnonzero(bad)[0])
        expected = f"{'>' if open_low else '>='} {low:g}" + ("" if high is None else f" and <= {high:g}")
        raise EdaError(f"{path}, line {row + 2}, column {column!r}: {values[row]:g} is out of range (expected {expected})")


def check_p_error_rises_as_vdd_falls(table: pd.DataFrame, path: Path) -> None:
    """A size fails at least as often at a lower supply (same clock): a table where p_error falls as the
    voltage falls has swapped rows or columns, and would make the sizer prefer the wrong supplies."""
    size_key = "size_index" if "size_index" in table.columns else "area_um2"
    for _, group in table.groupby([size_key, "clock_ns"], sort=False):
        ordered = group.sort_values("vdd", ascending=False)
        p = ordered["p_error"].to_numpy(dtype=float)
        falls = np.flatnonzero(p[1:] < p[:-1] - MONOTONE_TOLERANCE)
        if falls.size:
            high, low = ordered.iloc[falls[0]], ordered.iloc[falls[0] + 1]
            raise EdaError(f"{path}, line {ordered.index[falls[0] + 1] + 2}, column 'p_error': {low['p_error']:g} at "
                           f"{low['vdd']:g} V is below {high['p_error']:g} at {high['vdd']:g} V for the same size "
                           f"({size_key} {high[size_key]:g}); p_error must not fall as the voltage falls")


def check_error_table(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """An error-probability table checked for meaning: finite numbers, positive sizes, supplies and clocks,
    probabilities in [0, 1], p_error not falling with the voltage."""
    table = check_finite(table, path, ERRTABLE_COLUMNS)
    for column in _POSITIVE_COLUMNS:
        check_between(table, path, column, 0.0, None, open_low=True)
    check_between(table, path, "p_error", 0.0, 1.0)
    check_p_error_rises_as_vdd_falls(table, path)
    return table


def load_error_table(path: Path, vdd: float | None = None, clock_ns: float | None = None) -> pd.DataFrame:
    """The sizes at one supply voltage (and clock): rows sorted by area, index = size index."""
    path = Path(path)
    table = check_error_table(read_table(path, "error-probability table", ERRTABLE_COLUMNS), path)
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
    except (ValueError, EOFError, OSError, UnicodeDecodeError) as exc:
        raise EdaError(f"cannot read the sensitivity map {path}: {exc}") from None
    data = np.asarray(data, dtype=float) if data.dtype.kind in "biuf" else None
    if data is None:
        raise EdaError(f"sensitivity map {path} is not numeric")
    if data.ndim == 1:
        data = data[None, :]
    if data.ndim != 2 or data.size == 0:
        raise EdaError(f"sensitivity map {path} has shape {data.shape}; expected M x N with M, N >= 1")
    _check_sensitivity_values(path, data)
    return data


def _check_sensitivity_values(path: Path, data: np.ndarray) -> None:
    # Sensitivities are variances of the output change (Alg. 1): finite and >= 0. A NaN would make
    # every comparison of the sizer false and silently give an arbitrary sizing.
    bad = ~np.isfinite(data) | (data < 0)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise EdaError(f"sensitivity map {path}: row {row}, column {col} is {data[row, col]!r}; "
                       f"expected a finite number >= 0 ({int(bad.sum())} such value(s))")


def read_json_object(path: Path, missing_hint: str = "") -> dict:
    """A JSON file holding one object; EdaError naming the file when it is missing (with the hint),
    not JSON, or not an object."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise EdaError(f"{path} does not exist" + (f": {missing_hint}" if missing_hint else "")) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EdaError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise EdaError(f"{path} is not a JSON object")
    return data
