"""Independent check of the internal power OpenSTA reports.

OpenSTA 2.0.17 (Debian) silently reports zero internal power when a liberty file names
its default operating conditions before defining them (sky130hd does); the project runs
OpenSTA on a normalized copy instead.  This module recomputes internal power from the
liberty tables, with the slews, loads and switching activities OpenSTA itself computed,
so the number OpenSTA reports for the normalized library can be trusted (or not).

The recomputation follows `Power::findInternalPower` of OpenSTA 2.0.17
(search/Power.cc, late 2019):

* every pin of an instance is visited; each liberty `internal_power` group of that pin
  contributes `E * duty * density(pin)`, where `density` is the pin's transitions per
  second and `E` is the *sum* of the rise and fall table energies (2.0.17 sums them,
  later OpenSTA versions average them);
* a group with a `related_pin` looks its table up at the related pin's slew (same
  transition direction, 2.0.17 ignores unateness) and at the output pin's load; a group
  without one (input pins, e.g. a flop's clock) uses the pin's own slew and zero load;
* `duty` weights the arcs into one output: the `when` condition's probability, or the
  probability that the related input is the one toggling the output (OpenSTA's
  "inferred when", scaled by the input/output density ratio), 1.0 for arcs from clock
  pins and 0.5 otherwise;
* tables are inter/extrapolated (bi)linearly, as OpenSTA's table models do;
* a group counts only if its supply voltage is non-zero (or it is a conditional group of
  an incomplete `when` set): the rule that zeroes every group in the raw sky130 library,
  where OpenSTA cannot resolve the default operating conditions and so takes 0 V.  Here
  the default operating conditions are resolved wherever they are defined.

Inputs taken from OpenSTA (parsed from its output): per-pin rise/fall slews, per-net load
capacitance, whether a pin is in the clock network, and per-pin activity and duty from
OpenSTA's own activity propagation (its `power_activity` debug trace: 2.0.17 has no other
way to read them).  The tables, units, conditions, duty weights and the sum are ours.
"""

from __future__ import annotations

import gzip
import math
import re
import shlex
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from liberty.parser import parse_liberty
from liberty.types import EscapedString, WithUnit

from .errors import EdaError
from .runner import ToolRun, find_tool, run_tool

# --------------------------------------------------------------------------------------
# Liberty text: pre-filtering to the cells a netlist uses
# --------------------------------------------------------------------------------------

# A cell group header at the start of a line: `cell (NAME) {` or `cell ("NAME") {`.
_CELL_HEADER_RE = re.compile(r'^[ \t]*cell[ \t]*\([ \t]*"?([^")\s]+)"?[ \t]*\)[ \t]*\{', re.MULTILINE)
# What matters when matching braces: comments and strings may hold stray braces.
_BRACE_TOKEN_RE = re.compile(r'/\*.*?\*/|"(?:[^"\\]|\\.)*"|[{}]', re.DOTALL)


def read_liberty_text(liberty_path: Path | str) -> str:
    """Text of a .lib or .lib.gz file."""
    path = Path(liberty_path)
    if not path.is_file():
        raise EdaError(f"liberty file {path} does not exist")
    if path.suffix == ".gz":
        with gzip.open(path, "rt", errors="replace") as handle:
            return handle.read()
    return path.read_text(errors="replace")


def _group_end(text: str, open_brace_pos: int) -> int:
    """Index just past the `}` closing the group whose `{` is at `open_brace_pos`."""
    depth = 0
    for token in _BRACE_TOKEN_RE.finditer(text, open_brace_pos):
        if token.group() == "{":
            depth += 1
        elif token.group() == "}":
            depth -= 1
            if depth == 0:
                return token.end()
    raise EdaError(f"unbalanced braces in liberty text after offset {open_brace_pos}")


def liberty_cell_names(liberty_text: str) -> list[str]:
    """Names of the cell groups in a liberty text, in file order."""
    return [match.group(1) for match in _CELL_HEADER_RE.finditer(liberty_text)]


def filter_liberty_cells(liberty_text: str, keep: Collection[str] | Callable[[str], bool]) -> str:
    """The library with only the cells in `keep` (a set of names or a predicate).

    Parsing a whole library with liberty-parser takes seconds (sky130hd: ~5 s); a netlist
    uses a few dozen of its hundreds of cells, so cutting the text first is much faster.
    Everything before the first cell (units, templates, operating conditions, voltage
    maps) and after the last one (the library's closing brace) is kept verbatim.
    """
    wanted = keep if callable(keep) else (lambda name, names=frozenset(keep): name in names)
    headers = list(_CELL_HEADER_RE.finditer(liberty_text))
    if not headers:
        return liberty_text
    pieces = [liberty_text[: headers[0].start()]]
    cell_end = headers[0].start()
    for header in headers:
        cell_end = _group_end(liberty_text, header.end() - 1)
        if wanted(header.group(1)):
            pieces.append(liberty_text[header.start() : cell_end] + "\n")
    pieces.append(liberty_text[cell_end:])
    return "".join(pieces)


# --------------------------------------------------------------------------------------
# Liberty boolean functions, parsed the way OpenSTA parses them
# --------------------------------------------------------------------------------------

