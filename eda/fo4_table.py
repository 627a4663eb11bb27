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
