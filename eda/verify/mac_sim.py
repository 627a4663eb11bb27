"""Cycle-accurate check of the MAC RTL (iverilog) against a numpy golden model.

Cycle convention shared by stimulus vectors, the golden model and simulation
outputs: vector row k is applied to the MAC inputs while clk is low, clk rises
(edge k), and output row k is what the MAC drives just after edge k. With
w[k] the weight register after edge k:

    tpu, thundervolt:  psum_out[k] = psum_in[k] + a_in[k-1] * w[k-1]
    proposed:          psum_out[k] = psum_in[k] + a_in[k-2] * w[k-2]

An error in row k drops that row's product: thundervolt (err_in[k]) outputs
psum_in_shadow[k], proposed (Razor error forced in row k) outputs psum_in[k].

Stimulus vectors are a DataFrame with one row per cycle: a_in, w_in, psum_in
and psum_in_shadow hold signed values; w_load, err_in (thundervolt) and
force_razor_error (proposed) are booleans. Outputs are DataFrames of unsigned
port values (nullable Int64; <NA> where the value is unknown: X in simulation,
or not yet defined by the stimulus in the golden model).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from eda.core.errors import EdaError
from eda.designs.mac import MacParams, MacPort, mac_ports, render_mac, template_environment
from eda.core.runner import run_tool

# Cycles from the edge that registers a_in to the edge that adds its product
# into psum_out; proposed has one more pipeline register on the product.
PRODUCT_LATENCY_CYCLES = {"tpu": 1, "thundervolt": 1, "proposed": 2}

SIGNED_COLUMNS = ("a_in", "w_in", "psum_in", "psum_in_shadow")
FLAG_COLUMNS = ("w_load", "err_in", "force_razor_error")
STIMULUS_COLUMNS = SIGNED_COLUMNS + FLAG_COLUMNS
CLOCK_PORTS = ("clk", "clk_shadow")

# int64 arithmetic must hold psum_in + product exactly before the wrap.
MAX_MODEL_ACC_BITS = 62

# Each corner case is held this many cycles so that its psum_in and its
# product meet at the adder whatever the kind's latency.
CORNER_HOLD_CYCLES = max(PRODUCT_LATENCY_CYCLES.values()) + 1
WEIGHT_RELOAD_PROBABILITY = 0.05

TESTBENCH_TEMPLATE = "tb_mac.v.j2"
TESTBENCH_FILE = "tb_mac.v"
TESTBENCH_TOP = "tb_mac"
SIM_OUTPUT_FILE = "outputs.txt"
COMPILE_TIMEOUT_S = 120.0
SIM_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Mismatch:
    cycle: int
    port: str
    expected: int
    actual: int | None  # None: the simulation drove X or Z


@dataclass(frozen=True)
class OutputComparison:
    cycles_compared: int  # cycles in which every output had a known expected value
    mismatch_count: int  # (cycle, port) pairs that differ
    first_mismatches: tuple[Mismatch, ...]

    @property
    def passed(self) -> bool:
        # Comparing nothing is not a pass: it means the pipeline never filled.
        return self.mismatch_count == 0 and self.cycles_compared > 0

    def summary(self) -> str:
        text = f"{self.cycles_compared} cycles compared, {self.mismatch_count} mismatches"
        for m in self.first_mismatches:
            actual = "X" if m.actual is None else f"{m.actual:#x}"
            text += f"\n  cycle {m.cycle} {m.port}: expected {m.expected:#x}, got {actual}"
        return text


def to_signed(values: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement reading of unsigned `bits`-wide values."""
    values = np.asarray(values, dtype=np.int64)
    return np.where(values >= 1 << (bits - 1), values - (1 << bits), values)


def build_vectors(
    a_in,
    w_in,
    w_load,
    psum_in,
    *,
    psum_in_shadow=None,
    err_in=None,
    force_razor_error=None,
) -> pd.DataFrame:
    """Stimulus vectors from per-cycle sequences. By default the upstream shadow
    latch holds the correct partial sum (psum_in_shadow = psum_in) and no errors occur."""
    columns = {
        "a_in": np.asarray(a_in, dtype=np.int64),
        "w_in": np.asarray(w_in, dtype=np.int64),
        "w_load": np.asarray(w_load, dtype=bool),
        "psum_in": np.asarray(psum_in, dtype=np.int64),
    }
    n_cycles = len(columns["a_in"])
    columns["psum_in_shadow"] = columns["psum_in"] if psum_in_shadow is None else np.asarray(psum_in_shadow, dtype=np.int64)
    for name, flags in (("err_in", err_in), ("force_razor_error", force_razor_error)):
        columns[name] = np.zeros(n_cycles, dtype=bool) if flags is None else np.asarray(flags, dtype=bool)
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) != 1:
        raise EdaError(f"stimulus sequences differ in length: {lengths}")
    return pd.DataFrame(columns)


