"""Bit-exact check of the systolic-array RTL (iverilog) against a numpy model.

Cycle convention (as in eda/verify/mac_sim.py): inputs for cycle k are applied while clk is
low, clk rises (edge k), outputs are recorded just after edge k.

Schedule of one run. Cycles 0..M-1 load the weights (w_load high): in cycle k
column c offers the weight (and select) of row M-1-k on w_in[c] (sel_in[c]).
Activation vector t then enters array row r in cycle M + t + r (the systolic
skew) and reaches the MAC at (r, c) in cycle

    M + t + r + c + L_in           L_in: 0, or 1 (column2to1), 3 (column4to1)

whose product is added at edge (that cycle + L_prod), L_prod = 1 (tpu,
thundervolt) or 2 (proposed). Column c's result for vector t is psum_out[c]
just after the edge where the last row adds its product.

Razor errors. `RazorError(row, col, vector)`: the Razor flop of the MAC at (row,
col) flags a timing error on activation vector `vector`.

- proposed: the flagged product is discarded and the MAC passes its partial
  sum unchanged: the product of (row, col, vector) is dropped. The testbench
  forces the MAC's `razor_error` in the cycle of that product's addition edge
  (as tb_mac does for one MAC).
- thundervolt (TE-Drop): the erroneous MAC's own update is recovered from its
  shadow latch, and the MAC BELOW takes that value in place of its own update:
  the product of (row+1, col, vector) is dropped; for the last row the column
  output takes the shadow value and nothing is dropped. The testbench forces
  the MAC's `razor_error` in the cycle after the edge that captured the sum,
  so it reaches err_in of the MAC below at the edge that uses it.
  In this zero-delay simulation (clk_shadow = ~clk) the shadow latch is
  transparent again when the MAC below samples it, so it would hand down the
  NEXT vector's sum; a Razor flop with its short-path constraint met holds the
  captured value there. The testbench therefore also forces the erroneous
  MAC's shadow latch to its flop's value (= the captured value, as no real
  timing error happened) for that cycle; the value still reaches the MAC below
  through the array's psum_shadow_out -> psum_in_shadow wiring.

The model computes, for every vector and column, the sum over rows of the
activation each MAC multiplies (its select registers decide which row's) times
the weight it holds, minus the dropped products, wrapped to acc_bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from eda.designs.array import ArrayParams, check_mapping, identity_row_order, map_weights, render_array, row_order_from_selects, select_registers
from eda.core.errors import EdaError
from eda.designs.mac import template_environment
from eda.core.runner import run_tool
from eda.verify.mac_sim import PRODUCT_LATENCY_CYCLES, Mismatch, to_signed

TESTBENCH_TEMPLATE = "tb_array.v.j2"
TESTBENCH_FILE = "tb_array.v"
TESTBENCH_TOP = "tb_array"
ARRAY_FILE = "array.v"
SIM_OUTPUT_FILE = "outputs.txt"
COMPILE_TIMEOUT_S = 120.0
SIM_TIMEOUT_S = 600.0
# Cycles simulated after the last result, so that every injected error is released.
DRAIN_CYCLES = 2
# The Razor flop on the partial sum inside rtl/mac_thundervolt.v.j2.
THUNDERVOLT_RAZOR_INSTANCE = "psum_razor"


@dataclass(frozen=True)
class RazorError:
    """The Razor flop of the MAC at (row, col) flags a timing error on activation vector `vector`."""

    row: int
    col: int
    vector: int


@dataclass(frozen=True, eq=False)
class ArrayStimulus:
    """What the array is given: activations (vectors x rows, signed; column r enters
    array row r), the weight each MAC holds and its select register (rows x cols),
    and the Razor errors to inject."""

    activations: np.ndarray
    loaded_weights: np.ndarray
    selects: np.ndarray
    razor_errors: tuple[RazorError, ...] = ()

    @property
    def n_vectors(self) -> int:
        return len(self.activations)


# --------------------------------------------------------------------------- timing


def weight_load_cycles(params: ArrayParams) -> int:
    return params.rows


def mac_input_cycle(params: ArrayParams, row, col, vector):
    """Cycle in which vector `vector`'s activation is on a_in of the MAC at (row, col)."""
    return weight_load_cycles(params) + vector + row + col + params.input_latency


