"""Parse qflow's outputs: text in, dataclasses out (no tool runs, no file writes).

* qrouter's log (`log/route.log`): did routing finish, and how many nets failed.
* qrouter's RC file (`layout/<top>.rc`, written by `write_delays`): per net, the driver
  and a tree of routed segments, each with its resistance (ohm) and capacitance (pF,
  from the LEF's RPERSQ / CPERSQDIST / EDGECAPACITANCE), branching where the route
  branches and naming the pin it reaches. Grammar, from qrouter's delays.c:

      net := <name> 1 <driver> <number of sinks> seg
      seg := "(" R C [<terminal> [","]] [seg ("," seg)*] ")"

  where a terminal is `<instance>/<pin>` or `PIN/<port>` and the comma after it appears
  only when segments follow.
* The routed DEF: units, die area, components, pins and each net's connections.
* LEF macro sizes; a tech `.sh` file's `set name=value` variables; a Yosys netlist's ports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from eda.core.errors import EdaError

_NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"


# --- qrouter log ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RouteSummary:
    """qrouter's outcome, from the `Final:` line of its log."""

    failed_nets: int  # qrouter's "Failed net routes" (routes, so a net can count more than once)
    failed_net_names: tuple[str, ...]  # distinct nets, in qrouter's order
    stage1_failed: int | None  # failures after the first (fast) stage, a congestion hint
    passes: int  # stage1/2/3 runs the standard route script made

    @property
    def complete(self) -> bool:
        return self.failed_nets == 0


def parse_route_log(text: str, source: str = "route log") -> RouteSummary:
    if re.search(r"^Final: No failed routes!", text, re.M):
        failed, names = 0, ()
    else:
        final = re.search(r"^Final: Failed net routes: (\d+)", text, re.M)
        if final is None:
            raise EdaError(f"{source}: qrouter did not report a final result (no 'Final:' line); the router stopped early")
        failed = int(final.group(1))
        tail = text[final.end():]
        listed = re.search(r"^List of failed nets follows:\n((?:[ \t]*\S+[ \t]*\n)*)", tail, re.M)
        # One line per failed route; a net with several failed routes is listed again.
        names = tuple(dict.fromkeys(n.strip() for n in listed.group(1).splitlines() if n.strip())) if listed else ()
    stage1 = re.search(r"^Progress: Stage 1 total routes completed: \d+\s*\n\s*Failed net routes: (\d+)", text, re.M)
    if stage1 is None and re.search(r"^Progress: Stage 1 ", text, re.M):
        stage1_failed: int | None = 0
    else:
        stage1_failed = int(stage1.group(1)) if stage1 else None
    passes = len(re.findall(r"^\*\*\* Running stage\d", text, re.M))
    return RouteSummary(failed, names, stage1_failed, passes)


# --- qrouter RC trees ----------------------------------------------------------------------

@dataclass
class RcSegment:
    """One routed segment: from its parent's end (or the driver) to `terminal` or a branch point."""

    res_ohm: float
    cap_pf: float
    terminal: str | None  # "<instance>/<pin>" or "PIN/<port>"
    children: list["RcSegment"] = field(default_factory=list)


@dataclass
class RcNet:
    name: str
    driver: str
    sinks: int  # as qrouter counts them (nodes - 1)
    root: RcSegment

    def segments(self) -> list[RcSegment]:
        out, stack = [], [self.root]
        while stack:
            seg = stack.pop()
            out.append(seg)
            stack.extend(reversed(seg.children))
        return out

    def terminals(self) -> list[str]:
        return [s.terminal for s in self.segments() if s.terminal is not None]

    @property
    def cap_pf(self) -> float:
        return sum(s.cap_pf for s in self.segments())

    @property
    def res_ohm(self) -> float:
        return sum(s.res_ohm for s in self.segments())


