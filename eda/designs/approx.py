"""Approximate-multiplier MACs (AutoApprox's multiplier library): a TPU MAC whose signed 8x8
multiplier is a generated Baugh-Wooley array with partial products dropped, or a user's module.

A level names which partial-product bits pp(i, j) (activation bit i, weight bit j, column i + j)
the array keeps:
  exact      every bit (the same array structure, so the levels differ only in dropped bits);
  trunc<k>   truncation: the k least-significant columns dropped (i + j < k);
  bam<h>-<v> broken-array multiplier (Mahdiani et al.): the h lowest weight rows (j < h,
             horizontal break level) and the columns i + j < v (vertical break level) dropped.
The numpy model (`multiplier_lut`) sums the same kept bits, so it is the bit-level golden model
of the rendered Verilog. This is a separate design builder, not a MAC kind: MAC_KINDS is iterated
by other commands that expect the paper's three kinds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eda.core.errors import EdaError
from eda.core.script_words import verilog_identifier
from eda.designs.mac import MacParams, mac_ports, template_environment
from eda.designs.registry import Design, read_ports

BITS = 8  # the array's operand width: the MACs are int8 x int8
PAIRS = 1 << (2 * BITS)  # 65,536 operand pairs
DEFAULT_LEVELS = ("exact", "trunc2", "trunc4", "trunc6", "trunc8", "bam2-6")
MULT_PORTS = {"a": ("input", BITS), "b": ("input", BITS), "p": ("output", 2 * BITS)}
_LEVEL = re.compile(r"^(?:(exact)|trunc(\d+)|bam(\d+)-(\d+))$")


@dataclass(frozen=True)
class Multiplier:
    """One multiplier of the library: a generated level, or a user's module (`sources` set)."""

    level: str
    hbl: int = 0  # weight rows j < hbl dropped
    vbl: int = 0  # columns i + j < vbl dropped
    user_module: str | None = None
    sources: tuple[tuple[str, str], ...] = ()  # (file name, text) of a user's multiplier

    @property
    def generated(self) -> bool:
        return self.user_module is None

    @property
    def module(self) -> str:
        return self.user_module or f"approx_mult_{_identifier_part(self.level)}"

    @property
    def mac_module(self) -> str:
        return f"mac_approx_{_identifier_part(self.level)}"

    def keeps(self, i: int, j: int) -> bool:
        return j >= self.hbl and i + j >= self.vbl


