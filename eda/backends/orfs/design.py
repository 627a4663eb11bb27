"""ORFS design folders: config.mk, one constraint SDC per sizing variant, the Verilog.

Layout, under <designs_dir>/<platform>/<nickname>/:

    config.mk                     DESIGN_CONFIG for every variant of this design
    constraint-<variant>.sdc      one per sizing variant (variant = D<target ps>)
    src/<file>.v                  the RTL
    latch_map.v                   only with latch_map_verilog (see below)

Sizing variants. The embedded backend sizes a design with ABC delay targets; here a
target becomes the clock period of one ORFS run. All variants share config.mk, which maps
FLOW_VARIANT to the variant's SDC and ABC_CLOCK_PERIOD_IN_PS, so
`make DESIGN_CONFIG=.../config.mk FLOW_VARIANT=D2500` runs one size and ORFS keeps each
variant's logs/, reports/ and results/ in their own <variant> folder. An unknown or missing
FLOW_VARIANT stops make with a message listing the variants.

Latches. The Razor MACs (thundervolt, proposed) hold level-sensitive latches of both
polarities (rtl/razor_ff.v.j2). Every ORFS platform sets LATCH_MAP_FILE in its own config.mk
(sky130hd, nangate45, asap7, ihp-sg13g2, gf180; sky130hd's maps onto dlxtp_1 and dlxtn_1)
and ORFS's synthesis applies it, so by default config.mk leaves LATCH_MAP_FILE alone: both
polarities map onto the platform's native latch cells, as in every ORFS design. To get the
same latch cells as voltscale's embedded synthesis (its latch cell from platform.toml, a
negative latch as an inverter and that cell), pass
`latch_map_verilog=eda.flow.synth.render_latch_map(platform)`: it is written to
latch_map.v and config.mk points LATCH_MAP_FILE at it.

Array tile: mac_array_design() wires rows x cols MACs into a systolic tile (Design), which
gets a folder like any other design.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import jinja2

from eda import __version__
from eda.designs.registry import Design
from eda.core.errors import EdaError
from eda.core.files import atomic_write_text
from eda.designs.mac import MacParams, mac_ports, render_mac
from eda.parsers.orfs.units import platform_time_unit_ns

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

# config.mk variables voltscale sets itself; extra_variables may not override them.
SET_BY_VOLTSCALE = ("DESIGN_NAME", "DESIGN_NICKNAME", "PLATFORM", "VERILOG_FILES", "SDC_FILE", "ABC_CLOCK_PERIOD_IN_PS",
                    "FLOW_VARIANT", "CORE_UTILIZATION", "PLACE_DENSITY")
_MAKE_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_NICKNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _num(value: float) -> str:
    """Numbers as written in config.mk and SDC: shortest exact-looking form (2.5, 1875, 0.6)."""
    return f"{float(value):.10g}"


def template_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = _num
    return env


def _make_value(name: str, value: object) -> str:
    if isinstance(value, bool):
        text = "1" if value else "0"
    elif isinstance(value, (int, float)):
        text = _num(value)
    elif isinstance(value, (list, tuple)):
        text = " ".join(str(v) for v in value)
    elif isinstance(value, str):
        text = value
    else:
        raise EdaError(f"ORFS variable {name}: value {value!r} is a {type(value).__name__}; expected a string, number, "
                       "boolean or list")
    if "\n" in text or "#" in text:
        raise EdaError(f"ORFS variable {name}: value {text!r} may not contain a newline or '#' (config.mk would misread it)")
    return text


@dataclass(frozen=True)
class OrfsSettings:
    """What a user may set for the ORFS backend; everything lands in config.mk or the SDC."""

    core_utilization_pct: float = 40.0  # CORE_UTILIZATION, % of the core area filled by cells
    place_density: float = 0.60  # PLACE_DENSITY, global placement target density
    io_delay_fraction: float = 0.0  # input/output delay as a fraction of the clock period (0: as the embedded STA)
    shadow_delay_fraction: float = 0.25  # Razor shadow clock delay d, in clock periods
    clock_port: str = "clk"
    shadow_clock_port: str = "clk_shadow"
    late_inputs: tuple[str, ...] = ("err_in",)  # timed from the shadow clock's closing edge when present
    input_driver_cell: str | None = None  # set_driving_cell on data inputs (ORFS designs usually leave it out)
    extra_variables: Mapping[str, object] = field(default_factory=dict)  # other ORFS variables, e.g. TNS_END_PERCENT

    def __post_init__(self):
        problems = []
        if not 0 < self.core_utilization_pct <= 100:
            problems.append(f"core_utilization_pct must be in (0, 100], got {self.core_utilization_pct!r}")
        if not 0 < self.place_density <= 1:
            problems.append(f"place_density must be in (0, 1], got {self.place_density!r}")
        if not 0 <= self.io_delay_fraction < 1:
            problems.append(f"io_delay_fraction must be in [0, 1), got {self.io_delay_fraction!r}")
        if not 0 <= self.shadow_delay_fraction < 0.5:
            problems.append(f"shadow_delay_fraction must be in [0, 0.5), got {self.shadow_delay_fraction!r}")
        for name, value in self.extra_variables.items():
            if not _MAKE_NAME.match(str(name)):
                problems.append(f"ORFS variable name {name!r} is not an upper-case make variable name")
            elif name in SET_BY_VOLTSCALE:
                problems.append(f"ORFS variable {name} is set by voltscale; "
                                + ("use core_utilization_pct / place_density" if name in ("CORE_UTILIZATION", "PLACE_DENSITY")
                                   else "it cannot be passed through"))
            else:
                try:
                    _make_value(name, value)
                except EdaError as exc:
                    problems.append(str(exc))
        if problems:
            raise EdaError("invalid ORFS settings:\n  " + "\n  ".join(problems))

    def extra_lines(self) -> list[tuple[str, str]]:
        return [(name, _make_value(name, value)) for name, value in sorted(self.extra_variables.items())]


def flow_variant_name(target_ps: int) -> str:
    """FLOW_VARIANT of one sizing variant: D<target in ps>, as the embedded backend's variant names."""
    return f"D{target_ps}"


