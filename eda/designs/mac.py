"""Render MAC variants from the Jinja templates in rtl/."""

from __future__ import annotations

from dataclasses import dataclass, asdict

import jinja2

from eda.core.paths import RTL_DIR
from eda.core.errors import EdaError
from eda.designs.prefix_adder import ADDER_STRUCTURES, prefix_levels

MAC_KINDS = ("tpu", "thundervolt", "proposed")
# The proposed MAC's accumulate stage: "yosys" is the behavioural `+` (a ripple chain after
# yosys 0.23 + ABC); the others are written out in rtl/prefix_adder.v.j2.
ACCUMULATE_ADDERS = ("yosys",) + ADDER_STRUCTURES
# The paper's proposed MAC: "the path delays of the non-Razor paths (adder and MUX) are around
# half of the MAC unit critical path". A written-out accumulate adder is synthesized at this
# fraction of the MAC's delay target (flow/synth.py explains why it needs its own target).
ACCUMULATE_TARGET_FRACTION = 0.5


@dataclass(frozen=True)
class MacParams:
    """What distinguishes one MAC design: kind and bit widths."""

    kind: str
    a_bits: int = 8
    w_bits: int = 8
    acc_bits: int = 24
    razor_bits: int = 10  # of the product bits; used by `proposed` only
    # The proposed MAC's separate accumulate adder. tpu and thundervolt add the partial sum
    # inside yosys's merged multiply-accumulate ($macc), so this does not apply to them.
    accumulate_adder: str = "sklansky"

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
        if self.accumulate_adder not in ACCUMULATE_ADDERS:
            raise EdaError(f"unknown accumulate_adder {self.accumulate_adder!r}: expected one of {', '.join(ACCUMULATE_ADDERS)}")

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


def structured_adder(params: MacParams) -> bool:
    return params.kind == "proposed" and params.accumulate_adder != "yosys"


def adder_module(params: MacParams) -> str:
    return f"{params.accumulate_adder}_adder"


def mac_module_targets(params: MacParams) -> tuple[tuple[str, float], ...]:
    """Modules of the rendered MAC synthesized at their own fraction of its delay target."""
    return ((adder_module(params), ACCUMULATE_TARGET_FRACTION),) if structured_adder(params) else ()


def render_mac(params: MacParams) -> str:
    """Verilog source of one MAC variant, self-contained (includes its Razor module)."""
    template = template_environment().get_template(f"mac_{params.kind}.v.j2")
    structured = structured_adder(params)
    return template.render(
        module=params.module,
        adder_module=adder_module(params),
        structured_adder=structured,
        width=params.acc_bits,
        y_width=params.prod_bits,
        structure=params.accumulate_adder,
        levels=prefix_levels(params.accumulate_adder, params.acc_bits) if structured else [],
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
