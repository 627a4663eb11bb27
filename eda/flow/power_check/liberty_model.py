"""The internal power model of a liberty library, read with liberty-parser.

`read_internal_power_model` turns a library's `internal_power` groups, pin functions,
supply voltages and units into `LibraryPowerModel` (SI units throughout).  Parsing a
whole library is slow, so the text is first cut to the cells a netlist uses
(`netlist_cell_types`, `filter_liberty_cells`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from liberty.parser import parse_liberty
from liberty.types import EscapedString, WithUnit

from eda.core.errors import EdaError
from eda.core.liberty import read_liberty_text
from eda.flow.power_check.boolean import Expr, expr_ports, parse_function
from eda.flow.power_check.power_table import LOAD_VARIABLES, SLEW_VARIABLES, PowerTable

# --------------------------------------------------------------------------------------
# Choosing the cells to read: the ones a netlist uses
# --------------------------------------------------------------------------------------

# A cell group header at the start of a line: `cell (NAME) {` or `cell ("NAME") {`.
_CELL_HEADER_RE = re.compile(r'^[ \t]*cell[ \t]*\([ \t]*"?([^")\s]+)"?[ \t]*\)[ \t]*\{', re.MULTILINE)
# What matters when matching braces: comments and strings may hold stray braces.
_BRACE_TOKEN_RE = re.compile(r'/\*.*?\*/|"(?:[^"\\]|\\.)*"|[{}]', re.DOTALL)


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


def netlist_cell_types(netlist_text: str) -> set[str]:
    """Cell types instantiated in a structural Verilog netlist (candidates; filter by library)."""
    keywords = {"module", "input", "output", "inout", "wire", "reg", "assign", "endmodule", "supply0", "supply1"}
    pattern = re.compile(r"^\s*([A-Za-z_][\w$]*)\s+(?:\\\S+|[A-Za-z_][\w$]*)\s*\(", re.MULTILINE)
    return {m.group(1) for m in pattern.finditer(netlist_text)} - keywords


# --------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Reading it from liberty
# --------------------------------------------------------------------------------------

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
    text = read_liberty_text(Path(path_text))
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
