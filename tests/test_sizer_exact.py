"""Exact, hand-worked checks of the sizer (eq. 10 / Alg. 2), its optimality certificate and the
heterogeneous budgets: every expected number below is worked out by hand in the comments (or by
brute force / a closed form written here), never by calling the code under test."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from eda.core.errors import EdaError
from eda.method import sizer
from eda.method.hetero import (BUDGET_LABELS, ISO_FRACTIONS, SIZING_ERROR_THRESHOLD, Budget, auto_sizing_vdd,
                               budgets_for, iso_size_index, size_for_budgets, sizes_at, uniform_map)
from eda.method.sizer import (OptimalityCertificate, SizingResult, area_grid_problem, choose_area_quantum,
                              expected_degradation, iso_area_budget, size_dp, size_fast)
from eda.method.sizer_certificate import check_certificate, dominated_sizes


def raises(match_text, **kw):
    """pytest.raises(EdaError) on the literal text (escaped), so every word and number counts."""
    return pytest.raises(EdaError, match=re.escape(match_text), **kw)


def raises_exactly(message):
    """pytest.raises(EdaError) on the whole message, nothing before or after it."""
    return pytest.raises(EdaError, match="^" + re.escape(message) + "$")


# --------------------------------------------------------------------------- small helpers


def test_iso_area_budget_values_and_refusals():
    assert iso_area_budget(3, 2.5) == 7.5
    assert iso_area_budget(1, 4.25) == 4.25          # n = 1 is a valid array
    assert iso_area_budget(2, 0.5) == 1.0            # areas below 1 um^2 are fine
    assert iso_area_budget(3.0, "2.5") == 7.5        # an integral float count and a numeric string
    assert type(iso_area_budget(2, 3)) is float
    with raises("n_macs must be a positive integer, got 0"):
        iso_area_budget(0, 1.0)
    with raises("n_macs must be a positive integer, got 2.5"):
        iso_area_budget(2.5, 1.0)
    with raises("n_macs must be a positive integer, got -3"):
        iso_area_budget(-3, 1.0)
    with raises("area_of_size_um2 must be a positive number, got 0.0"):
        iso_area_budget(2, 0.0)
    with raises("area_of_size_um2 must be a positive number, got -1"):
        iso_area_budget(2, -1)
    with raises("area_of_size_um2 must be a positive number, got inf"):
        iso_area_budget(2, math.inf)
    with raises("area_of_size_um2 must be a positive number, got nan"):
        iso_area_budget(2, math.nan)


def test_expected_degradation_is_the_weighted_sum():
    # 1 x f[2] + 2 x f[0] + 4 x f[1] = 0.125 + 1.0 + 1.0
    s = np.array([[1.0, 2.0], [4.0, 0.0]])
    f = [0.5, 0.25, 0.125]
    assert expected_degradation(s, f, np.array([[2, 0], [1, 2]])) == 2.125
    assert expected_degradation(s.ravel().tolist(), f, [2, 0, 1, 2]) == 2.125
    assert type(expected_degradation(s, f, [0, 0, 0, 0])) is float
    # exact summation: 1e16 + 1 - 1e16 is 1, not 0
    assert expected_degradation([1e16, 1.0, 1e16], [1.0, -1.0], [0, 0, 1]) == 1.0


@pytest.mark.parametrize("areas, q", [
    ([1.0, 2.0], 1.0), ([0.5, 3.0], 0.1), ([0.25], 0.01), ([0.125, 2.0], 0.001), ([0.0625], 0.0001),
    ([0.00005], 0.0001),            # exact on none: the finest
    ([1.0000005, 3.0], 1.0),        # within 1e-6 of the grid
    ([1e-6], 1.0),                  # exactly 1e-6 off the unit grid: still on it (<=)
    ([1.5], 0.1), ([4860.37, 4910.29], 0.01),
])
def test_choose_area_quantum(areas, q):
    assert choose_area_quantum(areas) == q


def test_numbers_given_as_text_are_converted():
    assert choose_area_quantum(["0.5", "3"]) == 0.1
    assert expected_degradation(["1", "2"], ["0.5", "0.25"], [1, 0]) == 1.25
    for solve in SOLVERS:
        r = solve(["1", "2"], ["1", "2"], ["0.5", "0.25"], "3")
        assert r.size_index.tolist() == [0, 1] and r.objective == 1.0


def test_area_grid_problem_returns_the_validated_grid():
    s, w, f, budget_q, q = area_grid_problem([[1.0, 2.0]], [1.5, 2.5], [0.5, 0.25], 8.0, None)
    assert s.tolist() == [1.0, 2.0] and s.shape == (2,)
    assert w.tolist() == [15, 25] and w.dtype == np.int64
    assert f.tolist() == [0.5, 0.25]
    assert budget_q == 80 and type(budget_q) is int
    assert q == 0.1
    s, w, f, budget_q, q = area_grid_problem([1.0], [1.5, 2.5], [0.5, 0.25], 8.0, 0.5)
    assert w.tolist() == [3, 5] and budget_q == 16 and q == 0.5


# --------------------------------------------------------------------------- input checks (both solvers)

SOLVERS = [size_dp, size_fast]


@pytest.mark.parametrize("solve", SOLVERS)
@pytest.mark.parametrize("s, area, f, budget, q, message", [
    (["a"], [1.0], [0.1], 5.0, None,
     "sensitivity, area_um2 and p_error must be numeric arrays: could not convert string to float: 'a'"),
    (5.0, [1.0], [0.1], 5.0, None, "^the sensitivity map is empty: give one sensitivity per MAC (an M x N array)$"),
    ([], [1.0], [0.1], 5.0, None, "the sensitivity map is empty"),
    ([1.0], [[1.0, 2.0]], [0.1, 0.2], 5.0, None,
     "area_um2 and p_error must be 1-D lists with one entry per size, got shapes (1, 2) and (2,)"),
    ([1.0], [1.0, 2.0], [[0.1, 0.2]], 5.0, None, "got shapes (2,) and (1, 2)"),
    ([1.0], [], [], 5.0, None, "got shapes (0,) and (0,)"),
    ([1.0], [1.0, 2.0, 3.0], [0.2, 0.1], 5.0, None,
     "area_um2 has 3 sizes but p_error has 2: give one error probability per size"),
    ([1.0], [1.0], [0.1, 0.2], 5.0, None, "area_um2 has 1 sizes but p_error has 2"),
    ([[1.0, 2.0], [np.nan, np.inf]], [1.0], [0.1], 50.0, None,
     "the sensitivity map has 2 NaN/inf entries (first at (1, 0))"),
    ([[1.0, np.inf], [2.0, 3.0]], [1.0], [0.1], 50.0, None, "has 1 NaN/inf entries (first at (0, 1))"),
    ([[1.0, -3.0], [-1.0, 0.0]], [1.0], [0.1], 50.0, None,
     "the sensitivity map has 2 negative entries (smallest -3 at (0, 1)); sensitivities are magnitudes and must be >= 0"),
    ([[1.0, 2.0], [0.5, -0.25]], [1.0], [0.1], 50.0, None, "has 1 negative entries (smallest -0.25 at (1, 1))"),
    ([1.0], [1.0, 0.0], [0.2, 0.1], 5.0, None, "every MAC area must be a positive number, got [1.0, 0.0]"),
    ([1.0], [1.0, -2.0], [0.2, 0.1], 5.0, None, "got [1.0, -2.0]"),
    ([1.0], [1.0, np.inf], [0.2, 0.1], 5.0, None, "every MAC area must be a positive number, got [1.0, inf]"),
    ([1.0], [1.0, np.nan], [0.2, 0.1], 5.0, None, "every MAC area must be a positive number"),
    ([1.0], [1.0, 2.0], [0.2, -0.1], 5.0, None, "every error probability must be a number >= 0, got [0.2, -0.1]"),
    ([1.0], [1.0, 2.0], [np.nan, 0.1], 5.0, None, "every error probability must be a number >= 0, got [nan, 0.1]"),
    ([1.0], [1.0, 2.0], [np.inf, 0.1], 5.0, None, "every error probability must be a number >= 0"),
    ([1.0], [1.0], [0.1], "lots", None, "the area budget must be a number in um^2, got 'lots'"),
    ([1.0], [1.0], [0.1], None, None, "the area budget must be a number in um^2, got None"),
    ([1.0], [1.0], [0.1], math.inf, None, "the area budget must be finite, got inf"),
    ([1.0], [1.0], [0.1], math.nan, None, "the area budget must be finite, got nan"),
    ([1.0], [1.0], [0.1], 5.0, 0.0, "area_quantum_um2 must be positive, got 0.0"),
    ([1.0], [1.0], [0.1], 5.0, -1, "area_quantum_um2 must be positive, got -1"),
    ([1.0], [1.0], [0.1], 5.0, math.inf, "area_quantum_um2 must be positive, got inf"),
    ([1.0], [1.0], [0.1], 5.0, math.nan, "area_quantum_um2 must be positive, got nan"),
    ([1.0], [0.4, 2.0], [0.2, 0.1], 5.0, 1, "area quantum 1 um^2 is coarser than the smallest MAC area 0.4 um^2"),
    ([1.0], [0.5, 2.0], [0.2, 0.1], 5.0, 1, "area quantum 1 um^2 is coarser"),   # rint(0.5) = 0
    (np.ones((2, 2)), [2.0, 3.0], [0.2, 0.1], 7.9, None,
     "area budget 7.9 um^2 is infeasible: the smallest array is 4 MACs x 2 um^2 = 8 um^2"),
    ([1.0, 1.0, 1.0], [2.5, 3.0], [0.2, 0.1], 7.4, None,
     "area budget 7.4 um^2 is infeasible: the smallest array is 3 MACs x 2.5 um^2 = 7.5 um^2"),
    ([1.0], [1.0], [0.1], -2.5, None, "area budget -2.5 um^2 is infeasible: the smallest array is 1 MACs x 1 um^2 = 1 um^2"),
    ([1.0], [1.0], [0.1], 0.0, None, "area budget 0 um^2 is infeasible"),
])
def test_bad_inputs_name_what_is_wrong(solve, s, area, f, budget, q, message):
    if message.startswith("^"):       # the whole message
        with raises_exactly(message[1:-1]):
            solve(s, area, f, budget, area_quantum_um2=q)
        return
    with raises(message):
        solve(s, area, f, budget, area_quantum_um2=q)


@pytest.mark.parametrize("solve", SOLVERS)
def test_at_most_255_sizes(solve):
    area = np.arange(1.0, 257.0)
    f = np.linspace(0.9, 0.0, 256)
    with raises("256 sizes; at most 255 are supported"):
        solve([1.0], area, f, 300.0)
    r = solve([1.0], area[:255], f[:255], 300.0)   # 255 is fine: every size fits, the largest wins
    assert r.size_index.tolist() == [254]
    assert r.objective == f[254]


@pytest.mark.parametrize("solve", SOLVERS)
def test_boundary_inputs_are_accepted(solve):
    # zero sensitivity, zero error probability, a budget exactly n x the smallest area
    r = solve([[0.0, 1.0]], [1.0, 2.0], [0.0, 0.5], 2.0, area_quantum_um2=1)
    assert r.size_index.tolist() == [[0, 0]] and r.objective == 0.0 and r.total_area_um2 == 2.0
    # area 0.6 rounds to one unit of 1 um^2: not coarser than the smallest area
    r = solve([1.0], [0.6, 2.0], [0.5, 0.25], 1.0, area_quantum_um2=1)
    assert r.size_index.tolist() == [0] and r.area_quantum_um2 == 1.0


@pytest.mark.parametrize("solve", SOLVERS)
def test_a_budget_computed_in_floating_point_stays_on_its_grid_point(solve):
    # 0.3 / 0.1 = 2.9999999999999996: floored with the relative slack it is 3 quanta, room for
    # three MACs of 0.1 um^2 (and no more: the 0.2 um^2 size does not fit).
    r = solve(np.ones(3), [0.1, 0.2], [0.5, 0.25], 0.3)
    assert r.area_quantum_um2 == 0.1
    assert r.size_index.tolist() == [0, 0, 0] and r.objective == 1.5
    # below one quantum: 0.09999999999999999 / 0.1 = 0.9999999999999999 -> 1 quantum
    r = solve([1.0], [0.1, 0.2], [0.5, 0.25], 0.09999999999999999)
    assert r.size_index.tolist() == [0]
    # but a real shortfall is not rounded up
    with raises("area budget 0.2999 um^2 is infeasible"):
        solve(np.ones(3), [0.1, 0.2], [0.5, 0.25], 0.2999)


# --------------------------------------------------------------------------- the result record


@pytest.mark.parametrize("solve, solver", [(size_dp, "dp"), (size_fast, "fast")])
def test_result_fields_on_a_hand_checked_instance(solve, solver):
    # From all smallest (area 3, objective 6.5), 3 spare um^2: s=10 to the largest (saves 4),
    # s=2 one up (saves 0.6).
    r = solve(np.array([[1.0, 2.0, 10.0]]), [1.0, 2.0, 3.0], [0.5, 0.2, 0.1], 6.5)
    assert isinstance(r, SizingResult)
    assert r.size_index.tolist() == [[0, 1, 2]] and r.size_index.dtype == np.int64
    assert r.objective == 1.9 and r.total_area_um2 == 6.0
    assert r.lower_bound == 1.9 and r.gap == 0.0 and r.proven_optimal
    assert r.solver == solver
    assert 0 <= r.seconds < 60
    assert r.budget_um2 == 6.5 and r.area_quantum_um2 == 1.0
    if solver == "dp":
        assert math.isnan(r.lp_bound) and r.core_macs == 0 and r.certificate is None
    else:
        # L = sum_i min_k (s_i f_k + 0.3 u_k) - 0.3 x 3 = 0.5 + 0.7 + 1.6 - 0.9
        assert r.lp_bound == pytest.approx(1.9, rel=1e-12) and r.core_macs == 0
        cert = r.certificate
        assert cert.lam_per_quantum == pytest.approx(0.3, rel=1e-12)
        assert cert.base.tolist() == [0, 1, 2] and cert.core.size == 0 and cert.core.dtype == np.int64


def test_proven_optimal_is_a_zero_gap():
    r = SizingResult(np.zeros(1, dtype=np.int64), 1.0, 1.0, 0.5, 0.5, "x", 0.0)
    assert not r.proven_optimal
    assert replace(r, gap=0.0).proven_optimal
    assert math.isnan(r.budget_um2) and math.isnan(r.area_quantum_um2) and math.isnan(r.lp_bound)
    assert r.core_macs == 0 and r.certificate is None


# --------------------------------------------------------------------------- the reference DP (Alg. 2)


@pytest.mark.parametrize("max_table_bytes", [256 << 20, 0])
def test_dp_ties_follow_alg2(max_table_bytes):
    # Two equal MACs, room for one upgrade: MAC 1 is filled first (the paper fills MN-1 first)
    # and takes the upgrade; MAC 0 keeps the smallest size since an equal value never replaces.
    r = size_dp([1.0, 1.0], [1.0, 2.0], [0.5, 0.25], 3.0, max_table_bytes=max_table_bytes)
    assert r.size_index.tolist() == [0, 1]
    # equal error for a larger area: the smaller is kept; a MAC with s = 0 stays smallest
    r = size_dp([1.0, 0.0], [1.0, 2.0, 3.0], [0.5, 0.25, 0.25], 10.0, max_table_bytes=max_table_bytes)
    assert r.size_index.tolist() == [1, 0] and r.total_area_um2 == 3.0
    # two sizes of equal area and error: the first
    r = size_dp([1.0], [2.0, 1.0, 1.0], [0.1, 0.5, 0.5], 1.0, max_table_bytes=max_table_bytes)
    assert r.size_index.tolist() == [1]
    # sizes given largest first: the recurrence still tries them by increasing area
    r = size_dp([1.0, 3.0], [3.0, 1.0, 2.0], [0.0, 0.5, 0.25], 5.0, max_table_bytes=max_table_bytes)
    assert r.size_index.tolist() == [2, 0] and r.objective == 0.25


def test_dp_ties_among_many_sizes_keep_the_first_index():
    # 20 sizes: even indices area 2 (f 0.25), odd ones area 1 (f 0.5). With 2 um^2 every area-2
    # size is equally good: the first of them (index 0), as sizes are tried in a stable order.
    area = np.array([2.0, 1.0] * 10)
    f = np.where(area == 2.0, 0.25, 0.5)
    assert size_dp([1.0], area, f, 2.0).size_index.tolist() == [0]
    assert size_dp([1.0], area, f, 1.0).size_index.tolist() == [1]


@pytest.mark.parametrize("max_table_bytes", [256 << 20, 0])
def test_dp_segments_reproduce_brute_force(max_table_bytes):
    # n = 10: checkpoints every ceil(sqrt(80)) = 9 MACs, so two segments, the second of one MAC.
    s = np.array([3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0, 6.0, 0.5, 3.5])
    area, f = np.array([1.0, 2.0, 4.0]), np.array([0.5, 0.3, 0.0])
    combos = np.array(list(itertools.product(range(3), repeat=10)))
    used, value = area[combos].sum(axis=1), (s * f[combos]).sum(axis=1)
    for budget in (10.0, 14.0, 19.0, 27.0):
        best = value[used <= budget].min()
        r = size_dp(s, area, f, budget, area_quantum_um2=1, max_table_bytes=max_table_bytes)
        assert r.objective == pytest.approx(best, abs=1e-12)
        assert area[r.size_index].sum() <= budget


def test_dp_memory_estimate_and_limit():
    # n = 2, B = 4, w = (1, 2): width = 4 - 2 + 1 = 3. Whole table: 4 x 8 x 3 + 2 x 3 = 102 bytes.
    args = ([1.0, 2.0], [1.0, 2.0], [0.5, 0.25], 4.0)
    assert size_dp(*args, max_memory_bytes=102).size_index.tolist() == [1, 1]
    with raises("size_dp needs 3 area grid points per stage and ~0.0 GiB (limit 0.0 GiB): "
                "use size_fast or a coarser area_quantum_um2"):
        size_dp(*args, max_memory_bytes=101)
    # table of n x width = 6 bytes allowed at max_table_bytes = 6; at 5, checkpoints every
    # ceil(sqrt(16)) = 4 MACs: 96 + (ceil(2 / 4) x 8 + 4) x 3 = 132 bytes
    assert size_dp(*args, max_memory_bytes=102, max_table_bytes=6).objective == 0.75
    with raises("size_dp needs 3 area grid points"):
        size_dp(*args, max_memory_bytes=131, max_table_bytes=5)
    assert size_dp(*args, max_memory_bytes=132, max_table_bytes=5).objective == 0.75


def test_dp_default_memory_limits():
    # One MAC, w = (1, 2), B = 2^28: width 2^28 = the default table limit (256 MiB), so the
    # table is kept whole: 33 x 2^28 bytes = 8.25 GiB ('8.2'), over the default 4 GiB.
    with raises("size_dp needs 268435456 area grid points per stage and ~8.2 GiB (limit 4.0 GiB)"):
        size_dp([1.0], [1.0, 2.0], [0.5, 0.25], float(2 ** 28), area_quantum_um2=1)
    # One more grid point: checkpointed, ceil(sqrt(8)) = 3 -> (32 + 8 + 3) x (2^28 + 1) bytes
    with raises("size_dp needs 268435457 area grid points per stage and ~10.8 GiB (limit 4.0 GiB)"):
        size_dp([1.0], [1.0, 2.0], [0.5, 0.25], float(2 ** 28 + 1), area_quantum_um2=1)
    # three MACs, width 2^26: 3 x 2^26 <= 2^28, whole: (32 + 3) x 2^26 = 2.1875 GiB -> fits under 4 GiB?
    # (checked only through the message, with a 1 GiB limit)
    with raises("size_dp needs 67108864 area grid points per stage and ~2.2 GiB (limit 1.0 GiB)"):
        size_dp([1.0, 1.0, 1.0], [1.0, 2.0], [0.5, 0.25], float(2 ** 26 + 2), area_quantum_um2=1,
                max_memory_bytes=1 << 30)
    # n = 5, width 2^27: 5 x 2^27 > 2^28 -> checkpoints every ceil(sqrt(40)) = 7 MACs:
    # (32 + 1 x 8 + 7) x 2^27 = 47 x 2^27 bytes = 5.875 GiB
    with raises("size_dp needs 134217728 area grid points per stage and ~5.9 GiB (limit 4.0 GiB)"):
        size_dp(np.ones(5), [1.0, 2.0], [0.5, 0.25], float(2 ** 27 + 4), area_quantum_um2=1)


# --------------------------------------------------------------------------- the fast solver


def test_fast_early_exit_when_every_sensitive_mac_fits_the_best_size():
    # w = (1, 3): excess (0, 2), gcd 2, u = (0, 1); B = 7: cap = (7 - 3) // 2 = 2 = 1 x 2 MACs with s > 0
    s, area, f = [1.0, 2.0, 0.0], [1.0, 3.0], [0.5, 0.1]
    r = size_fast(s, area, f, 7.0)
    assert r.size_index.tolist() == [1, 1, 0]
    assert r.objective == pytest.approx(0.3, abs=1e-15) and r.gap == 0 and r.total_area_um2 == 7.0
    assert r.lp_bound == r.objective and r.core_macs == 0
    assert r.certificate.lam_per_quantum == 0.0
    assert r.certificate.base.tolist() == [1, 1, 0] and r.certificate.core.size == 0
    assert r.certificate.core.dtype == np.int64
    check_certificate(r, s, area, f, 7.0)
    # half a unit less: cap 1, only the s = 2 MAC is upgraded (0.5 + 0.2 + 0)
    r = size_fast(s, area, f, 6.5)
    assert r.size_index.tolist() == [0, 1, 0] and r.objective == 0.7 and r.gap == 0


def test_fast_maps_back_through_dominated_sizes_and_the_gcd():
    # size 0 (area 2, f 0.5) is dominated by size 1 (area 1, f 0.5): kept sizes 1, 2; excess
    # (0, 2) -> g = 2, u = (0, 1); cap = (4 - 2) // 2 = 1. Greedy: s=2 first (eff 0.8), then
    # s=1 (eff 0.4) does not fit: lam = 0.4 per g = 2 quanta = 0.2 per quantum.
    s, area, f = [1.0, 2.0], [2.0, 1.0, 3.0], [0.5, 0.5, 0.1]
    r = size_fast(s, area, f, 4.0)
    assert r.size_index.tolist() == [1, 2]
    assert r.objective == 0.7 and r.total_area_um2 == 4.0 and r.gap == 0
    # L = min(0.5, 0.1 + 0.4) + min(1.0, 0.2 + 0.4) - 0.4 x 1 = 0.7
    assert r.lp_bound == pytest.approx(0.7, rel=1e-12)
    assert r.certificate.lam_per_quantum == pytest.approx(0.2, rel=1e-12)
    assert r.certificate.base.tolist() == [1, 2]
    check_certificate(r, s, area, f, 4.0)
    # one more um^2 is half a g-step: no sizing can use it, and the bound stays 0.7 (cap 1, not 1.5)
    r = size_fast(s, area, f, 5.0)
    assert r.size_index.tolist() == [1, 2] and r.objective == 0.7 and r.gap == 0
    assert r.lp_bound == pytest.approx(0.7, rel=1e-12) and r.core_macs == 0


def test_fast_equal_sensitivities_get_sizes_in_index_order():
    # one upgrade among three equal MACs: the canonical form gives it to the last one
    r = size_fast([1.0, 1.0, 1.0], [1.0, 2.0], [0.5, 0.25], 4.0)
    assert r.size_index.tolist() == [0, 0, 1]
    # sizes sorted by sensitivity, not by position
    r = size_fast([[3.0, 1.0], [2.0, 5.0]], [1.0, 2.0, 3.0], [0.5, 0.3, 0.05], 7.0)
    # spare 3: s=5 +2 (saves 2.25) and s=3 +1 (saves 0.6) = 2.85, vs s=5,+2 s=2 +1 (0.4),
    # vs s=5 +1, s=3 +1, s=2 +1 (1.0 + 0.6 + 0.4 = 2.0): the first
    assert r.size_index.tolist() == [[1, 0], [0, 2]]
    assert r.objective == pytest.approx(3 * 0.3 + 1 * 0.5 + 2 * 0.5 + 5 * 0.05, abs=1e-15)


def test_fast_canonical_form_on_many_tied_macs():
    # 40 MACs of sensitivity 1, 2 or 3: the chosen sizes go up with (sensitivity, index)
    s = np.array([2, 1, 3, 2, 2, 1, 2, 3, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 1, 2] * 2, dtype=float)
    r = size_fast(s, [1.0, 2.0], [0.5, 0.25], 40 + 17.0)
    # 17 upgrades: the 8 MACs of s = 3, then 9 of the 22 of s = 2 (the last 9 by index)
    assert (s == 3).sum() == 8 and (s == 2).sum() == 22
    expected = (s == 3).astype(int)
    expected[np.flatnonzero(s == 2)[-9:]] = 1
    assert r.size_index.tolist() == expected.tolist() and r.gap == 0


def test_fast_certificate_base_keeps_the_incumbent_among_tied_minimizers():
    # three equal MACs, one upgrade: lam = 0.25 makes both sizes Lagrangian minimizers for all;
    # the greedy's first item (MAC 0) is the base, the canonical output moves it to MAC 2
    r = size_fast([1.0, 1.0, 1.0], [1.0, 2.0], [0.5, 0.25], 4.0)
    assert r.size_index.tolist() == [0, 0, 1]
    assert r.certificate.base.tolist() == [1, 0, 0] and r.certificate.core.size == 0
    assert r.certificate.lam_per_quantum == 0.25


def test_fast_needs_no_core_when_the_greedy_fills_the_spare_area_exactly():
    # w = (1, 4): excess 3, g = 3; B = 6 leaves 4 quanta = 1 unit of 3: exactly one upgrade, to
    # the s = 2.8 MAC. The greedy meets the LP bound (U = L up to rounding): no core is solved.
    r = size_fast([2.8, 0.8], [1.0, 4.0], [0.9, 0.7], 6.0)
    assert r.size_index.tolist() == [1, 0]
    assert r.objective == math.fsum([2.8 * 0.7, 0.8 * 0.9]) and r.gap == 0
    assert r.core_macs == 0 and r.certificate.core.size == 0
    assert r.lp_bound == pytest.approx(r.objective, rel=1e-12)


def test_fast_core_that_reaches_the_lp_bound_leaves_no_core_in_the_certificate():
    # s = (2, 1.5, 1), u = (0, 1, 3), f = (5/8, 3/8, 1/8), 4 spare units. LP: steps of efficiency
    # 0.5, 0.375, 0.25 (1 unit each) fit, the next (MAC 0's second step, 2 units) does not:
    # lam = 0.25, L = 1.0 + 0.8125 + 0.625 - 1.0 = 1.4375. The greedy leaves 1 unit unused
    # (U = 4.5 x 3/8 = 1.6875); the exact core of the 3 MACs finds sizes (2, 1, 0), which meets
    # L: optimal, and the certificate needs no core.
    r = size_fast([2.0, 1.5, 1.0], [1.0, 2.0, 4.0], [0.625, 0.375, 0.125], 7.0)
    assert r.size_index.tolist() == [2, 1, 0] and r.objective == 1.4375 and r.gap == 0
    assert r.lp_bound == 1.4375 and r.core_macs == 3
    assert r.certificate.core.tolist() == [] and r.certificate.core.dtype == np.int64
    assert r.certificate.lam_per_quantum == 0.25


def test_fast_first_exact_core_has_64_macs():
    # 150 MACs whose proof needs an exact core (the instance of test_method_edges): the first
    # core is the 64 MACs with the cheapest moves, and it suffices
    rng = np.random.default_rng(1)
    s = np.round(rng.lognormal(0, 0.5, 150), 2)
    budget = 150 * 16.3 + rng.uniform(0, 300)
    area, f = np.array([10.0, 13.0, 17.0, 19.0, 26.0]), np.array([0.5, 0.31, 0.2, 0.14, 0.01])
    r = size_fast(s, area, f, budget, area_quantum_um2=1)
    assert r.core_macs == 64 and r.certificate.core.size == 64 and r.gap == 0


def test_fast_tolerance_is_relative_to_the_objective():
    # CUT scaled by 1e-7: the gap U - L = 2e-8 is far above the rounding of numbers ~1e-7
    s = np.array(CUT[0]) * 1e-7
    r = size_fast(s, *CUT[1:])
    assert r.size_index.tolist() == [0, 1] and r.core_macs == 2 and r.gap == 0
    assert r.certificate.core.tolist() == [0, 1]
    assert r.lp_bound == pytest.approx(2.9e-7, rel=1e-9)


def test_fast_off_hull_instance_needs_a_core_of_one():
    # (2, 0.6) lies above the chord from (1, 1.0) to (3, 0.0): LP bound 0.5 with lam = 0.5,
    # greedy takes no hull step (2 units > 1), the leftover fill takes the middle size (0.6).
    r = size_fast([1.0], [1.0, 2.0, 3.0], [1.0, 0.6, 0.0], 2.0)
    assert r.size_index.tolist() == [1] and r.objective == 0.6
    assert r.lp_bound == pytest.approx(0.5, rel=1e-12)
    assert r.gap == 0 and r.lower_bound == 0.6
    assert r.core_macs == 1
    cert = r.certificate
    assert cert.lam_per_quantum == pytest.approx(0.5, rel=1e-12)
    assert cert.base.tolist() == [0]         # the Lagrangian minimizer (the incumbent is not one)
    assert cert.core.tolist() == [0]
    check_certificate(r, [1.0], [1.0, 2.0, 3.0], [1.0, 0.6, 0.0], 2.0)


# s = (1.9, 2), w = (1, 2, 3), f = (1.0, 0.6, 0.0), B = 3: one spare unit. Hull (0, 1.0)-(2, 0.0),
# slope 0.5: efficiencies 0.95, 1.0; the first step (2 units) does not fit: lam = 1.0. Leftover
# fill: MAC 1 one up (gain 0.8 > 0.76): U = 1.9 + 1.2 = 3.1 (the optimum: 1.14 + 2.0 = 3.14 else).
# L = min(1.9, 2.14, 2.0) + min(2.0, 2.2, 2.0) - 1.0 = 2.9. Reduced costs: MAC 0 (0, 0.24, 0.1),
# MAC 1 (0, 0.2, 0): the cheapest moves away from base (0, 0) are 0.1 and 0, both < U - L = 0.2.
CUT = ([1.9, 2.0], [1.0, 2.0, 3.0], [1.0, 0.6, 0.0], 3.0)
CUT_OPT = math.fsum([1.9 * 1.0, 2.0 * 0.6])   # 3.0999999999999996


def test_fast_core_of_two_macs_proves_the_optimum():
    r = size_fast(*CUT)
    assert r.size_index.tolist() == [0, 1] and r.objective == CUT_OPT and r.total_area_um2 == 3.0
    assert r.gap == 0 and r.lower_bound == CUT_OPT and r.core_macs == 2
    assert r.lp_bound == pytest.approx(2.9, rel=1e-12)
    cert = r.certificate
    assert cert.lam_per_quantum == pytest.approx(1.0, rel=1e-12)
    assert cert.base.tolist() == [0, 0] and cert.core.tolist() == [0, 1]
    check_certificate(r, *CUT)
    # the same through Alg. 2 on the core, when the sparse DP is starved of states
    r = size_fast(*CUT, max_states=1)
    assert r.size_index.tolist() == [0, 1] and r.gap == 0 and r.core_macs == 2
    assert r.certificate.core.tolist() == [0, 1]


@pytest.mark.parametrize("max_core_macs", [0, 1])
def test_fast_max_core_macs_cuts_the_proof_short_with_an_honest_bound(max_core_macs):
    # a core of one MAC (MAC 1, the cheapest to move): the bound is min(U, L + 0.1) = 3.0
    r = size_fast(*CUT, max_core_macs=max_core_macs)
    assert r.size_index.tolist() == [0, 1] and r.objective == CUT_OPT
    assert r.lower_bound == pytest.approx(3.0, rel=1e-12) and r.gap == pytest.approx(0.1, rel=1e-9)
    assert r.gap == r.objective - r.lower_bound
    assert not r.proven_optimal and r.certificate is None
    assert r.core_macs == 1 and r.lp_bound == pytest.approx(2.9, rel=1e-12)
    assert size_fast(*CUT, max_core_macs=2).gap == 0


def test_fast_without_any_exact_core_falls_back_to_the_lp_bound():
    r = size_fast(*CUT, max_states=1, max_dp_work=0)
    assert r.size_index.tolist() == [0, 1] and r.objective == CUT_OPT
    assert r.lower_bound == pytest.approx(2.9, rel=1e-12) and r.gap == pytest.approx(0.2, rel=1e-9)
    assert r.certificate is None and r.core_macs == 0


# --------------------------------------------------------------------------- internals, by hand


def test_efficient_sizes():
    w = np.array([3, 1, 2, 2, 4])
    f = np.array([0.1, 0.5, 0.3, 0.2, 0.1])
    # by area: (1, .5) kept, (2, .2) kept, (2, .3) no, (3, .1) kept, (4, .1) no (not strictly lower)
    got = sizer._efficient_sizes(w, f)
    assert got.tolist() == [1, 3, 0] and got.dtype == np.int64
    assert sizer._efficient_sizes(np.array([2, 2]), np.array([0.3, 0.3])).tolist() == [0]
    assert sizer._efficient_sizes(np.array([5]), np.array([0.0])).tolist() == [0]


@pytest.mark.parametrize("y, hull", [
    ([1.0, 0.5, 0.0, 0.0], [0, 2, 3]),   # (1, 0.5) on the chord: dropped
    ([1.0, 0.8, 0.0], [0, 2]),           # above the chord
    ([1.0, 0.2, 0.0], [0, 1, 2]),        # below
    ([1.0], [0]),
    ([1.0, 0.25], [0, 1]),
    ([4.0, 2.0, 1.0, 0.5, 0.25], [0, 1, 2, 3, 4]),
    ([4.0, 3.9, 1.0, 0.9, 0.0], [0, 2, 4]),
])
def test_lower_hull(y, hull):
    x = np.arange(len(y), dtype=float)
    assert sizer._lower_hull(x, np.array(y)) == hull


def test_lower_hull_uses_x():
    # with x = (0, 3, 4), the point (3, 0.5) is below the chord (0, 1)-(4, 0) only if x counts
    assert sizer._lower_hull(np.array([0.0, 3.0, 4.0]), np.array([1.0, 0.5, 0.0])) == [0, 2]
    assert sizer._lower_hull(np.array([0.0, 1.0, 4.0]), np.array([1.0, 0.5, 0.0])) == [0, 1, 2]


def test_pareto_order_per_group():
    group = np.array([0, 0, 0, 1, 1, 0])
    d = np.array([1, 2, 2, 1, 3, 3])
    v = np.array([0.5, 0.5, 0.4, 0.9, 0.1, 0.3])
    # group 0 by d: (1, .5) i0 kept, (2, .4) i2 kept, (2, .5) i1 no, (3, .3) i5 kept;
    # group 1 starts over: (1, .9) i3 kept, (3, .1) i4 kept
    assert sizer._pareto_order(group, d, v).tolist() == [0, 2, 5, 3, 4]
    assert sizer._pareto_order(np.zeros(1, dtype=np.int64), np.array([4]), np.array([0.1])).tolist() == [0]
    assert sizer._pareto_order(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)).tolist() == []
    # three groups, the later groups' first states have the largest objectives
    group = np.array([2, 1, 0, 2, 1, 0])
    d = np.array([0, 0, 0, 1, 1, 1])
    v = np.array([9.0, 8.0, 1.0, 9.0, 7.0, 0.5])
    assert sizer._pareto_order(group, d, v).tolist() == [2, 5, 1, 4, 0]


def test_pareto_states():
    d = np.array([2, 1, 1, 3])
    v = np.array([0.2, 0.5, 0.3, 0.2])
    c = np.array([10.0, 11.0, 12.0, 13.0])
    parent, opt = np.array([5, 6, 7, 8]), np.array([0, 1, 2, 3])
    # by area: (1, .3) i2, (1, .5) i1 no, (2, .2) i0, (3, .2) i3 no (not strictly better)
    nd, nv, nc, np_, no = sizer._pareto_states(d, v, c, parent, opt)
    assert nd.tolist() == [1, 2] and nv.tolist() == [0.3, 0.2] and nc.tolist() == [12.0, 10.0]
    assert np_.tolist() == [7, 5] and no.tolist() == [2, 0]


def test_pareto_order_of_two_states_prunes_too():
    assert sizer._pareto_order(np.zeros(2, dtype=np.int64), np.array([1, 2]), np.array([0.5, 0.6])).tolist() == [0]
    assert sizer._pareto_order(np.zeros(2, dtype=np.int64), np.array([2, 1]), np.array([0.5, 0.6])).tolist() == [1, 0]


def test_expand_ranges():
    owner, value = sizer._expand_ranges(np.array([2, 5, 0]), np.array([4, 4, 1]))
    assert owner.tolist() == [0, 0, 0, 2, 2] and value.tolist() == [2, 3, 4, 0, 1]
    owner, value = sizer._expand_ranges(np.array([3]), np.array([3]))
    assert owner.tolist() == [0] and value.tolist() == [3]


def test_fill_leftover():
    s = np.array([1.0, 2.0])
    f = np.array([0.5, 0.3, 0.1])
    u = np.array([0, 1, 3])
    level = np.array([0, 0])
    # left 2: s=2 +1 (gain 0.4), then s=1 +1 (gain 0.2); +3 never fits
    assert sizer._fill_leftover(s, f, u, level, 2).tolist() == [1, 1]
    assert level.tolist() == [0, 0]           # the input is not modified
    # left 3: the single +3 upgrade of s=2 gains 0.8, the most
    assert sizer._fill_leftover(s, f, u, level, 3).tolist() == [0, 2]
    # from a given level: MAC 1 at size 1 (area 1 used), left 2 -> MAC 1 to size 2 (+2, gain 0.4)
    assert sizer._fill_leftover(s, f, u, np.array([0, 1]), 3).tolist() == [0, 2]
    # nothing left, or no gain (s = 0)
    assert sizer._fill_leftover(s, f, u, level, 0).tolist() == [0, 0]
    assert sizer._fill_leftover(np.array([0.0, 1.0]), f[:2], u[:2], level, 2).tolist() == [0, 1]
    # the largest gain s x (f_now - f_new), not the best ratio: one MAC straight to the top
    assert sizer._fill_leftover(np.array([1.0, 1.0]), np.array([0.5, 0.4, 0.0]), np.array([0, 1, 2]),
                                np.array([0, 0]), 2).tolist() == [2, 0]
    # sizes of equal area are no upgrade
    assert sizer._fill_leftover(np.array([1.0]), np.array([0.5, 0.3]), np.array([0, 0]), np.array([0]), 0).tolist() == [0]
    # at most 4 x K upgrades: with K = 2, 8 of the 10 MACs (the most sensitive) are upgraded
    got = sizer._fill_leftover(np.arange(1.0, 11.0), np.array([0.5, 0.25]), np.array([0, 1]), np.zeros(10, dtype=np.int64), 10)
    assert got.tolist() == [0, 0] + [1] * 8


def test_core_by_alg2():
    s, f, u = np.array([1.0, 2.0]), np.array([0.5, 0.25]), np.array([0, 1])
    # cells = 2 MACs x (1 + 1) grid points x 2 sizes = 8
    assert sizer._core_by_alg2(s, f, u, 1, 8).tolist() == [0, 1]
    assert sizer._core_by_alg2(s, f, u, 1, 7) is None
    assert sizer._core_by_alg2(s, f, u, 2, 100).tolist() == [1, 1]
    assert sizer._core_by_alg2(s, f, u, 0, 100).tolist() == [0, 0]
    assert sizer._core_by_alg2(s, f, u, -1, 100) is None


# One run of two core MACs (s = 1, 2) with options ks = (0, 1, 2), u = (0, 1, 2), f = (1/2, 1/8, 0) and
# lam = 3/16 (dyadic: every sum below is exact). Values s f_k + lam u_k: MAC 0 (1/2, 5/16, 3/8),
# MAC 1 (1, 7/16, 3/8): reduced costs r = (3/16, 0, 1/16) and (5/8, 1/16, 0). Monotone sizings
# (option of MAC 0 <= option of MAC 1), as (d, v, c): (0,0) (0, 1.5, 13/16), (0,1) (1, .75, 1/4),
# (0,2) (2, .5, 3/16), (1,1) (2, 3/8, 1/16), (1,2) (3, 1/8, 0), (2,2) (4, 0, 1/16).
RUN = dict(s_run=np.array([1.0, 2.0]), ks=np.array([0, 1, 2]),
           r_run=np.array([[3 / 16, 0.0, 1 / 16], [5 / 8, 1 / 16, 0.0]]),
           u=np.array([0, 1, 2]), f=np.array([0.5, 0.125, 0.0]))


def _run_moves(bound, limit):
    return sizer._run_moves(RUN["s_run"], RUN["ks"], RUN["r_run"], RUN["u"], RUN["f"], bound, limit)


def test_run_moves_keeps_the_pareto_sizings_within_the_bound():
    # bound 3/16: (0,2) (c = 3/16, on the bound) is beaten by (1,1) at the same area; kept:
    # (1,1), (1,2), (2,2) by area. Breakpoints: the end of each option's block of MACs.
    cuts, d, v, c = _run_moves(3 / 16, 4)
    assert d.tolist() == [2, 3, 4] and d.dtype == np.int64
    assert v.tolist() == [0.375, 0.125, 0.0]
    assert c.tolist() == [1 / 16, 0.0, 1 / 16]
    assert cuts.tolist() == [[0, 2, 2], [0, 1, 2], [0, 0, 2]] and cuts.dtype == np.int64
    # candidates tried: 2 ends for option 0 (the cost 3/16 of MAC 0 at option 0 is on the bound),
    # then 3 + 1 for option 1: 4 <= limit 4, but not <= 3
    assert _run_moves(3 / 16, 3) is None
    # the largest bound: every sizing within 13/16 -> the whole Pareto front
    cuts, d, v, c = _run_moves(13 / 16, 100)
    assert d.tolist() == [0, 1, 2, 3, 4] and v.tolist() == [1.5, 0.75, 0.375, 0.125, 0.0]
    assert c.tolist() == [13 / 16, 1 / 4, 1 / 16, 0.0, 1 / 16]
    assert cuts.tolist() == [[2, 2, 2], [1, 2, 2], [0, 2, 2], [0, 1, 2], [0, 0, 2]]
    # a bound of 1/32: only (1,2); a single partial state after option 0 must still go on
    cuts, d, v, c = _run_moves(1 / 32, 100)
    assert cuts.tolist() == [[0, 1, 2]] and d.tolist() == [3] and v.tolist() == [0.125] and c.tolist() == [0.0]
    # nothing within a negative bound: empty, not None (and no candidate counted, even at limit 0)
    assert _run_moves(-1.0, 0) is not None
    cuts, d, v, c = _run_moves(-1.0, 100)
    assert d.size == 0 and v.size == 0 and c.size == 0 and cuts.shape[0] == 0


def test_run_moves_single_option_and_single_mac():
    cuts, d, v, c = sizer._run_moves(np.array([2.0]), np.array([1]), np.array([[0.25]]), np.array([0, 3]),
                                     np.array([0.5, 0.125]), 1.0, 10)
    assert cuts.tolist() == [[1]] and d.tolist() == [3] and v.tolist() == [0.25] and c.tolist() == [0.25]


# The CUT instance's core, in size_fast's order (MAC 1 first): lam = 1.0, reduced costs from the
# closed form; with the bound at U - L = 0.2 the best core sizing moves MAC 1 (s = 2) one up.
def _cut_core(bound, max_states):
    s_core = np.array([2.0, 1.9])
    f, u = np.array([1.0, 0.6, 0.0]), np.array([0, 1, 2])
    vals = s_core[:, None] * f[None, :] + 1.0 * u[None, :]
    r = vals - vals.min(axis=1)[:, None]
    return sizer._core_dp(s_core, f, u, r, r <= bound, 1, 1.0, bound, max_states)


def test_core_dp_on_a_hand_checked_core():
    choice, status = _cut_core(0.2 + 1e-9, 100)
    assert status == "solved" and choice.tolist() == [1, 0] and choice.dtype == np.int64
    # work: 1 state x 2 moves (run of MAC s=1.9: options 0, 2), then 1 x 3 moves: 5 states
    assert _cut_core(0.2 + 1e-9, 5)[1] == "solved"
    assert _cut_core(0.2 + 1e-9, 4) == (None, "too many states")
    # at a bound of 1e-9 no core sizing fills the area (unused area costs lam = 1 each)
    assert _cut_core(1e-9, 100) == (None, "no sizing within bound")


def test_core_dp_adds_reduced_costs_across_runs():
    # two MACs s = 1, f = (1/2, 1/4), u = (0, 1), lam = 0.3: each upgrade costs 0.05 in reduced
    # cost. MAC 1 may only go up (its own run), MAC 0 either way; cap 2 wants both up: c = 0.1.
    s, f, u = np.array([1.0, 1.0]), np.array([0.5, 0.25]), np.array([0, 1])
    r = np.array([[0.0, 0.05], [0.0, 0.05]])
    allowed = np.array([[True, True], [False, True]])
    choice, status = sizer._core_dp(s, f, u, r, allowed, 2, 0.3, 0.1, 100)     # c = 0.1 on the bound
    assert status == "solved" and choice.tolist() == [1, 1]
    # below it: both up costs 0.1, one up leaves a unit unused (0.05 + 0.3)
    assert sizer._core_dp(s, f, u, r, allowed, 2, 0.3, 0.07, 100) == (None, "no sizing within bound")
    # a run with no move within the bound at all
    assert sizer._core_dp(s, f, u, r, np.ones((2, 2), dtype=bool), 2, 0.3, -1.0, 100) == (None, "no sizing within bound")


def test_core_dp_sorts_a_mixed_run_stably():
    # 40 MACs of sensitivity 1, 2 or 3 in one run (every option allowed): the 8 of s = 3 and
    # 9 of the 22 of s = 2 go up, the later ones by index.
    s = np.array([2, 1, 3, 2, 2, 1, 2, 3, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 1, 2] * 2, dtype=float)
    f, u = np.array([0.5, 0.25]), np.array([0, 1])
    vals = s[:, None] * f[None, :] + 0.5 * u[None, :]
    r = vals - vals.min(axis=1)[:, None]
    choice, status = sizer._core_dp(s, f, u, r, np.ones_like(r, dtype=bool), 17, 0.5, 1e-12, 10 ** 6)
    assert status == "solved"
    expected = (s == 3).astype(int)
    expected[np.flatnonzero(s == 2)[-9:]] = 1
    assert choice.tolist() == expected.tolist()


def test_core_dp_gives_upgrades_to_the_later_of_equal_macs():
    # 20 core MACs of sensitivity 1, 2 or 3 at lam = 0.5 = 2 x the hull slope 0.25: the s = 2 MACs
    # are indifferent, the s = 3 ones must go up, the s = 1 ones stay. The area allows exactly
    # 3 of the s = 2 MACs up: the last three of them in index order (a stable sort by s).
    s = np.array([2, 1, 3, 2, 2, 1, 2, 3, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 1, 2], dtype=float)
    f, u = np.array([0.5, 0.25]), np.array([0, 1])
    vals = s[:, None] * f[None, :] + 0.5 * u[None, :]
    r = vals - vals.min(axis=1)[:, None]
    cap = int((s == 3).sum()) + 3
    choice, status = sizer._core_dp(s, f, u, r, r <= 1e-12, cap, 0.5, 1e-12, 10 ** 6)
    assert status == "solved"
    twos = np.flatnonzero(s == 2)
    expected = (s == 3).astype(int)
    expected[twos[-3:]] = 1
    assert choice.tolist() == expected.tolist()


# --------------------------------------------------------------------------- the certificate checker


def test_dominated_sizes():
    assert dominated_sizes(np.array([1, 2]), np.array([0.5, 0.5])).tolist() == [False, True]
    assert dominated_sizes(np.array([2, 1]), np.array([0.5, 0.5])).tolist() == [True, False]
    assert dominated_sizes(np.array([1, 1]), np.array([0.4, 0.5])).tolist() == [False, True]
    assert dominated_sizes(np.array([1, 1]), np.array([0.5, 0.5])).tolist() == [False, True]
    assert dominated_sizes(np.array([1, 2]), np.array([0.5, 0.4])).tolist() == [False, False]
    assert dominated_sizes(np.array([2, 1]), np.array([0.4, 0.5])).tolist() == [False, False]
    assert dominated_sizes(np.array([3, 1, 2]), np.array([0.1, 0.2, 0.3])).tolist() == [False, False, True]


def _result(objective, lam, base, core, q=1.0, solver="fast", gap=0.0):
    cert = OptimalityCertificate(lam, np.asarray(base), np.asarray(core, dtype=np.int64))
    return SizingResult(np.zeros(len(base), dtype=np.int64), objective, 0.0, objective - gap, gap, solver, 0.0,
                        area_quantum_um2=q, certificate=cert)


# One MAC, w = (1, 2, 3), f = (1.0, 0.6, 0.0), B = 2: cap 1. With lam = 0.5 per quantum the values
# are (1.0, 1.1, 1.0): bound = 1.0 - 0.5 x 1 = 0.5; the optimum is 0.6 (the middle size).
ONE = ([1.0], [1.0, 2.0, 3.0], [1.0, 0.6, 0.0], 2.0)


def test_certificate_needs_a_certificate():
    with raises("the dp result carries no optimality certificate (gap 0.25)"):
        check_certificate(replace(_result(0.6, 0.5, [0], [0]), certificate=None, solver="dp", gap=0.25), *ONE)


def test_certificate_base_and_multiplier_checks():
    with raises("certificate: base must give one size index in [0, 3) per MAC"):
        check_certificate(_result(0.6, 0.5, [3], [0]), *ONE)
    with raises("certificate: base must give one size index in [0, 3) per MAC"):
        check_certificate(_result(0.6, 0.5, [-1], [0]), *ONE)
    with raises("certificate: base must give one size index in [0, 3) per MAC"):
        check_certificate(_result(0.6, 0.5, [0, 0], [0]), *ONE)
    check_certificate(_result(0.6, 0.5, [2], [0]), *ONE)
    check_certificate(_result(0.6, 0.5, [[0]], [0]), *ONE)    # any shape with one entry per MAC
    with raises("certificate: the multiplier must be a finite number >= 0, got -1.0"):
        check_certificate(_result(0.6, -1, [0], [0]), *ONE)
    with raises("certificate: the multiplier must be a finite number >= 0, got inf"):
        check_certificate(_result(0.6, math.inf, [0], [0]), *ONE)
    with raises("certificate: the multiplier must be a finite number >= 0, got nan"):
        check_certificate(_result(0.6, math.nan, [0], [0]), *ONE)
    check_certificate(_result(0.6, 0.0, [0], [0]), *ONE)      # lam = 0: bound 0, the core DP decides


def test_certificate_bound_checks_with_their_slack():
    # slack = 1e-9 x (|objective| + 1.0 + 0.5 x 1) ~ 2e-9 around the bound 0.5
    with raises("certificate: objective 0.4 is below the Lagrangian bound 0.5; the sizing cannot be feasible"):
        check_certificate(_result(0.4, 0.5, [0], [0]), *ONE)
    with raises("below the Lagrangian bound"):
        check_certificate(_result(0.5 - 2.1e-9, 0.5, [0], []), *ONE)
    check_certificate(_result(0.5 - 1.9e-9, 0.5, [0], []), *ONE)
    check_certificate(_result(0.5, 0.5, [0], []), *ONE)
    check_certificate(_result(0.5 + 1.9e-9, 0.5, [0], []), *ONE)
    with raises("certificate: no core, but objective 0.5000000021 exceeds the bound 0.5"):
        check_certificate(_result(0.5000000021, 0.5, [0], []), *ONE)
    with raises("certificate: no core, but objective 0.6 exceeds the bound 0.5"):
        check_certificate(_result(0.6, 0.5, [0], []), *ONE)
    # with lam = 0 the bound is 0 and the slack is 1e-9 x |objective| + 1e-300
    check_certificate(_result(0.0, 0.0, [0], []), *ONE)
    with raises("certificate: no core, but objective 1e-12 exceeds the bound 0.0"):
        check_certificate(_result(1e-12, 0.0, [0], []), *ONE)


def test_certificate_reads_the_grid_of_the_result():
    # Same instance on a 0.5 um^2 grid: w = (2, 4, 6), cap 2 quanta; lam 0.25 per quantum
    # -> values (1.0, 1.1, 1.0), bound 0.5: met by a claimed 0.5 without core. On the 1 um^2
    # grid the same multiplier would give a bound of 0.25.
    check_certificate(_result(0.5, 0.25, [0], [], q=0.5), *ONE)
    with raises("exceeds the bound 0.25"):
        check_certificate(_result(0.5, 0.25, [0], [], q=1.0), *ONE)


def test_certificate_core_recheck():
    check_certificate(_result(0.6, 0.5, [0], [0]), *ONE)
    check_certificate(_result(0.6, 0.5, [0], [0]), *ONE, max_dp_cells=6)   # 1 MAC x 2 x 3 sizes
    with raises("certificate: re-solving the 1-MAC core needs 6 DP cells (limit 5)"):
        check_certificate(_result(0.6, 0.5, [0], [0]), *ONE, max_dp_cells=5)
    with raises("certificate: the core has a sizing of objective 0.6 < the claimed optimum 0.7"):
        check_certificate(_result(0.7, 0.5, [0], [0]), *ONE)
    check_certificate(_result(0.6 + 1e-9, 0.5, [0], [0]), *ONE)    # within the slack


# Three MACs s = (2, 1, 3), w = (1, 2), f = (0.5, 0.25), B = 4: one upgrade, to s = 3: 2.25.
# lam = 0: bound = sum_i s_i x 0.25 = 1.5, objective - bound = 0.75.
THREE = ([2.0, 1.0, 3.0], [1.0, 2.0], [0.5, 0.25], 4.0)


def test_certificate_outside_the_core():
    check_certificate(_result(2.25, 0.0, [0, 0, 1], [0, 1]), *THREE)
    # MAC 1 (base 0) moves to size 1 at no reduced cost; MAC 2 would cost 0.75
    with raises("certificate: MAC 1 outside the core can move for reduced cost 0.0 < objective - bound = 0.75"):
        check_certificate(_result(2.25, 0.0, [0, 0, 1], [0]), *THREE)
    with raises("certificate: MAC 1 outside the core can move for reduced cost 0.25 < objective - bound = 0.75"):
        check_certificate(_result(2.25, 0.0, [0, 1, 1], [0]), *THREE)
    # MAC 1 (base 1) costs 0.25, MAC 2 (base 0) nothing: the second outside MAC is named
    with raises("certificate: MAC 2 outside the core can move for reduced cost 0.0 < objective - bound = 0.75"):
        check_certificate(_result(2.25, 0.0, [0, 1, 0], [0]), *THREE)
    # a move costing exactly objective - bound is fine (MAC 2, base 1 -> size 0 costs 0.75)
    check_certificate(_result(2.25, 0.0, [0, 0, 1], [0, 1]), *THREE)
    check_certificate(_result(2.25, 0.0, [1, 1, 1], [1, 0]), *THREE)
    # every MAC in the core: the DP finds 2.25 (MAC 2 up), below a claimed 2.5
    with raises("the core has a sizing of objective 2.25 < the claimed optimum 2.5"):
        check_certificate(_result(2.5, 0.0, [0, 0, 1], [0, 1, 2]), *THREE)


def test_certificate_ignores_moves_to_dominated_sizes_and_rounds_the_cap():
    # Two MACs s = (1, 1), w = (1, 2, 3), f = (0.5, 0.6, 0.45): size 1 is dominated by size 0,
    # so the useful excesses are (0, 2), step 2. B = 4: cap 2. lam = 0.3: values (0.5, 0.9,
    # 1.05), bound 1.0 - 0.6 = 0.4. Optimum 0.95 (one MAC at size 2).
    args = ([1.0, 1.0], [1.0, 2.0, 3.0], [0.5, 0.6, 0.45], 4.0)
    # MAC 1 outside, base 0: the dominated move costs 0.4 < 0.55 but does not count; the real
    # one costs 0.55 = objective - bound.
    check_certificate(_result(0.95, 0.3, [0, 0], [0]), *args)
    # B = 5 rounds down to cap 2 as well (a cap of 3 would make the bound 0.1)
    args5 = args[:3] + (5.0,)
    with raises("certificate: objective 0.3 is below the Lagrangian bound 0.4"):
        check_certificate(_result(0.3, 0.3, [0, 0], [0]), *args5)


def test_certificate_accepts_indices_given_as_floats():
    cert = OptimalityCertificate(0.5, np.array([0.0]), np.array([0.0]))
    check_certificate(replace(_result(0.6, 0.5, [0], [0]), certificate=cert), *ONE)


def test_certificate_with_a_single_size_uses_the_whole_spare_area():
    # one size: no step to round to; B = 2 leaves 1 quantum, lam 0.25: bound 0.5 - 0.25 = 0.25
    with raises("certificate: no core, but objective 0.5 exceeds the bound 0.25"):
        check_certificate(_result(0.5, 0.25, [0], []), [1.0], [1.0], [0.5], 2.0)
    check_certificate(_result(0.5, 0.0, [0], []), [1.0], [1.0], [0.5], 2.0)


def test_certificate_counts_a_real_move_next_to_a_dominated_one():
    # as above, claimed 1.0: objective - bound = 0.6 > 0.55, the cost of MAC 1's real move
    args = ([1.0, 1.0], [1.0, 2.0, 3.0], [0.5, 0.6, 0.45], 4.0)
    with raises("certificate: MAC 1 outside the core can move for reduced cost 0.55"):
        check_certificate(_result(1.0, 0.3, [0, 0], [0]), *args)


def test_certificate_core_recheck_adds_the_fixed_macs():
    # s = (1, 10), w = (1, 2), f = (1/2, 1/4), B = 3: MAC 1 up, 0.5 + 2.5 = 3.0. lam = 0: bound
    # 0.25 + 2.5 = 2.75; MAC 1 outside at base 1 would pay 2.5 to move. The core {MAC 0} has 1
    # quantum left: 0.5, plus the fixed 10 x 0.25 = 3.0 < a claimed 3.1.
    args = ([1.0, 10.0], [1.0, 2.0], [0.5, 0.25], 3.0)
    check_certificate(_result(3.0, 0.0, [0, 1], [0]), *args)
    with raises_exactly("certificate: the core has a sizing of objective 3.0 < the claimed optimum 3.1"):
        check_certificate(_result(3.1, 0.0, [0, 1], [0]), *args)


def test_certificate_core_without_area_left():
    # THREE with MACs 1 and 2 outside at size 1 (4 um^2 = the budget): the core's budget is 0,
    # so 0 DP cells pass any limit and the re-solve itself finds the core infeasible
    with raises("area budget 0 um^2 is infeasible"):
        check_certificate(_result(1.5, 0.0, [1, 1, 1], [0]), *THREE, max_dp_cells=0)


def test_certificate_core_cell_limit_default():
    # One size only: bound = objective, nothing outside can move; the core of MAC 0 has a budget
    # of B - 1 quanta, x 1 size x 1 MAC cells. 5e8 + 1 cells: over the default limit of 5e8.
    s, area, f = [1.0, 1.0], [1.0], [0.5]
    with raises("certificate: re-solving the 1-MAC core needs 5e+08 DP cells (limit 5e+08)"):
        check_certificate(_result(1.0, 0.0, [0, 0], [0]), s, area, f, float(5 * 10 ** 8 + 2))
    # exactly 5e8 cells pass the check (and size_dp then refuses the grid)
    with raises("size_dp needs 500000000 area grid points"):
        check_certificate(_result(1.0, 0.0, [0, 0], [0]), s, area, f, float(5 * 10 ** 8 + 1))


# --------------------------------------------------------------------------- hetero: budgets and voltages


def test_hetero_constants():
    assert ISO_FRACTIONS == (1 / 3, 1 / 2, 2 / 3)
    assert BUDGET_LABELS == ("small", "medium", "large")
    assert SIZING_ERROR_THRESHOLD == 1e-3


def test_iso_size_index():
    # the paper's 13 sizes: 4, 6, 8 (0-based) at a third, a half, two thirds
    assert [iso_size_index(13, x) for x in ISO_FRACTIONS] == [4, 6, 8]
    assert iso_size_index(1, 0.5) == 0
    assert iso_size_index(5, 0.0) == 0 and iso_size_index(5, 1.0) == 4
    assert iso_size_index(4, 0.5) == 2          # round(1.5) = 2
    assert iso_size_index(6, 0.5) == 2          # round(2.5) = 2 (to even)
    assert iso_size_index(10, 0.3) == 3         # round(2.7)
    assert type(iso_size_index(7, 0.5)) is int
    with raises_exactly("no MAC sizes to choose a budget from"):
        iso_size_index(0, 0.5)
    with raises("an iso-area fraction must be in [0, 1], got -0.1"):
        iso_size_index(5, -0.1)
    with raises("an iso-area fraction must be in [0, 1], got 1.5"):
        iso_size_index(5, 1.5)


def test_budgets_for_defaults_and_columns():
    sizes = pd.DataFrame({"delay_ns": np.arange(13.0, 0.0, -1.0), "area_um2": 100.0 + 10 * np.arange(13)})
    budgets = budgets_for(sizes)
    assert budgets == [Budget("small", 1 / 3, 4, 140.0), Budget("medium", 0.5, 6, 160.0),
                       Budget("large", 2 / 3, 8, 180.0)]
    assert all(type(b.fraction) is float and type(b.area_per_mac_um2) is float for b in budgets)
    got = budgets_for(sizes.iloc[:3], fractions=(1,), labels=("all",))
    assert got == [Budget("all", 1.0, 2, 120.0)]
    with raises("2 iso-area fractions but 3 labels"):
        budgets_for(sizes, (0.1, 0.2), ("a", "b", "c"))
    with raises("3 iso-area fractions but 2 labels"):
        budgets_for(sizes, (0.1, 0.2, 0.3), ("a", "b"))


ERRORS = pd.DataFrame({
    "vdd": [1.2, 1.5, 1.8, 1.2, 1.5, 1.8, 1.5000004],
    "area_um2": [2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 3.0],
    "delay_ns": [7.0, 6.0, 5.0, 8.0, 7.5, 6.5, 6.0],
    "p_error": [2e-3, 1e-3, 0.0, 0.5, 0.1, 1e-4, 1e-4],
})


def test_sizes_at_one_supply():
    got = sizes_at(ERRORS, 1.5)            # 1.5000004 is within the 1e-6 V tolerance
    assert list(got.columns) == ["vdd", "area_um2", "delay_ns", "p_error"]
    assert got["area_um2"].tolist() == [1.0, 2.0, 3.0]
    assert got["p_error"].tolist() == [0.1, 1e-3, 1e-4]
    assert got.index.tolist() == [0, 1, 2]
    assert sizes_at(ERRORS, 1.2000009)["area_um2"].tolist() == [1.0, 2.0]
    with raises("the error table has no rows at 1.3 V (it has 1.2, 1.5, 1.5, 1.8 V)"):
        sizes_at(ERRORS, 1.3)
    with raises("no rows at 1.20001 V"):
        sizes_at(ERRORS, 1.200011)


def test_auto_sizing_vdd():
    errors = ERRORS[ERRORS["vdd"] != 1.5000004]
    # size 1 (area 2): p >= 1e-3 at 1.2 and 1.5 (equal to the threshold counts) -> the highest, 1.5
    assert auto_sizing_vdd(errors, 1) == 1.5
    assert type(auto_sizing_vdd(errors, 1)) is float
    # size 0 (area 1): 0.5, 0.1, 1e-4 -> 1.5
    assert auto_sizing_vdd(errors, 0) == 1.5
    assert auto_sizing_vdd(errors, 0, threshold=1e-4) == 1.8
    assert auto_sizing_vdd(errors, 1, threshold=2e-3) == 1.2
    with raises("no supply in the error table makes size 1 fail with probability >= 0.5; "
                "give the sizing voltage explicitly"):
        auto_sizing_vdd(errors, 1, threshold=0.5)
    with raises("size index 2 is beyond the 2 sizes of the error table"):
        auto_sizing_vdd(errors, 2)


def test_size_for_budgets_one_exact_sizing_per_strategy_and_budget():
    sizes = pd.DataFrame({"p_error": [0.5, 0.0], "area_um2": [10.0, 20.0], "delay_ns": [1.0, 2.0]})
    maps = {"column": np.array([[5.0, 0.0], [0.0, 1.0]]), "column2to1": np.array([[0.0, 1.0], [2.0, 3.0]])}
    budgets = [Budget("tight", 0.0, 0, 10.0), Budget("roomy", 0.5, 0, 15.0)]
    got = size_for_budgets(maps, sizes, budgets)
    assert list(got) == [("column", "tight"), ("column", "roomy"), ("column2to1", "tight"), ("column2to1", "roomy")]
    assert got[("column", "tight")].size_index.tolist() == [[0, 0], [0, 0]]
    assert got[("column", "tight")].objective == 3.0 and got[("column", "tight")].budget_um2 == 40.0
    # 60 um^2: two MACs large, the two sensitive ones
    assert got[("column", "roomy")].size_index.tolist() == [[1, 0], [0, 1]]
    assert got[("column", "roomy")].objective == 0.0 and got[("column", "roomy")].budget_um2 == 60.0
    assert got[("column2to1", "roomy")].size_index.tolist() == [[0, 0], [1, 1]]
    assert got[("column2to1", "roomy")].objective == 0.5 and got[("column2to1", "roomy")].solver == "fast"


def test_uniform_map():
    m = uniform_map((2, 3), 4.0)
    assert m.shape == (2, 3) and m.dtype == np.int64 and (m == 4).all()
    assert uniform_map((1, 2), np.int64(2)).tolist() == [[2, 2]]
