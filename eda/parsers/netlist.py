"""Gate-level netlist reading (pyverilog): which net each register's output pin drives."""

from __future__ import annotations

import tempfile
from pathlib import Path
from eda.core.errors import EdaError


OUTPUT_PINS = ("Q",)


def register_output_nets(netlist: Path) -> dict[str, str]:
    """Instance name -> the net its output pin (Q) drives, for every cell in a gate-level netlist."""
    from pyverilog.vparser import ast
    from pyverilog.vparser.parser import parse

    with tempfile.TemporaryDirectory() as tmp:  # pyverilog writes parser tables to the cwd
        try:
            tree, _ = parse([str(netlist)], outputdir=tmp, debug=False)
        except Exception as exc:
            raise EdaError(f"cannot parse netlist {netlist}: {exc}") from None
    nets: dict[str, str] = {}
    for module in tree.description.definitions:
        for item in getattr(module, "items", ()):
            if not isinstance(item, ast.InstanceList):
                continue
            for instance in item.instances:
                for port in instance.portlist:
                    if port.portname in OUTPUT_PINS and port.argname is not None:
                        nets[instance.name] = net_text(port.argname)
    return nets


def net_text(node) -> str:
    from pyverilog.vparser import ast

    if isinstance(node, ast.Pointer):
        return f"{net_text(node.var)}[{node.ptr.value}]"
    if isinstance(node, ast.Identifier):
        return node.name
    return str(node)
