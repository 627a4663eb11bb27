"""What OpenSTA computed for each instance pin, with activities resolved as OpenSTA does.

OpenSTA's pin dump and activity trace (parsed in `sta_io`) are joined into one
`InstanceState` per instance: slews in s, loads in F and switching activities in
transitions per second, keyed by liberty port name.  This is the input of `compute`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from eda.flow.power_check.boolean import Activity
from eda.flow.power_check.liberty_model import LibraryPowerModel
from eda.flow.power_check.sta_io import StaPinData


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


def is_any_output(direction: str) -> bool:
    """Whether a pin of this direction (as OpenSTA reports it) drives its net."""
    return direction in ("output", "tristate", "bidirect", "inout")


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
            if is_any_output(direction) and net != "-" and path in activity_trace:
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
            elif net in driver_activity and not is_any_output(direction):
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
