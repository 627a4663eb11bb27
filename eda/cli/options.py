"""Option parsing shared by the commands: target and voltage lists, MAC widths, the cache folder."""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
import click
from eda.core.errors import EdaError
from eda.designs.mac import ACCUMULATE_ADDERS, MacParams


DEFAULT_TARGETS_HELP = ("comma list (2ns,2500ps) or range start:stop:step (1.5ns:4ns:500ps, stop inclusive); "
                        "units ns or ps, a bare number is ps (2000 = 2ns)")

# A bare target below this many ps is almost surely meant in ns ('2' for 2ns): no standard-cell
# MAC closes timing in tens of ps, and 2 ps would silently give the largest, fastest design.
MIN_BARE_TARGET_PS = 50
_PS_PER_UNIT = {"ps": 1, "ns": 1000}
# Every target is a synthesis run and every voltage a table column: a range that expands to more
# than this is a typo (1:100000000:1 ended in a MemoryError), refused before it is expanded.
MAX_LIST_ITEMS = 1000
MAX_TARGET_PS = 1_000_000_000  # 1 ms, far above any MAC's delay
MAX_VOLTAGE_V = 10.0


def parse_delay_ps(text: str, what: str = "target") -> int:
    """'2ns', '1800ps', '2000' (bare: ps) -> whole ps; ValueError naming the unit rules."""
    word = text.strip().lower()
    unit = next((u for u in _PS_PER_UNIT if word.endswith(u)), None)
    number = word[: -len(unit)].strip() if unit else word
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a {what}: expected a number with ns or ps (2ns, 1800ps; bare = ps)") from None
    ps = value * _PS_PER_UNIT[unit or "ps"]
    if not math.isfinite(ps) or abs(ps) > MAX_TARGET_PS:
        raise ValueError(f"{text.strip()!r}: a {what} must be a finite number of at most {MAX_TARGET_PS:g} ps (1 ms)")
    if abs(ps - round(ps)) > 1e-6:
        raise ValueError(f"{text.strip()!r} is {ps:g} ps: a {what} must be a whole number of ps")
    return int(round(ps))


def _target_ps(text: str) -> int:
    """One target value; a small bare number is refused as probably meant in ns."""
    word = text.strip()
    # Checked before the whole-ps rule: '1.5' means 1.5ns far more often than 1.5 ps.
    if word.replace(".", "", 1).isdigit() and 0 < float(word) < MIN_BARE_TARGET_PS:
        raise _CompleteMessage(f"{word!r} is read as {float(word):g} ps, far below any reachable delay: did you mean {word}ns "
                               f"({float(word) * 1000:g}ps)? Write the unit (2ns, 1800ps); a bare number is ps")
    ps = parse_delay_ps(text)
    if ps <= 0:
        raise ValueError(f"{word!r}: targets must be positive")
    return ps


def _check_count(count: int, text: str, what: str) -> None:
    if count > MAX_LIST_ITEMS:
        raise _CompleteMessage(f"{text!r} gives {count} {what}; at most {MAX_LIST_ITEMS} are allowed (check the step)")


class _CompleteMessage(ValueError):
    """A refused target list whose message is complete without the format help (too small a bare
    number, too many targets)."""


