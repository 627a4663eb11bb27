"""Dynamic timing analysis (DTA): when each register input settles, cycle by cycle, on real operands.

Static timing gives each register bit its worst path; whether a bit is late in a given cycle
depends on which paths the operands of that cycle sensitize. Here the synthesized netlist is
simulated with its gate delays, vectorized over cycles (numpy), and every main-flop data pin
gets its settle time (its last transition, in ns after the clock edge) in every cycle.

Three steps, each in its own folder (eda/core/step.py):

1. NetlistJson (yosys): the netlist with every library cell given a body built from its
   liberty function/ff/latch groups (the script of the gate-level power model,
   eda/flow/gatesim.py, plus `write_json`). Each cell's body is turned into truth tables here,
   so the logic is exactly what OpenSTA times, with no liberty parser of our own.
2. WriteSdf (OpenSTA): the flow's STA script (eda/flow/sta.py sta_script: same liberty,
   clocks, input driver, output load) with `write_sdf` and `report_dcalc` of every non-unate
   arc added as its `before_power` part. The SDF gives each arc's delay per output edge, the
   wire delays and the setup times (eda/parsers/sdf.py); report_dcalc tells which of a
   non-unate arc's two IOPATHs is which.
3. TimingSimulation (numpy, this module): MAC stimulus vectors (eda/verify/mac_sim.py) in,
   settle times of every main-flop data pin out; the register values are checked against the
   golden MAC every cycle, so the timing belongs to a netlist that computes the right thing.

Timing model. Cycle k is the change from the settled state of cycle k-1 to that of cycle k:
main-flop outputs switch at the clock edge plus their CLK->Q delay (rise or fall by the new
value), primary inputs at t = 0 (input delay 0, as in the STA; the driving cell's delay is in
the SDF's port INTERCONNECTs). Clocks are ideal (zero latency), as in the STA.

- "inertial" (default): event-driven. Every net carries its transitions in the cycle; a gate
  re-evaluates its function after each input-pin event (net event + wire delay of that
  direction) and schedules an output transition after the IOPATH delay of the moving pin and
  the edge pair. A pulse narrower than the gate's delay is swallowed, as in a Verilog
  simulator with SDF (this matched iverilog + SDF on 92.7% of endpoint-cycles within 0.1 ps
  on the tpu MAC, and the remaining differences go both ways).
- "transport": the same without pulse filtering (glitches never vanish: later settles).
- "floating": an upper bound: timed three-valued logic (an input is unknown from the cycle
  start until its last possible transition); no operand-specific glitch is ever missed.

Arc delays are OpenSTA's, computed with its worst slews, so no settle time exceeds the STA
arrival of its pin. Delays scale uniformly with the supply in the voltage model, so one
simulation at the nominal supply serves all voltages (eda/method/measured_errors.py).

Not simulated: latches and flops not clocked by the rising edge of the main clock (the
proposed MAC's Razor shadow latches and error latch, thundervolt's shadow flops on
clk_shadow's falling edge). Their data pins are not endpoints. Their outputs hold the value
they have in error-free operation: what they capture is taken to be what the main flops
capture (a shadow element equals its main flop, so the Razor comparator reads 0 and the error
latch stays 0), and their changes are put at t = 0. These outputs reach only the Razor
comparators and output ports; `dta__held_outputs_reaching_endpoints` counts any that
change and reach a main-flop input (0 for every MAC kind). Asynchronous set/reset pins are
taken as inactive.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from eda.core.errors import EdaError
from eda.core.files import atomic_write_text
from eda.core.liberty import PreparedLiberty
from eda.core.platforms import Platform
from eda.core.runner import find_tool, run_tool
from eda.core.script_words import LIBERTY_COPY, yosys_word
from eda.core.step import State, Step
from eda.designs.mac import MacParams, mac_ports
from eda.flow.gatesim import GATE_MODEL_SCRIPT
from eda.flow.sta import StaSettings, sta_executable, sta_script
from eda.parsers.sdf import SdfDelays, parse_dcalc, read_sdf
from eda.parsers.sta import parse_sta_log, split_sections
from eda.verify.mac_sim import CLOCK_PORTS, compare_outputs, golden_mac, stimulus_arrays

DTA_MODES = ("inertial", "transport", "floating")
DEFAULT_MODE = "inertial"
DEFAULT_WARMUP_CYCLES = 4  # cycles simulated before the measured ones: weight load, pipeline fill
DEFAULT_MAX_EVENTS = 8  # transitions kept per net and cycle (the earliest pulses are dropped beyond)
NETLIST_JSON = "netlist.json"
SDF_FILE = "design.sdf"
SETTLE_FILE = "settle.npz"
ENDPOINTS_FILE = "endpoints.csv"

# ---------------------------------------------------------------------------
# cell models: yosys's liberty-built cell bodies -> truth tables

# Index convention of every truth table: row = sum(value_i << i) over the listed pins.
_COMBINATIONAL = {
    "$_BUF_": lambda p: p["A"], "$_NOT_": lambda p: ~p["A"],
    "$_AND_": lambda p: p["A"] & p["B"], "$_NAND_": lambda p: ~(p["A"] & p["B"]),
    "$_OR_": lambda p: p["A"] | p["B"], "$_NOR_": lambda p: ~(p["A"] | p["B"]),
    "$_XOR_": lambda p: p["A"] ^ p["B"], "$_XNOR_": lambda p: ~(p["A"] ^ p["B"]),
    "$_ANDNOT_": lambda p: p["A"] & ~p["B"], "$_ORNOT_": lambda p: p["A"] | ~p["B"],
    "$_MUX_": lambda p: np.where(p["S"], p["B"], p["A"]),
}
# $_DFF_P_, $_DFF_PN0_, $_DFFSR_PNN_, $_DLATCH_N_ ...: the letter after the name is the clock/enable polarity.
_SEQUENTIAL = re.compile(r"^\$_(DFF|DFFSR|DFFE|DLATCH|DLATCHSR)_([PN])[PN01]*_$")


@dataclass(frozen=True)
class CellFunction:
    support: tuple[str, ...]  # the input pins the output depends on, in port order
    table: np.ndarray  # bool [2 ** len(support)]


@dataclass(frozen=True)
class SequentialFunction:
    kind: str  # "ff" or "latch"
    clock_pin: str  # the flop's clock or the latch's enable
    clock_active_high: bool  # rising-edge flop / latch transparent at 1
    data_pins: tuple[str, ...]
    next_state: np.ndarray  # bool [2 ** (len(data_pins) + 1)] over data_pins + the state
    outputs: dict[str, bool]  # output pin -> inverted state?


@dataclass(frozen=True)
class CellModel:
    name: str
    inputs: tuple[str, ...]
    outputs: dict[str, CellFunction]  # combinational outputs
    sequential: SequentialFunction | None


def _bit_patterns(n_inputs: int) -> np.ndarray:
    """bool [n_inputs, 2 ** n_inputs]: row i is input i's value in each truth-table row."""
    rows = np.arange(1 << n_inputs)
    return ((rows[None, :] >> np.arange(n_inputs)[:, None]) & 1).astype(bool)