# An expression is a nested tuple: ("port", name), ("not", e), ("and"|"or"|"xor", a, b),
# ("one",), ("zero",).  Binary nodes are left-associative like OpenSTA's FuncExpr trees,
# which matters for `infer_when`: it only looks at the top-level operands.
Expr = tuple

_EXPR_TOKEN_RE = re.compile(r"\s*(?:([A-Za-z_][\w.\[\]]*)|([01])|(.))")


def parse_function(text: str) -> Expr:
    """Parse a liberty `function`/`when` string.

    Precedence as in OpenSTA's LibExprParse.yy: `+ |` (or) < `* &` (and) < `^` (xor) <
    juxtaposition (implicit and) < prefix `!` and postfix `'` (not).
    """
    tokens: list[tuple[str, str]] = []
    for match in _EXPR_TOKEN_RE.finditer(text.strip()):
        name, constant, symbol = match.groups()
        if name:
            tokens.append(("port", name))
        elif constant:
            tokens.append(("const", constant))
        elif symbol and not symbol.isspace():
            tokens.append(("op", symbol))
    position = 0

    def peek() -> tuple[str, str] | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal position
        if position >= len(tokens):
            raise EdaError(f"liberty function {text!r} ends unexpectedly")
        position += 1
        return tokens[position - 1]

    def starts_terminal(token: tuple[str, str] | None) -> bool:
        return token is not None and (token[0] in ("port", "const") or token[1] in ("(", "!"))

    def terminal() -> Expr:
        kind, value = take()
        if kind == "port":
            expr: Expr = ("port", value)
        elif kind == "const":
            expr = ("one",) if value == "1" else ("zero",)
        elif value == "(":
            expr = binary(0)
            if take() != ("op", ")"):
                raise EdaError(f"liberty function {text!r}: missing ')'")
        elif value == "!":
            return ("not", terminal())
        else:
            raise EdaError(f"liberty function {text!r}: unexpected {value!r}")
        while peek() == ("op", "'"):
            take()
            expr = ("not", expr)
        return expr

    def implicit_and() -> Expr:
        expr = terminal()
        while starts_terminal(peek()):
            expr = ("and", expr, terminal())
        return expr

    levels = ({"+": "or", "|": "or"}, {"*": "and", "&": "and"}, {"^": "xor"})

    def binary(level: int) -> Expr:
        if level == len(levels):
            return implicit_and()
        expr = binary(level + 1)
        while (token := peek()) is not None and token[0] == "op" and token[1] in levels[level]:
            take()
            expr = (levels[level][token[1]], expr, binary(level + 1))
        return expr

    if not tokens:
        raise EdaError("empty liberty function")
    result = binary(0)
    if peek() not in (None, ("op", ";")):
        raise EdaError(f"liberty function {text!r}: unexpected {peek()[1]!r}")
    return result


def expr_ports(expr: Expr) -> frozenset[str]:
    """Names of the ports an expression reads."""
    if expr[0] == "port":
        return frozenset((expr[1],))
    return frozenset().union(*(expr_ports(child) for child in expr[1:]))


def _is_port_ref(expr: Expr, port: str) -> bool:
    return expr == ("port", port) or expr == ("not", ("port", port))


def _negate(expr: Expr) -> Expr:
    return expr[1] if expr[0] == "not" else ("not", expr)


def infer_when(function: Expr, from_port: str) -> Expr | None:
    """Condition under which `from_port` toggles the output, as OpenSTA 2.0.17 infers it.

    Mirrors Power::inferedWhen: only a port operand directly under the top (possibly
    negated) and/or/xor is recognised; anything else gives None (then duty 0.5).
    """
    op = function[0]
    if op == "port":
        return ("one",) if function[1] == from_port else None
    if op == "not":
        return infer_when(function[1], from_port)
    if op in ("or", "xor"):
        left, right = function[1], function[2]
        if _is_port_ref(left, from_port):
            return _negate(right)
        if _is_port_ref(right, from_port):
            return _negate(left)
    if op == "and":
        left, right = function[1], function[2]
        if _is_port_ref(left, from_port):
            return right
        if _is_port_ref(right, from_port):
            return left
    return None


class Activity(NamedTuple):
    """Switching activity of a signal: transitions per second, and probability of 1."""

    density_per_s: float
    duty: float


def eval_activity(expr: Expr, pin_activity: Callable[[str], Activity | None]) -> Activity:
    """Activity of a boolean expression of independent signals (OpenSTA's evalActivity).

    `pin_activity(port)` gives a port's activity, or None if the instance has no such
    pin (OpenSTA then takes the port as constant 0).
    """
    op = expr[0]
    if op == "port":
        activity = pin_activity(expr[1])
        return activity if activity is not None else Activity(0.0, 0.0)
    if op == "one":
        return Activity(0.0, 1.0)
    if op == "zero":
        return Activity(0.0, 0.0)
    if op == "not":
        inner = eval_activity(expr[1], pin_activity)
        return Activity(inner.density_per_s, 1.0 - inner.duty)
    first = eval_activity(expr[1], pin_activity)
    second = eval_activity(expr[2], pin_activity)
    if op == "and":
        return Activity(
            first.density_per_s * second.duty + second.density_per_s * first.duty, first.duty * second.duty
        )
    if op == "or":
        first_low, second_low = 1.0 - first.duty, 1.0 - second.duty
        return Activity(
            first.density_per_s * second_low + second.density_per_s * first_low, 1.0 - first_low * second_low
        )
    if op == "xor":
        first_only = first.duty * (1.0 - second.duty)
        second_only = second.duty * (1.0 - first.duty)
        return Activity(
            first.density_per_s * first_only + second.density_per_s * second_only, first_only + second_only
        )
    raise EdaError(f"unknown expression node {op!r}")


