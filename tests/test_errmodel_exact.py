"""Exact values, boundaries, defaults, frame shapes and error messages of the error model
(eqs. 7-9), the error table and Alg. 1's sensitivity, each expectation worked out in the
test (by hand, a closed form or a brute-force loop), never by the code under test."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from eda.core.errors import EdaError
from eda.method import errmodel, errtable, sensitivity
from eda.method.errmodel import (input_error_probability, multi_path_error_probability, standard_normal_samples,
                                 timing_error_probability, timing_error_probability_with_variation)
from eda.method.errtable import (ErrorModelSettings, default_clock_ns, error_probability_table, mac_sizes,
                                 nominal_inverter_delay_ns, stage_statistics, wide_table)
from eda.method.sensitivity import (code_values, curvature_sensitivity, expected_noise, expected_squared_change,
                                    flip_probabilities, hamming_distances, patterns_of, weight_sensitivity)


# ---------------------------------------------------------------- reference implementations (loops)

def eq7_loop(path_stages: float, clock_stages: float, p: float) -> float:
    """Eq. 7 summed term by term over N = ceil(clock) .. floor(path)."""
    return sum(p**n * (1 - p) for n in range(math.ceil(clock_stages), math.floor(path_stages) + 1))


def eq8_plain(x: float, n: int) -> float:
    return 1.0 - (1.0 - x) ** n


def eq9_loop(path_ns, d_inv, mean, sigma, clock, z, p, n):
    t = path_ns / d_inv
    values = [eq8_plain(eq7_loop((t * mean + math.sqrt(t) * sigma * zi) / mean, clock / mean, p), n) for zi in z]
    return sum(values) / len(values)


def msg(text: str) -> str:
    return re.escape(text)


# ---------------------------------------------------------------- errmodel

def test_module_defaults_are_the_papers():
    assert errmodel.DEFAULT_PROPAGATION_P == 0.5
    assert errmodel.DEFAULT_CRITICAL_PATHS == 16


def test_eq7_default_p_and_exact_values():
    assert input_error_probability(4, 2) == pytest.approx(0.21875, rel=1e-15)  # (1/4+1/8+1/16)/2
    assert input_error_probability(6.5, 2.5, 0.3) == pytest.approx(eq7_loop(6.5, 2.5, 0.3), rel=1e-13)
    assert input_error_probability(10.0, 1.0, 0.9) == pytest.approx(eq7_loop(10, 1, 0.9), rel=1e-13)


def test_eq7_inclusive_bounds():
    # last == first: one term p^N (1 - p)
    assert input_error_probability(3.0, 2.5, 0.5) == pytest.approx(0.0625, rel=1e-15)
    assert input_error_probability(3.7, 3.0, 0.5) == pytest.approx(0.0625, rel=1e-15)
    # path one short of the clock's stage
    assert input_error_probability(2.99, 2.5, 0.5) == 0.0
    got = input_error_probability(np.array([2.0, 3.0, 4.0]), np.array([3.0, 3.0, 3.0]), 0.25)
    assert got.shape == (3,)
    assert got[0] == 0.0
    assert got[1] == pytest.approx(0.25**3 * 0.75, rel=1e-14)
    assert got[2] == pytest.approx(0.25**3 * 0.75 + 0.25**4 * 0.75, rel=1e-14)


def test_eq7_p_range():
    assert input_error_probability(4, 2, 0.0) == 0.0  # p = 0 is allowed
    assert input_error_probability(4, 0, 0.0) == 1.0  # the N = 0 term: p^0 (1 - p)
    with pytest.raises(EdaError, match=msg("the propagation probability p must be in [0, 1), got 1.0")):
        input_error_probability(4, 2, 1.0)
    with pytest.raises(EdaError, match=msg("the propagation probability p must be in [0, 1), got -0.1")):
        input_error_probability(4, 2, -0.1)
    assert input_error_probability(4, 2, 0.999) == pytest.approx(eq7_loop(4, 2, 0.999), rel=1e-10)


def test_eq7_no_warning_for_far_tail_samples():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert input_error_probability(-5000.0, 2.0, 0.5) == 0.0  # 0.5^-4999 overflows, masked
        assert input_error_probability(5000.0, 4000.0, 0.5) == 0.0  # underflows to 0


def test_eq8_exact_values_and_defaults():
    assert multi_path_error_probability(0.5) == pytest.approx(1 - 0.5**16, rel=1e-15)
    assert multi_path_error_probability(0.1, 3) == pytest.approx(1 - 0.9**3, rel=1e-14)
    assert multi_path_error_probability(0.1, 1) == pytest.approx(0.1, rel=1e-15)
    assert multi_path_error_probability(1e-15, 4) == pytest.approx(4e-15, rel=1e-9)
    got = multi_path_error_probability([0, 0.25, 1], 2)
    assert got.dtype == np.float64
    assert got.tolist() == pytest.approx([0.0, 1 - 0.75**2, 1.0], rel=1e-15)


def test_eq8_certain_failure_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert multi_path_error_probability(1.0, 16) == 1.0


def test_eq8_needs_a_path():
    with pytest.raises(EdaError, match=msg("the number of critical paths must be at least 1, got 0")):
        multi_path_error_probability(0.1, 0)
    with pytest.raises(EdaError, match=msg("the number of critical paths must be at least 1, got -3")):
        multi_path_error_probability(0.1, -3)


def test_eq78_defaults_and_arguments():
    # path 0.375 / d_inv 0.125 = 3 stages; clock 0.25 / stage 0.25 = 1 stage
    single = eq7_loop(3, 1, 0.3)
    assert single == pytest.approx((0.3 + 0.09 + 0.027) * 0.7)
    assert timing_error_probability(0.375, 0.125, 0.25, 0.25, p=0.3, n_paths=3) == pytest.approx(eq8_plain(single, 3), rel=1e-13)
    default = eq8_plain(eq7_loop(3, 1, 0.5), 16)
    assert timing_error_probability(0.375, 0.125, 0.25, 0.25) == pytest.approx(default, rel=1e-13)
    assert timing_error_probability(0.375, 0.125, 0.25, 0.25, p=0.3) == pytest.approx(eq8_plain(single, 16), rel=1e-13)
    assert timing_error_probability(0.375, 0.125, 0.25, 0.25, n_paths=2) == pytest.approx(eq8_plain(eq7_loop(3, 1, 0.5), 2), rel=1e-13)


def test_eq78_broadcast_sizes_by_voltages():
    paths = np.array([[1.0], [0.75], [0.3]])  # 8, 6, 2.4 stages at d_inv 0.125
    means = np.array([[0.2, 0.3]])  # clock 0.9 ns: 4.5 and 3 stages
    got = timing_error_probability(paths, 0.125, means, 0.9, p=0.6, n_paths=5)
    assert got.shape == (3, 2)
    for i, path in enumerate([1.0, 0.75, 0.3]):
        for j, mean in enumerate([0.2, 0.3]):
            expected = eq8_plain(eq7_loop(path / 0.125, 0.9 / mean, 0.6), 5)
            assert got[i, j] == pytest.approx(expected, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_positive_inputs(bad):
    with pytest.raises(EdaError, match=msg(f"the nominal inverter delay must be positive, got {bad}")):
        timing_error_probability(0.4, bad, 0.2, 0.4)
    with pytest.raises(EdaError, match=msg(f"the clock period must be positive, got {bad}")):
        timing_error_probability(0.4, 0.1, 0.2, bad)
    normal = np.zeros(2)
    with pytest.raises(EdaError, match=msg(f"the nominal inverter delay must be positive, got {bad}")):
        timing_error_probability_with_variation(0.4, bad, 0.2, 0.01, 0.4, normal)
    with pytest.raises(EdaError, match=msg(f"the clock period must be positive, got {bad}")):
        timing_error_probability_with_variation(0.4, 0.1, 0.2, 0.01, bad, normal)


def test_small_positive_inputs_are_accepted():
    assert timing_error_probability(0.4, 0.5, 0.2, 0.3) == 0.0  # 0.8 stages < 1.5: no error
    assert timing_error_probability(2, 1, 1, 1, p=0.5, n_paths=1) == pytest.approx(0.25 + 0.125)


def test_standard_normal_samples():
    got = standard_normal_samples(5, 11)
    assert np.array_equal(got, np.random.default_rng(11).standard_normal(5))
    assert standard_normal_samples(1, 2).shape == (1,)
    with pytest.raises(EdaError, match=msg("the number of process samples must be at least 1, got 0")):
        standard_normal_samples(0, 1)


def test_eq9_by_hand():
    # T = 2.0 / 0.125 = 16 stages (sqrt 4); stage 0.25 +- 0.0625 ns: sampled stages 16 + z;
    # clock 3.0 ns = 12 stages.
    z = np.array([0.5, -2.5, 1.5, -6.0])
    p, n = 0.5, 2
    per = [p**12 - p**17, p**12 - p**14, p**12 - p**18, 0.0]
    expected = sum(eq8_plain(x, n) for x in per) / 4
    got = timing_error_probability_with_variation(2.0, 0.125, 0.25, 0.0625, 3.0, z, p=p, n_paths=n)
    assert np.shape(got) == ()
    assert float(got) == pytest.approx(expected, rel=1e-13)
    assert float(got) == pytest.approx(eq9_loop(2.0, 0.125, 0.25, 0.0625, 3.0, z, p, n), rel=1e-13)


def test_eq9_defaults():
    z = np.array([0.3, -0.7, 1.1])
    expected = eq9_loop(2.0, 0.125, 0.25, 0.0625, 3.0, z, 0.5, 16)
    got = timing_error_probability_with_variation(2.0, 0.125, 0.25, 0.0625, 3.0, z)
    assert float(got) == pytest.approx(expected, rel=1e-13)
    got_p = timing_error_probability_with_variation(2.0, 0.125, 0.25, 0.0625, 3.0, z, p=0.7)
    assert float(got_p) == pytest.approx(eq9_loop(2.0, 0.125, 0.25, 0.0625, 3.0, z, 0.7, 16), rel=1e-13)
    got_n = timing_error_probability_with_variation(2.0, 0.125, 0.25, 0.0625, 3.0, z, n_paths=3)
    assert float(got_n) == pytest.approx(eq9_loop(2.0, 0.125, 0.25, 0.0625, 3.0, z, 0.5, 3), rel=1e-13)


def test_eq9_broadcast_sizes_by_voltages():
    z = np.array([0.4, -1.3, 2.2, 0.05, -0.6])
    paths = [2.0, 1.7, 1.2]
    means, sigmas = [0.2, 0.3], [0.01, 0.04]
    got = timing_error_probability_with_variation(np.array(paths)[:, None], 0.125, np.array([means]), np.array([sigmas]),
                                                  2.1, z, p=0.8, n_paths=4)
    assert got.shape == (3, 2)
    for i, path in enumerate(paths):
        for j in range(2):
            expected = eq9_loop(path, 0.125, means[j], sigmas[j], 2.1, z, 0.8, 4)
            assert got[i, j] == pytest.approx(expected, rel=1e-12, abs=1e-300)


def test_eq9_stage_statistics_checks():
    z = np.zeros(3)
    text = msg("stage delay means must be positive and their sigmas non-negative")
    with pytest.raises(EdaError, match=text):
        timing_error_probability_with_variation(1.0, 0.1, 0.0, 0.1, 1.0, z)
    with pytest.raises(EdaError, match=text):
        timing_error_probability_with_variation(1.0, 0.1, np.array([0.2, -0.1]), 0.1, 1.0, z)
    with pytest.raises(EdaError, match=text):
        timing_error_probability_with_variation(1.0, 0.1, 0.2, -0.01, 1.0, z)
    # sigma 0 is fine (no variation): eqs. 7-8
    got = timing_error_probability_with_variation(1.0, 0.125, 0.25, 0.0, 1.1, z, p=0.5, n_paths=1)
    assert float(got) == pytest.approx(eq7_loop(8, 4.4, 0.5), rel=1e-14)


def test_eq9_far_tail_samples_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = timing_error_probability_with_variation(2.0, 0.125, 0.25, 0.0625, 3.0, np.array([-10000.0, 0.5]), p=0.5, n_paths=1)
    assert float(got) == pytest.approx((0.5**12 - 0.5**17) / 2, rel=1e-13)


# ---------------------------------------------------------------- errtable

def characterization() -> pd.DataFrame:
    return pd.DataFrame({
        "kind": ["proposed", "proposed", "tpu", "proposed", "proposed", "proposed", "proposed"],
        "corner": ["tt", "ss", "tt", "tt", "tt", "tt", "tt"],
        "target_ps": [300, 300, 300, 100, 200, 250, 400],
        "area_um2": [20.0, 20.0, 5.0, 40.0, 30.0, 35.0, 10.0],
        "delay_ns": [1.5, 3.0, 0.5, 1.0, 1.2, 1.3, 2.0],
        "power_w": [2e-3, 1e-3, 5e-4, 4e-3, 3e-3, 3.5e-3, 1e-3],
    })


def test_settings_defaults():
    assert errtable.PROJECT_PROPAGATION_P == 0.8
    s = ErrorModelSettings()
    assert (s.propagation_p, s.critical_paths, s.process_samples, s.seed) == (0.8, 16, 10_000, 1)
    assert errtable.CHARACTERIZATION_COLUMNS == ("kind", "corner", "target_ps", "area_um2", "delay_ns")
    assert errtable.FO4_COLUMNS == ("vdd", "fo4_mean_ps", "fo4_sigma_ps")


def test_mac_sizes_front():
    front = mac_sizes(characterization(), "proposed", "tt")
    assert list(front.columns) == ["size_index", "kind", "corner", "target_ps", "area_um2", "delay_ns", "power_w"]
    assert list(front.index) == [0, 1, 2, 3]
    assert front["size_index"].tolist() == [0, 1, 2, 3]
    assert front["target_ps"].tolist() == [400, 300, 200, 100]
    assert front["area_um2"].tolist() == [10.0, 20.0, 30.0, 40.0]
    assert front["delay_ns"].tolist() == [2.0, 1.5, 1.2, 1.0]
    assert set(front["kind"]) == {"proposed"} and set(front["corner"]) == {"tt"}
    other = mac_sizes(characterization(), "proposed", "ss")
    assert other["target_ps"].tolist() == [300] and other["delay_ns"].tolist() == [3.0]


def test_mac_sizes_missing_columns():
    table = characterization().drop(columns=["corner", "delay_ns"])
    with pytest.raises(EdaError, match=msg("characterization table: missing column(s) corner, delay_ns; expected the output of `eda characterize`")):
        mac_sizes(table, "proposed", "tt")
    with pytest.raises(EdaError, match=msg("my.csv: missing column(s) corner, delay_ns;")):
        mac_sizes(table, "proposed", "tt", source="my.csv")


def test_mac_sizes_no_rows_lists_kinds_and_corners():
    table = pd.concat([characterization(), pd.DataFrame({"kind": ["array"], "corner": ["ff"], "target_ps": [1],
                                                         "area_um2": [1.0], "delay_ns": [1.0], "power_w": [0.0]})])
    text = "characterization table: no rows for kind 'proposed' at corner 'ff' (kinds: array, proposed, tpu; corners: ff, ss, tt)"
    with pytest.raises(EdaError, match=msg(text)):
        mac_sizes(table, "proposed", "ff")
    with pytest.raises(EdaError, match=msg("src: no rows for kind 'tpu' at corner 'ss'")):
        mac_sizes(table, "tpu", "ss", "src")


def test_mac_sizes_refuses_non_positive_area_or_delay():
    table = characterization()
    table.loc[4, "area_um2"] = 0.0  # proposed tt: CSV row 6
    table.loc[6, "area_um2"] = -1.0
    with pytest.raises(EdaError, match=r"^characterization table: row 6 \(area_um2=(np\.float64\()?0\.0\)?\): expected a positive number$"):
        mac_sizes(table, "proposed", "tt")
    table = characterization()
    table["delay_ns"] = table["delay_ns"].astype(object)
    table.loc[3, "delay_ns"] = "x"
    with pytest.raises(EdaError, match=msg("characterization table: row 5 (delay_ns='x'): expected a positive number")):
        mac_sizes(table, "proposed", "tt")
    table = characterization()
    table.loc[2, "area_um2"] = 0.0  # another kind's bad row is not looked at
    assert len(mac_sizes(table, "proposed", "tt")) == 4
    table.loc[5, "delay_ns"] = 0.0
    with pytest.raises(EdaError, match=r"row 7 \(delay_ns="):
        mac_sizes(table, "proposed", "tt", "x")


FO4 = pd.DataFrame({"vdd": [1.2, 1.8, 1.0, 1.4], "fo4_mean_ps": [262.0, 125.0, 802.0, 147.0],
                    "fo4_sigma_ps": [12.0, 4.0, 68.0, 5.0]})


def test_stage_statistics_table_points_and_order():
    stats = stage_statistics(FO4, None)
    assert list(stats.columns) == ["vdd", "fo4_mean_ns", "fo4_sigma_ns", "fo4_interpolated"]
    assert stats["vdd"].tolist() == [1.8, 1.4, 1.2, 1.0]
    assert stats["fo4_mean_ns"].to_numpy() == pytest.approx([0.125, 0.147, 0.262, 0.802], rel=1e-13)
    assert stats["fo4_sigma_ns"].to_numpy() == pytest.approx([0.004, 0.005, 0.012, 0.068], rel=1e-13)
    assert stats["fo4_interpolated"].dtype == bool
    assert stats["fo4_interpolated"].tolist() == [False] * 4
    assert stats["vdd"].dtype == np.float64


def test_stage_statistics_interpolates_in_log_delay():
    stats = stage_statistics(FO4, [1.25, 1.8, 1.1, 1.25])
    assert stats["vdd"].tolist() == [1.8, 1.25, 1.1]
    assert stats["fo4_interpolated"].tolist() == [False, True, True]
    # 1.25 V: a quarter of the way from 1.2 V (262 ps) to 1.4 V (147 ps), geometric
    assert stats["fo4_mean_ns"].iloc[1] == pytest.approx(262.0**0.75 * 147.0**0.25 / 1e3, rel=1e-12)
    assert stats["fo4_sigma_ns"].iloc[1] == pytest.approx(12.0**0.75 * 5.0**0.25 / 1e3, rel=1e-12)
    assert stats["fo4_mean_ns"].iloc[2] == pytest.approx(math.sqrt(802.0 * 262.0) / 1e3, rel=1e-12)
    assert stats["fo4_sigma_ns"].iloc[2] == pytest.approx(math.sqrt(68.0 * 12.0) / 1e3, rel=1e-12)
    assert stats["fo4_mean_ns"].iloc[0] == pytest.approx(0.125, rel=1e-13)


def test_stage_statistics_rounds_voltages_to_microvolts():
    stats = stage_statistics(FO4, [1.2000004])
    assert stats["vdd"].tolist() == [1.2]
    assert stats["fo4_interpolated"].tolist() == [False]
    fo4 = FO4.copy()
    fo4.loc[0, "vdd"] = 1.2000004
    stats = stage_statistics(fo4, None)
    assert stats["vdd"].tolist() == [1.8, 1.4, 1.2, 1.0]
    assert stats["fo4_interpolated"].tolist() == [False] * 4


def test_stage_statistics_range_and_tolerance():
    with pytest.raises(EdaError, match=msg("supply voltage(s) 2, 0.7, 0.5 V outside the FO4 table (1 to 1.8 V); extend it with `eda fo4 --vdd ...`")):
        stage_statistics(FO4, [0.5, 2.0, 0.7, 1.2])
    with pytest.raises(EdaError, match=msg("supply voltage(s) 0.999999 V outside")):
        stage_statistics(FO4, [0.999999, 1.8])
    with pytest.raises(EdaError, match=msg("supply voltage(s) 1.8 V outside")):
        stage_statistics(FO4, [1.800001, 1.0])
    # the ends are inside, within 1e-9 V inclusive
    fo4 = FO4.copy()
    fo4.loc[2, "vdd"] = 1.0 + 1e-9
    fo4.loc[1, "vdd"] = 1.8 - 1e-9
    stats = stage_statistics(fo4, [1.0, 1.8])
    assert stats["vdd"].tolist() == [1.8, 1.0]
    fo4.loc[2, "vdd"] = 1.0 + 5e-10
    fo4.loc[1, "vdd"] = 1.8 - 5e-10
    assert stage_statistics(fo4, [1.0, 1.8])["vdd"].tolist() == [1.8, 1.0]


def test_nominal_inverter_delay():
    assert nominal_inverter_delay_ns(FO4, 1.8) == pytest.approx(0.125, rel=1e-15)
    assert nominal_inverter_delay_ns(FO4, 1.4) == pytest.approx(0.147, rel=1e-15)
    assert nominal_inverter_delay_ns(FO4, 1.4 + 1e-12) == pytest.approx(0.147, rel=1e-15)
    assert type(nominal_inverter_delay_ns(FO4, 1.8)) is float
    twice = pd.concat([FO4, pd.DataFrame({"vdd": [1.8], "fo4_mean_ps": [999.0], "fo4_sigma_ps": [1.0]})], ignore_index=True)
    assert nominal_inverter_delay_ns(twice, 1.8) == pytest.approx(0.125, rel=1e-15)
    text = ("the FO4 table has no row at the nominal supply 1.9 V (it has 1, 1.2, 1.4, 1.8); "
            "the stage count T = d_path / d_inv needs the FO4 delay where the MACs were timed")
    with pytest.raises(EdaError, match="^" + msg(text) + "$"):
        nominal_inverter_delay_ns(FO4, 1.9)


def test_default_clock_is_the_slowest_size():
    sizes = pd.DataFrame({"delay_ns": [1.5, 2.25, 1.0]})
    assert default_clock_ns(sizes) == 2.25
    assert type(default_clock_ns(sizes)) is float


SIZES = pd.DataFrame({"size_index": [0, 1, 2], "kind": ["proposed"] * 3, "target_ps": [400, 300, 200],
                      "area_um2": [10.0, 20.0, 30.0], "delay_ns": [2.05, 1.7, 1.3]})
TABLE_COLUMNS = ["size_index", "target_ps", "area_um2", "delay_ns", "vdd", "clock_ns", "p_error", "p_error_input_only",
                 "path_stages", "clock_stages", "fo4_mean_ps", "fo4_sigma_ps", "fo4_interpolated"]


def expected_rows(sizes, vdd_stats, clock, p, n, z):
    """(size_index, vdd, p_error, p_error_input_only, path_stages, clock_stages) by loops."""
    rows = []
    for _, size in sizes.iterrows():
        for vdd, mean_ps, sigma_ps in vdd_stats:
            mean, sigma = mean_ps / 1e3, sigma_ps / 1e3
            with_var = eq9_loop(size["delay_ns"], 0.125, mean, sigma, clock, z, p, n)
            input_only = eq8_plain(eq7_loop(size["delay_ns"] / 0.125, clock / mean, p), n)
            rows.append((size["size_index"], vdd, with_var, input_only, size["delay_ns"] / 0.125, clock / mean))
    return rows


def check_table(table, rows, clock, vdd_stats):
    assert len(table) == len(rows)
    assert table["size_index"].tolist() == [r[0] for r in rows]
    assert table["vdd"].tolist() == [r[1] for r in rows]
    assert table["clock_ns"].tolist() == [clock] * len(rows)
    for column, k in (("p_error", 2), ("p_error_input_only", 3), ("path_stages", 4), ("clock_stages", 5)):
        assert table[column].to_numpy() == pytest.approx([r[k] for r in rows], rel=1e-9, abs=1e-300), column
    n_vdd = len(vdd_stats)
    assert table["fo4_mean_ps"].to_numpy() == pytest.approx([m for _, m, _ in vdd_stats] * (len(rows) // n_vdd), rel=1e-12)
    assert table["fo4_sigma_ps"].to_numpy() == pytest.approx([s for _, _, s in vdd_stats] * (len(rows) // n_vdd), rel=1e-12)


def test_error_table_exact_with_settings():
    settings = ErrorModelSettings(propagation_p=0.7, critical_paths=3, process_samples=40, seed=5)
    z = np.random.default_rng(5).standard_normal(40)
    fo4 = FO4.copy()
    fo4["fo4_sigma_ps"] = [60.0, 4.0, 68.0, 40.0]  # wide spread: process variation moves the floor
    table = error_probability_table(SIZES, fo4, 1.8, 2.1, [1.25, 1.4], settings)
    assert list(table.columns) == ["kind"] + TABLE_COLUMNS
    assert table["kind"].tolist() == ["proposed"] * 6
    assert table["target_ps"].tolist() == [400, 400, 300, 300, 200, 200]
    assert table["area_um2"].tolist() == [10.0, 10.0, 20.0, 20.0, 30.0, 30.0]
    assert table["delay_ns"].tolist() == [2.05, 2.05, 1.7, 1.7, 1.3, 1.3]
    assert table["fo4_interpolated"].tolist() == [False, True] * 3
    assert table["fo4_interpolated"].dtype == bool
    assert table["area_um2"].dtype == np.float64 and table["delay_ns"].dtype == np.float64
    stats = [(1.4, 147.0, 40.0), (1.25, 262.0**0.75 * 147.0**0.25, 60.0**0.75 * 40.0**0.25)]
    rows = expected_rows(SIZES, stats, 2.1, 0.7, 3, z)
    check_table(table, rows, 2.1, stats)
    assert table["p_error"].max() > 1e-3  # the case is not trivially all zeros
    assert (table["p_error"] != table["p_error_input_only"]).any()


def test_error_table_defaults():
    sizes = SIZES.drop(columns=["kind"]).iloc[:2]
    z = np.random.default_rng(1).standard_normal(10_000)
    table = error_probability_table(sizes, FO4, 1.8, 2.1, [1.4])
    assert list(table.columns) == TABLE_COLUMNS
    stats = [(1.4, 147.0, 5.0)]
    mean, sigma = 0.147, 0.005
    t = sizes["delay_ns"].to_numpy() / 0.125
    # vectorized eq. 9 with loops over N only (p = 0.8, 16 paths)
    expected = []
    for ti in t:
        stages = (ti * mean + math.sqrt(ti) * sigma * z) / mean
        single = np.zeros_like(stages)
        for n in range(math.ceil(2.1 / mean), 40):
            single += np.where(np.floor(stages) >= n, 0.8**n * 0.2, 0.0)
        expected.append(np.mean(1 - (1 - single) ** 16))
    assert table["p_error"].to_numpy() == pytest.approx(expected, rel=1e-9)
    only = [eq8_plain(eq7_loop(ti, 2.1 / mean, 0.8), 16) for ti in t]
    assert table["p_error_input_only"].to_numpy() == pytest.approx(only, rel=1e-9)
    rows = [(i, 1.4, expected[i], only[i], t[i], 2.1 / mean) for i in range(2)]
    check_table(table, rows, 2.1, stats)


def test_error_table_all_voltages_and_nominal():
    settings = ErrorModelSettings(propagation_p=0.6, critical_paths=2, process_samples=7, seed=2)
    z = np.random.default_rng(2).standard_normal(7)
    fo4 = FO4.copy()
    fo4.loc[1, "fo4_mean_ps"] = 100.0  # 1.8 V
    fo4.loc[3, "fo4_mean_ps"] = 125.0  # 1.4 V is the nominal: d_inv = 0.125 ns
    table = error_probability_table(SIZES, fo4, 1.4, 2.1, settings=settings)
    stats = [(1.8, 100.0, 4.0), (1.4, 125.0, 5.0), (1.2, 262.0, 12.0), (1.0, 802.0, 68.0)]
    check_table(table, expected_rows(SIZES, stats, 2.1, 0.6, 2, z), 2.1, stats)
    with pytest.raises(EdaError, match=msg("no row at the nominal supply 1.5 V")):
        error_probability_table(SIZES, fo4, 1.5, 2.1, settings=settings)


def test_wide_table():
    long = pd.DataFrame({"area_um2": [20.0, 20.0, 10.0, 10.0], "vdd": [1.0, 1.8, 1.0, 1.8],
                         "p_error": [0.3, 0.1, 0.6, 0.2], "p_error_input_only": [0.35, 0.15, 0.65, 0.25]})
    wide = wide_table(long)
    assert wide.index.tolist() == [10.0, 20.0]
    assert wide.columns.tolist() == [1.8, 1.0]
    assert wide.to_numpy().tolist() == [[0.2, 0.6], [0.1, 0.3]]
    other = wide_table(long, "p_error_input_only")
    assert other.to_numpy().tolist() == [[0.25, 0.65], [0.15, 0.35]]
    assert other.columns.tolist() == [1.8, 1.0]


# ---------------------------------------------------------------- sensitivity

def val(pattern: int, bits: int) -> int:
    return pattern - (1 << bits) if pattern >= 1 << (bits - 1) else pattern


def test_noise_kinds():
    assert sensitivity.NOISE_KINDS == ("signed", "absolute")


def test_bit_width_range_and_messages():
    assert code_values(1).tolist() == [0, -1]
    sixteen = code_values(16)
    assert sixteen.shape == (65536,) and sixteen[32767] == 32767 and sixteen[32768] == -32768 and sixteen[-1] == -1
    assert code_values(np.int64(2)).tolist() == [0, 1, -2, -1]
    for bad, shown in ((0, "0"), (17, "17"), (8.0, "8.0"), ("8", "'8'")):
        with pytest.raises(EdaError, match=msg(f"bit width must be an integer in 1..16 (2^bits x 2^bits table), got {shown}")):
            code_values(bad)
    with pytest.raises(EdaError, match="bit width"):
        hamming_distances(17)
    with pytest.raises(EdaError, match="bit width"):
        patterns_of(np.array([1]), 0)


def test_code_values_default_and_dtype():
    values = code_values()
    assert values.dtype == np.int64
    assert values.tolist() == [val(k, 8) for k in range(256)]
    assert code_values(4).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1]


def test_hamming_distances_brute_force():
    got = hamming_distances()
    assert got.dtype == np.int64 and got.shape == (256, 256)
    assert got[0b10110101, 0b01101100] == bin(0b10110101 ^ 0b01101100).count("1")
    four = hamming_distances(4)
    assert four.tolist() == [[bin(i ^ j).count("1") for j in range(16)] for i in range(16)]
    assert hamming_distances(1).tolist() == [[0, 1], [1, 0]]


def test_flip_probabilities_brute_force():
    p = 0.15
    got = flip_probabilities(p, 3)
    expected = [[p ** bin(i ^ j).count("1") * (1 - p) ** (3 - bin(i ^ j).count("1")) for j in range(8)] for i in range(8)]
    assert got == pytest.approx(np.array(expected), rel=1e-14)
    default = flip_probabilities(p)
    assert default.shape == (256, 256)
    assert default[0, 255] == pytest.approx(p**8, rel=1e-14)
    assert default[3, 3] == pytest.approx((1 - p) ** 8, rel=1e-14)
    assert np.array_equal(flip_probabilities(0.0, 2), np.eye(4))
    assert np.array_equal(flip_probabilities(1.0, 2), np.eye(4)[::-1])


def test_rate_range_and_messages():
    for bad in (1.5, -0.25, 1.0000001):
        with pytest.raises(EdaError, match=msg(f"bit error rate must be in [0, 1], got {bad!r}")):
            flip_probabilities(bad, 2)
    with pytest.raises(EdaError, match="bit error rate"):
        expected_squared_change(-0.1, 2)
    with pytest.raises(EdaError, match="bit error rate"):
        weight_sensitivity(np.zeros(1), np.zeros(1, dtype=np.int8), 0.1, 2.0)


def brute_noise(p, bits, kind):
    out = []
    n = 1 << bits
    for w in range(n):
        total = 0.0
        for i in range(n):
            h = bin(w ^ i).count("1")
            weight = p**h * (1 - p) ** (bits - h)
            if kind == "signed":
                total += weight * val(i, bits)
            elif kind == "absolute":
                total += weight * abs(val(i, bits) - val(w, bits))
            else:
                total += weight * (val(i, bits) - val(w, bits)) ** 2
        out.append(val(w, bits) - total if kind == "signed" else total)
    return np.array(out)


@pytest.mark.parametrize("kind", ["signed", "absolute"])
def test_expected_noise_brute_force(kind):
    assert expected_noise(0.3, 4, kind) == pytest.approx(brute_noise(0.3, 4, kind), rel=1e-12, abs=1e-12)


def test_expected_noise_defaults():
    values = np.array([val(k, 8) for k in range(256)], dtype=float)
    assert expected_noise(0.1) == pytest.approx(0.1 * (2 * values + 1), rel=1e-11, abs=1e-12)
    assert expected_noise(0.1, 8) == pytest.approx(0.1 * (2 * values + 1), rel=1e-11, abs=1e-12)
    assert expected_noise(0.2, 3) == pytest.approx(0.2 * (2 * np.array([0, 1, 2, 3, -4, -3, -2, -1]) + 1), rel=1e-12)
    assert expected_noise(0.1).dtype == np.float64
    with pytest.raises(EdaError, match=msg("noise must be one of ('signed', 'absolute'), got 'squared'")):
        expected_noise(0.1, 8, "squared")


def test_expected_squared_change_brute_force_and_default():
    assert expected_squared_change(0.3, 4) == pytest.approx(brute_noise(0.3, 4, "squared"), rel=1e-12)
    values = np.array([val(k, 8) for k in range(256)], dtype=float)
    closed = 0.1 * 0.9 * 21845 + 0.01 * (2 * values + 1) ** 2
    assert expected_squared_change(0.1) == pytest.approx(closed, rel=1e-11)


def test_patterns_of():
    got = patterns_of(np.array([0, 1, -1, -128, 127], dtype=np.int8))
    assert got.dtype == np.int64 and got.tolist() == [0, 1, 255, 128, 127]
    assert patterns_of(np.array([-8, 7, -1, 3]), 4).tolist() == [8, 7, 15, 3]
    assert patterns_of(np.array([-1]), 1).tolist() == [1]
    empty = patterns_of(np.array([], dtype=np.int64))
    assert empty.size == 0
    for bad in ([-129], [128], [0, 128], [-129, 0]):
        with pytest.raises(EdaError, match=msg("weight codes outside the 8-bit two's-complement range [-128, 127]")):
            patterns_of(np.array(bad))
    with pytest.raises(EdaError, match=msg("weight codes outside the 4-bit two's-complement range [-8, 7]")):
        patterns_of(np.array([8]), 4)
    with pytest.raises(EdaError, match=msg("weight codes outside the 4-bit two's-complement range [-8, 7]")):
        patterns_of(np.array([-9]), 4)
    with pytest.raises(EdaError, match=msg("weight codes must be integers, got dtype float64")):
        patterns_of(np.array([1.0]))


def test_weight_sensitivity_values_defaults_and_arguments():
    codes = np.array([[3, -2], [7, -8]], dtype=np.int8)
    gradient = np.array([[2.0, -3.0], [0.5, -0.25]])
    scale, p = 0.03, 0.2
    signed = p * (2 * codes.astype(float) + 1)
    assert weight_sensitivity(gradient, codes, scale, p) == pytest.approx(np.abs(gradient * signed * scale), rel=1e-12)
    absolute = brute_noise(p, 4, "absolute")[codes.astype(np.int64) & 15]
    got = weight_sensitivity(gradient, codes, scale, p, bits=4, noise="absolute")
    assert got == pytest.approx(np.abs(gradient * absolute * scale), rel=1e-12)
    got8 = weight_sensitivity(gradient, codes, scale, p, noise="absolute")
    assert not np.allclose(got8, got)  # 8-bit default width: flips reach the upper bits
    assert weight_sensitivity(gradient.astype(int), codes, 1.0, 0.5, 4).dtype == np.float64
    with pytest.raises(EdaError, match="4-bit"):
        weight_sensitivity(np.zeros(1), np.array([100]), 0.1, 0.1, 4)


def test_weight_sensitivity_refusals():
    with pytest.raises(EdaError, match=msg("gradient shape (3,) does not match weight codes shape (2,)")):
        weight_sensitivity(np.zeros(3), np.zeros(2, dtype=np.int8), 0.1, 0.01)
    for bad in (0.0, -0.5, float("inf"), float("nan")):
        with pytest.raises(EdaError, match=msg(f"quantization scale must be a positive finite number, got {bad!r}")):
            weight_sensitivity(np.zeros(2), np.zeros(2, dtype=np.int8), bad, 0.01)
    assert weight_sensitivity(np.ones(1), np.zeros(1, dtype=np.int8), 1e-300, 0.5)[0] == pytest.approx(0.5e-300)


def test_curvature_sensitivity_values_and_refusals():
    codes = np.array([3, -100, 0], dtype=np.int8)
    fisher = np.array([2.0, 0.5, 0.0])
    scale, p = 0.02, 0.01
    values = codes.astype(float)
    closed = p * (1 - p) * 21845 + p**2 * (2 * values + 1) ** 2
    assert curvature_sensitivity(fisher, codes, scale, p) == pytest.approx(0.5 * fisher * closed * scale**2, rel=1e-11)
    four = np.array([3, -8, 0], dtype=np.int8)
    closed4 = p * (1 - p) * 85 + p**2 * (2 * four.astype(float) + 1) ** 2
    assert curvature_sensitivity(fisher, four, 0.5, p, bits=4) == pytest.approx(0.5 * fisher * closed4 * 0.25, rel=1e-12)
    assert curvature_sensitivity(fisher.tolist(), codes, scale, p).dtype == np.float64
    with pytest.raises(EdaError, match=msg("Fisher information shape (3,) does not match weight codes shape (2,)")):
        curvature_sensitivity(np.zeros(3), np.zeros(2, dtype=np.int8), 0.1, 0.01)
    with pytest.raises(EdaError, match=msg("Fisher information (mean squared gradient) cannot be negative")):
        curvature_sensitivity(np.array([1.0, -1e-12]), np.zeros(2, dtype=np.int8), 0.1, 0.01)
    for bad in (0.0, -0.5, float("inf"), float("nan")):
        with pytest.raises(EdaError, match=msg(f"quantization scale must be a positive finite number, got {bad!r}")):
            curvature_sensitivity(np.zeros(2), np.zeros(2, dtype=np.int8), bad, 0.01)
    with pytest.raises(EdaError, match="4-bit"):
        curvature_sensitivity(np.zeros(1), np.array([100]), 0.1, 0.1, 4)


# ---------------------------------------------------------------- input normalization, caller float settings

def full(text: str) -> str:
    return "^" + re.escape(text) + "$"


def obj(values) -> np.ndarray:
    """An object-dtype array of numbers, as pandas gives for a column that once held text or None."""
    return np.array(values, dtype=object)


def test_error_model_messages_are_exact():
    with pytest.raises(EdaError, match=full("stage delay means must be positive and their sigmas non-negative")):
        timing_error_probability_with_variation(1.0, 0.1, 0.0, 0.1, 1.0, np.zeros(1))
    with pytest.raises(EdaError, match=full("Fisher information (mean squared gradient) cannot be negative")):
        curvature_sensitivity(np.array([-1.0]), np.zeros(1, dtype=np.int8), 0.1, 0.01)


def test_error_model_returns_float_for_object_inputs():
    got = input_error_probability(obj([4.0, 3.7]), obj([2.0, 3.0]), 0.5)
    assert got.dtype == np.float64 and got.tolist() == pytest.approx([0.21875, 0.0625], rel=1e-15)
    got = input_error_probability(np.array([4.0, 3.7]), obj([2.0, 3.0]), 0.5)
    assert got.dtype == np.float64
    got = input_error_probability(obj([4.0, 3.7]), np.array([2.0, 3.0]), 0.5)
    assert got.dtype == np.float64
    got = multi_path_error_probability(obj([0.25, 0.5]), 2)
    assert got.dtype == np.float64 and got.tolist() == pytest.approx([1 - 0.75**2, 0.75], rel=1e-15)
    z = obj([0.5, -2.5, 1.5, -6.0])
    expected = sum(eq8_plain(x, 2) for x in [0.5**12 - 0.5**17, 0.5**12 - 0.5**14, 0.5**12 - 0.5**18, 0.0]) / 4
    got = timing_error_probability_with_variation(obj([2.0]), 0.125, obj([0.25]), obj([0.0625]), 3.0, z, p=0.5, n_paths=2)
    assert got.dtype == np.float64 and got.tolist() == pytest.approx([expected], rel=1e-13)


def test_error_model_ignores_the_callers_floating_point_traps():
    """Underflow of p^N, overflow in far-tail samples and log(0) at certain failure are part of the
    model: they must not raise even when the caller traps every floating-point condition."""
    with np.errstate(all="raise"):
        assert input_error_probability(5000.0, 4000.0, 0.5) == 0.0
        assert input_error_probability(-5000.0, 2.0, 0.5) == 0.0
        assert multi_path_error_probability(1.0, 4) == 1.0
        got = timing_error_probability_with_variation(2.0, 0.125, 0.25, 0.0625, 3.0, np.array([-10000.0, 0.5]), p=0.5, n_paths=1)
    assert float(got) == pytest.approx((0.5**12 - 0.5**17) / 2, rel=1e-13)


def test_sensitivity_returns_float_for_object_inputs():
    codes = np.array([3, -2], dtype=np.int8)
    got = weight_sensitivity(obj([2.0, -3.0]), codes, 0.5, 0.25)
    assert got.dtype == np.float64
    assert got.tolist() == pytest.approx([2.0 * 0.25 * 7 * 0.5, 3.0 * 0.25 * 3 * 0.5], rel=1e-13)
    got = curvature_sensitivity(obj([2.0, 1.0]), codes, 0.5, 0.0)
    assert got.dtype == np.float64 and got.tolist() == [0.0, 0.0]


def test_error_table_single_size_and_numeric_columns():
    """One size (the table is labelled with its kind); integer or object-dtype numbers in the
    sizes frame still give float64 columns."""
    sizes = pd.DataFrame({"size_index": [0], "kind": ["tpu"], "target_ps": [500], "area_um2": obj([12]),
                          "delay_ns": obj([2.0])})
    settings = ErrorModelSettings(propagation_p=0.5, critical_paths=1, process_samples=3, seed=4)
    table = error_probability_table(sizes, FO4, 1.8, 2.1, [1.4], settings)
    assert table["kind"].tolist() == ["tpu"]
    assert table["area_um2"].dtype == np.float64 and table["area_um2"].tolist() == [12.0]
    assert table["delay_ns"].dtype == np.float64 and table["path_stages"].dtype == np.float64
    assert table["path_stages"].tolist() == [16.0]
    ints = pd.DataFrame({"size_index": [0, 1], "target_ps": [500, 400], "area_um2": [12, 15], "delay_ns": [2, 1]})
    table = error_probability_table(ints, FO4, 1.8, 2.1, [1.4], settings)
    assert table["area_um2"].dtype == np.float64 and table["delay_ns"].dtype == np.float64
    assert table["path_stages"].tolist() == [16.0, 8.0]


def test_stage_statistics_ignores_extra_columns():
    fo4 = FO4.assign(index=[7, 8, 9, 10], level_0=[0, 1, 2, 3], note="mc")  # e.g. a twice-reset frame
    stats = stage_statistics(fo4, [1.4, 1.25])
    assert list(stats.columns) == ["vdd", "fo4_mean_ns", "fo4_sigma_ns", "fo4_interpolated"]
    assert stats["fo4_mean_ns"].tolist() == pytest.approx([0.147, 262.0**0.75 * 147.0**0.25 / 1e3], rel=1e-12)