def parse_targets(text: str, option: str = "--targets") -> list[int]:
    """'2ns,2500ps', '2000,2500' or '1.5ns:4ns:500ps' (stop inclusive; bare = ps) -> sorted unique ints in ps."""
    targets: list[int] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            if ":" in part:
                pieces = part.split(":")
                if len(pieces) != 3:
                    raise ValueError(f"{part!r} is not a target range: expected start:stop:step")
                start, stop = _target_ps(pieces[0]), _target_ps(pieces[1])
                step = parse_delay_ps(pieces[2], "step")
                if step <= 0:
                    raise ValueError(f"{part!r}: step must be positive")
                _check_count(len(range(start, stop + 1, step)) + len(targets), part, "targets")
                targets.extend(range(start, stop + 1, step))
            else:
                targets.append(_target_ps(part))
                _check_count(len(targets), text, "targets")
        except _CompleteMessage as exc:
            raise click.BadParameter(str(exc), param_hint=option) from None
        except ValueError as exc:
            raise click.BadParameter(f"{exc} ({DEFAULT_TARGETS_HELP})", param_hint=option) from None
    if not targets:
        raise click.BadParameter(f"no targets in {text!r} ({DEFAULT_TARGETS_HELP})", param_hint=option)
    return sorted(set(targets))


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that also refuses nan and inf: click's own accepts 'nan' for any range
    (NaN fails no comparison), which then reached OpenSTA as a clock period of nan."""

    name = "finite float range"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number (expected {self._describe_range()})", param, ctx)
        return number


# Shared ranges of numeric options: generous, but each bounds the memory the command can ask for.
JOBS = click.IntRange(0, 1024)
SEED = click.IntRange(0, 2**32 - 1)  # numpy's legacy seeds are 32-bit
MAX_ARRAY_SIDE = 4096  # as method.array_rows / array_cols in eda/jobs/config.py
MAX_CYCLES = 100_000_000
MAX_PROCESS_SAMPLES = 10_000_000  # as errors.process_samples in eda/jobs/config.py
POSITIVE_FINITE = FiniteFloatRange(min=0, min_open=True, max=1e12)


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
        # The ranges of the config's [mac] keys (eda/jobs/config.py), so both refuse the same widths.
        click.option("--a-bits", default=8, show_default=True, type=click.IntRange(2, 16), help="activation width"),
        click.option("--w-bits", default=8, show_default=True, type=click.IntRange(2, 16), help="weight width"),
        click.option("--acc-bits", default=24, show_default=True, type=click.IntRange(4, 48),
                     help="partial-sum (accumulator) width"),
        click.option("--razor-bits", default=10, show_default=True, type=click.IntRange(0, 32),
                     help="product bits in Razor flops (proposed)"),
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
                pieces = part.split(":")
                if len(pieces) != 3:
                    raise ValueError("expected start:stop:step")
                start, stop, step = (_voltage(x) for x in pieces)
                if step <= 0:
                    raise ValueError("step must be positive")
                count = int(round(abs(stop - start) / step))
                if count + 1 + len(values) > MAX_LIST_ITEMS:
                    raise ValueError(f"it gives {count + 1} voltages; at most {MAX_LIST_ITEMS} are allowed (check the step)")
                direction = 1 if stop >= start else -1
                values.extend(round(start + direction * i * step, 6) for i in range(count + 1))
            else:
                values.append(_voltage(part))
                if len(values) > MAX_LIST_ITEMS:
                    raise ValueError(f"more than {MAX_LIST_ITEMS} voltages")
        except ValueError as exc:
            raise click.BadParameter(f"{part!r} is not a voltage list (1.8,1.2 or 1.8:0.9:0.05 in V): {exc}", param_hint=option)
    if not values or any(v <= 0 for v in values):
        raise click.BadParameter(f"voltages must be positive, got {text!r}", param_hint=option)
    return sorted(set(values), reverse=True)


def _voltage(text: str) -> float:
    value = float(text)
    # float() takes 'nan' and 'inf'; NaN would pass every later comparison.
    if not math.isfinite(value) or abs(value) > MAX_VOLTAGE_V:
        raise ValueError(f"{text.strip()!r} is not a supply voltage (a finite number of at most {MAX_VOLTAGE_V:g} V)")
    return value


def read_csv_table(path: Path):
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise EdaError(f"{path}: not a readable CSV table: {exc}") from None


def characterized_platform(ctx: click.Context, characterization_csv: Path, platform_name: str | None):
    """The platform named by --platform, else by the characterization table's platform column
    (sky130hd when the table names none)."""
    import pandas as pd

    from eda.core.platforms import load_platform

    if platform_name is None:
        try:
            column = pd.read_csv(characterization_csv, usecols=["platform"])["platform"]
            platform_name = str(column.iloc[0]) if len(column) else "sky130hd"
        except (ValueError, pd.errors.EmptyDataError, pd.errors.ParserError):
            platform_name = "sky130hd"
    return load_platform(platform_name, (ctx.obj or {}).get("platforms_dir"))