# --------------------------------------------------------------------------------------
# Internal power model of a library
# --------------------------------------------------------------------------------------

SLEW_VARIABLES = frozenset({"input_transition_time", "input_net_transition"})
LOAD_VARIABLES = frozenset({"total_output_net_capacitance"})


@dataclass(frozen=True)
class PowerTable:
    """One rise or fall energy table, in SI units (axes in s or F, values in J)."""

    variables: tuple[str, ...]
    axes: tuple[np.ndarray, ...]
    energy_j: np.ndarray  # shape: one dimension per axis

    def lookup_j(self, slew_s: float, load_f: float) -> float:
        """Energy per transition, (multi)linearly inter/extrapolated like OpenSTA tables.

        Outside the table the two nearest index points of each axis extend linearly
        (no clamping), as in OpenSTA's Table1/Table2::findValue.
        """
        corners: list[list[tuple[int, float]]] = []
        for variable, axis in zip(self.variables, self.axes):
            if variable in SLEW_VARIABLES:
                x = slew_s
            elif variable in LOAD_VARIABLES:
                x = load_f
            else:
                x = 0.0  # OpenSTA evaluates other axis variables at 0 as well
            if len(axis) == 1:
                corners.append([(0, 1.0)])
                continue
            lower = min(max(bisect_right(axis, x) - 1, 0), len(axis) - 2)
            fraction = (x - axis[lower]) / (axis[lower + 1] - axis[lower])
            corners.append([(lower, 1.0 - fraction), (lower + 1, fraction)])
        energy = 0.0
        for combination in np.ndindex(*(len(c) for c in corners)):
            weight = 1.0
            index = []
            for axis_number, which in enumerate(combination):
                point, axis_weight = corners[axis_number][which]
                weight *= axis_weight
                index.append(point)
            energy += weight * float(self.energy_j[tuple(index)])
        return energy


@dataclass(frozen=True)
class InternalPowerGroup:
    """One liberty `internal_power` group of a pin (one per related pin)."""

    pin: str
    related_pin: str | None
    when: Expr | None
    related_pg_pin: str | None
    rise: PowerTable | None
    fall: PowerTable | None


@dataclass(frozen=True)
class CellPowerModel:
    name: str
    directions: Mapping[str, str]  # port -> liberty direction (input, output, internal, ...)
    functions: Mapping[str, Expr]  # port -> parsed `function`
    groups_by_pin: Mapping[str, tuple[InternalPowerGroup, ...]]
    pg_pin_voltages_v: Mapping[str, float]  # pg_pin -> supply voltage from voltage_map
    # (pin, related_pg_pin) whose conditional groups without a related pin do not cover
    # every state of their condition (OpenSTA's internalPowerMissingWhen).
    incomplete_conditions: frozenset[tuple[str, str | None]]


def _incomplete_conditions(groups: Iterable[InternalPowerGroup]) -> frozenset[tuple[str, str | None]]:
    """Keys (pin, pg_pin) for which OpenSTA's internalPowerMissingWhen is true.

    Like OpenSTA, count the unrelated conditional groups of a pin and compare with 2^n,
    n being the number of inputs of the *last* such group's condition.  A pin with no
    such group is incomplete too (0 groups != 2^0).
    """
    conditional: dict[tuple[str, str | None], list[InternalPowerGroup]] = {}
    for group in groups:
        if group.related_pin is None and group.when is not None:
            conditional.setdefault((group.pin, group.related_pg_pin), []).append(group)
    complete = {
        key for key, members in conditional.items() if len(members) == 2 ** len(expr_ports(members[-1].when))
    }
    keys = {(group.pin, group.related_pg_pin) for group in groups}
    return frozenset(keys - complete)


@dataclass(frozen=True)
class LibraryPowerModel:
    name: str
    source: str
    time_unit_s: float
    capacitance_unit_f: float
    voltage_unit_v: float
    default_voltage_v: float  # of the default operating conditions, wherever defined
    cells: Mapping[str, CellPowerModel]

    @property
    def energy_unit_j(self) -> float:
        # OpenSTA's LibertyReader: energy scale = voltage unit^2 * capacitance unit.
        return self.voltage_unit_v**2 * self.capacitance_unit_f


_UNIT_PREFIX = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3}


def _plain(value) -> str:
    if isinstance(value, EscapedString):
        return str(value.value)
    if isinstance(value, WithUnit):
        return f"{value.value}{value.unit}"
    return str(value)


def _unit_scale(text: str, base: str) -> float:
    """Scale of a unit string such as '1ns', '10ps', '1V', '1mV'."""
    match = re.fullmatch(rf"\s*([\d.eE+-]*)\s*([fpnumk]?){base}\s*", text, re.IGNORECASE)
    if not match:
        raise EdaError(f"unsupported liberty unit {text!r} (expected a multiple of {base})")
    number = float(match.group(1)) if match.group(1) else 1.0
    return number * _UNIT_PREFIX[match.group(2).lower()]


