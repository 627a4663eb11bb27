"""The files of `eda export`: a SCALE-Sim topology CSV and .cfg, an Accelergy ERT YAML, and the manifest
naming every source file with its sha256. Texts are built in full before anything is written; each file is
written atomically, the manifest last."""

from __future__ import annotations

import json
import time
from pathlib import Path

from eda import __version__
from eda.core.files import atomic_write_text, sha256_text
from eda.method.exports import (
    ERT_VERSION,
    PJ_PER_W_NS,
    SCALESIM_DATAFLOW,
    TOPOLOGY_COLUMNS,
    ErtTable,
    TopologyLayer,
)

TOPOLOGY_FILE = "scalesim_topology.csv"
CONFIG_FILE = "scalesim.cfg"
ERT_FILE = "ERT.yaml"
MANIFEST_FILE = "manifest.json"


def topology_text(layers: list[TopologyLayer]) -> str:
    """SCALE-Sim's convolution topology format: a header line, then one row per layer, each ending in a comma
    (SCALE-Sim drops the last field of every line); one stride for both directions."""
    lines = [", ".join(TOPOLOGY_COLUMNS) + ","]
    lines += [", ".join(str(value) for value in layer.row()) + "," for layer in layers]
    return "\n".join(lines) + "\n"


def config_text(sections: dict[str, dict[str, object]], comments: list[str]) -> str:
    lines = [f"# {line}" if line else "#" for line in comments]
    for section, values in sections.items():
        lines += ["", f"[{section}]"] + [f"{key} : {value}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _yaml_string(text) -> str:
    return json.dumps(str(text))  # a JSON string is a YAML double-quoted scalar


def _yaml_float(value: float) -> str:
    """repr, with a '.' in the mantissa: YAML 1.1 readers (PyYAML) take 1e-05 for a string, 1.0e-05 for a float."""
    text = repr(float(value))
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"
    return text


def ert_text(tables: list[ErtTable], report_dir: str, source: str) -> str:
    header = [
        f"Accelergy energy reference table (ERT, version {ERT_VERSION} layout) of the MAC variants of the voltscale",
        f"run {report_dir}, written by `eda export` (voltscale {__version__}). Energies in pJ.",
        "",
        "One table per MAC kind and characterized size (delay target, table name mac_<kind>_D<target_ps>), one",
        "action per liberty corner of the run, the corner's supply voltage, temperature and name as its arguments:",
        f"  mac_random: energy of one MAC operation = power / f_clk = power_w [W] x power_clock_ns [ns] x {PJ_PER_W_NS:g}",
        "      power_w: OpenSTA report_power of the MAC (internal + switching + leakage) at that corner's liberty,",
        "      every data input toggling input_activity times per cycle (random operands), at the clock",
        "      power_clock_ns the power was computed at (one MAC operation per cycle);",
        f"  leak: leakage energy of one such cycle = power_leakage_w [W] x power_clock_ns [ns] x {PJ_PER_W_NS:g}.",
        f"Columns of {source}; the comment above each action names the line it came from (line 1 is the",
        "header). The sha256 of the source files is in manifest.json beside this file.",
    ]
    lines = [f"# {line}" if line else "#" for line in header]
    lines += ["ERT:", f"  version: {_yaml_string(ERT_VERSION)}", "  tables:"]
    if not tables:
        lines[-1] = "  tables: []"
    for table in tables:
        lines += [f"  - name: {_yaml_string(table.name)}", "    actions:"]
        for action in table.actions:
            lines.append(f"    # {_one_line(source)} line {action.source_line}: {_one_line(table.kind)} "
                         f"target_ps {_one_line(table.target_ps)}, corner {_one_line(action.corner)}, "
                         f"run_dir {_one_line(action.run_dir)}; {action.power_column} {action.power_w!r} W x "
                         f"power_clock_ns {action.clock_ns!r} ns")
            lines += [f"    - name: {action.name}",
                      "      arguments:",
                      f"        vdd: {_yaml_float(action.vdd)}",
                      f"        temp_c: {_yaml_float(action.temp_c)}",
                      f"        corner: {_yaml_string(action.corner)}",
                      f"      energy: {_yaml_float(action.energy_pj)}"]
    return "\n".join(lines) + "\n"


def write_exports(out_dir: Path, texts: dict[str, str], sources: dict[str, dict], meta: dict, command: list[str]) -> dict[str, Path]:
    """Write the export files (name -> text), then manifest.json naming every source (label -> path, sha256) and
    the sha256 of every output."""
    out_dir = Path(out_dir)
    written = {}
    for name, text in texts.items():
        atomic_write_text(out_dir / name, text)
        written[name] = out_dir / name
    manifest = {
        "tool": {"name": "voltscale", "version": __version__},
        "command": list(command),
        "created_unix": int(time.time()),
        **meta,
        "sources": sources,
        "outputs": {name: {"sha256": sha256_text(text)} for name, text in texts.items()},
        "scalesim_dataflow": SCALESIM_DATAFLOW,
    }
    atomic_write_text(out_dir / MANIFEST_FILE, json.dumps(manifest, indent=1) + "\n")
    written[MANIFEST_FILE] = out_dir / MANIFEST_FILE
    return written
