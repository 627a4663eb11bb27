"""Designs to characterize: our MAC templates, or a user's Verilog (ports read with pyverilog)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from eda.core.errors import EdaError
from eda.core.script_words import is_verilog_identifier, verilog_identifier, yosys_word
from eda.designs.mac import MacParams, mac_module_targets, mac_ports, render_mac, template_environment



@dataclass(frozen=True)
class Design:
    """RTL to characterize: source texts by file name, the top module and its port names."""

    kind: str  # a MAC kind, or a user label for --verilog designs
    top: str
    sources: dict[str, str]
    ports: frozenset[str]
    split_nets: bool = False  # see flow/synth.py SPLIT_NETS: for flattened hierarchies (array tiles)
    user_rtl: bool = False  # a user's --verilog design: see flow/synth.py SIMPLE_LHS and USER_RTL_PORTS
    static_inputs: frozenset[str] = frozenset()  # ports at activity 0 in the power analysis (see sta_script)
    # (module, fraction of the delay target): modules synthesized at their own target (flow/synth.py)
    module_targets: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Variant:
    design: Design
    target_ps: int

    @property
    def name(self) -> str:
        return f"{self.design.kind}-D{self.target_ps}"


@dataclass(frozen=True)
class Port:
    name: str
    direction: str  # input | output | inout
    width: int


def mac_design(params: MacParams) -> Design:
    ports = frozenset(port.name for port in mac_ports(params))
    return Design(params.kind, params.module, {f"{params.module}.v": render_mac(params)}, ports,
                  module_targets=mac_module_targets(params))


def _const(node, path: Path) -> int:
    from pyverilog.vparser import ast

    if isinstance(node, ast.IntConst):
        text = node.value.replace("_", "")
        if "'" in text:
            base = text.split("'")[1][0].lower()
            digits = text.split("'")[1][1:]
            return int(digits, {"d": 10, "h": 16, "b": 2, "o": 8}[base])
        return int(text)
    if isinstance(node, (ast.Minus, ast.Plus, ast.Times)):
        left, right = _const(node.left, path), _const(node.right, path)
        return {ast.Minus: left - right, ast.Plus: left + right, ast.Times: left * right}[type(node)]
    raise EdaError(f"{path}: port width uses {type(node).__name__}; only constant widths are supported for --register-io")


def read_ports(sources: list[Path], top: str) -> list[Port]:
    """Port list of module `top` in the given files, parsed with pyverilog."""
    from pyverilog.vparser import ast
    from pyverilog.vparser.parser import parse

    with tempfile.TemporaryDirectory() as tmp:  # pyverilog writes parser tables to the cwd
        try:
            tree, _ = parse([str(s) for s in sources], outputdir=tmp, debug=False)
        except Exception as exc:  # pyverilog raises ParseError and plain Exceptions with line numbers
            raise EdaError(f"cannot parse {', '.join(map(str, sources))}: {exc}") from None
    modules = [d for d in tree.description.definitions if isinstance(d, ast.ModuleDef)]
    module = next((m for m in modules if m.name == top), None)
    if module is None:
        found = ", ".join(m.name for m in modules) or "none"
        raise EdaError(f"module {top!r} not found in {', '.join(map(str, sources))} (modules there: {found})")
    ports: list[Port] = []
    declarations = {}
    for item in module.items:
        if isinstance(item, ast.Decl):
            for decl in item.list:
                if isinstance(decl, (ast.Input, ast.Output, ast.Inout)):
                    declarations[decl.name] = decl
    for port in module.portlist.ports:
        decl = port.first if isinstance(port, ast.Ioport) else declarations.get(getattr(port, "name", None))
        if decl is None:
            raise EdaError(f"module {top}: cannot find the direction of port {port}")
        width = 1
        if decl.width is not None:
            width = abs(_const(decl.width.msb, sources[0]) - _const(decl.width.lsb, sources[0])) + 1
        direction = {ast.Input: "input", ast.Output: "output", ast.Inout: "inout"}[type(decl)]
        ports.append(Port(decl.name, direction, width))
    return ports


def user_design(sources: list[Path], top: str, clock: str = "clk", register_io: bool = False, label: str | None = None) -> Design:
    # Both names reach yosys, Tcl and (with register_io) generated Verilog: plain identifiers only.
    verilog_identifier(top, "--top")
    verilog_identifier(clock, "--clock")
    for source in sources:
        # pyverilog's preprocessor (iverilog -E) reads file names one per line; yosys gets the file name.
        if any(ch in str(source) for ch in "\n\r"):
            raise EdaError(f"Verilog file {str(source)!r} has a line break in its path; rename it")
        yosys_word(source.name, "Verilog file")
        if not source.is_file():
            raise EdaError(f"Verilog file {source} does not exist")
    ports = read_ports(sources, top)
    names = {p.name for p in ports}
    texts = {s.name: s.read_text() for s in sources}
    if len(texts) != len(sources):
        raise EdaError("two --verilog files share a file name; rename one")
    if not register_io:
        if clock not in names:
            raise EdaError(f"module {top} has no clock port {clock!r} (ports: {', '.join(sorted(names))}); "
                           "pass --clock NAME, or --register-io to wrap a combinational design in registers")
        return Design(label or top, top, texts, frozenset(names), split_nets=True, user_rtl=True)
    inout = [p.name for p in ports if p.direction == "inout"]
    if inout:
        raise EdaError(f"module {top}: inout ports ({', '.join(inout)}) cannot be registered")
    data_ports = [p for p in ports if p.name != clock]
    # The wrapper (rtl/register_io.v.j2) names its registers <port>_q: an escaped port name
    # (\a+b, which ends at whitespace) cannot take a suffix, so it is refused rather than mangled.
    escaped = [p.name for p in data_ports if not is_verilog_identifier(p.name)]
    if escaped:
        raise EdaError(f"module {top}: --register-io cannot wrap port(s) with escaped names ({', '.join(escaped)}); "
                       "rename them to plain identifiers, or register the design yourself and drop --register-io")
    wrapper = f"{top}_regio"
    text = template_environment().get_template("register_io.v.j2").render(
        top=top, wrapper=wrapper, clock=clock, ports=data_ports, has_clock=clock in names)
    return Design(label or top, wrapper, {**texts, f"{wrapper}.v": text}, frozenset({clock, *(p.name for p in data_ports)}),
                  split_nets=True, user_rtl=True)