def render_sdc(top: str, ports: Iterable[str], period_ps: int, time_unit_ns: float, settings: OrfsSettings,
               variant: str) -> str:
    """constraint SDC of one sizing variant, in the platform's time unit (pure)."""
    ports = set(ports)
    if settings.clock_port not in ports:
        raise EdaError(f"{top} has no clock port {settings.clock_port!r} (ports: {', '.join(sorted(ports))})")
    unit_ps = time_unit_ns * 1e3
    shadow = settings.shadow_clock_port in ports
    frac = settings.shadow_delay_fraction
    return template_environment().get_template("constraint.sdc.j2").render(
        top=top,
        variant=variant,
        version=__version__,
        period_ps=period_ps,
        time_unit="ps" if unit_ps == 1 else ("ns" if unit_ps == 1000 else f"{_num(unit_ps)} ps"),
        period=period_ps / unit_ps,
        clock_port=settings.clock_port,
        shadow=shadow,
        shadow_clock_port=settings.shadow_clock_port,
        shadow_delay_fraction=frac,
        shadow_rise=(0.5 + frac) * period_ps / unit_ps,
        shadow_fall=(1.0 + frac) * period_ps / unit_ps,
        io_delay_fraction=settings.io_delay_fraction,
        io_delay=settings.io_delay_fraction * period_ps / unit_ps,
        late_inputs=[p for p in settings.late_inputs if shadow and p in ports],
        input_driver_cell=settings.input_driver_cell,
    )


def render_config_mk(top: str, nickname: str, platform: str, verilog_files: list[str], periods_ps: Mapping[str, int],
                     settings: OrfsSettings, latch_map_file: str | None = None) -> str:
    """config.mk for every sizing variant of one design (pure)."""
    return template_environment().get_template("config.mk.j2").render(
        top=top,
        nickname=nickname,
        platform=platform,
        version=__version__,
        verilog_files=verilog_files,
        variants=list(periods_ps),
        periods_ps=dict(periods_ps),
        core_utilization_pct=settings.core_utilization_pct,
        place_density=settings.place_density,
        latch_map_file=latch_map_file,
        extra_variables=settings.extra_lines(),
    )