def _evaluate_body(name: str, module: dict, sources: dict[int, np.ndarray], width: int) -> dict[int, np.ndarray]:
    """Values (over all truth-table rows) of every bit of a cell body, from its source bits."""
    values = {**sources}
    pending = [c for c in module.get("cells", {}).values() if c["type"] in _COMBINATIONAL]
    unknown = [c["type"] for c in module.get("cells", {}).values() if c["type"] not in _COMBINATIONAL
               and not _SEQUENTIAL.match(c["type"])]
    if unknown:
        raise EdaError(f"cell {name}: yosys built it from {', '.join(sorted(set(unknown)))}, which the timing simulation does not know")

    def value(bit):
        if isinstance(bit, str):  # constant "0"/"1" ("x" read as 0)
            return np.full(width, bit == "1")
        return values.get(bit)

    while pending:
        progress = []
        for cell in pending:
            pins = {p: value(b[0]) for p, b in cell["connections"].items() if cell["port_directions"][p] == "input"}
            if any(v is None for v in pins.values()):
                continue
            out = next(p for p, d in cell["port_directions"].items() if d == "output")
            values[cell["connections"][out][0]] = np.asarray(_COMBINATIONAL[cell["type"]](pins), dtype=bool)
            progress.append(cell)
        if not progress:
            raise EdaError(f"cell {name}: its liberty-built body has a loop or an undriven net")
        pending = [c for c in pending if c not in progress]
    return values


def _bit_value(values: dict, bit, width: int) -> np.ndarray:
    if isinstance(bit, str):  # a tie cell's output port is a constant bit
        return np.full(width, bit == "1")
    return np.broadcast_to(values[bit], (width,)).copy()


def _reduce(table: np.ndarray, pins: list[str]) -> CellFunction:
    """Drop the pins the function does not depend on."""
    n = len(pins)
    patterns = _bit_patterns(n)
    support = [i for i in range(n) if np.any(table != table[np.arange(1 << n) ^ (1 << i)])]
    rows = (patterns[support].astype(np.int64) << np.arange(len(support))[:, None]).sum(axis=0) if support else np.zeros(1 << n, np.int64)
    reduced = np.zeros(1 << len(support), dtype=bool)
    reduced[rows] = table
    return CellFunction(tuple(pins[i] for i in support), reduced)


def cell_model(name: str, module: dict) -> CellModel:
    """Truth tables of one library cell from its yosys body (write_json of a read_liberty model)."""
    ports = module["ports"]
    inputs = [p for p, info in ports.items() if info["direction"] == "input"]
    outputs = [p for p, info in ports.items() if info["direction"] in ("output", "inout")]
    sequential = [c for c in module.get("cells", {}).values() if _SEQUENTIAL.match(c["type"])]
    if len(sequential) > 1:
        raise EdaError(f"cell {name} holds {len(sequential)} state elements; one per cell is supported")
    bit_of = {p: ports[p]["bits"][0] for p in inputs + outputs}
    pin_of_bit = {bit: p for p, bit in bit_of.items() if p in inputs}
    if not sequential:
        width = 1 << len(inputs)
        patterns = _bit_patterns(len(inputs))
        values = _evaluate_body(name, module, {bit_of[p]: patterns[i] for i, p in enumerate(inputs)}, width)
        functions = {p: _reduce(_bit_value(values, bit_of[p], width), inputs) for p in outputs}
        return CellModel(name, tuple(inputs), functions, None)
    return CellModel(name, tuple(inputs), {}, _sequential_function(name, module, sequential[0], inputs, outputs, bit_of, pin_of_bit))


def _sequential_function(name, module, element, inputs, outputs, bit_of, pin_of_bit) -> SequentialFunction:
    match = _SEQUENTIAL.match(element["type"])
    kind = "latch" if match.group(1).startswith("DLATCH") else "ff"
    connections = element["connections"]
    clock_bit = connections["E" if kind == "latch" else "C"][0]
    active_high = match.group(2) == "P"
    inverters = {c["connections"]["Y"][0]: c["connections"]["A"][0] for c in module.get("cells", {}).values() if c["type"] == "$_NOT_"}

    def input_pin(bit) -> tuple[str | None, bool]:
        inverted = False
        while bit not in pin_of_bit and bit in inverters:  # clocked_on: "!CLK_N", clear: "!RESET_B"
            bit, inverted = inverters[bit], not inverted
        return pin_of_bit.get(bit), inverted

    clock_pin, clock_inverted = input_pin(clock_bit)
    if clock_pin is None:
        raise EdaError(f"cell {name}: its clock/enable is not one of its input pins")
    active_high ^= clock_inverted
    asynchronous = {input_pin(connections[p][0])[0] for p in ("R", "S") if p in connections}
    data_pins = [p for p in inputs if p != clock_pin and p not in asynchronous]
    state_bit = connections["Q"][0]
    n = len(data_pins) + 1
    patterns = _bit_patterns(n)
    sources = {bit_of[p]: patterns[i] for i, p in enumerate(data_pins)} | {state_bit: patterns[n - 1]}
    for pin in (asynchronous - {None}) | {clock_pin}:
        sources[bit_of[pin]] = np.zeros(1 << n, dtype=bool)  # not part of the next-state function below
    values = _evaluate_body(name, module, sources, 1 << n)
    next_state = _bit_value(values, connections["D"][0], 1 << n)
    state = patterns[n - 1]
    q_outputs = {}
    for pin in outputs:
        out = _bit_value(values, bit_of[pin], 1 << n)
        if np.array_equal(out, state):
            q_outputs[pin] = False
        elif np.array_equal(out, ~state):
            q_outputs[pin] = True
        else:
            raise EdaError(f"cell {name}: output {pin} is not its state or the state inverted")
    return SequentialFunction(kind, clock_pin, active_high, tuple(data_pins), next_state, q_outputs)


def unateness(function: CellFunction) -> list[str]:
    """Per support pin: positive_unate, negative_unate or non_unate (from the truth table)."""
    n = len(function.support)
    rows = np.arange(1 << n)
    senses = []
    for i in range(n):
        low = function.table[rows[(rows >> i) & 1 == 0]]
        high = function.table[rows[(rows >> i) & 1 == 0] | (1 << i)]
        senses.append("positive_unate" if np.all(high >= low) else "negative_unate" if np.all(high <= low) else "non_unate")
    return senses