def _capacitance_unit_f(library) -> float:
    value = library.get("capacitive_load_unit")
    if not isinstance(value, list) or len(value) != 2:
        raise EdaError("liberty library has no capacitive_load_unit (number, unit)")
    unit = _plain(value[1]).lower()  # "ff", "pf", ...
    if not unit.endswith("f") or unit[:-1] not in _UNIT_PREFIX:
        raise EdaError(f"unsupported capacitive_load_unit {unit!r}")
    return float(_plain(value[0])) * _UNIT_PREFIX[unit[:-1]]


def _axis_values(table_group, template, axis_number: int) -> np.ndarray | None:
    for source in (table_group, template):
        if source is not None and f"index_{axis_number}" in source:
            return np.array(source.get_array(f"index_{axis_number}"), dtype=float).ravel()
    return None


def _power_table(table_group, templates: Mapping[str, object], library_units: tuple[float, float, float]) -> PowerTable:
    time_unit_s, capacitance_unit_f, energy_unit_j = library_units
    template_name = _plain(table_group.args[0]) if table_group.args else "scalar"
    values = np.array(table_group.get_array("values"), dtype=float)
    if template_name == "scalar":
        return PowerTable(("scalar",), (np.zeros(1),), values.reshape(1) * energy_unit_j)
    template = templates.get(template_name)
    if template is None:
        raise EdaError(f"power table uses undefined template {template_name!r}")
    variables, axes = [], []
    for axis_number in (1, 2, 3):
        variable = template.get(f"variable_{axis_number}")
        if variable is None:
            break
        variable = _plain(variable)
        axis = _axis_values(table_group, template, axis_number)
        if axis is None:
            raise EdaError(f"template {template_name!r} has no index_{axis_number}")
        scale = time_unit_s if variable in SLEW_VARIABLES else capacitance_unit_f if variable in LOAD_VARIABLES else 1.0
        variables.append(variable)
        axes.append(axis * scale)
    return PowerTable(tuple(variables), tuple(axes), values.reshape([len(a) for a in axes]) * energy_unit_j)


def _cell_model(cell, templates, library_units, supply_voltages_v: Mapping[str, float]) -> CellPowerModel:
    name = _plain(cell.args[0])
    directions: dict[str, str] = {}
    functions: dict[str, Expr] = {}
    groups: list[InternalPowerGroup] = []
    pins = list(cell.get_groups("pin"))
    for bus in cell.get_groups("bus"):
        pins.extend(bus.get_groups("pin"))
    for pin in pins:
        direction = _plain(pin.get("direction", "input"))
        function = pin.get("function")
        for pin_name in (_plain(arg) for arg in pin.args):
            directions[pin_name] = direction
            if function is not None:
                functions[pin_name] = parse_function(_plain(function))
            for power in pin.get_groups("internal_power"):
                when = power.get("when")
                pg_pin = power.get("related_pg_pin")
                tables = {table.group_name: _power_table(table, templates, library_units) for table in power.groups}
                rise = tables.get("rise_power", tables.get("power"))
                fall = tables.get("fall_power", tables.get("power"))
                related = power.get("related_pin")
                # `related_pin : "A B"` means one group per related pin, as OpenSTA reads it.
                related_pins = _plain(related).split() if related is not None else [None]
                for related_pin in related_pins:
                    groups.append(
                        InternalPowerGroup(
                            pin=pin_name,
                            related_pin=related_pin,
                            when=parse_function(_plain(when)) if when is not None else None,
                            related_pg_pin=_plain(pg_pin) if pg_pin is not None else None,
                            rise=rise,
                            fall=fall,
                        )
                    )
    pg_voltages = {}
    for pg_pin in cell.get_groups("pg_pin"):
        voltage_name = pg_pin.get("voltage_name")
        if voltage_name is not None and _plain(voltage_name) in supply_voltages_v:
            pg_voltages[_plain(pg_pin.args[0])] = supply_voltages_v[_plain(voltage_name)]
    groups_by_pin: dict[str, list[InternalPowerGroup]] = {}
    for group in groups:
        groups_by_pin.setdefault(group.pin, []).append(group)
    return CellPowerModel(
        name=name,
        directions=directions,
        functions=functions,
        groups_by_pin={pin: tuple(members) for pin, members in groups_by_pin.items()},
        pg_pin_voltages_v=pg_voltages,
        incomplete_conditions=_incomplete_conditions(groups),
    )


def _default_voltage_v(library, voltage_unit_v: float) -> float:
    """Voltage of the default operating conditions, resolved regardless of file order."""
    conditions = {_plain(group.args[0]): group for group in library.get_groups("operating_conditions") if group.args}
    default_name = library.get("default_operating_conditions")
    chosen = conditions.get(_plain(default_name)) if default_name is not None else None
    if chosen is None and len(conditions) == 1:
        chosen = next(iter(conditions.values()))
    if chosen is not None and chosen.get("voltage") is not None:
        return float(_plain(chosen.get("voltage"))) * voltage_unit_v
    if library.get("nom_voltage") is not None:
        return float(_plain(library.get("nom_voltage"))) * voltage_unit_v
    raise EdaError("liberty library defines neither operating conditions with a voltage nor nom_voltage")


