"""Fast, pure tests of eda/method/measured_errors.py and eda/method/bit_errors.py.

Every expectation is worked by hand (or from a closed form of eqs. 7-9 written out here),
never by calling the function under test.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from eda.core.errors import EdaError
from eda.designs.mac import MacParams
from eda.method import measured_errors as me
from eda.method.bit_errors import BIT_GROUPS, bit_delays, bit_error_table, classify_bit, path_split
from eda.method.errtable import ErrorModelSettings
from eda.method.measured_errors import (MODEL_FLOOR, OTHER_GROUP, P_BOUNDS, P_GRID_STEP, PropagationFit, _bit_lateness,
                                        _fit_points, _golden_section, delay_scales, fit_propagation_p, late_cycles,
                                        log10_error, measured_error_tables, model_table, protected_bit, register_bits,
                                        required_time_ns, side_by_side)

PROPOSED = MacParams("proposed")  # 8x8: prod_bits 16, razor_bits 10 -> product bits 6..15 protected
THUNDERVOLT = MacParams("thundervolt")
TPU = MacParams("tpu")

# A hand-made FO4 table: means at table points give exact ratios (1.0, 1.5, 2.0, 4.0 x nominal).
FO4_EASY = pd.DataFrame({"vdd": [1.0, 1.2, 1.4, 1.8], "fo4_mean_ps": [400.0, 200.0, 150.0, 100.0],
                         "fo4_sigma_ps": [40.0, 20.0, 15.0, 10.0]})
# FO4 statistics of the shape ngspice gives (as in tests/test_errmodel.py).
FO4 = pd.DataFrame({"vdd": [1.8, 1.6, 1.4, 1.2, 1.0], "fo4_mean_ps": [83.0, 104.0, 147.0, 262.0, 802.0],
                    "fo4_sigma_ps": [2.2, 3.0, 5.0, 12.0, 68.6]})
SIZES = pd.DataFrame({"size_index": [0, 1], "target_ps": [3500, 2000], "area_um2": [4800.0, 5700.0],
                      "delay_ns": [3.98, 2.79]})


def eqs_7_to_9(delay_ns, d_inv_ns, mean_ns, sigma_ns, clock_ns, p, n_paths, normal):
    """Eqs. 7-9 written out for one path and one voltage, independently of eda.method.errmodel."""
    stages = delay_ns / d_inv_ns
    sampled = (stages * mean_ns + math.sqrt(stages) * sigma_ns * np.asarray(normal)) / mean_ns
    first = math.ceil(clock_ns / mean_ns)
    last = np.floor(sampled)
    single = np.where(last >= first, p ** first - p ** (last + 1), 0.0)
    return float(np.mean(1.0 - (1.0 - single) ** n_paths))


# ---------------------------------------------------------------------------
# constants


def test_constants():
    assert MODEL_FLOOR == 1e-12
    assert P_BOUNDS == (0.01, 0.99)
    assert P_GRID_STEP == 0.01
    assert OTHER_GROUP == "other"


# ---------------------------------------------------------------------------
# classify_bit (net names of the MAC templates, as pyverilog gives them)


@pytest.mark.parametrize("net, expected", [
    ("psum_out[23]", ("accumulator", 23)),
    ("psum_out[0]", ("accumulator", 0)),
    ("psum_out", ("accumulator", 0)),  # a 1-bit net has no index: bit 0
    ("  psum_out [5]  ", ("accumulator", 5)),
    ("product_ext[3]", ("product", 3)),
    ("product_lo_q[2]", ("product", 2)),
    ("product_q[15]", ("product", 15)),
    ("\\product_razor.q [0]", ("product", 6)),  # razor flops hold product bits 16 - 10 = 6 and up
    ("\\product_razor.q [9]", ("product", 15)),
    ("product_razor.q[4]", ("product", 10)),
    ("\\accumulate.y_narrow [4]", ("product", 4)),
    ("\\accumulate.y_narrow [20]", ("product", 20)),  # the narrow copy is not clamped
    ("\\accumulate.y [3]", ("product", 3)),
    ("\\accumulate.y [15]", ("product", 15)),
    ("\\accumulate.y [16]", ("product", 15)),  # sign extension: upper bits are product bit 15
    ("\\accumulate.y [23]", ("product", 15)),
    ("a_out[7]", ("activation", 7)),
    ("w_out[1]", ("weight", 1)),
])
def test_classify_bit_proposed(net, expected):
    assert classify_bit(net, PROPOSED) == expected


def test_classify_bit_uses_the_params_widths():
    small = MacParams("proposed", a_bits=4, w_bits=4, acc_bits=12, razor_bits=3)  # prod_bits 8
    assert classify_bit("\\product_razor.q [1]", small) == ("product", 6)  # 8 - 3 + 1
    assert classify_bit("\\accumulate.y [9]", small) == ("product", 7)
    assert classify_bit("\\accumulate.y [6]", small) == ("product", 6)
    assert classify_bit("\\accumulate.y [7]", small) == ("product", 7)
    assert classify_bit("psum_out[11]", small) == ("accumulator", 11)


@pytest.mark.parametrize("net", ["", "   ", "_1466_", "foo[3]", "psum_in[2]", "psum_out[x]", "psum out[2]",
                                 "product_razor[3]", "psum_out[3]]", "psum_out[-1]", "accumulate.y_wide[2]"])
def test_classify_bit_unknown(net):
    assert classify_bit(net, PROPOSED) is None


def test_bit_groups_table():
    assert BIT_GROUPS == {"psum_out": "accumulator", "product_ext": "product", "product_lo_q": "product",
                          "product_q": "product", "product_razor.q": "product", "accumulate.y_narrow": "product",
                          "accumulate.y": "product", "a_out": "activation", "w_out": "weight"}


# ---------------------------------------------------------------------------
# protected_bit / register_bits


def test_protected_bit_per_kind():
    assert [protected_bit(PROPOSED, "product", b) for b in (0, 5, 6, 7, 15)] == [False, False, True, True, True]
    assert not any(protected_bit(PROPOSED, g, b) for g in ("accumulator", "activation", "weight", "other")
                   for b in (-1, 0, 6, 15, 23))
    no_razor = MacParams("proposed", razor_bits=0)
    assert not any(protected_bit(no_razor, "product", b) for b in range(16))
    all_razor = MacParams("proposed", razor_bits=16)
    assert all(protected_bit(all_razor, "product", b) for b in range(16))
    four = MacParams("proposed", razor_bits=4)
    assert [protected_bit(four, "product", b) for b in (11, 12)] == [False, True]
    assert all(protected_bit(THUNDERVOLT, "accumulator", b) for b in (0, 12, 23))
    assert not any(protected_bit(THUNDERVOLT, g, 15) for g in ("product", "activation", "weight", "other"))
    assert not any(protected_bit(TPU, g, b) for g in ("accumulator", "product", "other") for b in (0, 15, 23))
    for kind in (PROPOSED, THUNDERVOLT, TPU):
        assert protected_bit(kind, "accumulator", 23) is (kind.kind == "thundervolt")
        assert protected_bit(kind, "product", 15) is (kind.kind == "proposed")


ENDPOINTS = pd.DataFrame({
    "endpoint": ["_10_/D", "_11_/D", "_12_/D", "_13_/D", "_14_/D", "_15_/D", "_16_/D"],
    "instance": ["_10_", "_11_", "_12_", "_13_", "_14_", "_15_", "_16_"],
})
Q_NETS = {"_10_": "psum_out[23]", "_11_": "\\product_razor.q [2]", "_12_": "product_lo_q[5]",
          "_13_": "mystery[4]", "_15_": "a_out[1]", "_16_": "product_lo_q[5]"}  # _14_ has no Q net


@pytest.mark.parametrize("params, protected", [
    (PROPOSED, [False, True, False, False, False, False, False]),
    (THUNDERVOLT, [True, False, False, False, False, False, False]),
    (TPU, [False] * 7),
])
def test_register_bits(params, protected):
    table = register_bits(ENDPOINTS, Q_NETS, params)
    assert list(table.columns) == ["endpoint", "net", "group", "bit", "protected"]
    assert table["endpoint"].tolist() == ENDPOINTS["endpoint"].tolist()
    assert table["net"].tolist() == ["psum_out[23]", "\\product_razor.q [2]", "product_lo_q[5]", "mystery[4]", "",
                                     "a_out[1]", "product_lo_q[5]"]
    assert table["group"].tolist() == ["accumulator", "product", "product", "other", "other", "activation", "product"]
    assert table["bit"].tolist() == [23, 8, 5, -1, -1, 1, 5]
    assert table["protected"].tolist() == protected
    assert table["protected"].dtype == bool


def test_register_bits_razor_width_from_params():
    table = register_bits(ENDPOINTS, Q_NETS, MacParams("proposed", razor_bits=12))  # bits 4.. protected
    assert table["bit"].tolist() == [23, 6, 5, -1, -1, 1, 5]
    assert table["protected"].tolist() == [False, True, True, False, False, False, True]


def test_register_bits_missing_columns():
    with pytest.raises(EdaError, match=r"^endpoint table lacks column\(s\) instance$"):
        register_bits(ENDPOINTS[["endpoint"]], Q_NETS, TPU)
    with pytest.raises(EdaError, match=r"^endpoint table lacks column\(s\) endpoint, instance$"):
        register_bits(pd.DataFrame({"pin": ["x"]}), Q_NETS, TPU)


# ---------------------------------------------------------------------------
# delay_scales


def test_delay_scales_order_rounding_and_values():
    scales = delay_scales(FO4_EASY, [1.4, 1.0, 1.8, 1.40000004, 1.6, 1.2345674], 1.8)
    assert list(scales.columns) == ["vdd", "delay_scale"]
    assert scales["vdd"].tolist() == [1.8, 1.6, 1.4, 1.234567, 1.0]  # highest first, 6 decimals, merged
    # 1.6 V: halfway between 1.4 (150 ps) and 1.8 (100 ps), log-linear -> sqrt(150 * 100)
    # 1.234567 V: log-linear between 1.2 (200 ps) and 1.4 (150 ps)
    at_1234567 = 200.0 * (150.0 / 200.0) ** ((1.234567 - 1.2) / 0.2) / 100.0
    np.testing.assert_allclose(scales["delay_scale"], [1.0, math.sqrt(1.5), 1.5, at_1234567, 4.0], rtol=1e-12)


def test_delay_scales_other_nominal_and_ties():
    scales = delay_scales(FO4_EASY, [1.4000006, 1.4000004, 1.0], 1.4)
    assert scales["vdd"].tolist() == [1.400001, 1.4, 1.0]
    np.testing.assert_allclose(scales["delay_scale"].iloc[[1, 2]], [1.0, 400.0 / 150.0], rtol=1e-12)


def test_delay_scales_outside_the_table():
    with pytest.raises(EdaError, match=r"^0\.9 V or the nominal 1\.8 V is outside the FO4 table \(1 to 1\.8 V\)$"):
        delay_scales(FO4_EASY, [1.2, 0.9], 1.8)
    with pytest.raises(EdaError, match=r"^1\.2 V or the nominal 1\.9 V is outside the FO4 table \(1 to 1\.8 V\)$"):
        delay_scales(FO4_EASY, [1.2], 1.9)


# ---------------------------------------------------------------------------
# required_time_ns / late_cycles


def test_required_time_picks_the_setup_of_the_final_edge():
    settle = np.array([[1.0, -np.inf, 2.0], [2.0, 3.0, 0.5]])
    final = np.array([[True, False, False], [False, True, True]])  # True: the final edge rises
    required = required_time_ns(settle, final, [0.1, 0.2], [0.3, 0.4])
    np.testing.assert_allclose(required, [[1.1, -np.inf, 2.3], [2.4, 3.2, 0.7]], rtol=1e-15)
    assert required.dtype == float
    ints = required_time_ns([[1, 2]], np.array([[True, False]]), [1], [2])
    assert ints.tolist() == [[2.0, 4.0]] and ints.dtype == float
    # every input is coerced to float: numbers as text (a report read as strings) work too
    text = required_time_ns([["1.5", "2"]], np.array([[True, False]]), pd.Series(["0.25"], dtype=object), ["0.5"])
    assert text.tolist() == [[1.75, 2.5]] and text.dtype == float


def test_late_cycles_boundary_is_not_late():
    required = np.array([[2.0, 2.0000001, -np.inf, 1.0], [3.0, 1.9999999, 2.5, np.nan]])
    assert late_cycles(required, 1.5, 3.0).tolist() == [[False, True, False, False], [True, False, True, False]]
    assert late_cycles(required, 1.0, 2.0).tolist() == [[False, True, False, False], [True, False, True, False]]
    assert late_cycles(required, 1.0, 2.0).dtype == bool


@pytest.mark.parametrize("clock", [0, 0.0, -1.0, float("nan")])
def test_late_cycles_bad_clock(clock):
    with pytest.raises(EdaError, match=rf"^the clock period must be positive, got {clock}$"):
        late_cycles(np.ones((1, 1)), 1.0, clock)


def test_late_cycles_tiny_clock_is_fine():
    assert late_cycles(np.array([[1e-9, 1e-13]]), 1.0, 1e-12).tolist() == [[True, False]]


# ---------------------------------------------------------------------------
# measured_error_tables (hand-worked: 5 endpoints x 5 cycles, two supplies)

BITS = pd.DataFrame({"endpoint": list("abcde"),
                     "group": ["product", "accumulator", "product", "product", "other"],
                     "bit": [15, 3, 15, 7, -1],
                     "protected": [True, False, True, True, False]})
NEG = -np.inf
REQUIRED = np.array([
    [3.0, 1.0, NEG, 2.2, 1.0],   # product 15 (pin a)
    [1.0, NEG, 3.0, 2.5, 2.0],   # accumulator 3
    [2.5, 3.0, 1.0, NEG, 1.0],   # product 15 (pin c)
    [NEG, 3.0, 3.0, 1.0, 2.2],   # product 7
    [1.0, 3.0, NEG, 1.0, 1.0],   # other
])
SCALES = pd.DataFrame({"vdd": [1.8, 1.2], "delay_scale": [1.0, 1.25]})
# clock 2.5 ns. Scale 1.0: late iff > 2.5 (2.5 is in time). Scale 1.25: late iff > 2.0 (2.0 x 1.25 = 2.5 in time).
#  scale 1.0 : a TFFFF b FFTFF c FTFFF d FTTFF e FTFFF
#     product15 = a|c = TTFFF 0.4, acc3 FFTFF 0.2, product7 FTTFF 0.4, other FTFFF 0.2
#     any TTTFF 0.6, protected (p15|p7) TTTFF 0.6, unprotected (acc3|other) FTTFF 0.4
#  scale 1.25: a TFFTF b FFTTF c TTFFF d FTTFT e FTFFF
#     product15 = TTFTF 0.6, acc3 FFTTF 0.4, product7 FTTFT 0.6, other FTFFF 0.2
#     any TTTTT 1.0, protected TTTTT 1.0, unprotected FTTTF 0.6


def test_bit_lateness_merges_pins_of_one_bit():
    keys, late = _bit_lateness(late_cycles(REQUIRED, 1.0, 2.5), BITS)
    assert list(keys.columns) == ["group", "bit", "protected"]
    assert keys.index.tolist() == [0, 1, 2, 3]
    assert keys.values.tolist() == [["product", 15, True], ["accumulator", 3, False], ["product", 7, True],
                                    ["other", -1, False]]
    assert late.dtype == bool
    assert late.astype(int).tolist() == [[1, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 1, 1, 0, 0], [0, 1, 0, 0, 0]]


def test_bit_lateness_one_row_per_bit_first_flag_wins():
    bits = pd.DataFrame({"group": ["product", "product", "accumulator"], "bit": [9, 9, 1],
                         "protected": [True, False, False]})
    late = np.array([[False, True], [True, False], [False, False]])
    keys, per_bit = _bit_lateness(late, bits)
    assert keys.values.tolist() == [["product", 9, True], ["accumulator", 1, False]]
    assert per_bit.tolist() == [[True, True], [False, False]]


def test_measured_error_tables_hand_worked():
    bit_table, mac_table = measured_error_tables(REQUIRED, BITS, SCALES, clock_ns=2.5)
    assert list(bit_table.columns) == ["vdd", "clock_ns", "group", "bit", "p_late", "protected"]
    assert bit_table.index.tolist() == list(range(8))
    assert bit_table["vdd"].tolist() == [1.8] * 4 + [1.2] * 4
    assert bit_table["clock_ns"].tolist() == [2.5] * 8
    assert bit_table["group"].tolist() == ["product", "accumulator", "product", "other"] * 2
    assert bit_table["bit"].tolist() == [15, 3, 7, -1] * 2
    np.testing.assert_allclose(bit_table["p_late"], [0.4, 0.2, 0.4, 0.2, 0.6, 0.4, 0.6, 0.2], rtol=0, atol=1e-15)
    assert bit_table["protected"].tolist() == [True, False, True, False] * 2

    assert list(mac_table.columns) == ["vdd", "clock_ns", "p_error", "p_protected", "p_unprotected", "cycles"]
    assert mac_table["vdd"].tolist() == [1.8, 1.2]
    assert mac_table["clock_ns"].tolist() == [2.5, 2.5]
    np.testing.assert_allclose(mac_table["p_error"], [0.6, 1.0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(mac_table["p_protected"], [0.6, 1.0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(mac_table["p_unprotected"], [0.4, 0.6], rtol=0, atol=1e-15)
    assert mac_table["cycles"].tolist() == [5, 5]


def test_measured_error_tables_protected_differs_from_any():
    # 3 endpoints x 4 cycles, clock 1.0, scale 1.0: p15 protected, acc0 and acc1 unprotected.
    required = np.array([[2.0, 0.5, 0.5, 1.0],    # protected: late in cycle 0 only (1.0 is in time)
                         [0.5, 2.0, NEG, 0.5],    # unprotected: cycle 1
                         [0.5, 2.0, 2.0, NEG]])   # unprotected: cycles 1, 2
    bits = pd.DataFrame({"group": ["product", "accumulator", "accumulator"], "bit": [15, 0, 1],
                         "protected": [True, False, False]})
    bit_table, mac_table = measured_error_tables(required, bits, pd.DataFrame({"vdd": [1.5], "delay_scale": [1.0]}), 1.0)
    assert bit_table["p_late"].tolist() == [0.25, 0.25, 0.5]
    row = mac_table.iloc[0]
    assert (row["p_error"], row["p_protected"], row["p_unprotected"], row["cycles"]) == (0.75, 0.25, 0.5, 4)


def test_measured_error_tables_protected_as_integers():
    ints = BITS.assign(protected=[1, 0, 1, 1, 0])
    bit_table, mac_table = measured_error_tables(REQUIRED, ints, SCALES, clock_ns=2.5)
    np.testing.assert_allclose(mac_table["p_protected"], [0.6, 1.0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(mac_table["p_unprotected"], [0.4, 0.6], rtol=0, atol=1e-15)
    np.testing.assert_allclose(mac_table["p_error"], [0.6, 1.0], rtol=0, atol=1e-15)


def test_measured_error_tables_without_protected_bits():
    required = np.array([[2.0, 0.5], [0.5, 0.5]])
    bits = pd.DataFrame({"group": ["accumulator", "accumulator"], "bit": [0, 1], "protected": [False, False]})
    _, mac_table = measured_error_tables(required, bits, pd.DataFrame({"vdd": [1.0], "delay_scale": [1.0]}), 1.0)
    assert mac_table[["p_error", "p_protected", "p_unprotected"]].values.tolist() == [[0.5, 0.0, 0.5]]


def test_measured_error_tables_bad_shapes():
    with pytest.raises(EdaError, match=r"^4 endpoints of settle times but 5 classified register bits$"):
        measured_error_tables(REQUIRED[:4], BITS, SCALES, 2.5)
    with pytest.raises(EdaError, match=r"^no simulated cycles to measure$"):
        measured_error_tables(np.zeros((5, 0)), BITS, SCALES, 2.5)


# ---------------------------------------------------------------------------
# model_table / log10_error / _fit_points / side_by_side


def test_model_table_uses_the_given_p():
    # d_inv = 0.1 ns at 1.8 V; a 1.05 ns path is 10.5 stages. Clock 1.2 ns: 12 stages at 1.8 V (no error),
    # 6 stages at 1.0 V (0.2 ns): eq. 7 gives p^6 - p^11. Sigma ~ 0: no process variation.
    fo4 = pd.DataFrame({"vdd": [1.0, 1.8], "fo4_mean_ps": [200.0, 100.0], "fo4_sigma_ps": [1e-9, 1e-9]})
    sizes = pd.DataFrame({"size_index": [3], "target_ps": [1000], "area_um2": [10.0], "delay_ns": [1.05]})
    settings = ErrorModelSettings(propagation_p=0.8, critical_paths=2, process_samples=50)
    table = model_table(sizes, fo4, 1.8, 1.2, [1.8, 1.0], settings, 0.5)
    assert table["vdd"].tolist() == [1.8, 1.0]
    single = 0.5 ** 6 - 0.5 ** 11
    np.testing.assert_allclose(table["p_error"], [0.0, 1 - (1 - single) ** 2], rtol=1e-12, atol=0)
    assert table["size_index"].tolist() == [3, 3]


def test_fit_points_and_missing_columns():
    measured = pd.DataFrame({"size_index": [0, 0, 1], "vdd": [1.40000006, 1.2, 1.2], "p_error": [0.1, 0.0, 1e-9],
                             "other": [1, 2, 3]})
    points = _fit_points(measured)
    assert list(points.columns) == ["size_index", "vdd", "p_error"]
    assert points["vdd"].tolist() == [1.4, 1.2] and points["p_error"].tolist() == [0.1, 1e-9]
    with pytest.raises(EdaError, match=r"^measured table lacks column\(s\) p_error, vdd$"):
        _fit_points(pd.DataFrame({"size_index": [0]}))
    with pytest.raises(EdaError, match=r"^measured table lacks column\(s\) size_index$"):
        log10_error(pd.DataFrame({"vdd": [1.0], "p_error": [0.1]}), pd.DataFrame())


def test_log10_error_hand_worked():
    measured = pd.DataFrame({"size_index": [0, 0, 1, 1], "vdd": [1.40000006, 1.2, 1.4, 1.2],
                             "p_error": [1e-3, 1e-2, 0.0, 1e-6]})
    model = pd.DataFrame({"size_index": [1, 0, 0, 1], "vdd": [1.2, 1.2, 1.3999996, 1.4],
                          "p_error": [0.0, 1e-2, 1e-2, 0.5], "area_um2": [1.0, 2.0, 3.0, 4.0]})
    # points: (0, 1.4): log10(1e-2) - log10(1e-3) = 1; (0, 1.2): 0; (1, 1.2): floor 1e-12 vs 1e-6 -> -6
    assert log10_error(measured, model) == pytest.approx(math.sqrt((1 + 0 + 36) / 3), rel=1e-12)
    # the floor is MODEL_FLOOR = 1e-12 and applies only below it
    model_above = model.assign(p_error=[2e-12, 1e-2, 1e-2, 0.5])
    expected = math.sqrt((1 + 0 + (math.log10(2e-12) + 6) ** 2) / 3)
    assert log10_error(measured, model_above) == pytest.approx(expected, rel=1e-12)
    exact = model.assign(p_error=[1e-6, 1e-2, 1e-3, 0.5])
    assert log10_error(measured, exact) == 0.0


def test_log10_error_edges():
    empty = pd.DataFrame({"size_index": [0], "vdd": [1.2], "p_error": [0.0]})
    model = pd.DataFrame({"size_index": [0], "vdd": [1.2], "p_error": [0.5]})
    assert math.isnan(log10_error(empty, model))
    measured = pd.DataFrame({"size_index": [0], "vdd": [1.2], "p_error": [0.05]})
    twice = pd.DataFrame({"size_index": [0, 0], "vdd": [1.2, 1.2000000001], "p_error": [0.5, 0.5]})
    with pytest.raises(pd.errors.MergeError):
        log10_error(measured, twice)
    assert isinstance(log10_error(measured, model), float)
    assert log10_error(measured, model) == pytest.approx(1.0, rel=1e-12)


def test_side_by_side():
    measured = pd.DataFrame({"size_index": [0, 0, 1], "vdd": [1.40000006, 1.2, 1.2], "p_error": [0.1, 0.0, 0.3],
                             "cycles": [100, 100, 100]})
    fitted = pd.DataFrame({"size_index": [1, 0], "vdd": [1.2, 1.3999996], "p_error": [0.31, 0.11],
                           "delay_ns": [1.0, 2.0]})
    configured = pd.DataFrame({"size_index": [0, 1], "vdd": [1.2, 1.2], "p_error": [0.02, 0.32]})
    table = side_by_side(measured, fitted, configured)
    assert list(table.columns) == ["size_index", "vdd", "p_error", "cycles", "p_model_fitted", "p_model_configured"]
    assert table["size_index"].tolist() == [0, 0, 1]
    assert table["vdd"].tolist() == [1.4, 1.2, 1.2]
    assert table["p_error"].tolist() == [0.1, 0.0, 0.3]
    assert math.isnan(table["p_model_fitted"].iloc[1])
    assert table["p_model_fitted"].iloc[[0, 2]].tolist() == [0.11, 0.31]
    assert math.isnan(table["p_model_configured"].iloc[0])
    assert table["p_model_configured"].tolist()[1:] == [0.02, 0.32]
    assert measured["vdd"].iloc[0] == 1.40000006  # the input is not modified


# ---------------------------------------------------------------------------
# _golden_section


class Counted:
    def __init__(self, function):
        self.function, self.calls = function, []

    def __call__(self, p):
        self.calls.append(p)
        return self.function(p)


def test_golden_section_finds_a_parabola_minimum():
    cost = Counted(lambda p: (p - 0.3) ** 2 + 0.5)
    p, value = _golden_section(cost, 0.2, 0.4, 0.25, 0.5025)
    assert abs(p - 0.3) < 5e-5 and value == pytest.approx(0.5, abs=3e-9) and value < 0.5025
    assert value == cost.function(p)
    # golden ratio: 0.2 * 0.618^k <= 1e-4 first at k = 16 -> 2 + 16 evaluations, all inside the bracket
    phi = (math.sqrt(5) - 1) / 2
    assert len(cost.calls) == 2 + math.ceil(math.log(1e-4 / 0.2) / math.log(phi)) == 18
    assert all(0.2 < c < 0.4 for c in cost.calls)
    np.testing.assert_allclose(cost.calls[:2], [0.4 - phi * 0.2, 0.2 + phi * 0.2], rtol=1e-14)
    assert isinstance(p, float) and isinstance(value, float)


def test_golden_section_off_centre_and_tolerance():
    cost = Counted(lambda p: abs(p - 0.71))
    p, value = _golden_section(cost, 0.0, 1.0, 0.0, 10.0, tolerance=1e-6)
    assert abs(p - 0.71) < 1e-6 and value < 1e-6
    phi = (math.sqrt(5) - 1) / 2
    assert len(cost.calls) == 2 + math.ceil(math.log(1e-6) / math.log(phi))
    # the minimum at the low end
    p, _ = _golden_section(lambda q: q, 0.5, 0.6, 0.6, 0.6)
    assert 0.5 <= p < 0.5 + 1e-4


def test_golden_section_stops_when_the_bracket_is_the_tolerance():
    cost = Counted(lambda p: (p - 0.3) ** 2)
    _golden_section(cost, 0.0, 1.0, 0.0, 1.0, tolerance=1.0)
    assert len(cost.calls) == 2  # b - a == tolerance: no iteration
    cost = Counted(lambda p: (p - 0.3) ** 2)
    _golden_section(cost, 0.0, 1.0, 0.0, 1.0, tolerance=0.99)
    assert len(cost.calls) == 3


def test_golden_section_keeps_a_better_grid_point():
    # the grid point (0.3, cost 0) beats everything the section sees (cost > 0 away from 0.3)
    cost = Counted(lambda p: (p - 0.3) ** 2 + 1e-9)
    assert _golden_section(cost, 0.2, 0.4, 0.3, 0.0) == (0.3, 0.0)
    # a tie keeps the grid point too
    assert _golden_section(lambda p: 0.0, 0.0, 1.0, 0.77, 0.0) == (0.77, 0.0)
    # on a flat cost the section moves towards the low end (fc <= fd keeps [a, d]) and the lower point wins
    p, value = _golden_section(lambda q: 0.0, 0.0, 1.0, 0.77, 1.0)
    assert value == 0.0 and 0.0 < p < 1e-4 * (1 - (math.sqrt(5) - 1) / 2) + 1e-12


# ---------------------------------------------------------------------------
# fit_propagation_p

VDDS = [1.2, 1.1, 1.0]  # p^N stays well above MODEL_FLOOR for p ~ 0.37 (N = 16, 9, 5)
SETTINGS = ErrorModelSettings(process_samples=100)


def planted(p, settings=SETTINGS):
    made = model_table(SIZES, FO4, 1.8, 3.98, VDDS, settings, p)
    zero = pd.DataFrame({"size_index": [1], "vdd": [1.8], "p_error": [0.0]})  # no error seen: not a point
    return pd.concat([made, zero], ignore_index=True)


def test_fit_recovers_a_planted_p_on_the_grid():
    settings = ErrorModelSettings(critical_paths=3, process_samples=100, seed=5)  # the fit must use these
    measured = planted(0.37, settings)
    assert (measured["p_error"] > 1e-9).sum() == 6
    fit = fit_propagation_p(measured, SIZES, FO4, 1.8, 3.98, settings)
    assert isinstance(fit, PropagationFit)
    assert fit.p == 0.37 and fit.rms_log10_error == 0.0 and fit.points == 6 and fit.at_bound is False


def test_fit_recovers_a_planted_p_between_grid_points_at_interpolated_supplies():
    # 1.3 and 1.1 V are between FO4 rows: the model must be evaluated at the measured supplies
    extra = pd.concat([SIZES, pd.DataFrame({"size_index": [7], "target_ps": [9000], "area_um2": [1.0],
                                            "delay_ns": [9.0]})], ignore_index=True)  # unused: not measured
    measured = model_table(SIZES, FO4, 1.8, 3.98, [1.3, 1.1], SETTINGS, 0.41163)
    fit = fit_propagation_p(measured, extra, FO4, 1.8, 3.98, SETTINGS)
    assert abs(fit.p - 0.41163) <= 1e-4 and fit.p == round(fit.p, 4)  # reported to 4 decimals
    assert 0 <= fit.rms_log10_error < 1e-3 and fit.points == 4 and not fit.at_bound


def test_fit_at_the_bounds():
    high = fit_propagation_p(planted(0.99), SIZES, FO4, 1.8, 3.98, SETTINGS)
    assert high.p == 0.99 and high.at_bound is True and high.rms_log10_error == 0.0
    low = fit_propagation_p(planted(0.3), SIZES, FO4, 1.8, 3.98, SETTINGS, bounds=(0.37, 0.6))
    assert low.p == 0.37 and low.at_bound is True and low.rms_log10_error > 0.1
    top = fit_propagation_p(planted(0.7), SIZES, FO4, 1.8, 3.98, SETTINGS, bounds=(0.37, 0.6))
    assert top.p == 0.6 and top.at_bound is True


def test_fit_without_any_error():
    measured = pd.DataFrame({"size_index": [0, 1], "vdd": [1.8, 1.8], "p_error": [0.0, 0.0]})
    with pytest.raises(EdaError, match=r"^no measured error at any size and voltage: nothing to fit p to "
                                        r"\(lower the supply or the clock\)$"):
        fit_propagation_p(measured, SIZES, FO4, 1.8, 3.98, SETTINGS)


def test_fit_signature_defaults():
    import inspect

    parameters = inspect.signature(fit_propagation_p).parameters
    assert parameters["bounds"].default == (0.01, 0.99)
    assert parameters["settings"].default == ErrorModelSettings()
    assert inspect.signature(me._golden_section).parameters["tolerance"].default == 1e-4


# ---------------------------------------------------------------------------
# bit_delays / path_split / bit_error_table


def test_bit_delays():
    endpoints = pd.DataFrame({
        "endpoint": ["_1_/D", "_2_/D", "psum_out[3]", "_3_/D", "_4_/D", "_5_/D", "u/_6_/D", "_7_/D", "_8_/D"],
        "slack_ns": [0.5, "0.25", -1.0, 1.0, 0.123449, 2.0, 0.75, 0.1, -5.0],
    })
    nets = {"_1_": "psum_out[3]", "_2_": "psum_out[3]", "_3_": "product_q[2]", "_4_": "\\product_razor.q [0]",
            "_5_": "junk[1]", "u/_6_": "a_out[0]", "_7_": "", "psum_out[3]": "psum_out[9]"}
    table = bit_delays(endpoints, nets, PROPOSED, 3.0)
    assert list(table.columns) == ["group", "bit", "endpoint", "net", "delay_ns"]
    assert table.index.tolist() == [0, 1, 2, 3]
    assert table.values.tolist() == [
        ["accumulator", 3, "_2_/D", "psum_out[3]", 2.75],  # the worse of the two pins of bit 3
        ["activation", 0, "u/_6_/D", "a_out[0]", 2.25],
        ["product", 2, "_3_/D", "product_q[2]", 2.0],
        ["product", 6, "_4_/D", "\\product_razor.q [0]", 2.8766],  # rounded to 4 decimals
    ]


def test_bit_delays_errors():
    with pytest.raises(EdaError, match=r"^endpoints: missing column\(s\) endpoint, slack_ns$"):
        bit_delays(pd.DataFrame({"x": [1]}), {}, PROPOSED, 1.0)
    with pytest.raises(EdaError, match=r"^mac\.rpt: missing column\(s\) slack_ns$"):
        bit_delays(pd.DataFrame({"endpoint": ["a/D"]}), {}, PROPOSED, 1.0, source="mac.rpt")
    with pytest.raises(EdaError, match=r"^endpoints: no endpoint could be traced to a MAC register bit$"):
        bit_delays(pd.DataFrame({"endpoint": ["a/D", "psum_out"], "slack_ns": [0.1, 0.1]}), {"a": "x[1]"}, PROPOSED, 1.0)


def test_path_split():
    delays = pd.DataFrame({"group": ["accumulator", "accumulator", "product", "activation"],
                           "bit": [0, 1, 3, 0], "delay_ns": [1.5, 2.0, 3.0, 0.5]})
    assert path_split(delays) == {"critical_path_ns": 3.0, "product_stage_ns": 3.0, "accumulate_ns": 2.0,
                                  "accumulate_fraction": 0.6667}
    single = path_split(delays[delays["group"] != "product"])
    assert single["critical_path_ns"] == 2.0 and single["accumulate_fraction"] == 1.0
    assert math.isnan(single["product_stage_ns"])
    with pytest.raises(EdaError, match=r"^no partial-sum register bit among the traced endpoints$"):
        path_split(delays[delays["group"] != "accumulator"])


def test_bit_error_table_closed_form():
    # d_inv 0.1 ns at 1.8 V. Clock 1.2 ns: 12 stages at 1.8 V, 6 at 1.0 V (0.2 ns). Sigma ~ 0.
    fo4 = pd.DataFrame({"vdd": [1.0, 1.8], "fo4_mean_ps": [200.0, 100.0], "fo4_sigma_ps": [1e-9, 1e-9]})
    delays = pd.DataFrame({"group": ["product", "accumulator"], "bit": [15, 2], "delay_ns": [1.05, 0.75]})
    table = bit_error_table(delays, fo4, 1.8, 1.2, [1.0, 1.8])
    assert list(table.columns) == ["group", "bit", "delay_ns", "vdd", "clock_ns", "p_error"]
    assert table["group"].tolist() == ["product", "product", "accumulator", "accumulator"]
    assert table["bit"].tolist() == [15, 15, 2, 2]
    assert table["delay_ns"].tolist() == [1.05, 1.05, 0.75, 0.75]
    assert table["vdd"].tolist() == [1.8, 1.0, 1.8, 1.0]
    assert table["clock_ns"].tolist() == [1.2] * 4
    # default: p = 0.8 (the project's), one path per bit. 10.5 stages -> p^6 - p^11; 7.5 stages -> p^6 - p^8
    np.testing.assert_allclose(table["p_error"], [0.0, 0.8 ** 6 - 0.8 ** 11, 0.0, 0.8 ** 6 - 0.8 ** 8],
                               rtol=1e-12, atol=0)
    two = bit_error_table(delays, fo4, 1.8, 1.2, [1.0], ErrorModelSettings(propagation_p=0.5, critical_paths=2))
    single = 0.5 ** 6 - 0.5 ** 11
    np.testing.assert_allclose(two["p_error"], [1 - (1 - single) ** 2, 1 - (1 - (0.5 ** 6 - 0.5 ** 8)) ** 2], rtol=1e-12)
    assert table["p_error"].dtype == float


def test_bit_error_table_with_variation_and_all_voltages():
    delays = pd.DataFrame({"group": ["accumulator"], "bit": [23], "delay_ns": [3.5]})
    table = bit_error_table(delays, FO4, 1.8, 3.98)  # vdds None: every FO4 row, highest first
    assert table["vdd"].tolist() == [1.8, 1.6, 1.4, 1.2, 1.0]
    normal = np.random.default_rng(1).standard_normal(10_000)  # default samples and seed
    expected = [eqs_7_to_9(3.5, 0.083, m / 1e3, s / 1e3, 3.98, 0.8, 1, normal)
                for m, s in zip(FO4["fo4_mean_ps"], FO4["fo4_sigma_ps"])]
    assert expected[3] > 0.01  # the variation matters here
    np.testing.assert_allclose(table["p_error"], expected, rtol=1e-9, atol=1e-300)
    other = bit_error_table(delays, FO4, 1.8, 3.98, [1.2], ErrorModelSettings(critical_paths=4, process_samples=500, seed=3,
                                                                              propagation_p=0.7))
    normal = np.random.default_rng(3).standard_normal(500)
    np.testing.assert_allclose(other["p_error"], [eqs_7_to_9(3.5, 0.083, 0.262, 0.012, 3.98, 0.7, 4, normal)], rtol=1e-9)


def test_bit_error_table_signature_default():
    import inspect

    assert inspect.signature(bit_error_table).parameters["settings"].default == ErrorModelSettings(critical_paths=1)
    assert inspect.signature(bit_error_table).parameters["vdds"].default is None
    assert inspect.signature(bit_delays).parameters["source"].default == "endpoints"
