"""FO4 inverter delay vs supply voltage, with local mismatch: the paper's mu(V), sigma(V).

`characterize_fo4` runs the ngspice Monte Carlo (eda/spice/fo4_run.py), `load_fo4_table` reads and
checks a saved table (platforms/sky130hd/fo4_tt_025C.csv is one) and `platform_fo4_table` finds a
platform's. The plot of the delay distributions (the paper's Fig. 6) is eda/outputs/fo4.py; `eda fo4`
is eda/cli/fo4.py.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pandas as pd

from eda.core.errors import EdaError
from eda.spice.fo4_run import SAMPLES_COLUMNS, TABLE_COLUMNS, Fo4Result, characterize_fo4, fo4_table
from eda.core.platforms import platform_config

__all__ = ["characterize_fo4", "fo4_table", "Fo4Result", "load_fo4_table", "platform_fo4_table", "TABLE_COLUMNS",
           "SAMPLES_COLUMNS"]


# Integer columns of the table; the others are real numbers.
_INTEGER_COLUMNS = {"samples", "seed"}


def load_fo4_table(path: Path | str) -> pd.DataFrame:
    """Read and check an FO4 table: columns vdd, fo4_mean_ps, fo4_sigma_ps, samples, seed.

    Returns exactly those columns, ascending in vdd (ready for np.interp). Raises EdaError
    naming the file, line and column of the first problem: a missing column, an empty or
    non-numeric cell, a non-positive value (seed may be 0), a non-integer count or seed,
    a repeated vdd. Extra columns are ignored.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise EdaError(f"cannot read the FO4 table {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise EdaError(f"cannot read the FO4 table {path}: not a text (CSV) file ({exc.reason} at byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in (reader.fieldnames or [])]
    missing = [column for column in TABLE_COLUMNS if column not in header]
    if missing:
        raise EdaError(f"{path}: missing column(s) {', '.join(missing)} (header line 1 has: {', '.join(header) or 'nothing'}; "
                       f"needed: {', '.join(TABLE_COLUMNS)})")
    rows, first_line_of_vdd = [], {}
    for row_number, raw in enumerate(reader, start=2):  # line 1 is the header
        raw = {(k or "").strip(): v for k, v in raw.items()}
        row = {}
        for column in TABLE_COLUMNS:
            cell = (raw.get(column) or "").strip()
            where = f"{path}, line {row_number}, column {column!r}"
            try:
                value = float(cell)
            except ValueError:
                raise EdaError(f"{where}: {cell!r} is not a number" if cell else f"{where}: empty cell") from None
            if not math.isfinite(value):
                raise EdaError(f"{where}: {cell!r} is not a finite number")
            if column in _INTEGER_COLUMNS and value != int(value):
                raise EdaError(f"{where}: {cell!r} is not a whole number")
            if value < 0 or (value == 0 and column != "seed"):
                raise EdaError(f"{where}: {cell!r} must be positive" + (" or 0" if column == "seed" else ""))
            row[column] = int(value) if column in _INTEGER_COLUMNS else value
        vdd_key = round(row["vdd"], 6)
        if vdd_key in first_line_of_vdd:
            raise EdaError(f"{path}, line {row_number}, column 'vdd': {row['vdd']:g} V repeats line {first_line_of_vdd[vdd_key]}")
        first_line_of_vdd[vdd_key] = row_number
        rows.append(row)
    if not rows:
        raise EdaError(f"{path}: no data rows under the header")
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS).sort_values("vdd").reset_index(drop=True)
    _check_delay_falls_with_vdd(path, table, first_line_of_vdd)
    return table


def _check_delay_falls_with_vdd(path: Path, table: pd.DataFrame, line_of_vdd: dict[float, int]) -> None:
    # A gate is faster at a higher supply; a table where it is not has swapped columns or a
    # failed simulation, and the error model would silently invert which supplies fail.
    for low, high in zip(table.itertuples(), table.iloc[1:].itertuples()):
        if high.fo4_mean_ps >= low.fo4_mean_ps:
            raise EdaError(f"{path}, line {line_of_vdd[round(high.vdd, 6)]}, column 'fo4_mean_ps': {high.fo4_mean_ps:g} ps at "
                           f"{high.vdd:g} V is not below {low.fo4_mean_ps:g} ps at {low.vdd:g} V (line "
                           f"{line_of_vdd[round(low.vdd, 6)]}); the mean delay must fall as vdd rises")


def platform_fo4_table(platform_name: str) -> Path:
    raw, config_path = platform_config(platform_name)
    name = raw.get("fo4_table")
    if name is None:
        raise EdaError(f"platform {platform_name} has no FO4 table ({config_path} sets no fo4_table); "
                       "make one with `eda fo4 --out DIR` (ngspice, with the PDK's SPICE models) and pass --fo4 DIR/fo4.csv, or, "
                       f"where two liberty corners of one process and temperature differ in supply, fit one with `eda voltage-model "
                       f"--platform {platform_name} --out DIR`; then set fo4_table in {config_path}")
    path = config_path.parent / name
    if not path.is_file():
        raise EdaError(f"{config_path}: fo4_table {name!r} does not exist ({path}); regenerate it with `eda fo4`")
    return path
