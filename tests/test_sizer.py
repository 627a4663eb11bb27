"""Heterogeneous MAC sizing (eq. 10): brute force = Alg. 2 DP = size_fast, to the last digit.

Objectives are summed with math.fsum by both solvers, so equal sizings (up to swapping MACs
of equal sensitivity) give bit-identical objectives; instances built to have ties use
dyadic numbers, whose products and sums are exact in floating point.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from eda.core.errors import EdaError
from eda.method.sizer import choose_area_quantum, expected_degradation, iso_area_budget, size_dp, size_fast
from eda.method.sizer_certificate import check_certificate
from eda.parsers.tables import load_error_table
from eda.cli.size import size_command
from eda.outputs.sizing import write_sizing_outputs

SOLVERS = [size_dp, size_fast]


def brute_force(s, area, f, budget) -> float:
    """Smallest objective over every sizing within budget (areas here are exact integers)."""
    n, k = len(s), len(area)
    combos = np.array(list(itertools.product(range(k), repeat=n)))
    feasible = combos[area[combos].sum(axis=1) <= budget + 1e-9]
    approx = (s[None, :] * f[feasible]).sum(axis=1)
    close = feasible[approx <= approx.min() * (1 + 1e-9) + 1e-300]
    return min(expected_degradation(s, f, c) for c in close)


def realistic_ladder(rng, k=13):
    """Areas 4860..5760 um^2 in ~50 um^2 steps (2 decimals), f from ~1e-2 down to ~1e-6."""
    area = np.round(4860 + 50 * np.arange(k) + rng.uniform(-5, 5, k), 2)
    f = np.sort(np.logspace(-2, -6, k) * np.exp(rng.normal(0, 0.3, k)))[::-1]
    return area, f


# --------------------------------------------------------------------------- hand-checked


@pytest.mark.parametrize("solve", SOLVERS)
def test_hand_checked_three_macs(solve):
    # Base: all smallest (area 3, objective 6.5). 3 spare um^2: the s=10 MAC to the largest
    # (+2, saves 4) and the s=2 MAC one up (+1, saves 0.6) beat every other split.
    s = np.array([1.0, 2.0, 10.0])
    area = np.array([1.0, 2.0, 3.0])
    f = np.array([0.5, 0.2, 0.1])
    r = solve(s, area, f, 6.0, area_quantum_um2=1)
    assert r.size_index.tolist() == [0, 1, 2]
    assert r.objective == math.fsum([0.5, 0.4, 1.0])
    assert r.total_area_um2 == 6.0
    assert r.gap == 0 and r.lower_bound == r.objective


@pytest.mark.parametrize("solve", SOLVERS)
def test_budget_forces_a_size_off_the_convex_hull(solve):
    # (2, 0.6) lies above the chord from (1, 1.0) to (3, 0.0): the LP would mix the end
    # sizes (bound 0.5), but with 2 um^2 for one MAC the middle size is the only upgrade.
    r = solve([1.0], [1.0, 2.0, 3.0], [1.0, 0.6, 0.0], 2.0, area_quantum_um2=1)
    assert r.size_index.tolist() == [1]
    assert r.objective == 0.6
    if solve is size_fast:
        assert r.lp_bound == pytest.approx(0.5) and r.gap == 0


@pytest.mark.parametrize("solve", SOLVERS)
def test_dominated_and_duplicate_sizes_are_never_needed(solve):
    # size 1 is dominated by size 0 (more area, more error); size 3 duplicates size 2.
    area = np.array([2.0, 3.0, 4.0, 4.0])
    f = np.array([0.5, 0.7, 0.1, 0.1])
    s = np.array([1.0, 3.0])
    r = solve(s, area, f, 6.0, area_quantum_um2=1)
    assert r.objective == math.fsum([0.5, 0.3])
    assert set(r.size_index.tolist()) <= {0, 2, 3}


# --------------------------------------------------------------------------- random exactness


@pytest.mark.parametrize("seed", range(24))
def test_brute_force_dp_and_fast_agree(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 7)), int(rng.integers(1, 5))
    area = rng.integers(1, 12, k).astype(float)
    if seed % 2:  # dyadic values: exact ties between different sizings are possible
        f = rng.integers(0, 9, k) / 8.0
        s = rng.integers(0, 5, n) / 4.0
    else:
        f = rng.uniform(0, 1, k)  # unsorted: dominated sizes are common
        s = rng.lognormal(0, 1, n)
        s[rng.integers(0, n)] = 0.0
    budget = area.min() * n + rng.integers(0, int((area.max() - area.min()) * n) + 2)
    expected = brute_force(s, area, f, budget)
    dp = size_dp(s, area, f, budget, area_quantum_um2=1)
    fast = size_fast(s, area, f, budget, area_quantum_um2=1)
    assert dp.objective == expected
    assert fast.objective == expected
    assert fast.gap == 0
    for r in (dp, fast):
        assert area[r.size_index].sum() <= budget


@pytest.mark.parametrize("seed", range(12))
def test_dp_and_fast_agree_beyond_brute_force(seed):
    """Larger arrays than the fast solver's first core (64), non-convex and dominated sizes."""
    rng = np.random.default_rng(100 + seed)
    n, k = int(rng.integers(60, 250)), int(rng.integers(3, 14))
    area = np.sort(rng.integers(20, 80, k)).astype(float)
    f = np.sort(rng.uniform(0, 1, k) ** 3)[::-1]
    f[rng.integers(0, k)] *= rng.uniform(1, 3)  # break convexity, maybe monotonicity
    s = rng.lognormal(0, 1.5, n)
    if seed % 3 == 0:
        s = np.round(s, 1)  # many equal sensitivities
    budget = area.min() * n + rng.uniform(0.05, 0.95) * (area.max() - area.min()) * n
    dp = size_dp(s, area, f, budget, area_quantum_um2=1)
    fast = size_fast(s, area, f, budget, area_quantum_um2=1)
    assert fast.objective == dp.objective
    assert fast.gap == 0