@lru_cache(maxsize=8)
def _read_cached(path_text: str, mtime_ns: int, size: int, cells: frozenset[str] | None) -> LibraryPowerModel:
    del mtime_ns, size  # part of the cache key only: a rewritten file is read again
    text = read_liberty_text(path_text)
    if cells is not None:
        text = filter_liberty_cells(text, cells)
    library = parse_liberty(text)
    time_unit_s = _unit_scale(_plain(library.get("time_unit", "1ns")), "s")
    voltage_unit_v = _unit_scale(_plain(library.get("voltage_unit", "1V")), "V")
    capacitance_unit_f = _capacitance_unit_f(library)
    energy_unit_j = voltage_unit_v**2 * capacitance_unit_f  # as LibraryPowerModel.energy_unit_j
    templates = {_plain(t.args[0]): t for t in library.get_groups("power_lut_template") if t.args}
    supply_voltages_v = {
        _plain(entry[0]): float(_plain(entry[1])) * voltage_unit_v
        for entry in library.get_attributes("voltage_map")
        if isinstance(entry, list) and len(entry) == 2
    }
    units = (time_unit_s, capacitance_unit_f, energy_unit_j)
    cell_models = {}
    for cell in library.get_groups("cell"):
        model = _cell_model(cell, templates, units, supply_voltages_v)
        cell_models[model.name] = model
    return LibraryPowerModel(
        name=_plain(library.args[0]) if library.args else Path(path_text).name,
        source=path_text,
        time_unit_s=time_unit_s,
        capacitance_unit_f=capacitance_unit_f,
        voltage_unit_v=voltage_unit_v,
        default_voltage_v=_default_voltage_v(library, voltage_unit_v),
        cells=cell_models,
    )


def read_internal_power_model(liberty_path: Path | str, cells: Iterable[str] | None = None) -> LibraryPowerModel:
    """Internal power tables of a liberty file (.lib or .lib.gz), in SI units.

    `cells` limits the model to those cell names (unknown names are ignored); the text
    is cut to them before parsing.  Results are cached per file version and cell set.
    """
    path = Path(liberty_path).resolve()
    if not path.is_file():
        raise EdaError(f"liberty file {path} does not exist")
    stat = path.stat()
    return _read_cached(str(path), stat.st_mtime_ns, stat.st_size, frozenset(cells) if cells is not None else None)


# --------------------------------------------------------------------------------------
# Internal power of instances
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PinState:
    """What OpenSTA computed for one instance pin."""

    port: str
    direction: str  # as OpenSTA reports it: input, output, internal, ...
    slew_rise_s: float | None
    slew_fall_s: float | None
    load_f: float  # capacitance the pin drives (0 for inputs)
    activity: Activity
    is_clock: bool


@dataclass(frozen=True)
class InstanceState:
    name: str
    cell: str
    pins: Mapping[str, PinState]  # liberty port name -> state


def _is_any_output(direction: str) -> bool:
    return direction in ("output", "tristate", "bidirect", "inout")


def _pg_voltage_v(cell: CellPowerModel, pg_pin: str | None, default_voltage_v: float) -> float:
    # OpenSTA's pgNameVoltage: the pg_pin's voltage_map entry, else the operating voltage.
    if pg_pin is not None and pg_pin in cell.pg_pin_voltages_v:
        return cell.pg_pin_voltages_v[pg_pin]
    return default_voltage_v


def instance_internal_power_w(cell: CellPowerModel, instance: InstanceState, default_voltage_v: float) -> float:
    """Internal power of one instance, following OpenSTA 2.0.17's Power::findInternalPower."""

    def pin_activity(port: str) -> Activity | None:
        pin = instance.pins.get(port)
        return pin.activity if pin is not None else None

    power_w = 0.0
    for to_pin in instance.pins.values():
        groups = cell.groups_by_pin.get(to_pin.port, ())
        if not groups:
            continue
        load_f = to_pin.load_f if _is_any_output(to_pin.direction) else 0.0
        function = cell.functions.get(to_pin.port)
        for group in groups:
            from_pin = instance.pins.get(group.related_pin or to_pin.port)
            if from_pin is None:
                continue
            # OpenSTA skips groups of a 0 V supply (ground-referenced energy), unless they
            # are conditional groups whose conditions leave states uncovered.
            counted = (
                group.when is not None and (to_pin.port, group.related_pg_pin) in cell.incomplete_conditions
            ) or _pg_voltage_v(cell, group.related_pg_pin, default_voltage_v) != 0.0
            if not counted:
                continue
            inferred = None
            if group.related_pin is not None and group.when is None and function is not None:
                inferred = infer_when(function, group.related_pin)
            if inferred is not None:
                # Share of the output's toggles caused by this input.
                to_density = to_pin.activity.density_per_s
                duty = (
                    from_pin.activity.density_per_s / to_density * eval_activity(inferred, pin_activity).duty
                    if to_density != 0.0
                    else 0.0
                )
            elif group.when is not None:
                duty = eval_activity(group.when, pin_activity).duty
            elif from_pin.is_clock:
                duty = 1.0
            else:
                duty = 0.5
            energy_j = 0.0
            for table, slew_s in ((group.rise, from_pin.slew_rise_s), (group.fall, from_pin.slew_fall_s)):
                if table is None or slew_s is None or not math.isfinite(slew_s):
                    continue
                energy_j += table.lookup_j(slew_s, load_f) * duty
            power_w += energy_j * to_pin.activity.density_per_s
    return power_w


