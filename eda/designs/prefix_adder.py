"""Parallel-prefix adder structures for the MAC templates (rtl/prefix_adder.v.j2).

Debian's yosys 0.23 maps `+` to a ripple carry chain and has no `+/choices/` prefix maps, and
ABC does not restructure a 24-bit chain into a log-depth one (the proposed MAC's accumulate
path was 93% of its critical path). So the structure is written out here: a list of levels,
each a list of (i, j) nodes meaning (G, P)[i] = (G, P)[i] o (G, P)[j], and a check that the
result is a valid prefix network (every bit ends up covering [0, i]).
"""

from __future__ import annotations

from eda.core.errors import EdaError

ADDER_STRUCTURES = ("ripple", "kogge_stone", "sklansky", "brent_kung")

Level = list[tuple[int, int]]


def _kogge_stone(width: int) -> list[Level]:
    levels, span = [], 1
    while span < width:
        levels.append([(i, i - span) for i in range(span, width)])
        span *= 2
    return levels


def _sklansky(width: int) -> list[Level]:
    levels, level = [], 0
    while (1 << level) < width:
        levels.append([(i, (i >> level << level) - 1) for i in range(width) if (i >> level) & 1])
        level += 1
    return levels


def _brent_kung(width: int) -> list[Level]:
    levels, span = [], 1
    while span < width:  # up-sweep: bit i = k*2s - 1 takes i - s
        levels.append([(i, i - span) for i in range(2 * span - 1, width, 2 * span)])
        span *= 2
    span //= 2
    while span >= 1:  # down-sweep: fill the bits between the up-sweep's
        nodes = [(i, i - span) for i in range(3 * span - 1, width, 2 * span)]
        if nodes:
            levels.append(nodes)
        span //= 2
    return levels


def prefix_levels(structure: str, width: int) -> list[Level]:
    """The prefix network of `structure` for a `width`-bit adder, checked to be complete."""
    if structure not in ADDER_STRUCTURES:
        raise EdaError(f"unknown adder structure {structure!r}: expected one of {', '.join(ADDER_STRUCTURES)}")
    if width < 1:
        raise EdaError(f"adder width must be >= 1, got {width}")
    if structure == "ripple":
        levels = [[(i, i - 1)] for i in range(1, width)]
    else:
        levels = {"kogge_stone": _kogge_stone, "sklansky": _sklansky, "brent_kung": _brent_kung}[structure](width)
    check_prefix_network(levels, width)
    return levels


def check_prefix_network(levels: list[Level], width: int) -> None:
    """Raise unless combining the levels in order makes every bit's group cover bits [0, i].

    Within a level, nodes read the previous level's values (they are computed in parallel)."""
    low = list(range(width))  # bit i's group currently spans [low[i], i]
    for depth, level in enumerate(levels):
        before = list(low)
        for i, j in level:
            if not 0 <= j < i < width or before[i] != j + 1:
                raise EdaError(f"prefix level {depth}: node ({i}, {j}) does not join two adjacent groups")
            low[i] = before[j]
    missing = [i for i in range(width) if low[i] != 0]
    if missing:
        raise EdaError(f"prefix network leaves bits {missing} without a carry from bit 0")


def prefix_depth(structure: str, width: int) -> int:
    return len(prefix_levels(structure, width))


def prefix_nodes(structure: str, width: int) -> int:
    return sum(len(level) for level in prefix_levels(structure, width))