def ternary_table(function: CellFunction) -> np.ndarray:
    """uint8 [3 ** k]: the output (0, 1, or 2 = unknown) for each input code (0 unknown, 1 known 0, 2 known 1)."""
    k = len(function.support)
    codes = (np.arange(3 ** k)[:, None] // (3 ** np.arange(k))[None, :]) % 3  # [3^k, k]
    bits = _bit_patterns(k).T  # [2^k, k]
    compatible = np.all((codes[:, None, :] == 0) | (codes[:, None, :] - 1 == bits[None, :, :]), axis=2)
    can_one = (compatible & function.table[None, :]).any(axis=1)
    can_zero = (compatible & ~function.table[None, :]).any(axis=1)
    return np.where(can_one & can_zero, 2, np.where(can_one, 1, 0)).astype(np.uint8)


# ---------------------------------------------------------------------------
# the netlist (yosys write_json: bit-level nets)

CONST0, CONST1 = 0, 1


@dataclass
class Instance:
    name: str
    cell: str
    pins: dict[str, int]  # pin -> net id


@dataclass
class GateNetlist:
    top: str
    n_nets: int
    net_names: dict[int, str]
    instances: list[Instance]
    inputs: dict[str, list[int]]  # port -> bit nets, LSB first
    outputs: dict[str, list[int]]
    port_bit_names: dict[int, str]  # port net -> its name in the SDF (a_in[3], clk)


def read_netlist_json(path: Path, top: str) -> tuple[GateNetlist, dict[str, CellModel]]:
    """The top module's instances and nets, and a truth-table model of every cell type it uses."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EdaError(f"cannot read the yosys netlist {path}: {exc}") from None
    modules = data.get("modules", {})
    if top not in modules:
        raise EdaError(f"{path}: no module {top!r} (modules: {', '.join(sorted(modules)[:5])}...)")
    module = modules[top]
    ids: dict = {}

    def net(bit) -> int:
        if isinstance(bit, str):
            return CONST1 if bit == "1" else CONST0  # "x"/"z": synthesis tied them low (setundef -zero)
        return ids.setdefault(bit, len(ids) + 2)

    inputs, outputs, port_names = {}, {}, {}
    for port, info in module["ports"].items():
        bits = [net(b) for b in info["bits"]]
        offset = info.get("offset", 0)
        (inputs if info["direction"] == "input" else outputs)[port] = bits
        for i, b in enumerate(bits):
            port_names.setdefault(b, port if len(bits) == 1 else f"{port}[{i + offset}]")
    names = {}
    for name, info in sorted(module.get("netnames", {}).items(), key=lambda item: item[1].get("hide_name", 0)):
        for i, bit in enumerate(info["bits"]):
            if not isinstance(bit, str):
                names.setdefault(net(bit), name if len(info["bits"]) == 1 else f"{name}[{i + info.get('offset', 0)}]")
    instances = [Instance(name, cell["type"], {p: net(b[0]) for p, b in cell["connections"].items() if len(b) == 1})
                 for name, cell in module.get("cells", {}).items()]
    missing = sorted({i.cell for i in instances} - set(modules))
    if missing:
        raise EdaError(f"{path}: no body for cell(s) {', '.join(missing[:5])}; was the liberty read without -lib?")
    models = {c: cell_model(c, modules[c]) for c in sorted({i.cell for i in instances})}
    return GateNetlist(top, len(ids) + 2, names, instances, inputs, outputs, port_names), models


# ---------------------------------------------------------------------------
# the timing model: netlist + cell models + SDF


@dataclass
class Gate:
    instance: str
    out_pin: str
    out_net: int
    in_nets: list[int]
    table: np.ndarray  # bool [2 ** k]
    wire_ns: np.ndarray  # [2, k]: wire delay to each input pin, [0] when the net falls, [1] when it rises
    delay_ns: np.ndarray  # [2, 2, k]: arc delay by (input rises?, output rises?) and pin
    function: CellFunction
    _ternary: np.ndarray | None = None

    @property
    def ternary(self) -> np.ndarray:
        if self._ternary is None:
            self._ternary = ternary_table(self.function)
        return self._ternary


@dataclass
class Register:
    """A state element. Main flops are simulated; held ones keep their error-free value (module docstring)."""

    instance: str
    main: bool
    in_nets: list[int]  # data pins, then the state
    next_state: np.ndarray
    q_nets: list[tuple[int, bool, float, float]]  # (net, inverted, clk->q when rising, when falling)
    feedback: list["Gate"] = field(default_factory=list)  # gates from its own outputs to its data pins (a hold mux)


@dataclass
class Endpoint:
    instance: str
    pin: str
    net: int
    wire_ns: tuple[float, float]  # (net falls, net rises)
    setup_ns: tuple[float, float]  # (data falls, data rises)
    q_net: str  # the register bit: the net its (non-inverted) Q drives


@dataclass
class TimingModel:
    netlist: GateNetlist
    gates: list[Gate]  # topological order
    registers: list[Register]
    endpoints: list[Endpoint]
    constants: dict[int, bool]  # nets driven by tie cells
    clock_nets: set[int]
    stats: dict = field(default_factory=dict)

    @property
    def input_nets(self) -> dict[int, str]:
        return {n: name for n, name in self.netlist.port_bit_names.items() if n not in self.clock_nets
                and any(n in bits for bits in self.netlist.inputs.values())}


def _clock_tree(netlist: GateNetlist, models: dict[str, CellModel], clock_ports: tuple[str, ...]) -> dict[int, tuple[str, bool]]:
    """Nets carrying a clock: the clock ports and what buffers/inverters make of them -> (port, inverted)."""
    tree = {b: (p, False) for p in clock_ports for b in netlist.inputs.get(p, [])}
    grew = True
    while grew:
        grew = False
        for inst in netlist.instances:
            for pin, function in models[inst.cell].outputs.items():
                out = inst.pins.get(pin)
                if len(function.support) != 1 or out is None or out in tree:
                    continue
                source = inst.pins.get(function.support[0])
                if source in tree:
                    port, inverted = tree[source]
                    tree[out] = (port, inverted ^ (not function.table[1]))
                    grew = True
    return tree


class _Delays:
    """Lookups into the SDF tables, by instance and pin."""

    def __init__(self, sdf: SdfDelays, dcalc: pd.DataFrame):
        self.iopath: dict[tuple, list[tuple[float, float]]] = {}
        for row in sdf.iopath.sort_values("order").itertuples(index=False):
            self.iopath.setdefault((row.instance, row.from_pin, row.to_pin), []).append((row.rise_ns, row.fall_ns))
        self.wire = {(r.driver, r.load): (r.fall_ns, r.rise_ns) for r in sdf.interconnect.itertuples(index=False)}
        self.setup: dict[tuple, list[float]] = {}
        for r in sdf.setup.itertuples(index=False):
            both = self.setup.setdefault((r.instance, r.pin), [0.0, 0.0])
            both[r.data_edge == "rise"] = max(both[r.data_edge == "rise"], r.setup_ns)
        self.edges: dict[tuple, dict] = {}
        for r in dcalc.itertuples(index=False):
            self.edges.setdefault((r.instance, r.from_pin, r.to_pin), {})[(r.from_rise, r.to_rise)] = r.delay_ns
        self.arcs_disambiguated = 0
        self.arcs_taken_as_max = 0

    def arc(self, instance: str, pin: str, out: str) -> np.ndarray:
        """[2, 2]: delay by (input rises?, output rises?)."""
        lines = self.iopath.get((instance, pin, out))
        if not lines:
            raise EdaError(f"the SDF has no IOPATH {instance} {pin} -> {out}; was it written for this netlist?")
        delay = np.empty((2, 2))
        if len(lines) == 2 and len(self.edges.get((instance, pin, out), {})) == 4:
            positive, negative = self._senses(lines, self.edges[(instance, pin, out)])
            delay[1, 1], delay[0, 0] = positive  # input and output move the same way
            delay[0, 1], delay[1, 0] = negative
            self.arcs_disambiguated += 1
            return delay
        if len(lines) > 1:
            self.arcs_taken_as_max += 1  # no per-edge report: the slower of the lines, per output edge
        delay[:, 1] = max(r for r, _ in lines)
        delay[:, 0] = max(f for _, f in lines)
        return delay

    @staticmethod
    def _senses(lines, edges) -> tuple[tuple[float, float], tuple[float, float]]:
        """(positive-unate (rise, fall), negative-unate (rise, fall)) of a non-unate arc's two IOPATHs.

        report_dcalc's delays are a few ps off the SDF's in OpenSTA 2.0.17, so the order that
        matches them best is taken; the SDF values are the ones used."""
        (r0, f0), (r1, f1) = lines
        first_positive = abs(r0 - edges[True, True]) + abs(f0 - edges[False, False]) + abs(r1 - edges[False, True]) + abs(f1 - edges[True, False])
        first_negative = abs(r1 - edges[True, True]) + abs(f1 - edges[False, False]) + abs(r0 - edges[False, True]) + abs(f0 - edges[True, False])
        return ((r0, f0), (r1, f1)) if first_positive <= first_negative else ((r1, f1), (r0, f0))

    def clock_to_q(self, instance: str, clock_pin: str, q_pin: str) -> tuple[float, float]:
        lines = self.iopath.get((instance, clock_pin, q_pin))
        if not lines:
            raise EdaError(f"the SDF has no IOPATH {instance} {clock_pin} -> {q_pin} (clock to output)")
        return max(r for r, _ in lines), max(f for _, f in lines)


def build_timing_model(netlist: GateNetlist, models: dict[str, CellModel], sdf: SdfDelays, dcalc: pd.DataFrame,
                       clock_ports: tuple[str, ...] = ("clk", "clk_shadow")) -> TimingModel:
    """clock_ports[0] is the main clock: flops on its rising edge are simulated, the rest held."""
    delays = _Delays(sdf, dcalc)
    clock_tree = _clock_tree(netlist, models, clock_ports)
    driver = dict(netlist.port_bit_names)
    for inst in netlist.instances:
        model = models[inst.cell]
        for pin in list(model.outputs) + (list(model.sequential.outputs) if model.sequential else []):
            if pin in inst.pins:
                driver[inst.pins[pin]] = f"{inst.name}/{pin}"

    def wire(net: int, load: str) -> tuple[float, float]:
        return delays.wire.get((driver.get(net, ""), load), (0.0, 0.0))

    gates, registers, endpoints, constants = [], [], [], {}
    for inst in netlist.instances:
        model = models[inst.cell]
        if model.sequential is not None:
            register, data_endpoints = _register(inst, model.sequential, clock_tree, clock_ports[0], delays, wire)
            registers.append(register)
            endpoints += data_endpoints
            continue
        for pin, function in model.outputs.items():
            out = inst.pins.get(pin)
            if out is None or out in clock_tree:
                continue  # unconnected, or the clock tree (ideal clocks, as in the STA)
            if not function.support:
                constants[out] = bool(function.table[0])
                continue
            in_nets = [inst.pins[p] for p in function.support]
            if any(n in clock_tree for n in in_nets):
                raise EdaError(f"{inst.name} ({inst.cell}) mixes a clock with data (a gated clock); not supported by the timing simulation")
            wires = np.array([wire(n, f"{inst.name}/{p}") for n, p in zip(in_nets, function.support)]).T
            arcs = np.stack([delays.arc(inst.name, p, pin) for p in function.support], axis=-1)
            gates.append(Gate(inst.name, pin, out, in_nets, function.table, wires.astype(np.float32), arcs.astype(np.float32), function))
    q_name = {q: netlist.net_names.get(q, "") for r in registers for q, inverted, *_ in r.q_nets if not inverted}
    for ep in endpoints:
        register = next(r for r in registers if r.instance == ep.instance)
        ep.q_net = next((q_name[q] for q, inverted, *_ in register.q_nets if not inverted), "")
    inputs = {net for bits in netlist.inputs.values() for net in bits}
    sources = inputs | {q for r in registers for q, *_ in r.q_nets} | set(constants) | {CONST0, CONST1}
    ordered = _topological(gates, sources)
    _feedback_gates(ordered, registers)
    model = TimingModel(netlist, ordered, registers, endpoints, constants, set(clock_tree))
    model.stats = {"gates": len(gates), "main_flops": sum(r.main for r in registers), "held_elements": sum(not r.main for r in registers),
                   "endpoints": len(endpoints), "arcs_disambiguated": delays.arcs_disambiguated,
                   "arcs_taken_as_max": delays.arcs_taken_as_max}
    return model


def _register(inst: Instance, seq: SequentialFunction, clock_tree, main_clock: str, delays: _Delays, wire):
    clock_net = inst.pins.get(seq.clock_pin)
    if clock_net not in clock_tree:
        raise EdaError(f"{inst.name} ({inst.cell}): its {seq.clock_pin} pin is not driven by a clock port through buffers and "
                       "inverters; the timing simulation needs plain clocks")
    port, inverted = clock_tree[clock_net]
    main = seq.kind == "ff" and port == main_clock and (seq.clock_active_high != inverted)
    in_nets = [inst.pins.get(p, CONST0) for p in seq.data_pins]
    q_nets = []
    for pin, q_inverted in seq.outputs.items():
        if pin in inst.pins:
            rise, fall = delays.clock_to_q(inst.name, seq.clock_pin, pin) if main else (0.0, 0.0)
            q_nets.append((inst.pins[pin], q_inverted, rise, fall))
    register = Register(inst.name, main, in_nets, seq.next_state, q_nets)
    endpoints = []
    if main:
        for pin, net in zip(seq.data_pins, in_nets):
            if net in (CONST0, CONST1):
                continue
            setup = delays.setup.get((inst.name, pin), [0.0, 0.0])
            endpoints.append(Endpoint(inst.name, pin, net, wire(net, f"{inst.name}/{pin}"), (setup[0], setup[1]), ""))
    return register, endpoints


def _topological(gates: list[Gate], sources: set[int]) -> list[Gate]:
    by_out = {g.out_net: g for g in gates}
    order, done, state = [], set(sources), {}
    for root in gates:  # iterative depth-first search: netlists are deep enough to exhaust Python's recursion
        stack = [(root, 0)]
        while stack:
            gate, i = stack.pop()
            if gate.out_net in done:
                continue
            if i == 0:
                if state.get(gate.out_net) == "open":
                    raise EdaError(f"combinational loop through {gate.instance}")
                state[gate.out_net] = "open"
            if i < len(gate.in_nets):
                stack.append((gate, i + 1))
                child = by_out.get(gate.in_nets[i])
                if child is not None and child.out_net not in done:
                    stack.append((child, 0))
                continue
            done.add(gate.out_net)
            order.append(gate)
    return order


# ---------------------------------------------------------------------------
# simulation


def _row_index(values, nets: list[int], n: int) -> np.ndarray:
    """Truth-table row per cycle; `values` is the value array or a net -> array mapping."""
    index = np.zeros(n, dtype=np.int64)
    for i, net in enumerate(nets):
        index |= np.asarray(values[net]).astype(np.int64) << i
    return index


def _feedback_gates(gates: list[Gate], registers: list[Register]) -> None:
    """For each register, the gates on paths from its outputs back to its own data pins, in order."""
    driver = {g.out_net: g for g in gates}
    for r in registers:
        reached = {net for net, *_ in r.q_nets}
        forward = set()
        for g in gates:  # topological order
            if reached.intersection(g.in_nets):
                reached.add(g.out_net)
                forward.add(g.out_net)
        backward, stack = set(), [n for n in r.in_nets if n in forward]
        while stack:
            net = stack.pop()
            if net in backward:
                continue
            backward.add(net)
            stack += [n for n in driver[net].in_nets if n in forward]
        r.feedback = [g for g in gates if g.out_net in backward]


class _Overlay(dict):
    """Net values with a few nets overridden (missing keys read from the full array)."""

    def __init__(self, values: np.ndarray):
        super().__init__()
        self.values = values

    def __missing__(self, net):
        return self.values[net]


def _next_state(r: Register, values: np.ndarray, state) -> np.ndarray:
    """r's next state per cycle, with its own outputs at `state` (an array, or a constant to force)."""
    n = values.shape[1]
    local = _Overlay(values)
    own = np.broadcast_to(np.asarray(state, dtype=bool), (n,))
    for net, inverted, *_ in r.q_nets:
        local[net] = own ^ inverted
    for g in r.feedback:
        local[g.out_net] = g.table[_row_index(local, g.in_nets, n)]
    return r.next_state[_row_index(local, r.in_nets, n) | (own.astype(np.int64) << len(r.in_nets))]


def _scan(if_zero: np.ndarray, if_one: np.ndarray, initial: bool) -> np.ndarray:
    """state[0] = initial, state[j+1] = if_zero[j] if state[j] == 0 else if_one[j], without a Python loop.

    Each cycle maps the state by a constant (if_zero == if_one), the identity (hold) or an
    inversion; the state after j is the last constant before it, inverted once per inversion since."""
    n = len(if_zero)
    constant = if_zero == if_one
    invert = if_zero & ~if_one
    last = np.maximum.accumulate(np.where(constant, np.arange(n), -1))
    inversions = np.cumsum(invert)
    since = inversions - np.where(last >= 0, inversions[np.maximum(last, 0)], 0)
    after = np.where(last >= 0, if_zero[np.maximum(last, 0)], initial) ^ (since % 2 == 1)
    return np.concatenate([[initial], after[:-1]])


def cycle_values(model: TimingModel, stimulus: dict[int, np.ndarray], max_iterations: int = 64) -> np.ndarray:
    """Zero-delay settled value of every net in every cycle: bool [nets, cycles].

    Every state element starts at 0 and then takes its next state from the previous cycle
    (held elements too: in error-free operation they capture what the main flops capture).
    The whole stream is iterated to a fixed point, one pass per register stage; a register
    that feeds itself (a hold mux) is solved over the whole stream at once in each pass (_scan).
    """
    missing = [name for net, name in model.input_nets.items() if net not in stimulus]
    if missing:
        raise EdaError(f"no stimulus for input(s) {', '.join(missing[:8])}")
    n = len(next(iter(stimulus.values())))
    values = np.zeros((model.netlist.n_nets, n), dtype=bool)
    values[CONST1] = True
    for net, value in model.constants.items():
        values[net] = value
    for net, bits in stimulus.items():
        values[net] = bits
    state = {r.instance: np.zeros(n, dtype=bool) for r in model.registers}
    for _ in range(max_iterations):
        for r in model.registers:
            for net, inverted, *_ in r.q_nets:
                values[net] = state[r.instance] ^ inverted
        for g in model.gates:
            values[g.out_net] = g.table[_row_index(values, g.in_nets, n)]
        changed = False
        for r in model.registers:
            if r.feedback or _depends_on_state(r):
                new = _scan(_next_state(r, values, False), _next_state(r, values, True), bool(state[r.instance][0]))
            else:
                new = np.concatenate([state[r.instance][:1], _next_state(r, values, state[r.instance])[:-1]])
            if not np.array_equal(new, state[r.instance]):
                state[r.instance], changed = new, True
        if not changed:
            return values
    raise EdaError(f"register states did not settle in {max_iterations} passes (a loop through several registers?)")


def _depends_on_state(r: Register) -> bool:
    half = len(r.next_state) // 2
    return not np.array_equal(r.next_state[:half], r.next_state[half:])


def _source_events(model: TimingModel, old: np.ndarray, new: np.ndarray) -> dict[int, np.ndarray]:
    """Transition times [1, cycles] (+inf: none) of inputs (t = 0) and register outputs (clk->q)."""
    events = {}
    for net in model.input_nets:
        events[net] = np.where(old[net] != new[net], np.float32(0), np.float32(np.inf))[None, :]
    for r in model.registers:
        for net, _inverted, rise, fall in r.q_nets:
            when = np.where(new[net], np.float32(rise), np.float32(fall))
            events[net] = np.where(old[net] != new[net], when, np.float32(np.inf))[None, :]
    return events


def _last_use(model: TimingModel) -> dict[int, int]:
    """Position of the last gate reading each net (so its events can be freed after it)."""
    last = {}
    for position, g in enumerate(model.gates):
        for net in g.in_nets:
            last[net] = position
    return last


def _pin_events(events: np.ndarray, old: np.ndarray, wire: np.ndarray) -> np.ndarray:
    """A net's events as seen at one input pin: shifted by the wire delay of each transition's direction."""
    if not (wire[0] or wire[1]):
        return events
    rises = old[None, :] ^ (np.arange(events.shape[0])[:, None] % 2 == 0)  # event j ends at old ^ (j even)
    shifted = events + np.where(rises, wire[1], wire[0])
    return np.maximum.accumulate(shifted, axis=0)  # a wire cannot reorder a net's transitions


def _gate_events(g: Gate, pins: list[np.ndarray], old_index: np.ndarray, y_old: np.ndarray, inertial: bool,
                 max_events: int) -> np.ndarray:
    """Output transitions of one gate [K, cycles] from its input pins' events, in time order per cycle."""
    n = old_index.shape[0]
    column = np.arange(n)
    times = np.concatenate(pins, axis=0)
    source = np.concatenate([np.full(p.shape[0], i) for i, p in enumerate(pins)])
    order = np.argsort(times, axis=0, kind="stable")
    times = np.take_along_axis(times, order, axis=0)
    sources = source[order]
    m_total = int(np.isfinite(times).any(axis=1).sum())
    index, y_now = old_index.copy(), y_old.copy()
    out = np.full((m_total + 1, n), np.inf, dtype=np.float32)
    count = np.zeros(n, dtype=np.int64)
    for m in range(m_total):
        t = times[m]
        valid = np.isfinite(t)
        s = sources[m]
        index ^= np.where(valid, 1 << s, 0)
        y = g.table[index]
        changed = valid & (y != y_now)
        if not changed.any():
            continue
        pin_rose = (index >> s) & 1
        delay = g.delay_ns[pin_rose, y.astype(np.int64), s]
        t_out = t + delay
        last = out[np.maximum(count - 1, 0), column]
        # A transition no later than the pending one, or (inertial) one that would leave a
        # pulse narrower than the gate's delay, cancels the pending one: the pulse vanishes.
        short = (t_out <= last) | ((t_out - last < delay) if inertial else False)
        cancel = changed & (count > 0) & short
        append = changed & ~cancel
        cancelled = column[cancel]
        out[count[cancelled] - 1, cancelled] = np.inf
        count[cancelled] -= 1
        appended = column[append]
        out[count[appended], appended] = t_out[appended]
        count[appended] += 1
        y_now = np.where(changed, y, y_now)
    return _keep_last(out, count, max_events)


def _keep_last(out: np.ndarray, count: np.ndarray, max_events: int) -> np.ndarray:
    """At most max_events transitions per cycle: whole early pulses are dropped, the last transitions stay exact."""
    k_max = int(count.max()) if count.size else 0
    if k_max <= max_events:
        return out[:max(k_max, 1)]
    drop = np.maximum(count - max_events, 0)
    drop += drop % 2
    rows = np.arange(max_events)[:, None]
    kept = np.take_along_axis(out, np.minimum(drop[None, :] + rows, out.shape[0] - 1), axis=0)
    kept[rows >= (count - drop)[None, :]] = np.inf
    return kept


def simulate_events(model: TimingModel, values: np.ndarray, *, inertial: bool = True,
                    max_events: int = DEFAULT_MAX_EVENTS) -> dict[int, np.ndarray]:
    """Event-driven timing: settle time (ns, -inf: no transition) per endpoint net and cycle [cycles - 1]."""
    old, new = values[:, :-1], values[:, 1:]
    events = _source_events(model, old, new)
    wanted = {ep.net for ep in model.endpoints}
    settle = {net: _settle(events[net]) for net in wanted if net in events}
    last_use = _last_use(model)
    empty = np.full((1, old.shape[1]), np.inf, dtype=np.float32)
    for position, g in enumerate(model.gates):
        pins = [_pin_events(events.get(net, empty), old[net], g.wire_ns[:, i]) for i, net in enumerate(g.in_nets)]
        if any(np.isfinite(p).any() for p in pins):
            with np.errstate(invalid="ignore"):  # inf - inf where a cycle has no event: never used
                out = _gate_events(g, pins, _row_index(old, g.in_nets, old.shape[1]), old[g.out_net], inertial, max_events)
            if not np.array_equal(old[g.out_net] ^ (np.isfinite(out).sum(axis=0) % 2 == 1), new[g.out_net]):
                raise EdaError(f"timing simulation error: the transitions of {g.instance}/{g.out_pin} do not end at its "
                               "zero-delay value (please report this netlist)")
            events[g.out_net] = out
            if g.out_net in wanted:
                settle[g.out_net] = _settle(out)
        for net in set(g.in_nets):
            if last_use.get(net) == position and net not in wanted:
                events.pop(net, None)
    return settle


def _settle(events: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(events), events, -np.inf).max(axis=0).astype(np.float32)


def simulate_floating(model: TimingModel, values: np.ndarray) -> dict[int, np.ndarray]:
    """Floating-mode bound: the earliest time from which each net's final value is determined
    by the inputs known by then (an input is known from its own bound plus wire and arc delay)."""
    old, new = values[:, :-1], values[:, 1:]
    n = new.shape[1]
    settle = {net: _settle(ev) for net, ev in _source_events(model, old, new).items()}
    wanted = {ep.net for ep in model.endpoints}
    last_use = _last_use(model)
    for position, g in enumerate(model.gates):
        k = len(g.in_nets)
        y = new[g.out_net].astype(np.int64)
        known_at = np.empty((k, n), dtype=np.float32)
        for i, net in enumerate(g.in_nets):
            final = new[net].astype(np.int64)
            pin_time = settle.get(net, np.full(n, -np.inf, np.float32)) + g.wire_ns[final, i]
            known_at[i] = pin_time + g.delay_ns[final, y, i]
        if np.isfinite(known_at).any():
            code = new[g.in_nets].astype(np.int64) + 1  # known 0 -> 1, known 1 -> 2
            weights = 3 ** np.arange(k)[:, None]
            result = np.full(n, np.inf, dtype=np.float32)
            for t in [np.full(n, -np.inf, np.float32)] + list(known_at):
                determined = g.ternary[((known_at <= t) * code * weights).sum(axis=0)] != 2
                result = np.where(determined & (t < result), t, result)
            settle[g.out_net] = result
        for net in set(g.in_nets):
            if last_use.get(net) == position and net not in wanted:
                settle.pop(net, None)
    return settle


@dataclass(frozen=True)
class DtaResult:
    """Per main-flop data pin and cycle: settle time at the pin (ns after the clock edge) and the final value."""

    endpoints: pd.DataFrame  # endpoint, instance, pin, q_net, setup_rise_ns, setup_fall_ns
    settle_ns: np.ndarray  # float32 [endpoints, cycles]; -inf: the pin did not move
    final: np.ndarray  # bool [endpoints, cycles]
    values: np.ndarray  # bool [nets, cycles + 1]: zero-delay values, column 0 = the initial cycle

    def settle_plus_setup_ns(self) -> np.ndarray:
        """The shortest clock period each cycle would have passed with, per endpoint."""
        setup = np.where(self.final, self.endpoints["setup_rise_ns"].to_numpy()[:, None],
                         self.endpoints["setup_fall_ns"].to_numpy()[:, None])
        return self.settle_ns + setup.astype(np.float32)


def simulate(model: TimingModel, stimulus: dict[int, np.ndarray], mode: str = DEFAULT_MODE,
             max_events: int = DEFAULT_MAX_EVENTS) -> DtaResult:
    """Stimulus: input net -> bool per cycle (column 0 = the initial cycle). Cycles 1.. are timed."""
    if mode not in DTA_MODES:
        raise EdaError(f"unknown timing-simulation mode {mode!r}: use one of {', '.join(DTA_MODES)}")
    values = cycle_values(model, stimulus)
    if mode == "floating":
        settle = simulate_floating(model, values)
    else:
        settle = simulate_events(model, values, inertial=mode == "inertial", max_events=max_events)
    n = values.shape[1] - 1
    rows, times, finals = [], [], []
    for ep in model.endpoints:
        final = values[ep.net, 1:]
        net_settle = settle.get(ep.net, np.full(n, -np.inf, dtype=np.float32))
        times.append(net_settle + np.where(final, np.float32(ep.wire_ns[1]), np.float32(ep.wire_ns[0])))
        finals.append(final)
        rows.append({"endpoint": f"{ep.instance}/{ep.pin}", "instance": ep.instance, "pin": ep.pin, "q_net": ep.q_net,
                     "setup_rise_ns": ep.setup_ns[1], "setup_fall_ns": ep.setup_ns[0]})
    return DtaResult(pd.DataFrame(rows), np.array(times, dtype=np.float32).reshape(len(rows), n),
                     np.array(finals, dtype=bool).reshape(len(rows), n), values)


def held_outputs_reaching_endpoints(model: TimingModel, values: np.ndarray) -> list[str]:
    """Held (not simulated) state outputs that change during the run and feed a main-flop data pin."""
    moving = {net for r in model.registers if not r.main for net, *_ in r.q_nets if not np.all(values[net] == values[net, 0])}
    reach = {net: {net} for net in moving}
    for g in model.gates:
        found = set().union(*(reach.get(n, set()) for n in g.in_nets))
        if found:
            reach[g.out_net] = found
    hit = set().union(*(reach.get(ep.net, set()) for ep in model.endpoints)) if model.endpoints else set()
    return sorted(model.netlist.net_names.get(net, str(net)) for net in hit)


# ---------------------------------------------------------------------------
# MAC stimulus


def port_stimulus(model: TimingModel, ports: dict[str, np.ndarray]) -> dict[int, np.ndarray]:
    """{port: integer values per cycle} -> {input net: bool per cycle} (two's complement, bit 0 = LSB)."""
    stimulus = {}
    for port, values in ports.items():
        values = np.asarray(values, dtype=np.int64)
        for i, net in enumerate(model.netlist.inputs.get(port, [])):
            if net not in model.clock_nets:
                stimulus[net] = ((values >> i) & 1).astype(bool)
    return stimulus


def mac_stimulus(model: TimingModel, params: MacParams, vectors: pd.DataFrame) -> dict[int, np.ndarray]:
    """eda/verify/mac_sim.py vectors (row k applied before clock edge k) -> input nets per cycle."""
    arrays = stimulus_arrays(params, vectors)
    ports = [p for p in mac_ports(params) if p.direction == "input" and p.name not in CLOCK_PORTS]
    absent = [p.name for p in ports if p.name not in model.netlist.inputs]
    if absent:
        raise EdaError(f"the netlist has no input port(s) {', '.join(absent)}; is it a {params.kind} MAC?")
    return port_stimulus(model, {p.name: arrays[p.name] for p in ports})


def output_values(model: TimingModel, values: np.ndarray, ports: list[str]) -> pd.DataFrame:
    """Unsigned value of each output port in each cycle (column) of `values`."""
    columns = {}
    for port in ports:
        total = np.zeros(values.shape[1], dtype=np.int64)
        for i, net in enumerate(model.netlist.outputs[port]):
            total |= values[net].astype(np.int64) << i
        columns[port] = pd.arrays.IntegerArray(total, np.zeros(len(total), dtype=bool))
    return pd.DataFrame(columns)


def check_against_golden(model: TimingModel, params: MacParams, vectors: pd.DataFrame, values: np.ndarray):
    """The registers after edge k (cycle k+1 of the simulation) against eda/verify/mac_sim.py's golden MAC, row k."""
    ports = [p.name for p in mac_ports(params) if p.direction == "output"]
    actual = output_values(model, values[:, 1:], ports)
    expected = golden_mac(params, vectors).iloc[: len(actual)].reset_index(drop=True)
    return compare_outputs(expected, actual)


# ---------------------------------------------------------------------------
# steps


def _relative(path: Path, step_dir: Path) -> Path:
    # Relative paths keep a finished run folder valid after it is moved into the cache.
    return Path(os.path.relpath(Path(path).resolve(), step_dir.resolve()))


class NetlistJson(Step):
    """yosys: the netlist with liberty-built cell bodies, as JSON (the gate-level power model's script + write_json)."""

    id = "netlist-json"
    inputs = ("netlist",)
    outputs = ("netlist_json",)

    def __init__(self, top: str, liberty: PreparedLiberty, timeout_s: float):
        self.top, self.liberty, self.timeout_s = top, liberty, timeout_s

    def run(self, state: State, step_dir: Path):
        script = GATE_MODEL_SCRIPT.format(top=self.top, liberty=yosys_word(self.liberty.path, LIBERTY_COPY), netlist=_relative(state.views["netlist"], step_dir))
        (step_dir / "netlist_json.ys").write_text(script + f"write_json {NETLIST_JSON}\n")
        run_tool([find_tool("yosys", "YOSYS_EXE"), "-q", "-l", "yosys.log", "netlist_json.ys"], cwd=step_dir, name="yosys-run",
                 timeout_s=self.timeout_s)
        return {"netlist_json": step_dir / NETLIST_JSON}, {}


def _tcl_pin(instance: str, pin: str) -> str | None:
    # Synthesized instance names are plain (_1234_); anything else is left to the max-delay fallback.
    return f"{instance}/{pin}" if re.fullmatch(r"[A-Za-z0-9_]+", instance) and re.fullmatch(r"[A-Za-z0-9_]+", pin) else None


def sdf_tcl(arcs: list[tuple[str, str, str]]) -> str:
    """The `before_power` part: write the SDF, then report_dcalc of each non-unate arc (section `@@ dcalc`)."""
    lines = ['puts "@@ sdf"', f"write_sdf -digits 6 -no_timestamp -no_version {SDF_FILE}", 'puts "@@ dcalc"']
    for instance, pin, out in arcs:
        source, sink = _tcl_pin(instance, pin), _tcl_pin(instance, out)
        if source and sink:
            lines += [f'puts "dcalc_arc {instance} {pin} {out}"', f"report_dcalc -from {source} -to {sink} -max -digits 6"]
    return "\n".join(lines) + "\n"


def non_unate_arcs(netlist: GateNetlist, models: dict[str, CellModel]) -> list[tuple[str, str, str]]:
    arcs = []
    for inst in netlist.instances:
        for out, function in models[inst.cell].outputs.items():
            if out in inst.pins:
                arcs += [(inst.name, pin, out) for pin, sense in zip(function.support, unateness(function)) if sense == "non_unate"]
    return arcs


class WriteSdf(Step):
    """OpenSTA: the flow's STA script with write_sdf and report_dcalc of the non-unate arcs as its before_power part."""

    id = "sdf"
    inputs = ("netlist", "netlist_json")
    outputs = ("sdf", "dcalc", "sta_endpoints")

    def __init__(self, top: str, liberty: PreparedLiberty, platform: Platform, settings: StaSettings, ports: set[str],
                 timeout_s: float):
        self.top, self.liberty, self.platform, self.settings, self.ports, self.timeout_s = top, liberty, platform, settings, ports, timeout_s

    def run(self, state: State, step_dir: Path):
        netlist, models = read_netlist_json(Path(state.views["netlist_json"]), self.top)
        arcs = non_unate_arcs(netlist, models)
        script = sta_script(self.top, _relative(state.views["netlist"], step_dir), self.liberty, self.platform, self.settings,
                            self.ports, before_power=sdf_tcl(arcs), step_dir=step_dir)
        (step_dir / "sdf.tcl").write_text(script)
        run = run_tool([sta_executable(), "-no_init", "-exit", "sdf.tcl"], cwd=step_dir, name="sta", timeout_s=self.timeout_s)
        text = run.log_text()
        report = parse_sta_log(text, source=run.log_path)
        dcalc = parse_dcalc(split_sections(text).get("dcalc", ""))
        atomic_write_text(step_dir / "dcalc.csv", dcalc.to_csv(index=False))
        endpoints = report.endpoints.assign(delay_ns=lambda t: (self.settings.clock_period_ns - t["slack_ns"]).round(4))
        atomic_write_text(step_dir / "endpoints.csv", endpoints.to_csv(index=False))
        metrics = {"sdf__non_unate_arcs": len(arcs), "sdf__dcalc_arcs": int(dcalc.groupby(["instance", "from_pin", "to_pin"]).ngroups),
                   "sdf__sta_delay_ns": round(self.settings.clock_period_ns - report.critical_path.slack_ns, 4)}
        return {"sdf": step_dir / SDF_FILE, "dcalc": step_dir / "dcalc.csv", "sta_endpoints": step_dir / "endpoints.csv"}, metrics


def load_timing_model(netlist_json: Path, top: str, sdf: Path, dcalc_csv: Path, clock_ports: tuple[str, ...]) -> TimingModel:
    netlist, models = read_netlist_json(netlist_json, top)
    return build_timing_model(netlist, models, read_sdf(sdf), pd.read_csv(dcalc_csv), clock_ports)


class TimingSimulation(Step):
    """numpy: MAC vectors -> settle times of every main-flop data pin (settle.npz, endpoints.csv), checked against the golden MAC."""

    id = "dta"
    inputs = ("netlist_json", "sdf", "dcalc", "sta_endpoints")
    outputs = ("settle", "endpoints")

    def __init__(self, params: MacParams, vectors: pd.DataFrame, warmup_cycles: int, settings: StaSettings, mode: str = DEFAULT_MODE):
        if not 0 <= warmup_cycles < len(vectors) - 1:
            raise EdaError(f"a warm-up of {warmup_cycles} cycles leaves nothing to measure in {len(vectors)} vectors")
        if mode not in DTA_MODES:
            raise EdaError(f"unknown timing-simulation mode {mode!r}: use one of {', '.join(DTA_MODES)}")
        self.params, self.vectors, self.warmup_cycles, self.settings, self.mode = params, vectors, warmup_cycles, settings, mode

    def run(self, state: State, step_dir: Path):
        start = time.monotonic()
        clocks = (self.settings.clock_port, self.settings.shadow_clock_port)
        model = load_timing_model(Path(state.views["netlist_json"]), self.params.module, Path(state.views["sdf"]),
                                  Path(state.views["dcalc"]), clocks)
        loaded = time.monotonic()
        result = simulate(model, mac_stimulus(model, self.params, self.vectors), self.mode)
        simulated = time.monotonic()
        comparison = check_against_golden(model, self.params, self.vectors, result.values)
        if not comparison.passed:
            raise EdaError(f"the simulated registers do not match the golden {self.params.kind} MAC, so the timing would belong "
                           f"to a wrong circuit: {comparison.summary()}")
        held = held_outputs_reaching_endpoints(model, result.values)
        measured = slice(self.warmup_cycles, None)
        settle, final = result.settle_ns[:, measured], result.final[:, measured]
        sta = pd.read_csv(state.views["sta_endpoints"]).set_index("endpoint")["delay_ns"]
        endpoints = result.endpoints.assign(sta_delay_ns=result.endpoints["endpoint"].map(sta))
        worst = np.max(result.settle_plus_setup_ns()[:, measured], axis=1, initial=-np.inf)
        np.savez_compressed(step_dir / SETTLE_FILE, settle_ns=settle, final=final)
        atomic_write_text(step_dir / ENDPOINTS_FILE, endpoints.assign(worst_settle_plus_setup_ns=worst).to_csv(index=False))
        above_sta = int(np.sum(worst > endpoints["sta_delay_ns"].to_numpy(float) + 0.001))
        metrics = {f"dta__{k}": v for k, v in model.stats.items()} | {
            "dta__mode": self.mode, "dta__cycles": int(settle.shape[1]), "dta__warmup_cycles": self.warmup_cycles,
            "dta__golden_cycles_compared": comparison.cycles_compared,
            "dta__held_outputs_reaching_endpoints": len(held),
            "dta__worst_settle_plus_setup_ns": round(float(worst.max(initial=-np.inf)), 4),
            "dta__endpoints_above_sta_delay": above_sta,  # by more than 1 ps: should be none (arcs at the STA's worst slews)
            "dta__load_s": round(loaded - start, 3), "dta__simulate_s": round(simulated - loaded, 3),
        }
        return {"settle": step_dir / SETTLE_FILE, "endpoints": step_dir / ENDPOINTS_FILE}, metrics