def _identifier_part(level: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", level)


def parse_level(text: str) -> Multiplier:
    """'exact', 'trunc<k>' (0 <= k <= 15) or 'bam<h>-<v>' (0 <= h <= 8, 0 <= v <= 15)."""
    match = _LEVEL.match(text.strip())
    if not match:
        raise EdaError(f"unknown multiplier level {text!r}: expected exact, trunc<k> (e.g. trunc4) or bam<h>-<v> (e.g. bam2-6)")
    exact, k, h, v = match.groups()
    hbl, vbl = (0, 0) if exact else (0, int(k)) if k is not None else (int(h), int(v))
    if not 0 <= hbl <= BITS or not 0 <= vbl < 2 * BITS:
        raise EdaError(f"multiplier level {text!r}: the row break must be 0..{BITS} and the column break 0..{2 * BITS - 1}")
    return Multiplier(text.strip(), hbl, vbl)


def user_multiplier(path: Path, module: str, label: str | None = None) -> Multiplier:
    """A user's multiplier module with ports a[7:0], b[7:0] (signed) and p[15:0]."""
    path = Path(path)
    verilog_identifier(module, "--mult-top")
    if not path.is_file():
        raise EdaError(f"multiplier Verilog {path} does not exist")
    ports = {p.name: (p.direction, p.width) for p in read_ports([path], module)}
    if ports != MULT_PORTS:
        found = ", ".join(f"{d} {n}[{w - 1}:0]" for n, (d, w) in ports.items())
        raise EdaError(f"multiplier {module} in {path} must have exactly the ports input a[7:0], input b[7:0], "
                       f"output p[15:0]; it has {found}")
    return Multiplier(label or f"user-{module}", user_module=module, sources=((path.name, path.read_text()),))


def _inverted(i: int, j: int) -> bool:
    return (i == BITS - 1) != (j == BITS - 1)


def baugh_wooley_constant() -> int:
    """2^n + 2^(2n-1): the constant that completes the modified Baugh-Wooley sum (mod 2^2n)."""
    return (1 << BITS) + (1 << (2 * BITS - 1))


def _rows(multiplier: Multiplier) -> list[list[str]]:
    rows = []
    for j in range(BITS):
        row = []
        for column in range(2 * BITS - 1, -1, -1):  # MSB first, as a Verilog concatenation
            i = column - j
            if 0 <= i < BITS and multiplier.keeps(i, j):
                bit = f"a[{i}] & b[{j}]"
                row.append(f"~({bit})" if _inverted(i, j) else f"({bit})")
            else:
                row.append("1'b0")
        rows.append(row)
    return rows


def describe(multiplier: Multiplier) -> str:
    if not multiplier.generated:
        return f"user-supplied multiplier {multiplier.module}"
    if multiplier.hbl == 0 and multiplier.vbl == 0:
        return "exact Baugh-Wooley array (no partial product dropped)"
    parts = ([f"weight rows j < {multiplier.hbl}"] if multiplier.hbl else []) + \
            ([f"columns i + j < {multiplier.vbl}"] if multiplier.vbl else [])
    return f"Baugh-Wooley array with the partial products of {' and '.join(parts)} dropped"


def render_multiplier(multiplier: Multiplier) -> str:
    if not multiplier.generated:
        raise EdaError(f"{multiplier.level} is a user-supplied multiplier; its Verilog is the user's file")
    return template_environment().get_template("approx_mult.v.j2").render(
        module=multiplier.module, bits=BITS, rows=_rows(multiplier), description=describe(multiplier),
        constant_hex=f"{baugh_wooley_constant():x}")


def multiplier_sources(multiplier: Multiplier) -> dict[str, str]:
    """Verilog of the multiplier module alone, by file name."""
    if multiplier.generated:
        return {f"{multiplier.module}.v": render_multiplier(multiplier)}
    return dict(multiplier.sources)


def render_approx_mac(multiplier: Multiplier, params: MacParams = MacParams("tpu")) -> str:
    if (params.a_bits, params.w_bits) != (BITS, BITS):
        raise EdaError(f"approximate-multiplier MACs are {BITS}x{BITS}; got a_bits={params.a_bits}, w_bits={params.w_bits}")
    return template_environment().get_template("mac_approx.v.j2").render(
        module=multiplier.mac_module, mult_module=multiplier.module, prod_bits=params.prod_bits, **params.as_dict())


def approx_design(multiplier: Multiplier, params: MacParams = MacParams("tpu")) -> Design:
    """The MAC with this multiplier, as the characterization flow takes it (ports of the tpu MAC)."""
    sources = {**multiplier_sources(multiplier), f"{multiplier.mac_module}.v": render_approx_mac(multiplier, params)}
    ports = frozenset(port.name for port in mac_ports(params))
    return Design(f"approx-{multiplier.level}", multiplier.mac_module, sources, ports, user_rtl=not multiplier.generated)


def multiplier_lut(multiplier: Multiplier) -> np.ndarray:
    """Bit-level numpy model: (256, 256) int64 signed products, indexed [a & 255, b & 255].

    Sums the kept Baugh-Wooley partial products and the constant modulo 2^16, exactly as the
    rendered array does, and reads the 16-bit result as two's complement."""
    if not multiplier.generated:
        raise EdaError(f"{multiplier.level} is a user-supplied multiplier: its products come from simulation only")
    pattern = np.arange(1 << BITS, dtype=np.int64)
    a_bits = (pattern[:, None] >> np.arange(BITS)) & 1  # (256, 8): bit i of every pattern
    total = np.full((1 << BITS, 1 << BITS), baugh_wooley_constant(), dtype=np.int64)
    for i in range(BITS):
        for j in range(BITS):
            if not multiplier.keeps(i, j):
                continue
            bit = a_bits[:, i][:, None] & a_bits[:, j][None, :]
            total += (1 - bit if _inverted(i, j) else bit) << (i + j)
    total &= (1 << (2 * BITS)) - 1
    return np.where(total >= 1 << (2 * BITS - 1), total - (1 << (2 * BITS)), total)


def exact_lut() -> np.ndarray:
    """a * b for every signed pattern pair, indexed like `multiplier_lut`."""
    signed = np.arange(1 << BITS, dtype=np.int64)
    signed = np.where(signed >= 1 << (BITS - 1), signed - (1 << BITS), signed)
    return signed[:, None] * signed[None, :]
