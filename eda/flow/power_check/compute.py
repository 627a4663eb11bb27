"""Internal power of instances from the liberty tables, as OpenSTA 2.0.17 computes it.

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
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from eda.core.errors import EdaError
from eda.flow.power_check.boolean import Activity, eval_activity, infer_when
from eda.flow.power_check.instance_states import InstanceState, is_any_output
from eda.flow.power_check.liberty_model import CellPowerModel, LibraryPowerModel


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
        load_f = to_pin.load_f if is_any_output(to_pin.direction) else 0.0
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