def product_edge(params: ArrayParams, row, col, vector):
    """Edge at which the MAC at (row, col) adds the product of vector `vector`."""
    return mac_input_cycle(params, row, col, vector) + PRODUCT_LATENCY_CYCLES[params.kind]


def output_cycles(params: ArrayParams, n_vectors: int) -> np.ndarray:
    """Cycle (vectors x cols) after whose edge psum_out[c] holds vector t's result."""
    vectors = np.arange(n_vectors)[:, None]
    cols = np.arange(params.cols)[None, :]
    return product_edge(params, params.rows - 1, cols, vectors)


def simulated_cycles(params: ArrayParams, n_vectors: int) -> int:
    return int(output_cycles(params, n_vectors).max()) + 1 + DRAIN_CYCLES


def razor_error_cycle(params: ArrayParams, error: RazorError) -> int:
    """Cycle in which the error is flagged (and forced in the testbench)."""
    edge = product_edge(params, error.row, error.col, error.vector)
    # thundervolt flags the sum captured at `edge` during the next cycle.
    return edge + 1 if params.kind == "thundervolt" else edge


# --------------------------------------------------------------------------- numpy model


def dropped_products(params: ArrayParams, n_vectors: int, errors: Sequence[RazorError]) -> np.ndarray:
    """Boolean (vectors x rows x cols): the products the errors drop (module docstring)."""
    check_errors(params, n_vectors, errors)
    dropped = np.zeros((n_vectors, params.rows, params.cols), dtype=bool)
    for error in errors:
        row = error.row + 1 if params.kind == "thundervolt" else error.row
        if row < params.rows:
            dropped[error.vector, row, error.col] = True
    return dropped


def array_model(params: ArrayParams, stimulus: ArrayStimulus) -> np.ndarray:
    """Signed results (vectors x cols), column c as array column c computes it."""
    row_order = row_order_from_selects(params, stimulus.selects)
    activations = np.asarray(stimulus.activations, dtype=np.int64)
    multiplied = activations[:, row_order]  # vectors x rows x cols
    products = multiplied * np.asarray(stimulus.loaded_weights, dtype=np.int64)[None, :, :]
    products[dropped_products(params, stimulus.n_vectors, stimulus.razor_errors)] = 0
    return wrap_signed(products.sum(axis=1), params.acc_bits)


def wrap_signed(values: np.ndarray, bits: int) -> np.ndarray:
    return to_signed(np.asarray(values, dtype=np.int64) & ((1 << bits) - 1), bits)


def check_errors(params: ArrayParams, n_vectors: int, errors: Sequence[RazorError]) -> None:
    if errors and params.kind == "tpu":
        raise EdaError("the tpu MAC has no timing-error handling; inject Razor errors into thundervolt or proposed arrays")
    for error in errors:
        if not (0 <= error.row < params.rows and 0 <= error.col < params.cols and 0 <= error.vector < n_vectors):
            raise EdaError(
                f"{error} is outside the {params.rows}x{params.cols} array or the {n_vectors} vectors simulated"
            )


# --------------------------------------------------------------------------- stimulus


def random_activations_and_weights(params: ArrayParams, n_vectors: int, rng: np.random.Generator):
    """Signed random activations (vectors x rows) and logical weights W (rows x cols),
    with the extreme products in the first vectors and columns."""
    a_min, a_max = -(1 << (params.a_bits - 1)), (1 << (params.a_bits - 1)) - 1
    w_min, w_max = -(1 << (params.w_bits - 1)), (1 << (params.w_bits - 1)) - 1
    activations = rng.integers(a_min, a_max, size=(n_vectors, params.rows), endpoint=True)
    weights = rng.integers(w_min, w_max, size=(params.rows, params.cols), endpoint=True)
    for t, value in enumerate((a_min, a_max, -1)[:n_vectors]):
        activations[t] = value
    for c, value in enumerate((w_min, w_max)[: params.cols]):
        weights[:, c] = value
    return activations, weights


