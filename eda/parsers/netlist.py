"""Gate-level netlist reading (pyverilog): which net each register's output pin drives."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from eda.core.errors import EdaError


OUTPUT_PINS = ("Q",)
# Bump when what register_output_nets returns changes: remembered results are keyed by it.
NETS_FORMAT = "nets-1"
_MEMO: dict[str, dict[str, str]] = {}
_MEMO_LOCK = threading.Lock()


def _memo_key(netlist: Path) -> str:
    from eda.parsers.verilog import package_version

    digest = hashlib.sha256(f"{NETS_FORMAT}\0{OUTPUT_PINS}\0{package_version('pyverilog')}\0".encode())
    digest.update(Path(netlist).read_bytes())
    return digest.hexdigest()[:32]


def register_output_nets(netlist: Path, cache_dir: Path | None = None) -> dict[str, str]:
    """Instance name -> the net its output pin (Q) drives, for every cell in a gate-level netlist.

    A netlist is parsed once: the result is remembered by the netlist's content (in this process,
    and under <cache_dir>/netlist-nets/ when a cache folder is given)."""
    try:
        key = _memo_key(netlist)
    except OSError as exc:
        raise EdaError(f"cannot read netlist {netlist}: {exc.strerror or exc}") from None
    with _MEMO_LOCK:
        if key in _MEMO:
            return dict(_MEMO[key])
    stored = Path(cache_dir) / "netlist-nets" / f"{key}.json" if cache_dir is not None else None
    nets = None
    if stored is not None and stored.is_file():
        try:
            nets = json.loads(stored.read_text())
        except (OSError, ValueError):
            nets = None
    if not isinstance(nets, dict):
        nets = _parse_nets(netlist, cache_dir)
        if stored is not None:
            from eda.core.files import atomic_write_text

            atomic_write_text(stored, json.dumps(nets))  # in the order of the netlist
    with _MEMO_LOCK:
        _MEMO[key] = dict(nets)
    return nets


def _parse_nets(netlist: Path, cache_dir: Path | None) -> dict[str, str]:
    from pyverilog.vparser import ast

    from eda.parsers.verilog import parse_verilog

    try:
        tree = parse_verilog([Path(netlist)], cache_dir)
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
