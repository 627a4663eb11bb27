"""Render weight-stationary systolic arrays of MACs from the Jinja templates in rtl/.

An M x N array of one MAC kind with a dataflow variant (Shin et al., JETCAS 2019,
section IV-C): `conventional`; `column` (filters permuted to columns off-line: the
same hardware); `column2to1` and `column4to1` (each MAC can multiply the activation
of another row of its group of 2 or 4, so weights can be sorted within a column
group). A sizing map (M x N ints) says which characterized MAC size sits where; each
size in use becomes its own module (`mac_proposed_s3`), functionally identical RTL
that a real flow synthesizes at a different delay target.

How weights are laid out on the array (the mapping) is also defined here, next to
the hardware that interprets it:

- `column_order[c]`: the filter (column of the logical weight matrix W, M x N) held by
  array column c. Only `conventional` requires the identity.
- `row_order[r, c]`: the row of W (the input channel, i.e. which activation row) that
  the MAC at position (r, c) multiplies. Each column of `row_order` is a permutation
  of 0..M-1 that keeps every row within its group (r // group); the group is 1 for
  `conventional`/`column` (identity), 2 for `column2to1`, 4 for `column4to1`.

The MAC at (r, c) then holds W[row_order[r, c], column_order[c]], and the array's
column c computes column column_order[c] of the unpermuted product X @ W.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eda.core.errors import EdaError
from eda.designs.mac import (ACCUMULATE_TARGET_FRACTION, MAC_KINDS, MacParams, adder_module, mac_ports, render_mac,
                             structured_adder, template_environment)

DATAFLOWS = ("conventional", "column", "column2to1", "column4to1")

# Rows whose activations one MAC can choose from.
GROUP_ROWS = {"conventional": 1, "column": 1, "column2to1": 2, "column4to1": 4}
# Width of each MAC's select register.
SELECT_BITS = {"conventional": 0, "column": 0, "column2to1": 1, "column4to1": 2}
SWITCHING_BLOCKS = {"conventional": "none", "column": "none", "column2to1": "swap2", "column4to1": "mux4"}
# Cycles the activation switching adds between the array input and the MACs: the
# largest row distance within a group (see the headers of rtl/array.v.j2).
INPUT_LATENCY_CYCLES = {dataflow: group - 1 for dataflow, group in GROUP_ROWS.items()}

ARRAY_TEMPLATE = "array.v.j2"
SWITCH_TEMPLATES = {"swap2": "array_switch2.v.j2", "mux4": "array_switch4.v.j2"}


@dataclass(frozen=True)
class ArrayParams:
    """What distinguishes one array design. `sizing_map` (rows x cols of size indices,
    None for all zeros) is stored as a tuple of tuples."""

    kind: str
    rows: int
    cols: int
    dataflow: str = "conventional"
    sizing_map: tuple[tuple[int, ...], ...] | None = None
    a_bits: int = 8
    w_bits: int = 8
    acc_bits: int = 24
    razor_bits: int = 10
    accumulate_adder: str = "sklansky"

    def __post_init__(self):
        if self.kind not in MAC_KINDS:
            raise EdaError(f"unknown MAC kind {self.kind!r}: expected one of {', '.join(MAC_KINDS)}")
        if self.dataflow not in DATAFLOWS:
            raise EdaError(f"unknown dataflow {self.dataflow!r}: expected one of {', '.join(DATAFLOWS)}")
        for name in ("rows", "cols"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise EdaError(f"array {name} must be a positive integer, got {value!r}")
        group = GROUP_ROWS[self.dataflow]
        if self.rows % group:
            raise EdaError(
                f"dataflow {self.dataflow} switches activations within groups of {group} rows, "
                f"so rows must be divisible by {group}; got {self.rows}"
            )
        self.mac  # MacParams checks the widths
        sizing = np.zeros((self.rows, self.cols), dtype=np.int64) if self.sizing_map is None else self.sizing_map
        sizing = check_sizing_map(sizing, self.rows, self.cols, source="the sizing map")
        object.__setattr__(self, "sizing_map", tuple(tuple(int(v) for v in row) for row in sizing))

    @property
    def mac(self) -> MacParams:
        return MacParams(self.kind, self.a_bits, self.w_bits, self.acc_bits, self.razor_bits, self.accumulate_adder)

    @property
    def group_rows(self) -> int:
        return GROUP_ROWS[self.dataflow]

    @property
    def select_bits(self) -> int:
        return SELECT_BITS[self.dataflow]

    @property
    def input_latency(self) -> int:
        return INPUT_LATENCY_CYCLES[self.dataflow]

    @property
    def has_shadow_clock(self) -> bool:
        return any(port.name == "clk_shadow" for port in mac_ports(self.mac))

    @property
    def top(self) -> str:
        return f"array_{self.kind}_{self.dataflow}_{self.rows}x{self.cols}"

    @property
    def sizes_in_use(self) -> tuple[int, ...]:
        return tuple(sorted({v for row in self.sizing_map for v in row}))

    def mac_module(self, size: int) -> str:
        return f"{self.mac.module}_s{size}"

    def instance(self, row: int, col: int) -> str:
        """Hierarchical name of the MAC at (row, col) inside the array module."""
        return f"mac_r{row}_c{col}"


def check_sizing_map(values, rows: int, cols: int, *, source: str) -> np.ndarray:
    """`values` as an int64 rows x cols array of size indices; EdaError naming `source` otherwise."""
    array = np.asarray(values)
    if array.shape != (rows, cols):
        raise EdaError(
            f"{source} has shape {_shape_text(array.shape)}; expected {rows}x{cols} (rows x cols) for a {rows}x{cols} array"
        )
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise EdaError(f"{source} must hold integer size indices, found values of type {array.dtype}")
    if np.issubdtype(array.dtype, np.floating):
        fractional = ~np.isfinite(array) | (array != np.round(array))
        if fractional.any():
            r, c = (int(i) for i in np.argwhere(fractional)[0])
            raise EdaError(f"{source} must hold integer size indices; row {r}, column {c} is {array[r, c]}")
    array = array.astype(np.int64)
    if (array < 0).any():
        r, c = (int(i) for i in np.argwhere(array < 0)[0])
        raise EdaError(f"{source} holds a negative size index {array[r, c]} at row {r}, column {c}; indices start at 0")
    return array


def load_sizing_map(path: Path, rows: int, cols: int) -> np.ndarray:
    """A rows x cols map of size indices from a CSV file (no header, comma-separated
    integers) or a .npy file."""
    path = Path(path)
    if not path.is_file():
        raise EdaError(f"sizing map {path} does not exist")
    if path.suffix == ".npy":
        try:
            values = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise EdaError(f"sizing map {path} is not a readable .npy array: {exc}") from None
    else:
        values = _read_csv_ints(path)
    return check_sizing_map(values, rows, cols, source=f"sizing map {path}")


def _read_csv_ints(path: Path) -> np.ndarray:
    rows = []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        row = []
        for column, token in enumerate(line.split(",")):
            token = token.strip()
            try:
                row.append(int(token))
            except ValueError:
                raise EdaError(
                    f"sizing map {path} must hold integer size indices; line {line_number}, "
                    f"field {column + 1} is {token!r}"
                ) from None
        rows.append(row)
    if not rows:
        raise EdaError(f"sizing map {path} is empty")
    lengths = sorted({len(row) for row in rows})
    if len(lengths) > 1:
        raise EdaError(f"sizing map {path} has rows of different lengths ({', '.join(map(str, lengths))} fields)")
    return np.array(rows, dtype=np.int64)


def _shape_text(shape: tuple) -> str:
    return "x".join(str(n) for n in shape) if shape else "() (a single value)"


# --------------------------------------------------------------------------- mapping


def identity_row_order(params: ArrayParams) -> np.ndarray:
    return np.repeat(np.arange(params.rows)[:, None], params.cols, axis=1)


def check_mapping(params: ArrayParams, column_order, row_order) -> tuple[np.ndarray, np.ndarray]:
    """Validated (column_order, row_order) int arrays; see the module docstring."""
    column_order = np.asarray(column_order)
    row_order = np.asarray(row_order)
    if column_order.shape != (params.cols,) or sorted(column_order.tolist()) != list(range(params.cols)):
        raise EdaError(f"column_order must be a permutation of 0..{params.cols - 1}, got {column_order.tolist()}")
    if params.dataflow == "conventional" and (column_order != np.arange(params.cols)).any():
        raise EdaError("the conventional dataflow keeps filters in order; use dataflow 'column' to permute them")
    if row_order.shape != (params.rows, params.cols):
        raise EdaError(f"row_order must be {params.rows}x{params.cols} (rows x cols), got shape {_shape_text(row_order.shape)}")
    group = params.group_rows
    for c in range(params.cols):
        order = row_order[:, c]
        if sorted(order.tolist()) != list(range(params.rows)):
            raise EdaError(f"row_order column {c} must be a permutation of 0..{params.rows - 1}, got {order.tolist()}")
        outside = order // group != np.arange(params.rows) // group
        if outside.any():
            r = int(np.argmax(outside))
            raise EdaError(
                f"row_order[{r}, {c}] = {order[r]} is outside the group of {group} rows that position {r} "
                f"can switch to with dataflow {params.dataflow}"
            )
    return column_order.astype(np.int64), row_order.astype(np.int64)


def map_weights(weights: np.ndarray, column_order: np.ndarray, row_order: np.ndarray) -> np.ndarray:
    """The weight each MAC holds: W[row_order[r, c], column_order[c]]."""
    return np.asarray(weights)[row_order, np.asarray(column_order)[None, :]]


def select_registers(params: ArrayParams, row_order) -> np.ndarray:
    """The value of each MAC's select register (rows x cols) that makes the hardware
    apply `row_order`; zeros for the dataflows without switching."""
    _, row_order = check_mapping(params, np.arange(params.cols), row_order)
    selects = np.zeros((params.rows, params.cols), dtype=np.int64)
    if params.dataflow == "column2to1":
        # A pair swaps relative to what it receives from the previous column
        # (column 0 receives the rows in order).
        previous = np.arange(params.rows)
        for c in range(params.cols):
            selects[:, c] = row_order[:, c] != previous
            previous = row_order[:, c]
    elif params.dataflow == "column4to1":
        # Absolute: the row within the group.
        selects = row_order - (np.arange(params.rows)[:, None] // 4) * 4
    return selects


def row_order_from_selects(params: ArrayParams, selects) -> np.ndarray:
    """What the hardware does with its select registers: the row of W whose
    activation each MAC multiplies (rows x cols). Inverse of `select_registers`
    for consistent selects; for inconsistent ones (a 2to1 pair whose two bits
    differ) it gives what the MUXes do, which is no permutation."""
    selects = np.asarray(selects, dtype=np.int64)
    if selects.shape != (params.rows, params.cols):
        raise EdaError(f"selects must be {params.rows}x{params.cols}, got shape {_shape_text(selects.shape)}")
    if (selects < 0).any() or (selects >= 1 << params.select_bits).any():
        raise EdaError(f"select registers of dataflow {params.dataflow} hold 0..{(1 << params.select_bits) - 1}")
    row_order = identity_row_order(params)
    if params.dataflow == "column2to1":
        previous = np.arange(params.rows)
        for c in range(params.cols):
            partner = np.arange(params.rows) ^ 1  # the other row of the pair
            row_order[:, c] = np.where(selects[:, c] == 1, previous[partner], previous)
            previous = row_order[:, c]
    elif params.dataflow == "column4to1":
        row_order = (np.arange(params.rows)[:, None] // 4) * 4 + selects
    return row_order


# --------------------------------------------------------------------------- rendering


def render_sized_mac(params: ArrayParams, size: int) -> str:
    """The MAC of `params.kind` as module `mac_<kind>_s<size>`, its Razor and adder modules
    renamed to match, so that each size can be synthesized and placed on its own."""
    mac = params.mac
    module = params.mac_module(size)
    text = render_mac(mac)
    renames = {mac.module: module, "razor_ff": f"{module}_razor_ff"}
    if structured_adder(mac):
        renames[adder_module(mac)] = sized_adder_module(module)
    declared = re.findall(r"^\s*module\s+(\w+)", text, flags=re.MULTILINE)
    unexpected = [name for name in declared if name not in renames]
    if mac.module not in declared or unexpected:
        raise EdaError(
            f"render_mac({mac.kind}) declares modules {declared}; the array renames only {sorted(renames)}"
        )
    pattern = re.compile(r"\b(" + "|".join(re.escape(name) for name in renames) + r")\b")
    return pattern.sub(lambda match: renames[match.group(1)], text)


def sized_adder_module(mac_module: str) -> str:
    return f"{mac_module}_adder"


def array_module_targets(params: ArrayParams) -> tuple[tuple[str, float], ...]:
    """The renamed accumulate adders, synthesized at their own target (designs/mac.mac_module_targets)."""
    if not structured_adder(params.mac):
        return ()
    return tuple((sized_adder_module(params.mac_module(size)), ACCUMULATE_TARGET_FRACTION) for size in params.sizes_in_use)


def render_array(params: ArrayParams) -> str:
    """Verilog of the array: one MAC module per size in use, the switching blocks, the top."""
    environment = template_environment()
    switching = SWITCHING_BLOCKS[params.dataflow]
    parts = [render_sized_mac(params, size) for size in params.sizes_in_use]
    if switching in SWITCH_TEMPLATES:
        parts.append(environment.get_template(SWITCH_TEMPLATES[switching]).render())
    parts.append(
        environment.get_template(ARRAY_TEMPLATE).render(
            top=params.top,
            kind=params.kind,
            dataflow=params.dataflow,
            rows=params.rows,
            cols=params.cols,
            a_bits=params.a_bits,
            w_bits=params.w_bits,
            acc_bits=params.acc_bits,
            sel_bits=params.select_bits,
            switching=switching,
            input_latency=params.input_latency,
            has_shadow_clock=params.has_shadow_clock,
            mac_modules=[[params.mac_module(size) for size in row] for row in params.sizing_map],
        )
    )
    return "\n".join(part.rstrip("\n") + "\n" for part in parts)


# --------------------------------------------------------------------------- command