def _parse_rc_tree(tokens: list[str], pos: int, where: str) -> tuple[RcSegment, int]:
    """Iterative (deep clock trees would exhaust Python's recursion limit)."""

    def expect(i: int, token: str) -> None:
        if i >= len(tokens) or tokens[i] != token:
            got = tokens[i] if i < len(tokens) else "end of line"
            raise EdaError(f"{where}: expected {token!r} at token {i}, got {got!r}")

    def open_segment(i: int) -> tuple[RcSegment, int]:
        expect(i, "(")
        try:
            seg = RcSegment(float(tokens[i + 1]), float(tokens[i + 2]), None)
        except (IndexError, ValueError):
            raise EdaError(f"{where}: expected resistance and capacitance after '(' at token {i}") from None
        i += 3
        if i < len(tokens) and tokens[i] not in ("(", ")", ","):
            seg.terminal = tokens[i]
            i += 1
            if i < len(tokens) and tokens[i] == ",":
                i += 1
        return seg, i

    root, pos = open_segment(pos)
    stack = [root]
    while stack:
        if pos >= len(tokens):
            raise EdaError(f"{where}: unbalanced parentheses (line ends inside a segment)")
        token = tokens[pos]
        if token == ")":
            stack.pop()
            pos += 1
            if stack and pos < len(tokens) and tokens[pos] == ",":
                pos += 1
        elif token == "(":
            child, pos = open_segment(pos)
            stack[-1].children.append(child)
            stack.append(child)
        else:
            raise EdaError(f"{where}: unexpected token {token!r} at token {pos}")
    return root, pos


def parse_rc(text: str, source: str = "RC file") -> dict[str, RcNet]:
    """qrouter `write_delays` output -> {net name: RcNet}."""
    nets: dict[str, RcNet] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        tokens = line.replace("(", " ( ").replace(")", " ) ").replace(",", " , ").split()
        where = f"{source}:{lineno}"
        if len(tokens) < 5 or tokens[1] != "1":
            raise EdaError(f"{where}: not a qrouter RC record (expected '<net> 1 <driver> <sinks> ( ...')")
        name, driver = tokens[0], tokens[2]
        try:
            sinks = int(tokens[3])
        except ValueError:
            raise EdaError(f"{where}: sink count {tokens[3]!r} is not an integer") from None
        root, end = _parse_rc_tree(tokens, 4, where)
        if end != len(tokens):
            raise EdaError(f"{where}: trailing tokens after the RC tree: {' '.join(tokens[end:end + 5])}")
        nets[name] = RcNet(name, driver, sinks, root)
    return nets


# --- DEF -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DefComponent:
    name: str
    macro: str
    x_um: float
    y_um: float
    orient: str


@dataclass
class DefDesign:
    name: str
    units_per_um: int
    die_um: tuple[float, float, float, float]  # llx, lly, urx, ury
    components: dict[str, DefComponent]
    pins: dict[str, str]  # pin name -> net name
    nets: dict[str, list[tuple[str, str]]]  # net -> [(instance or "PIN", pin)]

    @property
    def die_area_um2(self) -> float:
        llx, lly, urx, ury = self.die_um
        return (urx - llx) * (ury - lly)

    def connected_instances(self) -> set[str]:
        return {inst for conns in self.nets.values() for inst, _ in conns if inst != "PIN"}


def _section(text: str, name: str) -> str:
    match = re.search(rf"^{name}\s+\d+\s*;(.*?)^END\s+{name}\b", text, re.M | re.S)
    return match.group(1) if match else ""


