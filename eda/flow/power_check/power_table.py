"""Liberty energy tables and their lookup, as OpenSTA's table models do it."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

# Table axis variables looked up at the pin's slew and at the output's load; OpenSTA
# evaluates any other variable at 0.
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