def random_vectors(params: MacParams, n: int, seed: int, *, error_rate: float = 0.0) -> pd.DataFrame:
    """Corner cases (extreme products, accumulator wrap both ways, weight reloads)
    followed by `n` uniformly random cycles. A fraction `error_rate` of the random
    cycles carries an error: err_in for thundervolt, a forced Razor error for proposed."""
    if n < 0:
        raise EdaError(f"number of random vectors must be >= 0, got {n}")
    if not 0.0 <= error_rate <= 1.0:
        raise EdaError(f"error_rate must be between 0 and 1, got {error_rate}")
    if error_rate > 0 and params.kind == "tpu":
        raise EdaError("the tpu MAC has no timing-error handling; use error_rate=0")
    rng = np.random.default_rng(seed)
    a_min, a_max = signed_range(params.a_bits)
    w_min, w_max = signed_range(params.w_bits)
    acc_min, acc_max = signed_range(params.acc_bits)
    errors = rng.random(n) < error_rate
    random_part = build_vectors(
        a_in=rng.integers(a_min, a_max, size=n, endpoint=True),
        w_in=rng.integers(w_min, w_max, size=n, endpoint=True),
        w_load=rng.random(n) < WEIGHT_RELOAD_PROBABILITY,
        psum_in=rng.integers(acc_min, acc_max, size=n, endpoint=True),
        psum_in_shadow=rng.integers(acc_min, acc_max, size=n, endpoint=True),
        err_in=errors if params.kind == "thundervolt" else None,
        force_razor_error=errors if params.kind == "proposed" else None,
    )
    return pd.concat([_corner_case_vectors(params), random_part], ignore_index=True)


def golden_mac(params: MacParams, vectors: pd.DataFrame) -> pd.DataFrame:
    """Expected outputs per cycle (see the module docstring for the timing)."""
    if params.acc_bits > MAX_MODEL_ACC_BITS:
        raise EdaError(f"the golden model computes in int64; acc_bits must be <= {MAX_MODEL_ACC_BITS}, got {params.acc_bits}")
    stimulus = stimulus_arrays(params, vectors)
    n_cycles = len(vectors)
    cycle = np.arange(n_cycles)
    last_load_cycle = np.maximum.accumulate(np.where(stimulus["w_load"], cycle, -1))
    w_known = last_load_cycle >= 0
    w_reg = np.where(w_known, stimulus["w_in"][np.maximum(last_load_cycle, 0)], 0)
    product = stimulus["a_in"] * w_reg  # of the registers after edge k

    latency = PRODUCT_LATENCY_CYCLES[params.kind]
    psum_out = stimulus["psum_in"] + _delayed(product, latency, 0)
    psum_known = _delayed(w_known, latency, False)
    if params.kind == "thundervolt":
        psum_out = np.where(stimulus["err_in"], stimulus["psum_in_shadow"], psum_out)
        psum_known = psum_known | stimulus["err_in"]
    elif params.kind == "proposed":
        psum_out = np.where(stimulus["force_razor_error"], stimulus["psum_in"], psum_out)
        psum_known = psum_known | stimulus["force_razor_error"]

    expected = {
        "w_out": (w_reg, w_known),
        "a_out": (stimulus["a_in"], np.ones(n_cycles, dtype=bool)),
        "psum_out": (psum_out, psum_known),
    }
    if params.kind == "thundervolt":
        # Right after the edge the shadow latch holds what the main flop took.
        expected["psum_shadow_out"] = (psum_out, psum_known)
        expected["err_out"] = (np.zeros(n_cycles, dtype=np.int64), psum_known)
    elif params.kind == "proposed":
        forced = stimulus["force_razor_error"]
        # Without Razor bits err_out is tied low; with them it is known once the
        # product register holds a known product (after edge 1 of a loaded weight).
        product_reg_known = np.ones(n_cycles, dtype=bool) if params.razor_bits == 0 else _delayed(w_known, 1, False)
        expected["err_out"] = (forced.astype(np.int64), forced | product_reg_known)
    ports = [p for p in mac_ports(params) if p.direction == "output"]
    return pd.DataFrame({p.name: _unsigned_column(*expected[p.name], p.bits) for p in ports})


