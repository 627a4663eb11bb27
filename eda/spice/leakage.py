"""Leakage current of sky130 standard cells against supply voltage, from ngspice: the leakage law.

Table II scales a MAC's leakage power from the nominal supply to Vmin with its own law,
P_leak(V) = P_leak(Vnom) x (V / Vnom) x I_leak(V) / I_leak(Vnom), instead of the (V / Vnom)^2
of dynamic power. I_leak(V) comes from here: the DC operating point of
sky130_fd_sc_hd__inv_1 (and nand2_1, a cross-check with a transistor stack) in every static
input state, tt models without mismatch (`.lib ... tt`), 25 C, one ngspice process for all
supplies (`alter` + `op` in a `.control` loop).

Circuit: one copy of the cell per (cell, input state), each with its own supply meter, a
0 V source between the common supply and the copy's VPWR/VPB (and any input held high, so
its gate current counts too); inputs held low are tied to ground. The leakage of a cell at V
is the mean over its input states of the current its meter carries (every state equally
likely, the usual assumption for a cell's average leakage). The deck prints one line
`LEAKAGE <vdd> <cell> <state> <current_A>` per meter and supply.

Deck conventions are those of the FO4 Monte Carlo (eda/spice/fo4_deck.py): the same
.spiceinit (num_threads=1, the models' hsa behaviour), absolute model paths, a deck that
can be rerun by hand in its folder (`ngspice -b leakage.sp`). Unlike the FO4 run, ngspice
runs through eda.core.runner.run_tool: one short process (a few seconds), nothing to poll.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from eda.core.errors import EdaError
from eda.core.files import atomic_write_text, sha256_text
from eda.core.platforms import platform_config
from eda.core.runner import run_tool
from eda.spice.fo4_deck import VDD_RANGE_V, spiceinit_text
from eda.spice.fo4_run import Ngspice, find_ngspice
from eda.spice.models import Sky130Models, find_sky130_models

LAW_CELL = "sky130_fd_sc_hd__inv_1"          # the cell whose leakage ratio is the law
CHECK_CELL = "sky130_fd_sc_hd__nand2_1"      # cross-check: two stacked nfets
MODEL_SECTION = "tt"                         # typical corner, no mismatch
TEMP_C = 25.0
NOMINAL_VDD = 1.80
POWER_PINS = ("VGND", "VNB", "VPB", "VPWR")
OUTPUT_PINS = ("Y", "X")
LEAK_MARK = "LEAKAGE"
DECK_NAME = "leakage.sp"
LOG_NAME = "ngspice"  # run_tool writes ngspice.cmd and ngspice.log
TIMEOUT_S = 300.0
# The committed table: vdd, the law cell's leakage and its ratio to nominal, then the cross-check cell's.
TABLE_COLUMNS = ["vdd", "leakage_a", "leakage_ratio"]

_LINE = re.compile(rf"^{LEAK_MARK}\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$", re.M)


def short_name(cell: str) -> str:
    """sky130_fd_sc_hd__nand2_1 -> nand2_1"""
    return cell.split("__", 1)[-1]


@dataclass(frozen=True)
class CellPorts:
    cell: str
    ports: tuple[str, ...]   # the .subckt's port order
    inputs: tuple[str, ...]  # signal inputs (not power, not the output)

    def states(self) -> list[dict[str, int]]:
        return [dict(zip(self.inputs, bits)) for bits in itertools.product((0, 1), repeat=len(self.inputs))]


def cell_ports(models: Sky130Models, cell: str) -> CellPorts:
    """Ports of a cell from its .subckt line; inputs are the ports other than power and the output."""
    path = models.cell_netlist(cell)
    match = re.search(rf"^\.subckt\s+{re.escape(cell)}\s+(.+)$", path.read_text(errors="replace"), re.M | re.I)
    if not match:
        raise EdaError(f"{path}: no .subckt {cell} line")
    ports = tuple(match.group(1).split())
    inputs = tuple(p for p in ports if p not in POWER_PINS and p not in OUTPUT_PINS)
    if not inputs or not any(p in OUTPUT_PINS for p in ports):
        raise EdaError(f"{path}: {cell} has ports {' '.join(ports)}; expected inputs, one output Y or X and {', '.join(POWER_PINS)}")
    return CellPorts(cell, ports, inputs)


def state_label(state: dict[str, int]) -> str:
    return "".join(f"{pin}{bit}" for pin, bit in state.items())


def _meter(cell: CellPorts, state: dict[str, int]) -> str:
    return f"vm_{short_name(cell.cell)}_{state_label(state)}".lower()


def leakage_deck(vdds: list[float], cells: list[CellPorts], models: Sky130Models, temp_c: float = TEMP_C) -> str:
    """The ngspice deck: every (cell, input state) copy, every supply in `vdds`; prints LEAK_MARK lines."""
    if not vdds:
        raise ValueError("no supply voltage given")
    low, high = VDD_RANGE_V
    outside = [v for v in vdds if not low <= v <= high]
    if outside:
        raise ValueError(f"supply voltage(s) {', '.join(f'{v:g}' for v in outside)} V outside {low}-{high} V")
    lines = [
        f"* leakage current of {', '.join(c.cell for c in cells)}: {MODEL_SECTION}, {temp_c:g} C, every static input state",
        "* written by voltscale (eda/spice/leakage.py); run: ngspice -b leakage.sp (from this folder, for .spiceinit)",
        f'.lib "{models.lib_path}" {MODEL_SECTION}',
        *(f'.include "{models.cell_netlist(c.cell)}"' for c in cells),
        f".temp {temp_c:g}",
        f"Vpwr vpwr 0 {vdds[0]:g}",
        "Vgnd vgnd 0 0",
    ]
    echoes = []
    for cell in cells:
        for state in cell.states():
            meter = _meter(cell, state)
            supply = f"p_{meter[3:]}"
            lines.append(f"{meter} vpwr {supply} 0")
            nets = {"VGND": "vgnd", "VNB": "vgnd", "VPB": supply, "VPWR": supply}
            nets.update({pin: supply if bit else "vgnd" for pin, bit in state.items()})
            output = next(p for p in cell.ports if p in OUTPUT_PINS)
            nets[output] = f"out_{meter[3:]}"
            lines.append(f"X{meter[3:]} {' '.join(nets[p] for p in cell.ports)} {cell.cell}")
            echoes.append(f"  echo {LEAK_MARK} $v {short_name(cell.cell)} {state_label(state)} $&{meter}#branch")
    lines += [
        ".control",
        f"foreach v {' '.join(f'{v:g}' for v in vdds)}",
        "  alter Vpwr dc = $v",
        "  op",
        *echoes,
        "  destroy all",
        "end",
        "quit",
        ".endc",
        ".end",
    ]
    return "\n".join(lines) + "\n"


def parse_leakage_log(text: str, vdds: list[float], cells: list[CellPorts]) -> pd.DataFrame:
    """One row per (vdd, cell, state) with current_a; every expected line must be there, once, and finite."""
    rows = []
    for match in _LINE.finditer(text):
        try:
            vdd, current = float(match.group(1)), float(match.group(4))
        except ValueError:
            raise EdaError(f"ngspice log: unreadable leakage line {match.group(0)!r}") from None
        rows.append({"vdd": round(vdd, 6), "cell": match.group(2), "state": match.group(3), "current_a": current})
    table = pd.DataFrame(rows, columns=["vdd", "cell", "state", "current_a"])
    expected = {(round(v, 6), short_name(c.cell), state_label(s)) for v in vdds for c in cells for s in c.states()}
    got = list(zip(table["vdd"], table["cell"], table["state"]))
    missing = sorted(expected - set(got))
    if missing:
        errors = [line for line in text.splitlines() if re.search(r"\berror\b", line, re.I)][:3]
        raise EdaError(f"ngspice log: {len(missing)} leakage value(s) missing, the first {missing[0]}"
                       + (f"; ngspice said: {' / '.join(errors)}" if errors else ""))
    if len(got) != len(set(got)):
        raise EdaError("ngspice log: a leakage value is printed more than once (was the log appended to?)")
    bad = table[~table["current_a"].map(math.isfinite) | (table["current_a"] <= 0)]
    if not bad.empty:
        raise EdaError(f"ngspice log: non-positive leakage current {bad.iloc[0].to_dict()}: the meter should carry "
                       "current from the supply into the cell")
    return table


def leakage_table(points: pd.DataFrame, nominal_vdd: float = NOMINAL_VDD, law_cell: str = LAW_CELL,
                  check_cells: tuple[str, ...] = (CHECK_CELL,)) -> pd.DataFrame:
    """vdd, leakage_a and leakage_ratio (the law cell, mean over input states), then per cross-check cell
    <cell>_leakage_a and <cell>_ratio; ascending vdd. The nominal supply must be among the points."""
    per_cell = points.groupby(["vdd", "cell"])["current_a"].mean().unstack("cell")
    nominal = round(nominal_vdd, 6)
    if nominal not in per_cell.index:
        raise EdaError(f"the leakage points do not include the nominal supply {nominal_vdd:g} V")
    law = short_name(law_cell)
    table = pd.DataFrame({"vdd": per_cell.index, "leakage_a": per_cell[law].to_numpy(),
                          "leakage_ratio": (per_cell[law] / per_cell.loc[nominal, law]).to_numpy()})
    for cell in check_cells:
        name = short_name(cell)
        if name in per_cell.columns:
            table[f"{name}_leakage_a"] = per_cell[name].to_numpy()
            table[f"{name}_ratio"] = (per_cell[name] / per_cell.loc[nominal, name]).to_numpy()
    return table.sort_values("vdd").reset_index(drop=True)


@dataclass
class LeakageResult:
    table: pd.DataFrame          # leakage_table()
    points: pd.DataFrame         # every (vdd, cell, state) current
    run_dir: Path
    ngspice: Ngspice
    models: Sky130Models
    model_sha256: dict[str, str] = field(default_factory=dict)
    cells: tuple[str, ...] = ()
    deck_sha256: str = ""


def run_leakage(vdds: list[float], work_dir: Path | None = None, *, cells: tuple[str, ...] = (LAW_CELL, CHECK_CELL),
                nominal_vdd: float = NOMINAL_VDD, timeout_s: float = TIMEOUT_S) -> LeakageResult:
    """Leakage current per supply (nominal added if missing) in one ngspice run in `work_dir` (kept) or a temp folder."""
    vdds = sorted({round(float(v), 3) for v in list(vdds) + [nominal_vdd]})
    if LAW_CELL not in cells:
        raise EdaError(f"the leakage law needs {LAW_CELL} among the cells")
    models = find_sky130_models(tuple(cells))
    ngspice = find_ngspice()
    ports = [cell_ports(models, c) for c in cells]
    try:
        deck = leakage_deck(vdds, ports, models)
    except ValueError as exc:
        raise EdaError(str(exc)) from None
    if work_dir is None:
        with tempfile.TemporaryDirectory(prefix="voltscale-leakage-") as folder:
            return _run_in(Path(folder), deck, vdds, ports, nominal_vdd, models, ngspice, timeout_s)
    return _run_in(Path(work_dir), deck, vdds, ports, nominal_vdd, models, ngspice, timeout_s)


def _run_in(folder: Path, deck: str, vdds: list[float], ports: list[CellPorts], nominal_vdd: float, models: Sky130Models,
            ngspice: Ngspice, timeout_s: float) -> LeakageResult:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / DECK_NAME, deck)
    atomic_write_text(folder / ".spiceinit", spiceinit_text())
    run = run_tool([ngspice.path, "-b", DECK_NAME], cwd=folder, name=LOG_NAME, timeout_s=timeout_s)
    points = parse_leakage_log(run.log_text(), vdds, ports)
    cells = tuple(c.cell for c in ports)
    return LeakageResult(leakage_table(points, nominal_vdd, LAW_CELL, tuple(c for c in cells if c != LAW_CELL)), points,
                         folder, ngspice, models, models.fingerprint(MODEL_SECTION, list(cells)), cells, sha256_text(deck))


# --------------------------------------------------------------------------- the committed table


def load_leakage_table(path: Path | str) -> pd.DataFrame:
    """Read and check a leakage table: vdd, leakage_a, leakage_ratio (extra columns kept); ascending vdd.

    Every value must be a positive finite number, vdd must not repeat, and leakage_ratio must be 1
    at exactly one supply (the nominal one the ratios are relative to).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise EdaError(f"cannot read the leakage table {path}: {exc.strerror or exc}") from None
    header = next(csv.reader(io.StringIO(text)), [])
    missing = [c for c in TABLE_COLUMNS if c not in [h.strip() for h in header]]
    if missing:
        raise EdaError(f"{path}: missing column(s) {', '.join(missing)} (needed: {', '.join(TABLE_COLUMNS)})")
    try:
        table = pd.read_csv(io.StringIO(text), skipinitialspace=True)
        values = table[TABLE_COLUMNS].astype(float)
    except (ValueError, pd.errors.ParserError) as exc:
        raise EdaError(f"{path}: not a table of numbers: {exc}") from None
    if values.empty:
        raise EdaError(f"{path}: no data rows under the header")
    for column in TABLE_COLUMNS:
        bad = values[~(values[column].map(math.isfinite) & (values[column] > 0))]
        if not bad.empty:
            raise EdaError(f"{path}, line {int(bad.index[0]) + 2}, column {column!r}: {bad[column].iloc[0]!r} must be a "
                           "positive number")
    if values["vdd"].round(6).duplicated().any():
        raise EdaError(f"{path}: vdd {values.loc[values['vdd'].round(6).duplicated(), 'vdd'].iloc[0]:g} V repeats")
    if (values["leakage_ratio"].sub(1.0).abs() < 1e-9).sum() != 1:
        raise EdaError(f"{path}: leakage_ratio must be 1 at exactly one supply (the nominal one)")
    table[TABLE_COLUMNS] = values
    return table.sort_values("vdd").reset_index(drop=True)