@dataclass(frozen=True)
class OrfsDesignFolder:
    path: Path
    config_mk: Path
    top: str  # DESIGN_NAME
    nickname: str  # DESIGN_NICKNAME: ORFS's logs/<platform>/<nickname>/<variant>/
    platform: str
    kind: str
    clock_periods_ps: Mapping[str, int]  # FLOW_VARIANT -> clock period (ps)

    @property
    def variants(self) -> list[str]:
        return list(self.clock_periods_ps)

    def sdc(self, variant: str) -> Path:
        return self.path / f"constraint-{variant}.sdc"


def write_design_folder(design: Design, targets_ps: Iterable[int], platform: str, designs_dir: Path,
                        settings: OrfsSettings | None = None, *, nickname: str | None = None,
                        latch_map_verilog: str | None = None) -> OrfsDesignFolder:
    """Write <designs_dir>/<platform>/<nickname>/ for `design` at each delay target (ps)."""
    settings = settings or OrfsSettings()
    nickname = nickname or design.top
    if not _NICKNAME.match(nickname):
        raise EdaError(f"ORFS design nickname {nickname!r} must be letters, digits, '_', '.', '-' (it names folders)")
    targets = list(targets_ps)
    bad = [t for t in targets if isinstance(t, bool) or not isinstance(t, int) or t <= 0]
    if not targets or bad:
        raise EdaError(f"ORFS sizing targets must be positive integers in ps; got {targets!r}")
    if len(set(targets)) != len(targets):
        raise EdaError(f"ORFS sizing targets repeat: {targets!r}")
    unit = platform_time_unit_ns(platform)
    folder = Path(designs_dir).resolve() / platform / nickname
    if re.search(r"\s", str(folder)):
        raise EdaError(f"ORFS design folder {folder} contains whitespace, which make cannot handle in file names; "
                       "choose an output folder without spaces")
    for name in design.sources:
        if not re.match(r"^[A-Za-z0-9_.+-]+$", name):
            raise EdaError(f"Verilog file name {name!r} of {design.top} cannot go into config.mk; rename it")

    periods = {flow_variant_name(t): t for t in targets}
    for name, text in sorted(design.sources.items()):
        atomic_write_text(folder / "src" / name, text)
    latch_map_file = None
    if latch_map_verilog is not None:
        latch_map_file = "latch_map.v"
        atomic_write_text(folder / latch_map_file, latch_map_verilog)
    else:
        (folder / "latch_map.v").unlink(missing_ok=True)
    for stale in folder.glob("constraint-*.sdc"):
        if stale.name[len("constraint-"):-len(".sdc")] not in periods:
            stale.unlink()
    for variant, period_ps in periods.items():
        atomic_write_text(folder / f"constraint-{variant}.sdc",
                          render_sdc(design.top, design.ports, period_ps, unit, settings, variant))
    config = render_config_mk(design.top, nickname, platform, sorted(design.sources), periods, settings, latch_map_file)
    atomic_write_text(folder / "config.mk", config)
    return OrfsDesignFolder(folder, folder / "config.mk", design.top, nickname, platform, design.kind, periods)


# --------------------------------------------------------------------------- array tile

# How MAC ports connect in a weight-stationary systolic tile: input -> the output of the
# neighbour that feeds it.
VERTICAL_CHAINS = {"w_in": "w_out", "psum_in": "psum_out", "psum_in_shadow": "psum_shadow_out", "err_in": "err_out"}
HORIZONTAL_CHAINS = {"a_in": "a_out"}
BROADCAST_INPUTS = ("clk", "clk_shadow", "w_load")


@dataclass(frozen=True)
class _Net:
    name: str
    width: int
    direction: str = ""


