"""The timing-error-probability table: every characterized MAC size at every supply voltage.

Inputs are a characterization table (one row per synthesized variant and corner) and
an FO4 table (mean and sigma of the FO4 delay per supply voltage). The method is in
`errmodel`; this module picks the sizes, lines up the voltages and shapes the tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from eda.method.errmodel import DEFAULT_CRITICAL_PATHS, standard_normal_samples, timing_error_probability, timing_error_probability_with_variation
from eda.core.errors import EdaError
from eda.method.pareto import pareto_front

CHARACTERIZATION_COLUMNS = ("kind", "corner", "target_ps", "area_um2", "delay_ns")
FO4_COLUMNS = ("vdd", "fo4_mean_ps", "fo4_sigma_ps")


# The project's default p of eq. 7, not the paper's 0.5 (DEFAULT_PROPAGATION_P). Eq. 7 sums to
# p^ceil(Tclk/d_inv) - p^(T+1): once a path is longer than the clock, only the first term is
# left and it does not depend on the path (the MAC size). With p = 0.5 and our 34-48-stage
# sky130 MAC paths, every size has the same f(a) (to 2 digits) wherever f exceeds 1e-9, so the
# sizer would have nothing to choose from. With p = 0.8, f spreads ~5x across the sizes around
# 1.5 V (the paper's P set spreads 6.8x at 0.68 V). The report states the choice; both are settable.
PROJECT_PROPAGATION_P = 0.8


@dataclass(frozen=True)
class ErrorModelSettings:
    propagation_p: float = PROJECT_PROPAGATION_P
    critical_paths: int = DEFAULT_CRITICAL_PATHS
    process_samples: int = 10_000
    seed: int = 1


def mac_sizes(characterization: pd.DataFrame, kind: str, corner: str, source: str = "characterization table") -> pd.DataFrame:
    """The Pareto-optimal sizes of one MAC kind at one corner, smallest area first.

    Dominated variants (bigger and no faster) are never worth choosing, so the
    size set A of the paper is the area/delay front.
    """
    missing = [c for c in CHARACTERIZATION_COLUMNS if c not in characterization.columns]
    if missing:
        raise EdaError(f"{source}: missing column(s) {', '.join(missing)}; expected the output of `eda characterize`")
    rows = characterization[(characterization["kind"] == kind) & (characterization["corner"] == corner)]
    if rows.empty:
        kinds = sorted(characterization["kind"].unique())
        corners = sorted(characterization["corner"].unique())
        raise EdaError(f"{source}: no rows for kind {kind!r} at corner {corner!r} (kinds: {', '.join(kinds)}; corners: {', '.join(corners)})")
    for column in ("area_um2", "delay_ns"):
        values = pd.to_numeric(rows[column], errors="coerce")
        bad = rows.index[~(values > 0)]
        if len(bad):
            raise EdaError(f"{source}: row {bad[0] + 2} ({column}={rows.loc[bad[0], column]!r}): expected a positive number")
    front = pareto_front(rows).sort_values("area_um2").reset_index(drop=True)
    front.insert(0, "size_index", range(len(front)))
    return front


def stage_statistics(fo4: pd.DataFrame, vdds: list[float] | None) -> pd.DataFrame:
    """FO4 mean/sigma (ns) at each wanted voltage; between table points, interpolated
    linearly in log(delay), which follows the near-exponential rise at low voltage."""
    table = fo4.sort_values("vdd").reset_index(drop=True)
    wanted = sorted(set(table["vdd"].round(6)) if vdds is None else {round(float(v), 6) for v in vdds}, reverse=True)
    low, high = table["vdd"].min(), table["vdd"].max()
    outside = [v for v in wanted if v < low - 1e-9 or v > high + 1e-9]
    if outside:
        raise EdaError(f"supply voltage(s) {', '.join(f'{v:g}' for v in outside)} V outside the FO4 table ({low:g} to {high:g} V); "
                       "extend it with `eda fo4 --vdd ...`")
    vdd = np.array(wanted)
    mean_ns = np.exp(np.interp(vdd, table["vdd"], np.log(table["fo4_mean_ps"] / 1e3)))
    sigma_ns = np.exp(np.interp(vdd, table["vdd"], np.log(table["fo4_sigma_ps"] / 1e3)))
    exact = np.isin(np.round(vdd, 6), np.round(table["vdd"].to_numpy(), 6))
    return pd.DataFrame({"vdd": vdd, "fo4_mean_ns": mean_ns, "fo4_sigma_ns": sigma_ns, "fo4_interpolated": ~exact})


def nominal_inverter_delay_ns(fo4: pd.DataFrame, nominal_vdd: float) -> float:
    match = fo4[np.isclose(fo4["vdd"], nominal_vdd)]
    if match.empty:
        raise EdaError(f"the FO4 table has no row at the nominal supply {nominal_vdd:g} V (it has {', '.join(f'{v:g}' for v in sorted(fo4['vdd']))}); "
                       "the stage count T = d_path / d_inv needs the FO4 delay where the MACs were timed")
    return float(match["fo4_mean_ps"].iloc[0]) / 1e3


def default_clock_ns(sizes: pd.DataFrame) -> float:
    """The period at which every size meets timing at the nominal supply: the slowest (smallest) size's delay.

    A heterogeneous array runs all its MACs on one clock, so the smallest MAC in use sets it
    (the paper's 1.56 ns is its nominal clock); the larger sizes' slack is what buys
    robustness when the supply drops.
    """
    return float(sizes["delay_ns"].max())


def error_probability_table(sizes: pd.DataFrame, fo4: pd.DataFrame, nominal_vdd: float, clock_ns: float,
                            vdds: list[float] | None = None, settings: ErrorModelSettings = ErrorModelSettings()) -> pd.DataFrame:
    """One row per size and voltage: p_error (eqs. 7-9) and, beside it, eqs. 7-8 alone."""
    stages = stage_statistics(fo4, vdds)
    d_inv_ns = nominal_inverter_delay_ns(fo4, nominal_vdd)
    delay = sizes["delay_ns"].to_numpy(float)[:, None]
    mean, sigma = stages["fo4_mean_ns"].to_numpy()[None, :], stages["fo4_sigma_ns"].to_numpy()[None, :]
    normal = standard_normal_samples(settings.process_samples, settings.seed)
    kwargs = dict(p=settings.propagation_p, n_paths=settings.critical_paths)
    with_variation = timing_error_probability_with_variation(delay, d_inv_ns, mean, sigma, clock_ns, normal, **kwargs)
    input_only = timing_error_probability(delay, d_inv_ns, mean, clock_ns, **kwargs)
    n_sizes, n_vdds = with_variation.shape
    table = pd.DataFrame({
        "size_index": np.repeat(sizes["size_index"].to_numpy(), n_vdds),
        "target_ps": np.repeat(sizes["target_ps"].to_numpy(), n_vdds),
        "area_um2": np.repeat(sizes["area_um2"].to_numpy(float), n_vdds),
        "delay_ns": np.repeat(sizes["delay_ns"].to_numpy(float), n_vdds),
        "vdd": np.tile(stages["vdd"].to_numpy(), n_sizes),
        "clock_ns": clock_ns,
        "p_error": with_variation.ravel(),
        "p_error_input_only": input_only.ravel(),
        "path_stages": np.repeat(sizes["delay_ns"].to_numpy(float) / d_inv_ns, n_vdds),
        "clock_stages": (clock_ns / np.tile(stages["fo4_mean_ns"].to_numpy(), n_sizes)),
        "fo4_mean_ps": np.tile(stages["fo4_mean_ns"].to_numpy() * 1e3, n_sizes),
        "fo4_sigma_ps": np.tile(stages["fo4_sigma_ns"].to_numpy() * 1e3, n_sizes),
        "fo4_interpolated": np.tile(stages["fo4_interpolated"].to_numpy(), n_sizes),
    })
    if "kind" in sizes.columns:
        table.insert(0, "kind", sizes["kind"].iloc[0])
    return table


def wide_table(table: pd.DataFrame, value: str = "p_error") -> pd.DataFrame:
    """Sizes down, voltages across (highest first): the paper's set A / set P."""
    wide = table.pivot(index="area_um2", columns="vdd", values=value)
    return wide[sorted(wide.columns, reverse=True)]
