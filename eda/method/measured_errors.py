"""Timing-error probabilities measured by timing simulation, and eq. 7's p fitted to them.

The input is a dynamic timing analysis at the nominal supply (eda/flow/dta.py): for every
register data pin and every simulated cycle, the time its value settled after the clock edge
(-inf when it did not move) and the setup time of its final edge. The voltage model scales
every gate delay by the FO4 ratio mu(V) / mu(V_nom) (eda/method/scaling.py), so a bit is late
at supply V and clock period T when

    (settle + setup) * mu(V) / mu(V_nom) > T.

Per output bit this gives the fraction of cycles it is late; per MAC and cycle, whether any bit
is late, any bit a Razor element protects (the kind's recovery applies), and any bit none does
(a silent error in the partial sum). Process variation (eq. 9) is not in the measurement:
every gate keeps its nominal delay times the mean FO4 ratio.

Eqs. 7-9 stay the model; `fit_propagation_p` finds the p that brings the model's per-MAC
probabilities closest to the measured ones (least squares in log10, over the points the
measurement saw at least one error).

Plain numpy/pandas: no tools, no files.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from eda.core.errors import EdaError
from eda.designs.mac import MacParams
from eda.method.bit_errors import classify_bit
from eda.method.errtable import ErrorModelSettings, error_probability_table
from eda.method.scaling import fo4_delay_ratio

OTHER_GROUP = "other"  # a register bit classify_bit does not know (none in the MAC templates)
MODEL_FLOOR = 1e-12  # model probabilities below this count as this in the log-space fit
P_BOUNDS = (0.01, 0.99)
P_GRID_STEP = 0.01


def protected_bit(params: MacParams, group: str, bit: int) -> bool:
    """Whether a late register bit is caught by the kind's Razor elements.

    proposed: the upper razor_bits of the product register (the product is dropped);
    thundervolt: every partial-sum bit (the shadow value is taken); tpu: none.
    """
    if params.kind == "proposed":
        return group == "product" and bit >= params.prod_bits - params.razor_bits
    if params.kind == "thundervolt":
        return group == "accumulator"
    return False


def register_bits(endpoints: pd.DataFrame, q_nets: dict[str, str], params: MacParams) -> pd.DataFrame:
    """One row per endpoint (register data pin): its register bit (group, bit) and whether it is protected.

    endpoints: columns endpoint, instance; q_nets: instance -> the net its Q drives
    (eda.parsers.netlist.register_output_nets).
    """
    missing = {"endpoint", "instance"} - set(endpoints.columns)
    if missing:
        raise EdaError(f"endpoint table lacks column(s) {', '.join(sorted(missing))}")
    rows = []
    for endpoint, instance in zip(endpoints["endpoint"], endpoints["instance"]):
        net = q_nets.get(instance, "")
        found = classify_bit(net, params) if net else None
        group, bit = found if found is not None else (OTHER_GROUP, -1)
        rows.append({"endpoint": endpoint, "net": net, "group": group, "bit": bit,
                     "protected": protected_bit(params, group, bit)})
    return pd.DataFrame(rows)


def delay_scales(fo4: pd.DataFrame, vdds: list[float], nominal_vdd: float) -> pd.DataFrame:
    """vdd, delay_scale = mu(vdd) / mu(nominal) from the FO4 table (highest supply first)."""
    rows = []
    for vdd in sorted({round(float(v), 6) for v in vdds}, reverse=True):
        ratio = fo4_delay_ratio(fo4, vdd, nominal_vdd)
        if not np.isfinite(ratio):
            raise EdaError(f"{vdd:g} V or the nominal {nominal_vdd:g} V is outside the FO4 table "
                           f"({fo4['vdd'].min():g} to {fo4['vdd'].max():g} V)")
        rows.append({"vdd": vdd, "delay_scale": ratio})
    return pd.DataFrame(rows)


def required_time_ns(settle_ns: np.ndarray, final: np.ndarray, setup_rise_ns, setup_fall_ns) -> np.ndarray:
    """settle + setup of the final edge, per endpoint and cycle: the shortest period that cycle passes with."""
    rise = np.asarray(setup_rise_ns, dtype=float)[:, None]
    fall = np.asarray(setup_fall_ns, dtype=float)[:, None]
    return np.asarray(settle_ns, dtype=float) + np.where(final, rise, fall)


def late_cycles(required_ns: np.ndarray, delay_scale: float, clock_ns: float) -> np.ndarray:
    """bool [endpoints, cycles]: the data pin settles too late (pins that did not move never are)."""
    if not clock_ns > 0:
        raise EdaError(f"the clock period must be positive, got {clock_ns}")
    return required_ns * delay_scale > clock_ns


def _bit_lateness(late: np.ndarray, bits: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Per register bit (a bit with several data pins is late if any is): the bits and late [bits, cycles]."""
    keys = bits[["group", "bit", "protected"]].drop_duplicates(["group", "bit"]).reset_index(drop=True)
    index = {(g, b): i for i, (g, b) in enumerate(zip(keys["group"], keys["bit"]))}
    per_bit = np.zeros((len(keys), late.shape[1]), dtype=bool)
    for row, (group, bit) in enumerate(zip(bits["group"], bits["bit"])):
        per_bit[index[(group, bit)]] |= late[row]
    return keys, per_bit


