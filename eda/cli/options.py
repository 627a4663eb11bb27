"""Option parsing shared by the commands: target and voltage lists, MAC widths, the cache folder."""

from __future__ import annotations

import os
from pathlib import Path
import click
from eda.core.errors import EdaError


DEFAULT_TARGETS_HELP = "comma list (2000,3000) or range start:stop:step in ps"


def parse_targets(text: str) -> list[int]:
    """'2000,2500' or '1500:4000:500' (stop inclusive) -> sorted unique ints in ps."""
    targets: list[int] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            if ":" in part:
                start, stop, step = (int(x) for x in part.split(":"))
                if step <= 0:
                    raise ValueError("step must be positive")
                targets.extend(range(start, stop + 1, step))
            else:
                targets.append(int(part))
        except ValueError as exc:
            raise click.BadParameter(f"{part!r} is not a target in ps ({DEFAULT_TARGETS_HELP}): {exc}", param_hint="--targets")
    if not targets or any(t <= 0 for t in targets):
        raise click.BadParameter(f"targets must be positive integers in ps, got {text!r}", param_hint="--targets")
    return sorted(set(targets))


def cache_dir_from(ctx: click.Context) -> Path:
    # ctx.obj is None when a subcommand runs on its own (click's CliRunner in tests).
    given = (ctx.obj or {}).get("cache_dir") or os.environ.get("VOLTSCALE_CACHE")
    if given:
        return Path(given).resolve()
    return (Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "voltscale").resolve()


def mac_options(func):
    for option in reversed([
        click.option("--a-bits", default=8, show_default=True, help="activation width"),
        click.option("--w-bits", default=8, show_default=True, help="weight width"),
        click.option("--acc-bits", default=24, show_default=True, help="partial-sum (accumulator) width"),
        click.option("--razor-bits", default=10, show_default=True, help="product bits in Razor flops (proposed)"),
    ]):
        func = option(func)
    return func


def parse_voltages(text: str, option: str = "--vdd") -> list[float]:
    """'1.8,1.2' or '1.8:0.9:0.05' (either direction, stop inclusive) -> volts, highest first."""
    values: list[float] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            if ":" in part:
                start, stop, step = (float(x) for x in part.split(":"))
                if step <= 0:
                    raise ValueError("step must be positive")
                count = int(round(abs(stop - start) / step))
                direction = 1 if stop >= start else -1
                values.extend(round(start + direction * i * step, 6) for i in range(count + 1))
            else:
                values.append(float(part))
        except ValueError as exc:
            raise click.BadParameter(f"{part!r} is not a voltage list (1.8,1.2 or 1.8:0.9:0.05 in V): {exc}", param_hint=option)
    if not values or any(v <= 0 for v in values):
        raise click.BadParameter(f"voltages must be positive, got {text!r}", param_hint=option)
    return sorted(set(values), reverse=True)


def read_csv_table(path: Path):
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise EdaError(f"{path}: not a readable CSV table: {exc}") from None
