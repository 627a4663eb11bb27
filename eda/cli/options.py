"""Option parsing shared by the commands: target and voltage lists, MAC widths, the cache folder."""

from __future__ import annotations

import functools
import os
from pathlib import Path
import click
from eda.core.errors import EdaError
from eda.designs.mac import ACCUMULATE_ADDERS, MacParams


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


# The `eda` group's options that take a value; hoist_global_options lets them follow the subcommand.
GLOBAL_OPTIONS = ("--cache-dir", "--platforms-dir")


def hoist_global_options(args: list[str], options: tuple[str, ...] = GLOBAL_OPTIONS) -> list[str]:
    """`eda sub ... --cache-dir X ...` -> `eda --cache-dir X sub ...`: a group option given after the
    subcommand moves before it (click would reject it there as "No such option").

    Everything up to the subcommand (the first word that is neither an option nor an option's value)
    stays; after it, each `OPT VALUE` or `OPT=VALUE` of `options` moves; `--` ends the scan."""
    head: list[str] = []
    index = 0
    while index < len(args) and args[index].startswith("-"):  # the group's own options
        takes_value = args[index] in options
        head += args[index:index + 1 + takes_value]
        index += 1 + takes_value
    if index >= len(args):
        return list(args)
    moved: list[str] = []
    tail: list[str] = [args[index]]
    rest = args[index + 1:]
    position = 0
    while position < len(rest):
        word = rest[position]
        if word == "--":
            tail += rest[position:]
            break
        if word in options and position + 1 < len(rest):
            moved += rest[position:position + 2]
            position += 2
            continue
        if word.split("=", 1)[0] in options and "=" in word:
            moved.append(word)
        else:
            tail.append(word)
        position += 1
    return head + moved + tail


def cache_dir_from(ctx: click.Context) -> Path:
    # ctx.obj is None when a subcommand runs on its own (click's CliRunner in tests).
    given = (ctx.obj or {}).get("cache_dir") or os.environ.get("VOLTSCALE_CACHE")
    if given:
        return Path(given).resolve()
    return (Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "voltscale").resolve()


def mac_options(func):
    """The MAC width options, handed to the command as one `mac` (a MacParams of kind tpu;
    `dataclasses.replace(mac, kind=...)` gives each kind)."""

    @functools.wraps(func)
    def with_mac(*args, a_bits, w_bits, acc_bits, razor_bits, accumulate_adder, **kwargs):
        try:
            mac = MacParams("tpu", a_bits, w_bits, acc_bits, razor_bits, accumulate_adder)
        except EdaError as exc:
            raise click.UsageError(str(exc)) from None
        return func(*args, mac=mac, **kwargs)

    for option in reversed([
        click.option("--a-bits", default=8, show_default=True, help="activation width"),
        click.option("--w-bits", default=8, show_default=True, help="weight width"),
        click.option("--acc-bits", default=24, show_default=True, help="partial-sum (accumulator) width"),
        click.option("--razor-bits", default=10, show_default=True, help="product bits in Razor flops (proposed)"),
        click.option("--accumulate-adder", type=click.Choice(ACCUMULATE_ADDERS), default=MacParams("tpu").accumulate_adder,
                     show_default=True, help="the proposed MAC's accumulate adder (yosys: behavioural +)"),
    ]):
        with_mac = option(with_mac)
    return with_mac


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