def _slice(name: str, width: int, index: int) -> str:
    low = index * width
    return f"{name}[{low}]" if width == 1 else f"{name}[{low + width - 1}:{low}]"


def render_mac_array(params: MacParams, rows: int, cols: int) -> tuple[str, str, list[_Net]]:
    """(module name, Verilog, ports) of a rows x cols tile of params' MAC (pure)."""
    for label, value in (("rows", rows), ("cols", cols)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise EdaError(f"array tile {label} must be a positive integer, got {value!r}")
    module = f"{params.module}_array_{rows}x{cols}"
    mac = {p.name: p for p in mac_ports(params)}
    outputs = {n for n, p in mac.items() if p.direction == "output"}
    vertical = {i: o for i, o in VERTICAL_CHAINS.items() if i in mac and o in outputs}
    horizontal = {i: o for i, o in HORIZONTAL_CHAINS.items() if i in mac and o in outputs}
    chains = {**vertical, **horizontal}
    unknown = [n for n, p in mac.items() if p.direction == "input" and n not in chains and n not in BROADCAST_INPUTS]
    if unknown:
        raise EdaError(f"{params.module}: input(s) {', '.join(unknown)} have no place in the array tile wiring")
    unchained = [n for n in outputs if n not in chains.values()]

    ports: list[_Net] = []
    for name, port in mac.items():
        if name in BROADCAST_INPUTS:
            ports.append(_Net(name, port.bits, "input"))
        elif name in vertical:
            ports.append(_Net(name, cols * port.bits, "input"))
        elif name in horizontal:
            ports.append(_Net(name, rows * port.bits, "input"))
        elif name in vertical.values():
            ports.append(_Net(name, cols * port.bits, "output"))
        elif name in horizontal.values():
            ports.append(_Net(name, rows * port.bits, "output"))
        else:
            ports.append(_Net(name, rows * cols * port.bits, "output"))

    def into(chain: str, r: int, c: int) -> str:
        """Net carrying `chain`'s value into MAC (r, c)."""
        width = mac[chain].bits
        if chain in vertical and r == 0:
            return _slice(chain, width, c)
        if chain in horizontal and c == 0:
            return _slice(chain, width, r)
        return f"{chain}_r{r}_c{c}"

    def out_of(output: str, r: int, c: int) -> str:
        chain = next((i for i, o in chains.items() if o == output), None)
        width = mac[output].bits
        if chain is None:
            return _slice(output, width, r * cols + c)
        if chain in vertical:
            return _slice(output, width, c) if r == rows - 1 else into(chain, r + 1, c)
        return _slice(output, width, r) if c == cols - 1 else into(chain, r, c + 1)

    wires = [_Net(f"{chain}_r{r}_c{c}", mac[chain].bits)
             for chain in chains for r in range(rows) for c in range(cols)
             if (chain in vertical and r > 0) or (chain in horizontal and c > 0)]
    instances = []
    for r in range(rows):
        for c in range(cols):
            connections = []
            for name in mac:
                if name in BROADCAST_INPUTS:
                    connections.append((name, name))
                elif name in chains:
                    connections.append((name, into(name, r, c)))
                else:
                    connections.append((name, out_of(name, r, c)))
            instances.append({"name": f"mac_r{r}_c{c}", "connections": connections})
    text = template_environment().get_template("mac_array.v.j2").render(
        module=module, mac=params.module, rows=rows, cols=cols, ports=ports, wires=wires, instances=instances,
        horizontal=list(horizontal), vertical=list(vertical), broadcast=[b for b in BROADCAST_INPUTS if b in mac],
        unchained=unchained,
    )
    return module, text, ports


def mac_array_design(params: MacParams, rows: int = 2, cols: int = 2) -> Design:
    """A rows x cols systolic tile of one MAC kind, as a Design (its RTL and the MAC's)."""
    module, text, ports = render_mac_array(params, rows, cols)
    sources = {f"{params.module}.v": render_mac(params), f"{module}.v": text}
    return Design(f"{params.kind}-array{rows}x{cols}", module, sources, frozenset(p.name for p in ports))