def internal_power_by_instance(library: LibraryPowerModel, instances: Iterable[InstanceState]) -> pd.DataFrame:
    """Our internal power of each instance: DataFrame(instance, cell, internal_power_ours_w)."""
    rows = []
    for instance in instances:
        cell = library.cells.get(instance.cell)
        if cell is None:
            raise EdaError(f"cell {instance.cell} of instance {instance.name} is not in the power model of {library.source}")
        rows.append((instance.name, instance.cell, instance_internal_power_w(cell, instance, library.default_voltage_v)))
    return pd.DataFrame(rows, columns=["instance", "cell", "internal_power_ours_w"])


# --------------------------------------------------------------------------------------
# OpenSTA: run, and parse what it reports
# --------------------------------------------------------------------------------------

PIN_DUMP_NAME = "pin_data.tsv"
DESIGN_POWER_REPORT = "design_power.rpt"
INSTANCE_POWER_REPORT = "instance_power.rpt"

_STA_SCRIPT = """\
# Written by eda/power_check.py: OpenSTA power plus the per-pin data behind it.
read_liberty {liberty}
read_verilog {netlist}
link_design {top}
create_clock -name power_check_clk -period [sta::time_sta_ui {period_s!r}] [get_ports {{{clock_port}}}]
set_input_delay 0 -clock power_check_clk [delete_from_list [all_inputs] [get_ports {{{clock_port}}}]]
set_power_activity -input -activity {input_activity!r}

# OpenSTA 2.0.17 has no command that reports pin activities; its propagation trace
# ("power_activity: set <pin> <activity> <duty>") is the only place they appear.
sta::set_debug power_activity 3
report_power -digits 6 > {design_report}
sta::set_debug power_activity 0
report_power -instances [get_cells *] -digits 6 > {instance_report}

proc power_check_slew {{pin property}} {{
  if {{[catch {{get_property $pin $property}} slew]}} {{ return "-" }}
  return $slew
}}

set out [open {pin_dump} w]
puts $out "time_ui_s\\t[sta::time_ui_sta 1.0]"
foreach port [get_ports *] {{
  puts $out "port\\t[get_full_name $port]\\t[get_property $port direction]"
}}
set corner [sta::cmd_corner]
foreach inst [get_cells *] {{
  puts $out "instance\\t[get_full_name $inst]\\t[get_property $inst ref_name]"
  foreach pin [get_pins -of_objects $inst] {{
    set direction [get_property $pin direction]
    set net [get_nets -of_objects $pin]
    set net_name "-"
    set load_f 0.0
    if {{$net != "" && $net != "NULL"}} {{
      set net_name [get_full_name $net]
      if {{$direction == "output" || $direction == "tristate" || $direction == "bidirect"}} {{
        # Load as OpenSTA's power code sees it: the larger of rise and fall.
        set rise_f [sta::Net_capacitance $net rise $corner max]
        set fall_f [sta::Net_capacitance $net fall $corner max]
        set load_f [expr {{max($rise_f, $fall_f)}}]
      }}
    }}
    set is_clock 0
    set vertices [sta::Pin_vertices $pin]
    if {{[llength $vertices] > 0 && [lindex $vertices 0] != "NULL"}} {{
      set is_clock [sta::Vertex_is_clock [lindex $vertices 0]]
    }}
    set rise_slew [power_check_slew $pin actual_rise_transition_max]
    set fall_slew [power_check_slew $pin actual_fall_transition_max]
    set fields [list pin [get_full_name $pin] [get_property $pin lib_pin_name] $direction $net_name]
    puts $out [join [concat $fields [list $rise_slew $fall_slew $load_f $is_clock]] "\\t"]
  }}
}}
# Marks a complete dump: OpenSTA exits 0 even when the script stops on an error.
puts $out "end"
close $out
"""

_ACTIVITY_TRACE_RE = re.compile(r"^power_activity: set (\S+) (\S+) (\S+)\s*$", re.MULTILINE)
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_INSTANCE_ROW_RE = re.compile(rf"^\s*({_NUMBER})\s+({_NUMBER})\s+({_NUMBER})\s+({_NUMBER})\s+(\S+)\s*$", re.MULTILINE)
_DESIGN_ROW_RE = re.compile(rf"^(\w+)\s+({_NUMBER})\s+({_NUMBER})\s+({_NUMBER})\s+({_NUMBER})\s", re.MULTILINE)


def parse_activity_trace(text: str) -> dict[str, tuple[float, float]]:
    """Final (activity per clock period, duty) of each pin in OpenSTA's power_activity trace.

    Register outputs are set again on each propagation pass; the last value is the one
    OpenSTA uses.
    """
    return {match.group(1): (float(match.group(2)), float(match.group(3))) for match in _ACTIVITY_TRACE_RE.finditer(text)}


def parse_instance_power_report(text: str) -> pd.DataFrame:
    """`report_power -instances` rows: instance, internal/switching/leakage/total in W."""
    rows = [
        (m.group(5), float(m.group(1)), float(m.group(2)), float(m.group(3)), float(m.group(4)))
        for m in _INSTANCE_ROW_RE.finditer(text)
    ]
    return pd.DataFrame(
        rows, columns=["instance", "internal_power_sta_w", "switching_power_sta_w", "leakage_power_sta_w", "total_power_sta_w"]
    )


