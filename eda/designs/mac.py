"""Render MAC variants from the Jinja templates in rtl/."""

from __future__ import annotations

from dataclasses import dataclass, asdict

import jinja2

from eda.core.paths import RTL_DIR
from eda.core.errors import EdaError

MAC_KINDS = ("tpu", "thundervolt", "proposed")


@dataclass(frozen=True)
class MacParams:
    """What distinguishes one MAC design: kind and bit widths."""

    kind: str
    a_bits: int = 8
    w_bits: int = 8
    acc_bits: int = 24
    razor_bits: int = 10  # of the product bits; used by `proposed` only

    def __post_init__(self):
        if self.kind not in MAC_KINDS:
            raise EdaError(f"unknown MAC kind {self.kind!r}: expected one of {', '.join(MAC_KINDS)}")
        for field in ("a_bits", "w_bits", "acc_bits"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 2:
                raise EdaError(f"MAC parameter {field} must be an integer >= 2, got {value!r}")
        if self.acc_bits < self.prod_bits:
            raise EdaError(
                f"acc_bits ({self.acc_bits}) must hold the {self.prod_bits}-bit product "
                f"of a_bits={self.a_bits} x w_bits={self.w_bits}"
            )
        if self.kind == "proposed" and not 0 <= self.razor_bits <= self.prod_bits:
            raise EdaError(f"razor_bits must be between 0 and {self.prod_bits} (the product width), got {self.razor_bits}")

    @property
    def prod_bits(self) -> int:
        return self.a_bits + self.w_bits

    @property
    def module(self) -> str:
        return f"mac_{self.kind}"

    @property
    def has_razor(self) -> bool:
        return self.kind == "thundervolt" or (self.kind == "proposed" and self.razor_bits > 0)

    def as_dict(self) -> dict:
        return asdict(self)


def template_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(RTL_DIR)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_mac(params: MacParams) -> str:
    """Verilog source of one MAC variant, self-contained (includes its Razor module)."""
    template = template_environment().get_template(f"mac_{params.kind}.v.j2")
    return template.render(
        module=params.module,
        razor_module="razor_ff",
        # Thundervolt hands the shadow value to the next MAC, so it must hold it for a period.
        shadow_flop=params.kind == "thundervolt",
        prod_bits=params.prod_bits,
        **params.as_dict(),
    )


@dataclass(frozen=True)
class MacPort:
    name: str
    direction: str  # "input" or "output"
    bits: int


def mac_ports(params: MacParams) -> tuple[MacPort, ...]:
    """Ports of the rendered MAC in declaration order, with widths from `params`."""
    ports = [
        MacPort("clk", "input", 1),
        MacPort("w_load", "input", 1),
        MacPort("w_in", "input", params.w_bits),
        MacPort("w_out", "output", params.w_bits),
        MacPort("a_in", "input", params.a_bits),
        MacPort("a_out", "output", params.a_bits),
        MacPort("psum_in", "input", params.acc_bits),
        MacPort("psum_out", "output", params.acc_bits),
    ]
    if params.kind == "thundervolt":
        ports += [
            MacPort("clk_shadow", "input", 1),
            MacPort("err_in", "input", 1),
            MacPort("psum_in_shadow", "input", params.acc_bits),
            MacPort("psum_shadow_out", "output", params.acc_bits),
            MacPort("err_out", "output", 1),
        ]
    elif params.kind == "proposed":
        ports += [MacPort("clk_shadow", "input", 1), MacPort("err_out", "output", 1)]
    return tuple(ports)