def random_mapping(params: ArrayParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random (column_order, row_order) the dataflow allows; identity for conventional."""
    column_order = np.arange(params.cols) if params.dataflow == "conventional" else rng.permutation(params.cols)
    group = params.group_rows
    row_order = identity_row_order(params)
    for c in range(params.cols):
        for start in range(0, params.rows, group):
            row_order[start:start + group, c] = start + rng.permutation(group)
    return column_order, row_order


def build_stimulus(
    params: ArrayParams, activations, weights, column_order, row_order, errors: Sequence[RazorError] = ()
) -> ArrayStimulus:
    """The stimulus that computes activations @ weights with the given mapping."""
    column_order, row_order = check_mapping(params, column_order, row_order)
    activations = np.asarray(activations, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.int64)
    if activations.ndim != 2 or activations.shape[1] != params.rows or len(activations) == 0:
        raise EdaError(f"activations must be (vectors x {params.rows}), got shape {activations.shape}")
    if weights.shape != (params.rows, params.cols):
        raise EdaError(f"weights must be {params.rows}x{params.cols}, got shape {weights.shape}")
    _check_range("activations", activations, params.a_bits)
    _check_range("weights", weights, params.w_bits)
    check_errors(params, len(activations), errors)
    return ArrayStimulus(
        activations=activations,
        loaded_weights=map_weights(weights, column_order, row_order),
        selects=select_registers(params, row_order),
        razor_errors=tuple(errors),
    )


def _check_range(name: str, values: np.ndarray, bits: int) -> None:
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if ((values < low) | (values > high)).any():
        raise EdaError(f"{name} must be signed {bits}-bit values in [{low}, {high}]")


# --------------------------------------------------------------------------- simulation


@dataclass(frozen=True)
class ForceEvent:
    cycle: int
    force: bool  # False: release
    net: str  # below the array instance `dut`
    value: str = ""


def razor_force_events(params: ArrayParams, errors: Sequence[RazorError]) -> list[ForceEvent]:
    """Force/release statements that inject `errors` (module docstring), coalesced
    so that a net forced in consecutive cycles is released once."""
    forced: dict[tuple[str, str], set[int]] = {}
    for error in errors:
        cycle = razor_error_cycle(params, error)
        mac = params.instance(error.row, error.col)
        forced.setdefault((f"{mac}.razor_error", "1'b1"), set()).add(cycle)
        if params.kind == "thundervolt":
            # The shadow latch holds what the flop captured (see the module docstring).
            razor = f"{mac}.{THUNDERVOLT_RAZOR_INSTANCE}"
            forced.setdefault((f"{razor}.shadow", f"dut.{razor}.q"), set()).add(cycle)
    events = []
    for (net, value), cycles in forced.items():
        for cycle in sorted(cycles):
            if cycle - 1 not in cycles:
                events.append(ForceEvent(cycle, True, net, value))
            if cycle + 1 not in cycles:
                events.append(ForceEvent(cycle + 1, False, net))
    return sorted(events, key=lambda e: (e.cycle, e.force, e.net))


def stimulus_cycles(params: ArrayParams, stimulus: ArrayStimulus, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-cycle values of each input bus (n_cycles x lanes, signed lanes), following
    the schedule in the module docstring. Outside the weight load and the activation
    stream the buses carry random values, which the results must not depend on."""
    n_cycles = simulated_cycles(params, stimulus.n_vectors)
    load = weight_load_cycles(params)
    a_max = 1 << (params.a_bits - 1)
    w_max = 1 << (params.w_bits - 1)
    w_load = np.zeros((n_cycles, 1), dtype=np.int64)
    w_load[:load] = 1
    w_in = rng.integers(-w_max, w_max, size=(n_cycles, params.cols))
    w_in[:load] = stimulus.loaded_weights[::-1]  # row M-1 first
    a_in = rng.integers(-a_max, a_max, size=(n_cycles, params.rows))
    for r in range(params.rows):
        first = load + r
        a_in[first:first + stimulus.n_vectors, r] = stimulus.activations[:, r]
    buses = {"w_load": w_load, "w_in": w_in, "a_in": a_in}
    if params.select_bits:
        sel_in = rng.integers(0, 1 << params.select_bits, size=(n_cycles, params.cols))
        sel_in[:load] = stimulus.selects[::-1]
        buses["sel_in"] = sel_in
    return buses


def simulate_array(params: ArrayParams, stimulus: ArrayStimulus, workdir: Path, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Run the rendered array on `stimulus` in iverilog. Returns the signed results
    (vectors x cols) read at `output_cycles` and a mask of which were known (not X)."""
    check_errors(params, stimulus.n_vectors, stimulus.razor_errors)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    buses = stimulus_cycles(params, stimulus, np.random.default_rng(seed))
    lane_bits = {"w_load": 1, "w_in": params.w_bits, "a_in": params.a_bits, "sel_in": params.select_bits}
    stimulus_ports = []
    for name, values in buses.items():
        _write_bus_hex(workdir / f"{name}.hex", values, lane_bits[name])
        stimulus_ports.append({"name": name, "bits": values.shape[1] * lane_bits[name]})
    n_cycles = len(buses["w_load"])

    (workdir / ARRAY_FILE).write_text(render_array(params))
    testbench = template_environment().get_template(TESTBENCH_TEMPLATE).render(
        top=params.top,
        n_cycles=n_cycles,
        has_shadow_clock=params.has_shadow_clock,
        stimulus_ports=stimulus_ports,
        output_bits=params.cols * params.acc_bits,
        force_events=razor_force_events(params, stimulus.razor_errors),
        output_file=SIM_OUTPUT_FILE,
    )
    (workdir / TESTBENCH_FILE).write_text(testbench)
    compiled = f"{TESTBENCH_TOP}.vvp"
    run_tool(
        ["iverilog", "-g2005", "-s", TESTBENCH_TOP, "-o", compiled, TESTBENCH_FILE, ARRAY_FILE],
        cwd=workdir, name="iverilog", timeout_s=COMPILE_TIMEOUT_S,
    )
    run_tool(["vvp", "-n", compiled], cwd=workdir, name="vvp", timeout_s=SIM_TIMEOUT_S)
    trace, known = _read_psum_trace(workdir / SIM_OUTPUT_FILE, params, n_cycles)
    cycles = output_cycles(params, stimulus.n_vectors)
    columns = np.arange(params.cols)[None, :]
    return to_signed(trace[cycles, columns], params.acc_bits), known[cycles, columns]


def _write_bus_hex(path: Path, lanes: np.ndarray, lane_bits: int) -> None:
    """One line per cycle: lane j of the row in bits [j*lane_bits +: lane_bits]."""
    mask = (1 << lane_bits) - 1
    digits = -(-lanes.shape[1] * lane_bits // 4)
    lines = []
    for row in lanes.tolist():
        value = 0
        for j, lane in enumerate(row):
            value |= (lane & mask) << (j * lane_bits)
        lines.append(f"{value:0{digits}x}\n")
    path.write_text("".join(lines))


def _read_psum_trace(path: Path, params: ArrayParams, n_cycles: int) -> tuple[np.ndarray, np.ndarray]:
    """Unsigned psum_out lanes per cycle (n_cycles x cols) and whether each was known."""
    lines = path.read_text().split() if path.is_file() else []
    if len(lines) != n_cycles:
        raise EdaError(f"{path} should hold {n_cycles} lines of psum_out; see vvp.log beside it")
    digits = params.acc_bits // 4 if params.acc_bits % 4 == 0 else None
    values = np.zeros((n_cycles, params.cols), dtype=np.int64)
    known = np.zeros((n_cycles, params.cols), dtype=bool)
    mask = (1 << params.acc_bits) - 1
    for k, token in enumerate(lines):
        token = token.lower()
        if digits is not None:
            # Lane boundaries fall on hex digits: a lane is known when its digits are.
            width = params.cols * digits
            token = token.rjust(width, "0")
            for c in range(params.cols):
                lane = token[width - (c + 1) * digits: width - c * digits]
                if all(ch in "0123456789abcdef" for ch in lane):
                    values[k, c], known[k, c] = int(lane, 16), True
        elif all(ch in "0123456789abcdef" for ch in token):
            bus = int(token, 16)
            values[k] = [(bus >> (c * params.acc_bits)) & mask for c in range(params.cols)]
            known[k] = True
    return values, known


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True, eq=False)
class ArrayVerification:
    """Simulation against the model; results are in logical filter order (column j
    of W), i.e. with the column permutation undone."""

    params: ArrayParams
    expected: np.ndarray  # the model, vectors x filters
    actual: np.ndarray  # the simulation, vectors x filters
    actual_known: np.ndarray
    unpermuted_product: np.ndarray  # activations @ W wrapped to acc_bits, no errors
    output_cycles: np.ndarray  # vectors x filters: the cycle each result was read
    n_errors: int

    @property
    def mismatched(self) -> np.ndarray:
        return ~self.actual_known | (self.actual != self.expected)

    @property
    def mismatch_count(self) -> int:
        return int(self.mismatched.sum())

    @property
    def values_compared(self) -> int:
        return int(self.expected.size)

    @property
    def passed(self) -> bool:
        return self.values_compared > 0 and self.mismatch_count == 0

    @property
    def equals_unpermuted_product(self) -> bool:
        return bool(self.actual_known.all() and (self.actual == self.unpermuted_product).all())

    def first_mismatches(self, max_listed: int = 5) -> tuple[Mismatch, ...]:
        vectors, filters = np.nonzero(self.mismatched)
        order = np.argsort(self.output_cycles[vectors, filters], kind="stable")[:max_listed]
        return tuple(
            Mismatch(
                cycle=int(self.output_cycles[vectors[i], filters[i]]),
                port=f"psum_out (vector {vectors[i]}, filter {filters[i]})",
                expected=int(self.expected[vectors[i], filters[i]]),
                actual=int(self.actual[vectors[i], filters[i]]) if self.actual_known[vectors[i], filters[i]] else None,
            )
            for i in order
        )

    def summary(self) -> str:
        vectors, filters = self.expected.shape
        text = (
            f"{self.values_compared} results ({vectors} vectors x {filters} filters) compared, "
            f"{self.mismatch_count} mismatches; {self.n_errors} Razor errors injected; "
            f"{'equals' if self.equals_unpermuted_product else 'differs from'} the unpermuted product"
        )
        for m in self.first_mismatches():
            actual = "X" if m.actual is None else str(m.actual)
            text += f"\n  cycle {m.cycle} {m.port}: expected {m.expected}, got {actual}"
        return text


def verify_array(
    params: ArrayParams,
    n_vectors: int = 64,
    seed: int = 0,
    *,
    errors: Sequence[RazorError] = (),
    workdir: Path,
    column_order=None,
    row_order=None,
) -> ArrayVerification:
    """Random activations and weights (with the extreme products), mapped with
    `column_order`/`row_order` (default: random ones the dataflow allows), simulated
    and compared with the model; with no errors the model is the product X @ W."""
    if n_vectors < 1:
        raise EdaError(f"number of activation vectors must be >= 1, got {n_vectors}")
    rng = np.random.default_rng(seed)
    activations, weights = random_activations_and_weights(params, n_vectors, rng)
    random_columns, random_rows = random_mapping(params, rng)
    column_order = random_columns if column_order is None else np.asarray(column_order)
    row_order = random_rows if row_order is None else np.asarray(row_order)
    stimulus = build_stimulus(params, activations, weights, column_order, row_order, errors)
    actual, known = simulate_array(params, stimulus, workdir, seed=seed)
    expected = array_model(params, stimulus)
    to_filters = np.argsort(column_order)  # array column holding each filter
    return ArrayVerification(
        params=params,
        expected=expected[:, to_filters],
        actual=actual[:, to_filters],
        actual_known=known[:, to_filters],
        unpermuted_product=wrap_signed(activations @ weights, params.acc_bits),
        output_cycles=output_cycles(params, n_vectors)[:, to_filters],
        n_errors=len(errors),
    )