def parse_design_power_report(text: str) -> dict[str, dict[str, float]]:
    """`report_power` groups (Sequential, Combinational, ..., Total) -> W per power kind."""
    groups = {}
    for match in _DESIGN_ROW_RE.finditer(text):
        internal, switching, leakage, total = (float(match.group(i)) for i in range(2, 6))
        groups[match.group(1)] = {"internal_w": internal, "switching_w": switching, "leakage_w": leakage, "total_w": total}
    if "Total" not in groups:
        raise EdaError("report_power output has no Total row")
    return groups


@dataclass(frozen=True)
class StaPinData:
    """The pin dump written by the Tcl script, still in OpenSTA's terms."""

    time_ui_s: float
    input_ports: tuple[str, ...]
    instance_cells: Mapping[str, str]  # instance -> cell
    # instance -> list of (pin path, port, direction, net, slew rise ui, slew fall ui, load F, is_clock)
    instance_pins: Mapping[str, list[tuple[str, str, str, str, float | None, float | None, float, bool]]]


def parse_pin_dump(text: str) -> StaPinData:
    time_ui_s = 1.0
    input_ports: list[str] = []
    instance_cells: dict[str, str] = {}
    instance_pins: dict[str, list] = {}
    current = None
    for line in text.splitlines():
        fields = line.split("\t")
        kind = fields[0]
        if kind == "time_ui_s":
            time_ui_s = float(fields[1])
        elif kind == "port" and fields[2] == "input":
            input_ports.append(fields[1])
        elif kind == "instance":
            current = fields[1]
            instance_cells[current] = fields[2]
            instance_pins[current] = []
        elif kind == "pin" and current is not None:
            path, port, direction, net, rise, fall, load, is_clock = fields[1:9]
            instance_pins[current].append(
                (
                    path,
                    port,
                    direction,
                    net,
                    None if rise == "-" else float(rise),
                    None if fall == "-" else float(fall),
                    float(load),
                    is_clock == "1",
                )
            )
    return StaPinData(time_ui_s, tuple(input_ports), instance_cells, instance_pins)


def build_instance_states(
    pin_data: StaPinData,
    activity_trace: Mapping[str, tuple[float, float]],
    library: LibraryPowerModel,
    *,
    clock_period_s: float,
    input_activity: float,
    input_duty: float = 0.5,
) -> list[InstanceState]:
    """Instance states with each pin's activity as OpenSTA's findActivity resolves it.

    Clock-network pins toggle twice a period; a driver pin has its traced value; a load
    pin has its net driver's value (OpenSTA copies it along the wire); top input ports
    and pins OpenSTA never reached get the input activity.  Activities are per clock
    period; density = activity / period (every pin is assumed clocked by the one clock).
    """
    driver_activity: dict[str, tuple[float, float]] = {port: (input_activity, input_duty) for port in pin_data.input_ports}
    for pins in pin_data.instance_pins.values():
        for path, _port, direction, net, *_rest in pins:
            if _is_any_output(direction) and net != "-" and path in activity_trace:
                driver_activity[net] = activity_trace[path]

    states = []
    for instance, cell_name in pin_data.instance_cells.items():
        cell = library.cells.get(cell_name)
        per_period: dict[str, tuple[float, float]] = {}
        raw_pins = pin_data.instance_pins[instance]
        for path, port, direction, net, *_rest, is_clock in raw_pins:
            if is_clock:
                per_period[port] = (2.0, 0.5)
            elif path in activity_trace:
                per_period[port] = activity_trace[path]
            elif net in driver_activity and not _is_any_output(direction):
                per_period[port] = driver_activity[net]
            else:
                per_period[port] = (input_activity, input_duty)
        # Internal state pins (a flop's IQ) are never traced; OpenSTA seeds them with the
        # value it then copies to the output whose function is that state.
        if cell is not None:
            for port, function in cell.functions.items():
                if function[0] == "port" and cell.directions.get(function[1]) == "internal" and port in per_period:
                    per_period[function[1]] = per_period[port]
        pins = {}
        for path, port, direction, net, rise_ui, fall_ui, load_f, is_clock in raw_pins:
            activity, duty = per_period[port]
            pins[port] = PinState(
                port=port,
                direction=direction,
                slew_rise_s=None if rise_ui is None else rise_ui * pin_data.time_ui_s,
                slew_fall_s=None if fall_ui is None else fall_ui * pin_data.time_ui_s,
                load_f=load_f,
                activity=Activity(activity / clock_period_s, duty),
                is_clock=is_clock,
            )
        states.append(InstanceState(instance, cell_name, pins))
    return states


def _tcl_path(path: Path) -> str:
    return "{" + str(path) + "}"


@dataclass(frozen=True)
class InternalPowerCheck:
    """Our internal power next to OpenSTA's, in total and per instance."""

    internal_power_ours_w: float
    internal_power_sta_w: float
    total_power_sta_w: float
    per_instance: pd.DataFrame  # instance, cell, internal_power_ours_w, internal_power_sta_w
    work_dir: Path
    sta_run: ToolRun

    @property
    def relative_difference(self) -> float:
        """(ours - OpenSTA) / OpenSTA; inf when OpenSTA reports zero and ours does not."""
        if self.internal_power_sta_w == 0.0:
            return 0.0 if self.internal_power_ours_w == 0.0 else math.inf
        return (self.internal_power_ours_w - self.internal_power_sta_w) / self.internal_power_sta_w