@pytest.mark.parametrize("seed", range(4))
def test_dp_and_fast_agree_on_a_fine_area_grid(seed):
    """Real-valued areas on a 0.01 um^2 grid (what the DP pays for: ~1000 grid points per um^2 x MACs)."""
    rng = np.random.default_rng(200 + seed)
    k, n = 8, 24
    area = np.round(np.sort(rng.uniform(10, 20, k)), 2)
    f = np.sort(rng.uniform(1e-4, 1e-1, k))[::-1]
    s = rng.lognormal(0, 1, (4, n // 4))
    budget = iso_area_budget(n, area[k // 2])
    dp = size_dp(s, area, f, budget)
    fast = size_fast(s, area, f, budget)
    assert dp.area_quantum_um2 == fast.area_quantum_um2 == 0.01
    assert fast.objective == dp.objective and fast.gap == 0
    assert dp.size_index.shape == (4, n // 4)


def test_dp_checkpointed_traceback_matches_full_table():
    rng = np.random.default_rng(7)
    area, f = np.array([3.0, 4.0, 6.0, 7.0]), np.array([0.4, 0.3, 0.1, 0.05])
    s = rng.lognormal(0, 1, 40)
    full = size_dp(s, area, f, 190, area_quantum_um2=1)
    checkpointed = size_dp(s, area, f, 190, area_quantum_um2=1, max_table_bytes=0)
    assert np.array_equal(full.size_index, checkpointed.size_index)


def test_certified_gap_brackets_the_optimum_when_the_core_is_cut_short():
    """With the DP starved of states, size_fast must still return a true bound."""
    area = np.array([10.0, 13.0, 17.0, 19.0, 26.0])
    f = np.array([0.5, 0.31, 0.2, 0.14, 0.01])
    for seed in (1, 2):
        rng = np.random.default_rng(seed)
        s = np.round(rng.lognormal(0, 0.5, 150), 2)
        budget = 150 * 16.3 + rng.uniform(0, 300)
        exact = size_dp(s, area, f, budget, area_quantum_um2=1).objective
        assert size_fast(s, area, f, budget, area_quantum_um2=1).objective == exact
        for max_states in (1, 50):
            r = size_fast(s, area, f, budget, area_quantum_um2=1, max_states=max_states, max_dp_work=0)
            assert r.gap > 0 and not r.proven_optimal
            assert r.lp_bound <= r.lower_bound <= exact <= r.objective
            assert r.gap == r.objective - r.lower_bound


# --------------------------------------------------------------------------- properties


def test_more_budget_never_hurts_and_budget_is_respected():
    rng = np.random.default_rng(3)
    area, f = realistic_ladder(rng)
    s = rng.lognormal(0, 1.5, (32, 32))
    previous = math.inf
    for k in range(13):
        budget = iso_area_budget(s.size, area[k]) + 7.0
        r = size_fast(s, area, f, budget)
        assert r.total_area_um2 <= budget
        assert r.objective <= previous
        assert r.gap == 0
        previous = r.objective
    small = s[:2, :5]
    previous = math.inf
    for budget in np.linspace(10 * 4860, 10 * 5760, 7):
        r = size_dp(small, np.round(area), f, budget, area_quantum_um2=1)
        assert r.total_area_um2 <= budget and r.objective <= previous
        previous = r.objective


def test_larger_sensitivity_gets_at_least_as_large_a_size():
    rng = np.random.default_rng(4)
    area, f = realistic_ladder(rng)
    f[5] *= 3  # a size off the hull
    s = np.round(rng.lognormal(0, 1.5, (64, 64)), 1)  # with ties
    r = size_fast(s, area, f, iso_area_budget(s.size, area[6]))
    chosen = area[r.size_index].ravel()
    order = np.lexsort((chosen, s.ravel()))  # by sensitivity, ties by area
    assert np.all(np.diff(chosen[order]) >= 0)
    # only non-dominated sizes are used
    for k in np.unique(r.size_index):
        assert not np.any((area <= area[k]) & (f <= f[k]) & ((area < area[k]) | (f < f[k])))


def test_full_array_256x256x13_is_exact_and_fast():
    rng = np.random.default_rng(2019)
    area, f = realistic_ladder(rng)
    s = rng.lognormal(0, 1.5, (256, 256))
    budget = iso_area_budget(s.size, area[6])
    r = size_fast(s, area, f, budget)
    assert r.gap == 0 and r.lower_bound == r.objective
    assert r.lp_bound <= r.objective <= r.lp_bound * (1 + 1e-6)
    assert r.total_area_um2 <= budget
    assert r.size_index.shape == (256, 256)
    assert r.objective < expected_degradation(s, f, np.full(s.size, 6))  # beats identical MACs
    assert r.seconds < 10  # ~0.5 s alone; generous for shared CI cores


def test_all_zero_sensitivities_and_roomy_budgets():
    area, f = np.array([1.0, 2.0]), np.array([0.5, 0.1])
    r = size_fast(np.zeros((2, 2)), area, f, 100.0)
    assert r.objective == 0 and r.size_index.tolist() == [[0, 0], [0, 0]]
    r = size_fast(np.array([0.0, 1.0, 2.0]), area, f, 100.0)
    assert r.size_index.tolist() == [0, 1, 1] and r.gap == 0


# --------------------------------------------------------------------------- inputs and errors


@pytest.mark.parametrize("solve", SOLVERS)
def test_infeasible_budget_names_the_minimum(solve):
    with pytest.raises(EdaError, match=r"smallest array is 4 MACs x 2 um\^2 = 8 um\^2"):
        solve(np.ones((2, 2)), [2.0, 3.0], [0.2, 0.1], 7.9)


@pytest.mark.parametrize("solve", SOLVERS)
@pytest.mark.parametrize("s, area, f, message", [
    ([1.0, -0.5], [1.0, 2.0], [0.2, 0.1], "negative"),
    ([1.0, np.nan], [1.0, 2.0], [0.2, 0.1], "NaN"),
    ([1.0, 1.0], [1.0, 2.0], [0.2, np.nan], "error probability"),
    ([1.0, 1.0], [1.0, 2.0, 3.0], [0.2, 0.1], "3 sizes but p_error has 2"),
    ([], [1.0, 2.0], [0.2, 0.1], "empty"),
    ([1.0, 1.0], [0.0, 2.0], [0.2, 0.1], "positive"),
])
def test_bad_inputs_raise_clear_errors(solve, s, area, f, message):
    with pytest.raises(EdaError, match=message):
        solve(s, area, f, 10.0)


def test_dp_refuses_a_grid_it_cannot_hold():
    area = np.array([4860.3712, 4910.2931])  # exact only on a 0.0001 um^2 grid
    with pytest.raises(EdaError, match="use size_fast"):
        size_dp(np.ones((256, 256)), area, [0.1, 0.01], iso_area_budget(65536, area[1]))


def test_iso_area_budget_and_area_grid():
    assert iso_area_budget(65536, 5310.25) == 65536 * 5310.25
    with pytest.raises(EdaError):
        iso_area_budget(0, 10.0)
    with pytest.raises(EdaError):
        iso_area_budget(4, -1.0)
    assert choose_area_quantum([4860.0, 4910.0]) == 1.0
    assert choose_area_quantum([4860.37, 4910.1]) == 0.01
    assert choose_area_quantum([3.7536]) == 0.0001
    # n x area in floating point lands on its own grid point, not one quantum below
    area = np.array([4860.37, 4910.29])
    r = size_fast(np.ones(1000), area, [0.1, 0.01], iso_area_budget(1000, area[1]))
    assert r.size_index.min() == 1


# --------------------------------------------------------------------------- outputs and command


def write_errtable(path, rng):
    area, f = realistic_ladder(rng, k=6)
    rows = []
    for vdd, scale in ((0.9, 1.0), (0.8, 10.0)):
        for k in range(6):
            rows.append({"area_um2": area[k], "delay_ns": 5 - 0.1 * k, "vdd": vdd, "clock_ns": 5.0, "p_error": min(1.0, f[k] * scale)})
    pd.DataFrame(rows).sample(frac=1, random_state=1).to_csv(path, index=False)  # unsorted on purpose
    return area, f


def test_outputs_are_written(tmp_path):
    rng = np.random.default_rng(5)
    area, f = write_errtable(tmp_path / "err.csv", rng)
    sizes = load_error_table(tmp_path / "err.csv", vdd=0.9)
    assert sizes["area_um2"].tolist() == sorted(area.tolist())
    s = rng.lognormal(0, 1, (8, 12))
    r = size_fast(s, sizes["area_um2"].to_numpy(), sizes["p_error"].to_numpy(), iso_area_budget(s.size, area[3]))
    out = write_sizing_outputs(r, sizes, tmp_path / "out", sensitivity=s, iso_index=3)
    assert np.array_equal(np.loadtxt(out["map_csv"], delimiter=",", dtype=int), r.size_index)
    assert np.array_equal(np.load(out["map_npy"]), r.size_index)
    summary = json.loads(out["summary_json"].read_text())
    assert summary["objective"] == r.objective and summary["gap"] == 0
    assert sum(row["count"] for row in summary["sizes"]) == s.size
    assert summary["iso_area"]["objective_ratio"] <= 1
    assert "heterogeneous / identical" in out["summary_md"].read_text()
    for png in (out["histogram_png"], out["map_png"]):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "out").glob(".*tmp"))


def test_size_command(tmp_path):
    rng = np.random.default_rng(6)
    write_errtable(tmp_path / "err.csv", rng)
    s = rng.lognormal(0, 1, (4, 6))
    np.save(tmp_path / "s.npy", s)
    np.savetxt(tmp_path / "s.csv", s, delimiter=",")
    runner = CliRunner()
    results = {}
    for solver, sens in (("fast", "s.npy"), ("dp", "s.csv")):
        out = tmp_path / solver
        res = runner.invoke(size_command, ["--errtable", str(tmp_path / "err.csv"), "--vdd", "0.8",
                                           "--sensitivity", str(tmp_path / sens), "--iso-size", "2",
                                           "--solver", solver, "--out", str(out)])
        assert res.exit_code == 0, res.output
        assert "optimal" in res.output
        results[solver] = json.loads((out / "sizing_summary.json").read_text())
    assert results["fast"]["objective"] == results["dp"]["objective"]

    def run(*args):
        return runner.invoke(size_command, ["--errtable", str(tmp_path / "err.csv"), "--sensitivity",
                                            str(tmp_path / "s.npy"), "--out", str(tmp_path / "x"), *args])

    res = run("--iso-size", "1")  # two voltages in the table, none chosen
    assert isinstance(res.exception, EdaError) and "--vdd" in str(res.exception)
    res = run("--vdd", "0.7", "--iso-size", "1")
    assert isinstance(res.exception, EdaError) and "0.8, 0.9" in str(res.exception)
    res = run("--vdd", "0.9", "--iso-size", "9")
    assert isinstance(res.exception, EdaError) and "sizes 0..5" in str(res.exception)
    res = run("--vdd", "0.9", "--budget-um2", "10")
    assert isinstance(res.exception, EdaError) and "infeasible" in str(res.exception)
    res = run("--vdd", "0.9")
    assert res.exit_code == 2 and "exactly one of --budget-um2 and --iso-size" in res.output


# --------------------------------------------------------------------------- hard instances (hypothesis)

from dataclasses import replace as dc_replace

from hypothesis import HealthCheck, given, settings, strategies as st

DYADIC_ERRORS = [0.75, 0.5, 0.375, 0.25, 0.125, 0.0625, 0.03125]


@st.composite
def hard_instances(draw):
    """Arrays of 65-300 MACs (more than size_fast's first 64-MAC core) whose sensitivities tie
    or nearly tie, on ladders with collinear or off-hull sizes, at budgets from edge to edge."""
    n = draw(st.integers(65, 300))
    areas = sorted(draw(st.lists(st.integers(1, 12), min_size=2, max_size=6, unique=True)))
    area = np.array(areas, dtype=float)
    if draw(st.booleans()):
        f = 1.0 - area / 16  # collinear: every size on the hull's one segment
    else:
        f = np.array(sorted(draw(st.lists(st.sampled_from(DYADIC_ERRORS), min_size=len(areas), max_size=len(areas),
                                          unique=True)), reverse=True))
    pattern = draw(st.sampled_from(["equal", "two-values", "near-equal", "few-outliers"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if pattern == "equal":
        s = np.ones(n)
    elif pattern == "two-values":
        s = rng.choice([1.0, 1.0 + 2**-20], n)
    elif pattern == "near-equal":
        s = 1 + 1e-4 * rng.random(n)
    else:
        s = np.ones(n)
        s[: draw(st.integers(1, 10))] = 1.5
    spare = draw(st.integers(0, n * int(areas[-1] - areas[0])))
    budget = float(n * areas[0] + spare)
    return s, area, f, budget


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hard_instances())
def test_fast_matches_the_dp_and_its_certificate_checks_on_hard_instances(instance):
    s, area, f, budget = instance
    dp = size_dp(s, area, f, budget, area_quantum_um2=1)
    fast = size_fast(s, area, f, budget, area_quantum_um2=1)
    assert fast.lower_bound <= dp.objective * (1 + 1e-12) + 1e-12
    assert fast.total_area_um2 <= budget
    if fast.proven_optimal:
        assert fast.objective <= dp.objective * (1 + 1e-12) + 1e-12, "claimed optimal but worse than the DP"
        check_certificate(fast, s, area, f, budget)
    else:  # only when the exact core was cut short; then the gap is honest
        assert fast.lower_bound <= dp.objective <= fast.objective


def _tied_instance():
    """306 MACs of two sensitivities 2^-20 apart: every one sits at the LP threshold."""
    rng = np.random.default_rng(8)
    s = rng.choice([1.0, 1.0 + 2**-20], 306)
    return s, np.array([2.0, 3.0, 10.0]), np.array([0.75, 0.375, 0.03125]), 1869.0


def test_the_core_grows_past_its_first_64_macs_when_ties_need_it():
    s, area, f, budget = _tied_instance()
    fast = size_fast(s, area, f, budget, area_quantum_um2=1)
    dp = size_dp(s, area, f, budget, area_quantum_um2=1)
    assert fast.core_macs > 64
    assert fast.proven_optimal and fast.objective == pytest.approx(dp.objective, rel=1e-12)
    check_certificate(fast, s, area, f, budget)


def test_a_tampered_certificate_is_refused():
    rng = np.random.default_rng(5)
    area, f = np.array([3.0, 4.0, 6.0, 7.0]), np.array([0.4, 0.3, 0.1, 0.05])
    s = rng.lognormal(0, 1, 120)
    budget = 120 * 4.6
    fast = size_fast(s, area, f, budget, area_quantum_um2=1)
    check_certificate(fast, s, area, f, budget)
    worse = size_fast(s, area, f, budget - 40, area_quantum_um2=1)  # optimal for a smaller budget only
    with pytest.raises(EdaError, match="certificate"):
        check_certificate(dc_replace(worse, certificate=dc_replace(worse.certificate, core=worse.certificate.core[:0])),
                          s, area, f, budget)
    cert = fast.certificate
    wrong_lam = dc_replace(fast, certificate=dc_replace(cert, lam_per_quantum=cert.lam_per_quantum * 3 + 1))
    with pytest.raises(EdaError, match="certificate"):
        check_certificate(wrong_lam, s, area, f, budget)
    with pytest.raises(EdaError, match="no optimality certificate"):
        check_certificate(size_dp(s, area, f, budget, area_quantum_um2=1), s, area, f, budget)