def measured_error_tables(required_ns: np.ndarray, bits: pd.DataFrame, scales: pd.DataFrame,
                          clock_ns: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per bit and voltage: p_late; per voltage: p_error (any bit), p_protected, p_unprotected, cycles.

    required_ns: [endpoints, cycles] in the row order of `bits` (register_bits)."""
    if required_ns.shape[0] != len(bits):
        raise EdaError(f"{required_ns.shape[0]} endpoints of settle times but {len(bits)} classified register bits")
    cycles = required_ns.shape[1]
    if cycles == 0:
        raise EdaError("no simulated cycles to measure")
    bit_rows, mac_rows = [], []
    for vdd, scale in zip(scales["vdd"], scales["delay_scale"]):
        keys, late = _bit_lateness(late_cycles(required_ns, scale, clock_ns), bits)
        protected = keys["protected"].to_numpy(bool)
        bit_rows.append(keys.assign(vdd=vdd, clock_ns=clock_ns, p_late=late.mean(axis=1)))
        mac_rows.append({"vdd": vdd, "clock_ns": clock_ns, "p_error": late.any(axis=0).mean(),
                         "p_protected": late[protected].any(axis=0).mean(),
                         "p_unprotected": late[~protected].any(axis=0).mean(), "cycles": cycles})
    bit_table = pd.concat(bit_rows, ignore_index=True)[["vdd", "clock_ns", "group", "bit", "p_late", "protected"]]
    return bit_table, pd.DataFrame(mac_rows)


# ---------------------------------------------------------------------------
# eq. 7's p, fitted


@dataclass(frozen=True)
class PropagationFit:
    p: float
    rms_log10_error: float  # at p, over the fitted points
    points: int  # (size, voltage) points with a measured error probability > 0
    at_bound: bool  # the best p is a search bound: the model cannot follow the measurement there


def model_table(sizes: pd.DataFrame, fo4: pd.DataFrame, nominal_vdd: float, clock_ns: float, vdds: list[float],
                settings: ErrorModelSettings, p: float) -> pd.DataFrame:
    """Eqs. 7-9 for the given sizes and voltages with propagation probability p."""
    return error_probability_table(sizes, fo4, nominal_vdd, clock_ns, vdds, replace(settings, propagation_p=float(p)))


def log10_error(measured: pd.DataFrame, model: pd.DataFrame) -> float:
    """RMS of log10(model) - log10(measured) over the measured points > 0 (model floored at MODEL_FLOOR)."""
    points = _fit_points(measured).merge(model[["size_index", "vdd", "p_error"]].assign(vdd=lambda t: t["vdd"].round(6)),
                                         on=["size_index", "vdd"], suffixes=("_measured", "_model"), validate="one_to_one")
    if points.empty:
        return float("nan")
    difference = np.log10(np.maximum(points["p_error_model"], MODEL_FLOOR)) - np.log10(points["p_error_measured"])
    return float(np.sqrt(np.mean(difference ** 2)))


def _fit_points(measured: pd.DataFrame) -> pd.DataFrame:
    missing = {"size_index", "vdd", "p_error"} - set(measured.columns)
    if missing:
        raise EdaError(f"measured table lacks column(s) {', '.join(sorted(missing))}")
    points = measured.loc[measured["p_error"] > 0, ["size_index", "vdd", "p_error"]]
    return points.assign(vdd=points["vdd"].round(6))


def fit_propagation_p(measured: pd.DataFrame, sizes: pd.DataFrame, fo4: pd.DataFrame, nominal_vdd: float, clock_ns: float,
                      settings: ErrorModelSettings = ErrorModelSettings(), bounds: tuple[float, float] = P_BOUNDS) -> PropagationFit:
    """The p of eq. 7 whose model table is closest to the measured per-MAC p_error, in log10.

    A grid over `bounds` (eq. 7 in p is far from convex: its terms switch on with the stage
    counts), then a golden-section refinement around the best grid point.
    """
    points = _fit_points(measured)
    if points.empty:
        raise EdaError("no measured error at any size and voltage: nothing to fit p to (lower the supply or the clock)")
    vdds = sorted(points["vdd"].unique(), reverse=True)
    used = sizes[sizes["size_index"].isin(points["size_index"])]

    def cost(p: float) -> float:
        return log10_error(points, model_table(used, fo4, nominal_vdd, clock_ns, vdds, settings, p))

    low, high = bounds
    grid = np.round(np.arange(low, high + P_GRID_STEP / 2, P_GRID_STEP), 6)
    costs = np.array([cost(p) for p in grid])
    best = int(np.nanargmin(costs))
    p, value = _golden_section(cost, max(low, grid[best] - P_GRID_STEP), min(high, grid[best] + P_GRID_STEP),
                               float(grid[best]), float(costs[best]))
    return PropagationFit(round(p, 4), value, len(points), bool(np.isclose(p, low) or np.isclose(p, high)))


def _golden_section(cost, low: float, high: float, best_p: float, best_cost: float, tolerance: float = 1e-4) -> tuple[float, float]:
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = low, high
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = cost(c), cost(d)
    while b - a > tolerance:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = cost(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = cost(d)
    for p, value in ((c, fc), (d, fd)):
        if value < best_cost:
            best_p, best_cost = p, value
    return float(best_p), float(best_cost)


def side_by_side(measured: pd.DataFrame, fitted: pd.DataFrame, configured: pd.DataFrame) -> pd.DataFrame:
    """Measured p_error next to eqs. 7-9 with the fitted and the configured p, per size and voltage."""
    def keyed(table: pd.DataFrame, name: str) -> pd.DataFrame:
        return table[["size_index", "vdd", "p_error"]].assign(vdd=lambda t: t["vdd"].round(6)).rename(columns={"p_error": name})

    base = measured.assign(vdd=measured["vdd"].round(6))
    return (base.merge(keyed(fitted, "p_model_fitted"), on=["size_index", "vdd"], how="left")
                .merge(keyed(configured, "p_model_configured"), on=["size_index", "vdd"], how="left"))