def netlist_cell_types(netlist_text: str) -> set[str]:
    """Cell types instantiated in a structural Verilog netlist (candidates; filter by library)."""
    keywords = {"module", "input", "output", "inout", "wire", "reg", "assign", "endmodule", "supply0", "supply1"}
    pattern = re.compile(r"^\s*([A-Za-z_][\w$]*)\s+(?:\\\S+|[A-Za-z_][\w$]*)\s*\(", re.MULTILINE)
    return {m.group(1) for m in pattern.finditer(netlist_text)} - keywords


def check_internal_power(
    netlist: Path | str,
    liberty: Path | str,
    *,
    top: str,
    clock_period_ns: float,
    input_activity: float,
    work_dir: Path | str,
    clock_port: str = "clk",
    library_model: LibraryPowerModel | None = None,
    timeout_s: float = 600.0,
) -> InternalPowerCheck:
    """Run OpenSTA on `netlist` with `liberty`; return its internal power and ours.

    `library_model` may be passed to reuse a parsed model (it must describe the same
    cell tables as `liberty`); otherwise the cells the netlist uses are read from
    `liberty`.  The Tcl script, OpenSTA's log and reports stay in `work_dir`.
    """
    netlist, liberty, work_dir = Path(netlist).resolve(), Path(liberty).resolve(), Path(work_dir).resolve()
    if not netlist.is_file():
        raise EdaError(f"netlist {netlist} does not exist")
    if liberty.suffix == ".gz":
        raise EdaError(f"OpenSTA 2.0.17 cannot read compressed liberty {liberty}; decompress it first")
    if clock_period_ns <= 0 or input_activity < 0:
        raise EdaError(f"clock period must be > 0 and activity >= 0 (got {clock_period_ns} ns, {input_activity})")
    work_dir.mkdir(parents=True, exist_ok=True)
    clock_period_s = clock_period_ns * 1e-9
    script = work_dir / "power_check.tcl"
    script.write_text(
        _STA_SCRIPT.format(
            liberty=_tcl_path(liberty),
            netlist=_tcl_path(netlist),
            top=top,
            clock_port=clock_port,
            period_s=clock_period_s,
            input_activity=float(input_activity),
            design_report=_tcl_path(work_dir / DESIGN_POWER_REPORT),
            instance_report=_tcl_path(work_dir / INSTANCE_POWER_REPORT),
            pin_dump=_tcl_path(work_dir / PIN_DUMP_NAME),
        )
    )
    sta = find_tool("sta", "OPENSTA_EXE")
    run = run_tool([sta, "-no_init", "-exit", str(script)], cwd=work_dir, name="power_check_sta", timeout_s=timeout_s)
    dump_path = work_dir / PIN_DUMP_NAME
    if not dump_path.is_file() or not dump_path.read_text().endswith("end\n"):
        raise EdaError(f"OpenSTA stopped before finishing {dump_path}; see the errors in {run.log_path}")

    pin_data = parse_pin_dump(dump_path.read_text())
    design_report = (work_dir / DESIGN_POWER_REPORT).read_text()
    # Debug output follows report redirection, so 2.0.17 writes the trace into the
    # design report; the log is searched too in case a build prints it there.
    activity_trace = parse_activity_trace(run.log_text() + "\n" + design_report)
    if not activity_trace and pin_data.instance_cells:
        raise EdaError(f"no power_activity trace found in {run.log_path}: cannot read OpenSTA's pin activities")
    if library_model is None:
        library_model = read_internal_power_model(liberty, set(pin_data.instance_cells.values()))
    states = build_instance_states(
        pin_data, activity_trace, library_model, clock_period_s=clock_period_s, input_activity=input_activity
    )
    ours = internal_power_by_instance(library_model, states)
    sta_instances = parse_instance_power_report((work_dir / INSTANCE_POWER_REPORT).read_text())
    per_instance = ours.merge(sta_instances[["instance", "internal_power_sta_w"]], on="instance", how="left")
    if per_instance["internal_power_sta_w"].isna().any():
        missing = per_instance.loc[per_instance["internal_power_sta_w"].isna(), "instance"].head(5).tolist()
        raise EdaError(f"instances missing from OpenSTA's report_power -instances: {missing} (see {run.log_path})")
    design = parse_design_power_report(design_report)
    return InternalPowerCheck(
        internal_power_ours_w=float(per_instance["internal_power_ours_w"].sum()),
        internal_power_sta_w=design["Total"]["internal_w"],
        total_power_sta_w=design["Total"]["total_w"],
        per_instance=per_instance,
        work_dir=work_dir,
        sta_run=run,
    )


def describe(check: InternalPowerCheck) -> str:
    """One line for logs: both totals and their relative difference."""
    return (
        f"internal power ours {check.internal_power_ours_w:.4e} W, OpenSTA {check.internal_power_sta_w:.4e} W "
        f"({check.relative_difference:+.2%}); OpenSTA total {check.total_power_sta_w:.4e} W; "
        f"rerun: {shlex.join(check.sta_run.command)} in {check.work_dir}"
    )
