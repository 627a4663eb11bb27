"""Eqs. 7-9 against hand computation, and the error table's trends on real characterization data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eda.method.errmodel import input_error_probability, multi_path_error_probability, standard_normal_samples, timing_error_probability, timing_error_probability_with_variation
from eda.core.errors import EdaError
from eda.method.errtable import ErrorModelSettings, default_clock_ns, error_probability_table, mac_sizes, stage_statistics, wide_table


def test_eq7_by_hand_small_chain():
    # T = 4 stages, clock allows 2: N = 2, 3, 4 -> (1/4 + 1/8 + 1/16) * 1/2
    assert input_error_probability(4, 2, 0.5) == pytest.approx((0.25 + 0.125 + 0.0625) * 0.5, rel=1e-15)
    # p = 0.3, T = 3, clock 1: 0.3*0.7 + 0.09*0.7 + 0.027*0.7
    assert input_error_probability(3, 1, 0.3) == pytest.approx((0.3 + 0.09 + 0.027) * 0.7, rel=1e-14)
    # Non-integer stage counts: the sum runs over N = ceil(2.2)=3 .. floor(4.9)=4.
    assert input_error_probability(4.9, 2.2, 0.5) == pytest.approx((0.125 + 0.0625) * 0.5, rel=1e-15)


def test_eq7_path_shorter_than_clock_never_fails():
    assert input_error_probability(3, 4, 0.5) == 0.0
    assert input_error_probability(np.array([3.9, 4.0]), 4.0, 0.5).tolist() == [0.0, 0.5 ** 4 * 0.5]


def test_eq8_by_hand():
    single = (0.25 + 0.125 + 0.0625) * 0.5
    assert multi_path_error_probability(single, 16) == pytest.approx(1 - (1 - single) ** 16, rel=1e-13)
    assert multi_path_error_probability(single, 1) == pytest.approx(single, rel=1e-15)
    # Tiny probabilities keep their digits (1 - (1-x)^n would give 0 here).
    assert multi_path_error_probability(1e-18, 16) == pytest.approx(16e-18, rel=1e-9)


def test_eq7_8_through_delays():
    # 0.4 ns path, 0.1 ns nominal inverter: T = 4; at the scaled supply a stage takes 0.2 ns,
    # so a 0.4 ns clock allows 2 stages.
    expected = 1 - (1 - (0.25 + 0.125 + 0.0625) * 0.5) ** 16
    assert timing_error_probability(0.4, 0.1, 0.2, 0.4) == pytest.approx(expected, rel=1e-13)


def test_variation_with_zero_sigma_equals_no_variation():
    normal = standard_normal_samples(100, 3)
    delays = np.array([[0.41], [0.55]])
    stage_mean = np.array([[0.15, 0.2]])
    with_var = timing_error_probability_with_variation(delays, 0.1, stage_mean, np.zeros_like(stage_mean), 0.4, normal)
    assert np.allclose(with_var, timing_error_probability(delays, 0.1, stage_mean, 0.4), rtol=1e-14, atol=0)


def test_variation_monte_carlo_is_seeded():
    args = (np.array([[0.41], [0.55]]), 0.1, np.array([[0.15, 0.2]]), np.array([[0.02, 0.03]]), 0.4)
    first = timing_error_probability_with_variation(*args, standard_normal_samples(500, 7))
    again = timing_error_probability_with_variation(*args, standard_normal_samples(500, 7))
    other = timing_error_probability_with_variation(*args, standard_normal_samples(500, 8))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_bad_parameters_are_errors():
    with pytest.raises(EdaError, match="propagation probability"):
        input_error_probability(4, 2, 1.0)
    with pytest.raises(EdaError, match="critical paths"):
        multi_path_error_probability(0.1, 0)
    with pytest.raises(EdaError, match="clock period"):
        timing_error_probability(0.4, 0.1, 0.2, 0.0)


# A real characterization (committed by `eda run`) and FO4 statistics of the shape ngspice gives.
FO4 = pd.DataFrame({"vdd": [1.8, 1.6, 1.4, 1.2, 1.0], "fo4_mean_ps": [83.0, 104.0, 147.0, 262.0, 802.0],
                    "fo4_sigma_ps": [2.2, 3.0, 5.0, 12.0, 68.6]})


@pytest.fixture(scope="module")
def proposed_sizes():
    from eda.core.paths import REPO_ROOT

    table = pd.read_csv(REPO_ROOT / "reports" / "sky130hd" / "characterization.csv")
    return mac_sizes(table, "proposed", "tt_025C_1v80")


def test_sizes_are_the_pareto_front(proposed_sizes):
    """The main job's targets (voltscale.toml) give a ladder of Pareto sizes spanning >= 15% in area
    (read from the committed characterization rather than synthesized again: 37 runs)."""
    assert proposed_sizes["area_um2"].is_monotonic_increasing
    assert proposed_sizes["area_um2"].max() / proposed_sizes["area_um2"].min() - 1 >= 0.15
    assert proposed_sizes["delay_ns"].is_monotonic_decreasing
    # 11 on sky130hd with the written-out accumulate adder (20 with the ripple one); the paper has 13.
    assert len(proposed_sizes) >= 10


@pytest.mark.parametrize("p", [0.5, 0.9])
def test_error_probability_falls_with_area_and_rises_as_voltage_falls(proposed_sizes, p):
    settings = ErrorModelSettings(propagation_p=p, process_samples=2000, seed=1)
    # clocked at the fastest size's delay, so the smaller sizes already fail at the nominal supply
    fastest_clock_ns = float(proposed_sizes["delay_ns"].min())
    table = error_probability_table(proposed_sizes, FO4, 1.8, fastest_clock_ns, settings=settings)
    wide = wide_table(table)  # sizes down (area increasing), voltages across (decreasing)
    assert (np.diff(wide.to_numpy(), axis=0) <= 1e-15).all(), "a larger MAC must not fail more often"
    assert (np.diff(wide.to_numpy(), axis=1) >= -1e-15).all(), "a lower supply must not fail less often"
    assert wide.iloc[0, 0] > wide.iloc[-1, 0], "at the nominal supply the largest size fails less than the smallest"
    assert wide.iloc[:, -1].min() > 0.5, "at 1.0 V every size misses the clock often"


def test_default_clock_lets_every_size_meet_timing_at_nominal(proposed_sizes):
    clock_ns = default_clock_ns(proposed_sizes)
    assert clock_ns == pytest.approx(proposed_sizes["delay_ns"].max())
    table = error_probability_table(proposed_sizes, FO4, 1.8, clock_ns, [1.8, 1.5],
                                    settings=ErrorModelSettings(process_samples=2000, seed=1))
    nominal = table[table["vdd"] == 1.8]
    assert (nominal["p_error_input_only"] == 0).all()
    # the project's p = 0.8 separates the sizes where errors matter (the point of the sizer)
    scaled = table[table["vdd"] == 1.5].sort_values("area_um2")["p_error"].to_numpy()
    assert scaled[0] > 2 * scaled[-1] > 0


def test_voltage_outside_fo4_table_is_an_error(proposed_sizes):
    with pytest.raises(EdaError, match="outside the FO4 table"):
        stage_statistics(FO4, [0.7])
    with pytest.raises(EdaError, match="nominal supply 1.9"):
        error_probability_table(proposed_sizes, FO4, 1.9, 3.0)


def test_interpolated_voltage_is_between_its_neighbours():
    stats = stage_statistics(FO4, [1.3])
    assert 147e-3 < stats["fo4_mean_ns"].iloc[0] < 262e-3
    assert bool(stats["fo4_interpolated"].iloc[0])


def test_missing_kind_names_what_exists():
    table = pd.DataFrame({"kind": ["tpu"], "corner": ["tt"], "target_ps": [1], "area_um2": [1.0], "delay_ns": [1.0]})
    with pytest.raises(EdaError, match="no rows for kind 'proposed'.*kinds: tpu"):
        mac_sizes(table, "proposed", "tt")


@pytest.mark.parametrize("stages", [100, 400])
def test_eq9_spread_grows_with_the_square_root_of_the_stage_count(stages):
    """D_path ~ N(T mu, T sigma^2): a +2 sigma process sample adds 2 sqrt(T) sigma / mu stages.
    Hand-worked: mu = d_inv = 1 ns, sigma = 0.1 ns, clock = T stages; the -2 sigma sample is
    shorter than the clock (no error), the +2 sigma one has T + 0.2 sqrt(T) stages."""
    from eda.method.errmodel import timing_error_probability_with_variation

    p = 0.9
    longer = stages + 2 * 0.1 * np.sqrt(stages)  # 102 and 404 stages
    expected = (p ** stages - p ** (np.floor(longer) + 1)) / 2
    got = timing_error_probability_with_variation(float(stages), 1.0, 1.0, 0.1, float(stages), np.array([2.0, -2.0]),
                                                  p=p, n_paths=1)
    assert float(got) == pytest.approx(expected, rel=1e-12)