def simulate_mac(params: MacParams, vectors: pd.DataFrame, workdir: Path) -> pd.DataFrame:
    """Run the rendered MAC on `vectors` in iverilog; outputs per cycle."""
    stimulus = stimulus_arrays(params, vectors)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ports = mac_ports(params)
    stimulus_ports = [p for p in ports if p.direction == "input" and p.name not in CLOCK_PORTS]
    output_ports = [p for p in ports if p.direction == "output"]
    force_razor_error = params.kind == "proposed"

    mac_file = f"{params.module}.v"
    (workdir / mac_file).write_text(render_mac(params))
    testbench = template_environment().get_template(TESTBENCH_TEMPLATE).render(
        module=params.module,
        n_cycles=len(vectors),
        ports=ports,
        stimulus_ports=stimulus_ports,
        output_ports=output_ports,
        has_shadow_clock=any(p.name == "clk_shadow" for p in ports),
        force_razor_error=force_razor_error,
        output_file=SIM_OUTPUT_FILE,
    )
    (workdir / TESTBENCH_FILE).write_text(testbench)
    for port in stimulus_ports:
        write_hex(workdir / f"{port.name}.hex", stimulus[port.name], port.bits)
    if force_razor_error:
        write_hex(workdir / "force_razor_error.hex", stimulus["force_razor_error"], 1)

    compiled = f"{TESTBENCH_TOP}.vvp"
    run_tool(
        ["iverilog", "-g2005", "-s", TESTBENCH_TOP, "-o", compiled, TESTBENCH_FILE, mac_file],
        cwd=workdir, name="iverilog", timeout_s=COMPILE_TIMEOUT_S,
    )
    run_tool(["vvp", "-n", compiled], cwd=workdir, name="vvp", timeout_s=SIM_TIMEOUT_S)
    return read_outputs(workdir / SIM_OUTPUT_FILE, output_ports, len(vectors))


def compare_outputs(expected: pd.DataFrame, actual: pd.DataFrame, max_listed: int = 5) -> OutputComparison:
    """Compare every output of `expected` where its value is known; X in `actual` is a mismatch."""
    if len(expected) != len(actual):
        raise EdaError(f"expected {len(expected)} cycles of outputs, simulation gave {len(actual)}")
    missing = [name for name in expected.columns if name not in actual.columns]
    if missing:
        raise EdaError(f"simulation outputs lack {', '.join(missing)}")
    expected_known = expected.notna().to_numpy()
    actual_known = actual[expected.columns].notna().to_numpy()
    expected_values = expected.to_numpy(dtype=np.int64, na_value=0)
    actual_values = actual[expected.columns].to_numpy(dtype=np.int64, na_value=0)
    mismatched = expected_known & (~actual_known | (expected_values != actual_values))
    cycles, columns = np.nonzero(mismatched)  # row-major: ordered by cycle
    listed = tuple(
        Mismatch(
            cycle=int(c),
            port=str(expected.columns[j]),
            expected=int(expected_values[c, j]),
            actual=int(actual_values[c, j]) if actual_known[c, j] else None,
        )
        for c, j in zip(cycles[:max_listed], columns[:max_listed])
    )
    return OutputComparison(
        cycles_compared=int(expected_known.all(axis=1).sum()),
        mismatch_count=int(mismatched.sum()),
        first_mismatches=listed,
    )


def verify_mac(
    params: MacParams, n: int = 10_000, seed: int = 0, *, workdir: Path, error_rate: float = 0.0
) -> OutputComparison:
    """Simulate `n` random vectors plus the corner cases and compare against the golden model."""
    vectors = random_vectors(params, n, seed, error_rate=error_rate)
    actual = simulate_mac(params, vectors, workdir)
    return compare_outputs(golden_mac(params, vectors), actual)


