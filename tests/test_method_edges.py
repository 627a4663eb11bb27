"""The refusals of the method layer's checks: each branch that rejects a claim or an input is
reached with an input built to trip exactly it (the sizer's certificate, the per-bit tracing)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from eda.core.errors import EdaError
from eda.designs.mac import MacParams
from eda.method.bit_errors import bit_delays, classify_bit, path_split
from eda.method.sizer import size_fast
from eda.method.sizer_certificate import check_certificate, dominated_sizes

# 150 MACs whose proof needs an exact core of 64 of them (the others priced out).
AREA, F = np.array([10.0, 13.0, 17.0, 19.0, 26.0]), np.array([0.5, 0.31, 0.2, 0.14, 0.01])


@pytest.fixture(scope="module")
def solved():
    rng = np.random.default_rng(1)
    s = np.round(rng.lognormal(0, 0.5, 150), 2)
    budget = 150 * 16.3 + rng.uniform(0, 300)
    result = size_fast(s, AREA, F, budget, area_quantum_um2=1)
    check_certificate(result, s, AREA, F, budget)
    assert 0 < result.certificate.core.size < s.size
    return s, budget, result


def refused(result, s, budget, match, **kwargs):
    with pytest.raises(EdaError, match=match):
        check_certificate(result, s, AREA, F, budget, **kwargs)


def test_a_base_of_the_wrong_shape_or_range_is_refused(solved):
    s, budget, result = solved
    cert = result.certificate
    refused(replace(result, certificate=replace(cert, base=cert.base[:-1])), s, budget, "one size index")
    refused(replace(result, certificate=replace(cert, base=cert.base + 10)), s, budget, "one size index")


def test_a_negative_or_infinite_multiplier_is_refused(solved):
    s, budget, result = solved
    for lam in (-1.0, float("inf")):
        refused(replace(result, certificate=replace(result.certificate, lam_per_quantum=lam)), s, budget, "multiplier")


def test_an_objective_below_the_bound_cannot_be_feasible(solved):
    s, budget, result = solved
    refused(replace(result, objective=result.objective * 0.5), s, budget, "below the Lagrangian bound")


def test_no_core_needs_the_objective_on_the_bound(solved):
    s, budget, result = solved
    empty = replace(result.certificate, core=np.zeros(0, dtype=np.int64))
    refused(replace(result, certificate=empty), s, budget, "no core")


def test_a_core_too_large_to_recheck_is_said_so(solved):
    s, budget, result = solved
    refused(result, s, budget, "DP cells", max_dp_cells=1)


def test_a_claimed_optimum_the_core_beats_is_refused(solved):
    s, budget, result = solved
    every_mac = replace(result.certificate, core=np.arange(s.size))
    refused(replace(result, objective=result.objective * 1.01, certificate=every_mac), s, budget, "the core has a sizing")


def test_dominated_sizes_include_the_later_of_two_equal_ones():
    w, f = np.array([3, 4, 4, 5]), np.array([0.5, 0.2, 0.2, 0.3])
    assert dominated_sizes(w, f).tolist() == [False, False, True, True]


PARAMS = MacParams("proposed")


def test_nets_that_are_no_mac_register_are_not_classified():
    assert classify_bit("not a net name!", PARAMS) is None
    assert classify_bit("some_wire[3]", PARAMS) is None
    assert classify_bit("product_razor.q[0]", PARAMS) == ("product", PARAMS.prod_bits - PARAMS.razor_bits)
    assert classify_bit("\\accumulate.y [23]", PARAMS) == ("product", PARAMS.prod_bits - 1)


def test_bit_delays_refuse_tables_that_trace_to_nothing():
    with pytest.raises(EdaError, match="missing column"):
        bit_delays(pd.DataFrame({"endpoint": ["a/D"]}), {}, PARAMS, 10.0)
    ports_only = pd.DataFrame({"endpoint": ["psum_out[0]"], "slack_ns": [1.0]})
    with pytest.raises(EdaError, match="no endpoint could be traced"):
        bit_delays(ports_only, {}, PARAMS, 10.0)


def test_path_split_needs_a_partial_sum_register():
    delays = pd.DataFrame({"group": ["product"], "bit": [3], "delay_ns": [2.0]})
    with pytest.raises(EdaError, match="partial-sum register"):
        path_split(delays)
    both = pd.DataFrame({"group": ["product", "accumulator"], "bit": [3, 4], "delay_ns": [2.0, 1.0]})
    split = path_split(both)
    assert split == {"critical_path_ns": 2.0, "product_stage_ns": 2.0, "accumulate_ns": 1.0, "accumulate_fraction": 0.5}


def test_a_core_missing_a_mac_that_could_move_is_refused(solved):
    s, budget, result = solved
    cert = result.certificate
    refused(replace(result, certificate=replace(cert, core=cert.core[:1])), s, budget, "outside the core can move")
