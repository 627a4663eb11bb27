"""Selective bit protection (Rathore et al., GLSVLSI 2023): the TPU MAC whose partial-sum register
has Razor flops on a chosen set of bits and plain flops on the others (rtl/mac_selective.v.j2).

A protected bit's late value is caught by its Razor flop and corrected by a replay: the MAC raises
err_out, the array ORs the flags into every MAC's err_in, and in the next cycle every register holds
while the Razor flops take their shadow value. This is a separate design builder like
eda/designs/approx.py, not an entry of MAC_KINDS: MAC_KINDS is iterated by commands (arrays, layout,
power, the main job) that expect the paper's three kinds, and the protected set is a parameter a
MacParams does not have (adding it would change every existing MAC's cache keys).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eda.core.errors import EdaError
from eda.designs.mac import MacParams, MacPort, mac_ports, template_environment
from eda.designs.registry import Design

KIND = "selective"
MODULE = "mac_selective"
TEMPLATE = "mac_selective.v.j2"
TOP_FLOP_PORTS = ("clk_shadow", "err_in", "err_out")


def check_protected_bits(bits, acc_bits: int = 24) -> tuple[int, ...]:
    """The protected partial-sum bits as a sorted tuple: whole numbers in 0..acc_bits-1, none repeated.

    EdaError naming the offending entries otherwise (an empty set is allowed: the TPU MAC with the
    replay hold, no Razor flop)."""
    if isinstance(bits, (str, bytes)):
        raise EdaError(f"protected bits must be a list of bit indices, got the string {bits!r}")
    try:
        values = list(bits)
    except TypeError:
        raise EdaError(f"protected bits must be a list of bit indices, got {bits!r}") from None
    bad = [b for b in values if isinstance(b, (bool, np.bool_)) or not isinstance(b, (int, np.integer))]
    if bad:
        raise EdaError(f"protected bits must be whole numbers (bit indices of the {acc_bits}-bit partial sum, 0 = LSB); "
                       f"got {', '.join(map(repr, bad))}")
    outside = [int(b) for b in values if not 0 <= b < acc_bits]
    if outside:
        raise EdaError(f"protected bit(s) {', '.join(map(str, outside))} outside the {acc_bits}-bit partial sum "
                       f"(bit indices 0..{acc_bits - 1})")
    repeated = sorted({int(b) for b in values if values.count(b) > 1})
    if repeated:
        raise EdaError(f"protected bit(s) {', '.join(map(str, repeated))} given more than once")
    return tuple(sorted(int(b) for b in values))


def bits_text(bits: tuple[int, ...]) -> str:
    """Compact ranges: (0, 1, 2, 5, 7, 8) -> '0-2,5,7-8'; 'none' when empty."""
    if not bits:
        return "none"
    parts, start = [], bits[0]
    for previous, bit in zip(bits, bits[1:] + (None,)):
        if bit is None or bit != previous + 1:
            parts.append(f"{start}" if start == previous else f"{start}-{previous}")
            start = bit
    return ",".join(parts)


def bits_mask(bits: tuple[int, ...]) -> int:
    return sum(1 << b for b in bits)


@dataclass(frozen=True)
class SelectiveMac:
    """One selective MAC: the TPU MAC's widths and the protected partial-sum bits (checked, sorted)."""

    protected_bits: tuple[int, ...]
    params: MacParams = MacParams("tpu")

    def __post_init__(self):
        if self.params.kind != "tpu":
            raise EdaError(f"the selective MAC is built on the tpu MAC; got MacParams of kind {self.params.kind!r}")
        object.__setattr__(self, "protected_bits", check_protected_bits(self.protected_bits, self.params.acc_bits))

    @property
    def plain_bits(self) -> tuple[int, ...]:
        return tuple(b for b in range(self.params.acc_bits) if b not in self.protected_bits)

    @property
    def label(self) -> str:
        """A name for run folders and tables: selective-<count>b-<hex mask of the protected bits>."""
        width = (self.params.acc_bits + 3) // 4
        return f"{KIND}-{len(self.protected_bits)}b-{bits_mask(self.protected_bits):0{width}x}"

    @property
    def module(self) -> str:
        return MODULE


def render_selective_mac(mac: SelectiveMac) -> str:
    """Verilog of the selective MAC, self-contained (its Razor module included when a bit is protected)."""
    p = mac.params
    protected, plain = mac.protected_bits, mac.plain_bits
    position = {bit: i for i, bit in enumerate(protected)}
    plain_position = {bit: i for i, bit in enumerate(plain)}
    out_sources = [f"psum_razor_q[{position[b]}]" if b in position else f"psum_plain[{plain_position[b]}]"
                   for b in range(p.acc_bits)]
    return template_environment().get_template(TEMPLATE).render(
        module=MODULE, razor_module="razor_ff", shadow_flop=True, prod_bits=p.prod_bits,
        protected_bits=list(protected), plain_bits=list(plain), protected_text=bits_text(protected),
        plain_text=bits_text(plain), out_sources=out_sources, **p.as_dict())


def selective_ports(mac: SelectiveMac) -> tuple[MacPort, ...]:
    """Ports in declaration order: the tpu MAC's, then clk_shadow, err_in (the array's replay), err_out."""
    return tuple(mac_ports(mac.params)) + (MacPort("clk_shadow", "input", 1), MacPort("err_in", "input", 1),
                                           MacPort("err_out", "output", 1))


def selective_design(mac: SelectiveMac) -> Design:
    """The MAC as the characterization flow takes it (err_in timed from the shadow clock, as Thundervolt's)."""
    return Design(mac.label, MODULE, {f"{MODULE}.v": render_selective_mac(mac)},
                  frozenset(port.name for port in selective_ports(mac)))