def signed_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _corner_case_vectors(params: MacParams) -> pd.DataFrame:
    a_min, a_max = signed_range(params.a_bits)
    w_min, w_max = signed_range(params.w_bits)
    acc_min, acc_max = signed_range(params.acc_bits)
    corners = [  # (a, w, psum_in)
        (a_min, w_min, 0),  # the largest product, e.g. -128 * -128
        (a_min, w_max, 0),  # the most negative product, e.g. -128 * 127
        (a_max, w_min, 0),
        (a_max, w_max, 0),
        (-1, -1, 0),
        (a_min, w_min, acc_max),  # positive overflow wraps to negative
        (a_max, w_max, acc_max - a_max * w_max),  # just reaches the maximum
        (a_max, w_max, acc_max - a_max * w_max + 1),  # one past: wraps to the minimum
        (a_min, w_max, acc_min),  # negative overflow wraps to positive
        (a_min, w_max, acc_min - a_min * w_max),  # just reaches the minimum
        (a_min, w_max, acc_min - a_min * w_max - 1),  # one below: wraps to the maximum
        (a_min, w_min, -1),  # carry out of the unsigned accumulator
        (0, w_min, acc_min),
    ]
    a_in, w_in, w_load, psum_in = [], [], [], []
    for a, w, psum in corners:
        # Reload the weight at the start of each corner; afterwards offer the
        # complement on w_in, which must not load while w_load is low.
        a_in += [a] * CORNER_HOLD_CYCLES
        w_in += [w] + [~w] * (CORNER_HOLD_CYCLES - 1)
        w_load += [True] + [False] * (CORNER_HOLD_CYCLES - 1)
        psum_in += [psum] * CORNER_HOLD_CYCLES
    return build_vectors(a_in, w_in, w_load, psum_in)


def stimulus_arrays(params: MacParams, vectors: pd.DataFrame) -> dict[str, np.ndarray]:
    """Validated numpy columns of `vectors` (signed values in range, flags as bool)."""
    missing = [name for name in STIMULUS_COLUMNS if name not in vectors.columns]
    if missing:
        raise EdaError(f"stimulus vectors lack columns {', '.join(missing)} (build them with build_vectors)")
    if len(vectors) == 0:
        raise EdaError("stimulus vectors are empty")
    widths = {"a_in": params.a_bits, "w_in": params.w_bits, "psum_in": params.acc_bits, "psum_in_shadow": params.acc_bits}
    arrays = {}
    for name, bits in widths.items():
        values = vectors[name].to_numpy(dtype=np.int64)
        low, high = signed_range(bits)
        outside = (values < low) | (values > high)
        if outside.any():
            cycle = int(np.argmax(outside))
            raise EdaError(f"{name} in cycle {cycle} is {values[cycle]}, outside the signed {bits}-bit range [{low}, {high}]")
        arrays[name] = values
    for name in FLAG_COLUMNS:
        arrays[name] = vectors[name].to_numpy(dtype=bool)
    unusable = {"tpu": ("err_in", "force_razor_error"), "thundervolt": ("force_razor_error",), "proposed": ("err_in",)}
    for name in unusable[params.kind]:
        if arrays[name].any():
            raise EdaError(f"{name} is set in some cycles, but the {params.kind} MAC has no use for it")
    return arrays


def _delayed(values: np.ndarray, cycles: int, fill) -> np.ndarray:
    """values[k - cycles] in row k; `fill` in the first `cycles` rows."""
    out = np.full_like(values, fill)
    out[cycles:] = values[: max(len(values) - cycles, 0)]
    return out


def _unsigned_column(values: np.ndarray, known: np.ndarray, bits: int) -> pd.arrays.IntegerArray:
    wrapped = np.asarray(values, dtype=np.int64) & ((1 << bits) - 1)
    return pd.arrays.IntegerArray(np.where(known, wrapped, 0), ~known)


def write_hex(path: Path, values: np.ndarray, bits: int) -> None:
    unsigned = np.asarray(values, dtype=np.int64) & ((1 << bits) - 1)
    path.write_text("".join(f"{v:x}\n" for v in unsigned.tolist()))


def read_outputs(path: Path, ports: list[MacPort], n_cycles: int) -> pd.DataFrame:
    """Outputs file written by the testbench: a header of port names, then one hex row per cycle."""
    lines = path.read_text().splitlines() if path.is_file() else []
    names = [p.name for p in ports]
    if not lines or lines[0].split() != names:
        raise EdaError(f"{path} does not start with the header {' '.join(names)}; see vvp.log beside it")
    rows = [line.split() for line in lines[1:]]
    if len(rows) != n_cycles or any(len(row) != len(names) for row in rows):
        raise EdaError(f"{path} should hold {n_cycles} rows of {len(names)} values; see vvp.log beside it")
    columns = {}
    for j, port in enumerate(ports):
        tokens = [row[j] for row in rows]
        # %h prints x/X/z/Z digits for unknown bits; any of them makes the value unknown.
        known = np.array([all(ch in "0123456789abcdef" for ch in t) for t in tokens])
        values = np.array([int(t, 16) if ok else 0 for t, ok in zip(tokens, known)], dtype=np.int64)
        columns[port.name] = pd.arrays.IntegerArray(values, ~known)
    return pd.DataFrame(columns)
