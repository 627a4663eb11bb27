"""Where a platform keeps its FO4 table (`fo4_table` in platform.toml)."""

from __future__ import annotations

from pathlib import Path

from .errors import EdaError
from .platforms import platform_config


def platform_fo4_table(platform_name: str) -> Path:
    raw, config_path = platform_config(platform_name)
    name = raw.get("fo4_table")
    if name is None:
        raise EdaError(f"platform {platform_name} has no FO4 table ({config_path} sets no fo4_table); "
                       "make one with `eda fo4 --out DIR` and pass --fo4 DIR/fo4.csv")
    path = config_path.parent / name
    if not path.is_file():
        raise EdaError(f"{config_path}: fo4_table {name!r} does not exist ({path}); regenerate it with `eda fo4`")
    return path


FO4_TABLE_COLUMNS = ("vdd", "fo4_mean_ps", "fo4_sigma_ps")


def load_fo4_table(path: Path):
    """An FO4 table (vdd, fo4_mean_ps, fo4_sigma_ps, ...), checked row by row."""
    import pandas as pd

    try:
        table = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise EdaError(f"{path}: cannot read the FO4 table: {exc}") from None
    missing = [c for c in FO4_TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise EdaError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(FO4_TABLE_COLUMNS)} (the output of `eda fo4`)")
    for column in FO4_TABLE_COLUMNS:
        values = pd.to_numeric(table[column], errors="coerce")
        bad = values.isna() | (values < 0) | ((values == 0) & (column != "fo4_sigma_ps"))
        if bad.any():
            index = int(bad.idxmax())
            raise EdaError(f"{path}, line {index + 2}: {column} = {table.loc[index, column]!r}; expected a positive number")
        table[column] = values
    duplicated = table["vdd"].round(6).duplicated()
    if duplicated.any():
        index = int(duplicated.idxmax())
        raise EdaError(f"{path}, line {index + 2}: vdd {table.loc[index, 'vdd']:g} V appears twice")
    return table.sort_values("vdd", ascending=False).reset_index(drop=True)
