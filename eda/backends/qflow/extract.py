"""Post-route netlist and parasitics from qflow's routed DEF and qrouter's RC trees.

Pure converters (parsed data in, text out):

* `def_to_verilog`: the routed DEF's cells and nets as a flat gate-level Verilog netlist,
  so STA sees exactly what was placed and routed (fill and spacer cells, which are not in
  the liberty or have no connections, are left out). Internal nets get plain names
  (`qn_<k>`); nets on ports take the port bit's name. Netlist and SPEF share these names.
* `rc_to_spef`: qrouter's RC trees (`write_delays`, R from RPERSQ, C from CPERSQDIST and
  EDGECAPACITANCE of the LEF; no coupling capacitance) as IEEE 1481 SPEF. Each routed
  segment becomes a resistor with half its capacitance to ground at either end (pi
  model). OpenSTA 2.0.17 reads it with `read_spef`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from eda.core.errors import EdaError
from eda.parsers.qflow import DefDesign, Port, RcNet

_SIMPLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MIN_RES_OHM = 1e-3  # zero-length segments (stacked vias) get this, so that every node stays distinct


@dataclass(frozen=True)
class NameMap:
    nets: dict[str, str]  # DEF net -> netlist/SPEF net
    instances: dict[str, str]  # DEF component -> netlist/SPEF instance
    port_bits: dict[str, str]  # port bit -> direction (input/output/inout)


def _sanitize(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return cleaned if _SIMPLE.match(cleaned) else f"i_{cleaned}"


def build_name_map(design: DefDesign, ports: list[Port], cells: set[str]) -> NameMap:
    port_bits = {bit: p.direction for p in ports for bit in p.bits()}
    missing = [b for b in port_bits if b not in design.pins]
    if missing:
        raise EdaError(f"DEF {design.name}: port(s) {', '.join(missing[:5])} have no pin in the layout")
    nets: dict[str, str] = {}
    for k, (net, conns) in enumerate(sorted(design.nets.items())):
        on_ports = [pin for inst, pin in conns if inst == "PIN" and pin in port_bits]
        if len(on_ports) > 1:
            raise EdaError(f"DEF {design.name}: net {net} connects ports {', '.join(on_ports)} directly; not supported")
        nets[net] = on_ports[0] if on_ports else f"qn_{k}"
    instances: dict[str, str] = {}
    used: set[str] = set(port_bits) | {p.name for p in ports}
    for name, comp in sorted(design.components.items()):
        if comp.macro not in cells:
            continue
        new = name if _SIMPLE.match(name) else _sanitize(name)
        while new in used:
            new += "_"
        used.add(new)
        instances[name] = new
    return NameMap(nets, instances, port_bits)


def def_to_verilog(design: DefDesign, top: str, ports: list[Port], names: NameMap) -> str:
    pins_of: dict[str, list[tuple[str, str]]] = {}
    for net, conns in design.nets.items():
        for inst, pin in conns:
            if inst != "PIN" and inst in names.instances:
                pins_of.setdefault(inst, []).append((pin, names.nets[net]))
    lines = [f"// post-route netlist of {top}, written by voltscale from qflow's routed DEF", f"module {top} ({', '.join(p.name for p in ports)});"]
    for p in ports:
        width = f"[{p.msb}:{p.lsb}] " if p.msb is not None else ""
        lines.append(f"  {p.direction} {width}{p.name};")
    for new in sorted({v for v in names.nets.values() if v.startswith("qn_")}, key=lambda n: int(n[3:])):
        lines.append(f"  wire {new};")
    for old, new in sorted(names.instances.items(), key=lambda kv: kv[1]):
        conns = ", ".join(f".{pin}({net})" for pin, net in sorted(pins_of.get(old, [])))
        lines.append(f"  {design.components[old].macro} {new} ({conns});")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class SpefSummary:
    nets: int  # D_NETs written
    wire_cap_pf: float
    wire_res_ohm: float
    incomplete_nets: tuple[str, ...]  # fewer terminals in the RC tree than qrouter's sink count
    skipped_nets: tuple[str, ...]  # RC records for nets not in the netlist (e.g. on fill cells)


def _spef_node(terminal: str, names: NameMap) -> tuple[str, str] | None:
    """SPEF node name and kind ('P' port, 'I' instance pin) of a qrouter terminal."""
    owner, _, pin = terminal.rpartition("/")
    if owner == "PIN":
        return (pin, "P") if pin in names.port_bits else None
    if owner in names.instances:
        return f"{names.instances[owner]}:{pin}", "I"
    return None


def rc_to_spef(rc_nets: dict[str, RcNet], design_name: str, ports: list[Port], names: NameMap) -> tuple[str, SpefSummary]:
    out = [
        '*SPEF "IEEE 1481-1998"',
        f'*DESIGN "{design_name}"',
        '*DATE "n/a"',
        '*VENDOR "voltscale"',
        '*PROGRAM "voltscale eda.qflow from qrouter write_delays"',
        '*VERSION "1"',
        '*DESIGN_FLOW "PIN_CAP NONE" "NAME_SCOPE LOCAL"',
        "*DIVIDER /",
        "*DELIMITER :",
        "*BUS_DELIMITER [ ]",
        "*T_UNIT 1 NS",
        "*C_UNIT 1 PF",
        "*R_UNIT 1 OHM",
        "*L_UNIT 1 HENRY",
        "",
        "*PORTS",
    ]
    direction = {"input": "I", "output": "O", "inout": "B"}
    out += [f"{bit} {direction[d]}" for bit, d in names.port_bits.items()]
    total_c = total_r = 0.0
    written, incomplete, skipped = 0, [], []
    for net_name, rc in sorted(rc_nets.items()):
        net = names.nets.get(net_name)
        driver = _spef_node(rc.driver, names)
        if net is None or driver is None:
            skipped.append(net_name)
            continue
        caps: dict[str, float] = {}
        conns: dict[str, tuple[str, str]] = {driver[0]: (driver[1], "O" if driver[1] == "I" else "I")}
        resistors: list[tuple[str, str, float]] = []
        counter = 0
        stack = [(rc.root, driver[0])]
        while stack:
            seg, start = stack.pop()
            node = _spef_node(seg.terminal, names) if seg.terminal else None
            if node is not None:
                end = node[0]
                # A port reached by a route is the net's output; an instance pin, a load.
                conns.setdefault(end, (node[1], "O" if node[1] == "P" else "I"))
            else:
                counter += 1
                end = f"{net}:{counter}"
            resistors.append((start, end, max(seg.res_ohm, MIN_RES_OHM)))
            caps[start] = caps.get(start, 0.0) + seg.cap_pf / 2
            caps[end] = caps.get(end, 0.0) + seg.cap_pf / 2
            stack.extend((child, end) for child in reversed(seg.children))
        if len(conns) - 1 < rc.sinks:
            incomplete.append(net_name)
        net_c = sum(caps.values())
        total_c += net_c
        total_r += sum(r for *_, r in resistors)
        written += 1
        out += ["", f"*D_NET {net} {net_c:.6g}", "*CONN"]
        out += [f"*{kind} {node} {io}" for node, (kind, io) in conns.items()]
        out.append("*CAP")
        out += [f"{i} {node} {c:.6g}" for i, (node, c) in enumerate(caps.items(), 1)]
        out.append("*RES")
        out += [f"{i} {a} {b} {r:.6g}" for i, (a, b, r) in enumerate(resistors, 1)]
        out.append("*END")
    return "\n".join(out) + "\n", SpefSummary(written, total_c, total_r, tuple(incomplete), tuple(skipped))


def cell_area_um2(design: DefDesign, names: NameMap, macro_sizes: dict[str, tuple[float, float]]) -> float:
    """Sum of the LEF footprints of the netlist's cells (fill and spacers excluded)."""
    missing = sorted({design.components[i].macro for i in names.instances if design.components[i].macro not in macro_sizes})
    if missing:
        raise EdaError(f"no LEF MACRO SIZE for cell(s) {', '.join(missing)}")
    return sum(macro_sizes[design.components[i].macro][0] * macro_sizes[design.components[i].macro][1] for i in names.instances)
