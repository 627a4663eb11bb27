"""A voltage model for platforms without SPICE models: the alpha-power law fitted to liberty corners.

Sakurai and Newton's alpha-power law gives a gate's delay as d(V) = k * V / (V - Vth)^alpha. A
PDK's liberty corners that share process and temperature but differ in supply (gf180 tt 25 C at
1.8, 3.3 and 5.0 V; ihp-sg13g2 typ 25 C at 1.20 and 1.50 V) are points of that curve; the FO4
inverter delay timed at each of them (eda/flow/voltage_model.py) is what is fitted here. The
fitted law then stands in for the ngspice FO4 table (eda/spice/table.py), in the same columns,
so the error tables and the delay scaling (errtable.py, scaling.py) work on that platform.

With three or more voltages k, Vth and alpha are fitted; with two, one equation is left for the
curve's shape, so alpha is fixed (DEFAULT_ALPHA) and Vth solved. The check
(`corner_pair_check`) predicts each MAC's delay at one corner from another and compares it with
OpenSTA there. Pure numpy/pandas: no tool runs here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from eda.core.errors import EdaError

# Sakurai-Newton's value for velocity-saturated short-channel MOSFETs (alpha ~ 1.3); used only when
# two voltages leave alpha undetermined. The report names it.
DEFAULT_ALPHA = 1.3
# No Monte Carlo behind a fitted table: sigma is this fraction of the mean at every voltage, the
# relative sigma of sky130's ngspice FO4 Monte Carlo at its nominal 1.80 V (2.29 / 83.4 ps = 0.027).
# Below nominal the real spread grows (sky130: 0.05 at 1.15 V, 0.12 at 0.90 V), so error rates from
# such a table understate process variation at low supply.
DEFAULT_SIGMA_FRACTION = 0.03
FO4_TABLE_COLUMNS = ("vdd", "fo4_mean_ps", "fo4_sigma_ps", "samples", "seed")
# The delay predictions of corner_pair_check, in its column names.
MODELS = ("reference_fo4", "reference_fo4_scaled", "alpha_power", "platform_fo4")


@dataclass(frozen=True)
class AlphaPowerFit:
    k: float               # delay unit (ps) * V^(alpha-1)
    vth: float             # V
    alpha: float
    alpha_fitted: bool     # False: alpha was fixed (two voltages)
    vdd: tuple[float, ...]       # the fitted points
    delay_ps: tuple[float, ...]

    def delay(self, vdd) -> np.ndarray:
        v = np.asarray(vdd, dtype=float)
        return self.k * v / (v - self.vth) ** self.alpha

    def ratio(self, vdd: float, reference_vdd: float) -> float:
        """d(vdd) / d(reference): the delay scaling between two supplies."""
        return float(self.delay(vdd) / self.delay(reference_vdd))

    @property
    def max_residual(self) -> float:
        """Largest relative error of the law at the fitted points."""
        return float(np.max(np.abs(self.delay(self.vdd) / np.asarray(self.delay_ps) - 1)))


def _check_points(vdd: np.ndarray, delay: np.ndarray) -> None:
    if vdd.shape != delay.shape or vdd.ndim != 1:
        raise EdaError(f"alpha-power fit: {vdd.size} voltages but {delay.size} delays; expected one delay per voltage")
    if vdd.size < 2 or np.unique(np.round(vdd, 6)).size != vdd.size:
        raise EdaError(f"alpha-power fit needs at least two different supply voltages, got {', '.join(f'{v:g}' for v in vdd)} V")
    if not (np.all(vdd > 0) and np.all(delay > 0) and np.all(np.isfinite(delay))):
        raise EdaError("alpha-power fit: every voltage and delay must be a positive number")
    order = np.argsort(vdd)
    if np.any(np.diff(delay[order]) >= 0):
        raise EdaError(f"alpha-power fit: delay does not fall with rising supply ({', '.join(f'{v:g} V: {d:.4g} ps' for v, d in zip(vdd[order], delay[order]))}); "
                       "the corners are not one process and temperature, or the measurement is wrong")


def _fit_given_vth(vdd: np.ndarray, delay: np.ndarray, vth: float, alpha: float | None) -> tuple[float, float, float]:
    """(log k, alpha, squared log error): log(d / V) = log k - alpha * log(V - Vth) is linear."""
    y = np.log(delay / vdd)
    x = np.log(vdd - vth)
    if alpha is None:
        slope, intercept = np.polyfit(x, y, 1)
        alpha_value = -slope
    else:
        alpha_value = alpha
        intercept = float(np.mean(y + alpha * x))
    residual = y - (intercept - alpha_value * x)
    return float(intercept), float(alpha_value), float(residual @ residual)


def fit_alpha_power(vdd, delay_ps, alpha: float | None = None) -> AlphaPowerFit:
    """The law through (vdd, delay) points, fitted in log(delay) (relative errors count alike).

    alpha None: fitted when there are three or more voltages, else DEFAULT_ALPHA. Vth is searched
    between 0 and just under the lowest voltage (a grid, then a finer grid around the best);
    for each Vth the rest is a linear least-squares problem.
    """
    v = np.asarray(vdd, dtype=float)
    d = np.asarray(delay_ps, dtype=float)
    _check_points(v, d)
    fitted = alpha is None and v.size >= 3
    fixed = None if fitted else (DEFAULT_ALPHA if alpha is None else float(alpha))
    if fixed is not None and fixed <= 0:
        raise EdaError(f"alpha-power fit: alpha must be positive, got {fixed:g}")
    high = float(v.min()) * (1 - 1e-3)
    grid = np.linspace(0.0, high, 2001)
    for _ in range(3):  # refine around the best point
        errors = [_fit_given_vth(v, d, vth, fixed)[2] for vth in grid]
        best = int(np.argmin(errors))
        step = grid[1] - grid[0]
        grid = np.linspace(max(0.0, grid[best] - step), min(high, grid[best] + step), 201)
    vth = float(grid[np.argmin([_fit_given_vth(v, d, t, fixed)[2] for t in grid])])
    log_k, alpha_value, _ = _fit_given_vth(v, d, vth, fixed)
    if fitted and alpha_value <= 0:
        raise EdaError(f"alpha-power fit: the points give a non-physical alpha {alpha_value:.3g}")
    return AlphaPowerFit(float(np.exp(log_k)), vth, alpha_value, fitted, tuple(map(float, v)), tuple(map(float, d)))


def voltage_groups(corners: pd.DataFrame) -> list[pd.DataFrame]:
    """Corners (columns corner, process, vdd, temp_c) that share process and temperature and span
    at least two supplies: the ones a voltage law may be fitted to, each ascending in vdd."""
    missing = {"corner", "process", "vdd", "temp_c"} - set(corners.columns)
    if missing:
        raise EdaError(f"corner table lacks column(s) {', '.join(sorted(missing))}")
    groups = []
    for _, group in corners.groupby(["process", "temp_c"], sort=True):
        if group["vdd"].round(6).nunique() >= 2:
            groups.append(group.sort_values("vdd").reset_index(drop=True))
    return groups


def fo4_table_from_fit(fit: AlphaPowerFit, vdds, sigma_fraction: float = DEFAULT_SIGMA_FRACTION) -> pd.DataFrame:
    """An FO4 table (the columns of eda/spice/table.py) from the law: mean = d(V), sigma =
    sigma_fraction * mean, samples 1 (one deterministic measurement per corner, no Monte Carlo),
    seed 0 (none)."""
    v = np.unique(np.round(np.asarray(vdds, dtype=float), 6))
    if v.size == 0:
        raise EdaError("FO4 table: no supply voltages")
    if np.any(v <= fit.vth + 0.05):
        raise EdaError(f"FO4 table: supply {v.min():g} V is within 50 mV of the fitted Vth {fit.vth:.3f} V, "
                       "where the alpha-power law does not hold; start the voltages higher")
    if not 0 < sigma_fraction < 1:
        raise EdaError(f"FO4 table: sigma fraction must be between 0 and 1, got {sigma_fraction:g}")
    mean = fit.delay(v)
    return pd.DataFrame({"vdd": v, "fo4_mean_ps": np.round(mean, 4), "fo4_sigma_ps": np.round(mean * sigma_fraction, 4),
                         "samples": 1, "seed": 0}, columns=list(FO4_TABLE_COLUMNS))


def _fo4_ratio(fo4: pd.DataFrame, vdd: float, reference_vdd: float) -> float:
    """mu(vdd) / mu(reference) of an FO4 table, log-interpolated as errtable.stage_statistics does;
    NaN outside the table (no extrapolation)."""
    table = fo4.sort_values("vdd")
    low, high = table["vdd"].min(), table["vdd"].max()
    if not all(low - 1e-9 <= x <= high + 1e-9 for x in (vdd, reference_vdd)):
        return float("nan")
    log_mean = np.log(table["fo4_mean_ps"].to_numpy(float))
    at = np.exp(np.interp([vdd, reference_vdd], table["vdd"].to_numpy(float), log_mean))
    return float(at[0] / at[1])


def corner_pair_check(characterization: pd.DataFrame, reference_fo4: pd.DataFrame, fits: dict[tuple[str, float], AlphaPowerFit],
                      platform_fo4: pd.DataFrame | None = None, voltage_scale: float | None = None) -> pd.DataFrame:
    """For every ordered pair of corners with the same process and temperature and different
    supplies, and every characterized MAC: its delay at the second corner predicted from the first
    (a) with the reference (sky130 ngspice) FO4 ratio at the same two voltages, (a') the same at the
    voltages times voltage_scale (reference nominal / platform nominal: the same fraction of each
    PDK's nominal supply, as absolute voltages do not carry over between PDKs), (b) with the law
    fitted to this PDK's own corners (fits, keyed by (process, temp_c)), and (c) with the platform's
    written FO4 table, beside OpenSTA's delay there. Errors are prediction / STA - 1."""
    required = {"kind", "target_ps", "corner", "vdd", "temp_c", "delay_ns"}
    missing = required - set(characterization.columns)
    if missing:
        raise EdaError(f"characterization table lacks column(s) {', '.join(sorted(missing))}")
    table = characterization.copy()
    if "process" not in table.columns:
        raise EdaError("characterization table lacks the corners' process (add a 'process' column from the platform)")
    rows = []
    for (process, temp_c), group in table.groupby(["process", "temp_c"], sort=True):
        voltages = sorted(group["vdd"].round(6).unique())
        if len(voltages) < 2:
            continue
        fit = fits.get((process, float(temp_c)))
        by_key = group.set_index(["kind", "target_ps", "corner"])
        corners = group.drop_duplicates("corner")[["corner", "vdd"]].sort_values("vdd", ascending=False)
        for _, source in corners.iterrows():
            for _, dest in corners.iterrows():
                if source["corner"] == dest["corner"]:
                    continue
                v_from, v_to = float(source["vdd"]), float(dest["vdd"])
                ratio_reference = _fo4_ratio(reference_fo4, v_to, v_from)
                ratio_scaled = _fo4_ratio(reference_fo4, v_to * voltage_scale, v_from * voltage_scale) if voltage_scale else float("nan")
                ratio_fit = fit.ratio(v_to, v_from) if fit is not None else float("nan")
                ratio_table = _fo4_ratio(platform_fo4, v_to, v_from) if platform_fo4 is not None else float("nan")
                for kind, target in sorted(set(zip(group["kind"], group["target_ps"]))):
                    try:
                        d_from = float(by_key.loc[(kind, target, source["corner"]), "delay_ns"])
                        d_to = float(by_key.loc[(kind, target, dest["corner"]), "delay_ns"])
                    except KeyError:
                        continue
                    rows.append({
                        "kind": kind, "target_ps": target, "process": process, "temp_c": float(temp_c),
                        "from_corner": source["corner"], "to_corner": dest["corner"], "from_vdd": v_from, "to_vdd": v_to,
                        "delay_from_ns": d_from, "delay_sta_ns": d_to, "delay_ratio_sta": d_to / d_from,
                        "delay_reference_fo4_ns": d_from * ratio_reference,
                        "delay_reference_fo4_scaled_ns": d_from * ratio_scaled,
                        "delay_alpha_power_ns": d_from * ratio_fit,
                        "delay_platform_fo4_ns": d_from * ratio_table,
                    })
    result = pd.DataFrame(rows)
    if result.empty:
        return result
    for model in MODELS:
        result[f"error_{model}"] = result[f"delay_{model}_ns"] / result["delay_sta_ns"] - 1
    return result


def error_summary(check: pd.DataFrame) -> pd.DataFrame:
    """Largest |error| per corner pair and model (NaN where the model does not apply)."""
    columns = [f"error_{m}" for m in MODELS if f"error_{m}" in check.columns]
    if check.empty:
        return pd.DataFrame(columns=["from_corner", "to_corner", "sizes", *[f"max_abs_{c}" for c in columns]])
    grouped = check.groupby(["from_corner", "to_corner", "from_vdd", "to_vdd"], sort=False)
    summary = grouped[columns].agg(lambda s: s.abs().max(skipna=True)).rename(columns={c: f"max_abs_{c}" for c in columns})
    summary.insert(0, "sizes", grouped.size())
    return summary.reset_index()


def default_table_vdds(fit: AlphaPowerFit, nominal_vdd: float) -> list[float]:
    """Supplies of a platform table: from half the nominal supply (as sky130's 1.80 to 0.90 V), or
    the lowest fitted corner if lower, but at least 0.1 V above Vth, up to the highest fitted corner;
    steps of 50 mV up to a 2 V nominal, else 100 mV. Multiples of the step, so the nominal is a row
    (the error tables need it: errtable.nominal_inverter_delay_ns)."""
    step_mv = 50 if nominal_vdd <= 2.0 else 100
    low = max(min(0.5 * nominal_vdd, min(fit.vdd)), fit.vth + 0.1)
    high = max(max(fit.vdd), nominal_vdd)
    start = int(np.ceil(low * 1000 / step_mv - 1e-9)) * step_mv
    stop = int(np.floor(high * 1000 / step_mv + 1e-9)) * step_mv
    vdds = {mv / 1000 for mv in range(start, stop + 1, step_mv)} | {round(nominal_vdd, 6)} | {round(v, 6) for v in fit.vdd}
    return sorted(vdds)