def platform_leakage_table(platform_name: str) -> Path | None:
    """The platform's leakage table (platform.toml `leakage_table`), or None if it sets none."""
    raw, config_path = platform_config(platform_name)
    name = raw.get("leakage_table")
    if name is None:
        return None
    path = config_path.parent / name
    if not path.is_file():
        raise EdaError(f"{config_path}: leakage_table {name!r} does not exist ({path}); regenerate it with `eda leakage`")
    return path


def default_leakage_path(platform_name: str) -> Path:
    """Where `eda leakage` writes the platform's table: its leakage_table, else leakage_tt_025C.csv beside platform.toml."""
    raw, config_path = platform_config(platform_name)
    return config_path.parent / raw.get("leakage_table", "leakage_tt_025C.csv")


def manifest(result: LeakageResult, command: list[str], runtime_s: float) -> dict:
    from eda import __version__

    return {
        "tool": {"name": "voltscale", "version": __version__}, "command": command, "runtime_s": round(runtime_s, 2),
        "ngspice": {"path": result.ngspice.path, "version": result.ngspice.version},
        "circuit": {"cells": list(result.cells), "law_cell": LAW_CELL, "model_section": MODEL_SECTION, "temp_c": TEMP_C,
                    "states": "every static input state, averaged with equal weight",
                    "meter": "0 V source between the supply and the cell's VPWR, VPB and any input held high"},
        "law": "P_leak(V) = P_leak(Vnom) * (V / Vnom) * leakage_ratio(V), leakage_ratio = I_leak(V) / I_leak(Vnom) of "
               f"{short_name(LAW_CELL)}, interpolated in log(I) between table supplies",
        "deck_sha256": result.deck_sha256,
        "models": {"root": str(result.models.root), "sha256": result.model_sha256},
        "points": json.loads(result.points.to_json(orient="records")),
    }