def parse_def(text: str, source: str = "DEF") -> DefDesign:
    design = re.search(r"^DESIGN\s+(\S+)\s*;", text, re.M)
    units = re.search(r"^UNITS\s+DISTANCE\s+MICRONS\s+(\d+)\s*;", text, re.M)
    die = re.search(rf"^DIEAREA\s+\(\s*({_NUMBER})\s+({_NUMBER})\s*\)\s*\(\s*({_NUMBER})\s+({_NUMBER})\s*\)", text, re.M)
    if not (design and units and die):
        raise EdaError(f"{source}: not a placed DEF (DESIGN, UNITS DISTANCE MICRONS or DIEAREA missing)")
    scale = int(units.group(1))
    components = {}
    for m in re.finditer(rf"^-\s+(\S+)\s+(\S+)\s+\+\s+(?:PLACED|FIXED)\s+\(\s*({_NUMBER})\s+({_NUMBER})\s*\)\s+(\S+)",
                         _section(text, "COMPONENTS"), re.M):
        components[m.group(1)] = DefComponent(m.group(1), m.group(2), float(m.group(3)) / scale, float(m.group(4)) / scale, m.group(5))
    pins = {m.group(1): m.group(2) for m in re.finditer(r"^-\s+(\S+)\s+\+\s+NET\s+(\S+)", _section(text, "PINS"), re.M)}
    nets: dict[str, list[tuple[str, str]]] = {}
    # Each net record runs from "- name" to the ";" that ends it; routing follows "+ ROUTED".
    for m in re.finditer(r"^-\s+(\S+)(.*?);", _section(text, "NETS"), re.M | re.S):
        body = m.group(2).split("+", 1)[0]
        nets[m.group(1)] = re.findall(r"\(\s*(\S+)\s+(\S+)\s*\)", body)
    if not components:
        raise EdaError(f"{source}: no placed COMPONENTS")
    return DefDesign(design.group(1), scale, tuple(float(die.group(i)) / scale for i in range(1, 5)), components, pins, nets)


# --- LEF, tech variables, netlist ports ----------------------------------------------------

def parse_lef_macro_sizes(text: str) -> dict[str, tuple[float, float]]:
    """MACRO name -> (width, height) in um."""
    sizes = {}
    for block in re.split(r"^MACRO\s+", text, flags=re.M)[1:]:
        name = block.split(None, 1)[0]
        size = re.search(rf"^\s*SIZE\s+({_NUMBER})\s+BY\s+({_NUMBER})", block, re.M)
        if size:
            sizes[name] = (float(size.group(1)), float(size.group(2)))
    return sizes


def parse_tech_vars(text: str) -> dict[str, str]:
    """`set name=value` / `set name = "value"` lines of a qflow tech or project .sh file."""
    found = {}
    for m in re.finditer(r'^\s*set\s+(\w+)\s*=\s*(?:"([^"]*)"|([^\s;#]*))', text, re.M):
        found[m.group(1)] = m.group(2) if m.group(2) is not None else m.group(3)
    return found


@dataclass(frozen=True)
class Port:
    name: str
    direction: str  # input | output | inout
    msb: int | None
    lsb: int | None

    def bits(self) -> list[str]:
        if self.msb is None:
            return [self.name]
        step = 1 if self.lsb >= self.msb else -1
        return [f"{self.name}[{i}]" for i in range(self.msb, self.lsb + step, step)]


def parse_netlist_ports(text: str, top: str) -> list[Port]:
    """Ports of module `top` in a Yosys-written gate-level netlist, in header order."""
    module = re.search(rf"^\s*module\s+{re.escape(top)}\s*\((.*?)\)\s*;(.*?)^\s*endmodule", text, re.M | re.S)
    if module is None:
        raise EdaError(f"module {top} not found in the netlist")
    order = [p.strip() for p in module.group(1).split(",") if p.strip()]
    decls = {}
    for m in re.finditer(r"^\s*(input|output|inout)\s+(?:wire\s+)?(?:\[\s*(\d+)\s*:\s*(\d+)\s*\]\s*)?([^;]+);", module.group(2), re.M):
        for name in (n.strip() for n in m.group(4).split(",")):
            msb = int(m.group(2)) if m.group(2) is not None else None
            lsb = int(m.group(3)) if m.group(3) is not None else None
            decls[name] = Port(name, m.group(1), msb, lsb)
    missing = [p for p in order if p not in decls]
    if missing:
        raise EdaError(f"module {top}: no direction declared for port(s) {', '.join(missing)}")
    return [decls[p] for p in order]
