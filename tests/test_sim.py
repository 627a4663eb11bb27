"""Every MAC kind simulated in iverilog, bit-exact against the golden model in eda.verify.mac_sim."""

import numpy as np
import pandas as pd
import pytest

from eda.designs.mac import MacParams
from eda.verify.mac_sim import build_vectors, compare_outputs, golden_mac, random_vectors, simulate_mac, to_signed, verify_mac

NARROW = dict(a_bits=4, w_bits=6, acc_bits=16, razor_bits=5)
RANDOM_CYCLES = 10_000


def known_values(column: pd.Series) -> np.ndarray:
    assert column.notna().all(), f"{column.name} has unknown (X) values"
    return column.to_numpy(dtype=np.int64)


@pytest.mark.parametrize(
    "params, error_rate",
    [
        pytest.param(MacParams("tpu"), 0.0, id="tpu"),
        pytest.param(MacParams("tpu", **NARROW), 0.0, id="tpu-narrow"),
        pytest.param(MacParams("thundervolt"), 0.0, id="thundervolt"),
        pytest.param(MacParams("thundervolt", **NARROW), 0.0, id="thundervolt-narrow"),
        pytest.param(MacParams("thundervolt"), 0.05, id="thundervolt-random-errors"),
        pytest.param(MacParams("proposed"), 0.0, id="proposed"),
        pytest.param(MacParams("proposed", **NARROW), 0.0, id="proposed-narrow"),
        pytest.param(MacParams("proposed"), 0.05, id="proposed-random-errors"),
        pytest.param(MacParams("proposed", razor_bits=0), 0.0, id="proposed-no-razor"),
        pytest.param(MacParams("proposed", razor_bits=0), 0.05, id="proposed-no-razor-random-errors"),
        # The accumulate adder written out as each prefix network (and the behavioural `+`).
        *[pytest.param(MacParams("proposed", accumulate_adder=adder), 0.05, id=f"proposed-{adder}")
          for adder in ("yosys", "ripple", "kogge_stone", "brent_kung")],
        pytest.param(MacParams("proposed", accumulate_adder="brent_kung", **NARROW), 0.0, id="proposed-brent-kung-narrow"),
    ],
)
def test_random_and_corner_vectors_match_golden_model(params, error_rate, tmp_path):
    result = verify_mac(params, n=RANDOM_CYCLES, seed=0, workdir=tmp_path, error_rate=error_rate)

    assert result.passed, result.summary()
    assert result.cycles_compared >= RANDOM_CYCLES


def test_random_vectors_hold_the_corner_cases():
    params = MacParams("tpu")
    vectors = random_vectors(params, n=0, seed=0)
    expected = golden_mac(params, vectors)

    filled = expected["psum_out"].notna().to_numpy()
    weights = to_signed(known_values(expected["w_out"][filled]), params.w_bits)
    products = vectors["a_in"].to_numpy()[filled] * weights
    assert {-128 * -128, -128 * 127, 127 * 127} <= set(products.tolist())
    # tpu adds the product of the previous cycle; corner cases hold a, w and psum_in for
    # several cycles, so in their last cycle psum_in meets the product of the same corner.
    unwrapped = vectors["psum_in"].to_numpy()[filled][1:] + products[:-1]
    assert (unwrapped > 2**23 - 1).any() and (unwrapped < -(2**23)).any()
    assert (unwrapped == 2**23 - 1).any() and (unwrapped == -(2**23)).any()
    # Weights are reloaded mid-stream, with other values on w_in between the loads.
    assert len(set(weights.tolist())) > 2
    assert 0 < vectors["w_load"].sum() < len(vectors)


@pytest.mark.parametrize(
    "params, latency_cycles",
    [
        pytest.param(MacParams("thundervolt"), 1, id="thundervolt"),
        pytest.param(MacParams("proposed", razor_bits=0), 2, id="proposed-no-razor"),
        pytest.param(MacParams("proposed"), 2, id="proposed"),
    ],
)
def test_injected_error_drops_exactly_that_cycles_product(params, latency_cycles, tmp_path):
    n_cycles, weight = 64, -77
    error_cycles = [9, 10, 23, 47]  # including two in a row
    rng = np.random.default_rng(7)
    a_in = rng.integers(1, 128, n_cycles) * rng.choice([-1, 1], n_cycles)  # nonzero: every drop is visible
    psum_in = rng.integers(-(2**23), 2**23, n_cycles)
    stimulus = dict(a_in=a_in, w_in=np.full(n_cycles, weight), w_load=np.arange(n_cycles) == 0, psum_in=psum_in)
    errors = np.isin(np.arange(n_cycles), error_cycles)
    error_column = "err_in" if params.kind == "thundervolt" else "force_razor_error"
    clean = build_vectors(**stimulus)
    faulty = build_vectors(**stimulus, **{error_column: errors})  # shadow psum_in = psum_in

    clean_out = simulate_mac(params, clean, tmp_path / "clean")
    faulty_out = simulate_mac(params, faulty, tmp_path / "faulty")

    # (i) the error run matches the drop model in every output
    result = compare_outputs(golden_mac(params, faulty), faulty_out)
    assert result.passed, result.summary()
    # (ii) it differs from the error-free run by exactly the dropped products
    lost = to_signed(
        (known_values(clean_out["psum_out"][latency_cycles:]) - known_values(faulty_out["psum_out"][latency_cycles:]))
        % 2**params.acc_bits,
        params.acc_bits,
    )
    dropped_products = np.where(errors, np.roll(a_in, latency_cycles) * weight, 0)[latency_cycles:]
    np.testing.assert_array_equal(lost, dropped_products)
    if params.kind == "proposed":  # err_out shows the forced error (X in cycle 0, before any product)
        np.testing.assert_array_equal(known_values(faulty_out["err_out"][1:]), errors[1:])


@pytest.mark.parametrize(
    "proposed", [pytest.param(MacParams("proposed", razor_bits=0), id="no-razor"),
                 pytest.param(MacParams("proposed"), id="razor10")]
)
def test_proposed_has_one_more_cycle_of_latency_than_tpu(proposed, tmp_path):
    tpu = MacParams("tpu")
    tpu_vectors = random_vectors(tpu, n=500, seed=3)
    # In an array a proposed MAC's partial sum comes from the proposed MAC
    # above it, itself one cycle later than in a tpu array.
    proposed_vectors = tpu_vectors.copy()
    proposed_vectors["psum_in"] = np.roll(tpu_vectors["psum_in"].to_numpy(), 1)
    proposed_vectors["psum_in_shadow"] = proposed_vectors["psum_in"]

    tpu_psum = simulate_mac(tpu, tpu_vectors, tmp_path / "tpu")["psum_out"]
    proposed_psum = simulate_mac(proposed, proposed_vectors, tmp_path / "proposed")["psum_out"]

    # tpu is filled from cycle 1, proposed from cycle 2: proposed[k + 1] == tpu[k].
    np.testing.assert_array_equal(known_values(proposed_psum[2:]), known_values(tpu_psum[1:-1]))


@pytest.mark.parametrize(
    "proposed", [pytest.param(MacParams("proposed", razor_bits=0), id="no-razor"),
                 pytest.param(MacParams("proposed"), id="razor10")]
)
def test_proposed_outputs_a_new_product_every_cycle(proposed, tmp_path):
    n_cycles, weight = 200, 3
    a_in = np.arange(n_cycles) - 100  # a different product in every cycle
    vectors = build_vectors(a_in, np.full(n_cycles, weight), np.arange(n_cycles) == 0, np.zeros(n_cycles))

    psum = simulate_mac(proposed, vectors, tmp_path)["psum_out"]

    # Two cycles after a_in enters, its product comes out; no cycle is skipped or repeated.
    np.testing.assert_array_equal(to_signed(known_values(psum[2:]), proposed.acc_bits), a_in[:-2] * weight)


@pytest.fixture(scope="module")
def tpu_run(tmp_path_factory):
    params = MacParams("tpu")
    vectors = random_vectors(params, n=300, seed=1)
    return params, vectors, simulate_mac(params, vectors, tmp_path_factory.mktemp("tpu_run"))


def test_comparison_catches_a_golden_model_without_wrap(tpu_run):
    params, vectors, actual = tpu_run
    expected = golden_mac(params, vectors).iloc[1:]  # tpu is filled from cycle 1
    assert compare_outputs(expected, actual.iloc[1:]).passed
    psum_in = vectors["psum_in"].to_numpy()[1:]
    products = to_signed((known_values(expected["psum_out"]) - psum_in) % 2**params.acc_bits, params.acc_bits)

    # A wrong model that adds in plain integers, compared on signed values.
    unwrapped = pd.DataFrame({"psum_out": psum_in + products})
    simulated = pd.DataFrame({"psum_out": to_signed(known_values(actual["psum_out"][1:]), params.acc_bits)})
    result = compare_outputs(unwrapped, simulated)

    overflow_cycles = np.flatnonzero((unwrapped["psum_out"] > 2**23 - 1) | (unwrapped["psum_out"] < -(2**23)))
    assert not result.passed
    assert result.mismatch_count == len(overflow_cycles) > 0
    assert [m.cycle for m in result.first_mismatches] == overflow_cycles[:5].tolist()


def test_comparison_counts_x_in_a_compared_cycle_as_mismatch(tpu_run):
    params, vectors, actual = tpu_run
    corrupted = actual.copy()
    corrupted.loc[40, "psum_out"] = pd.NA

    result = compare_outputs(golden_mac(params, vectors), corrupted)

    assert result.mismatch_count == 1
    assert (result.first_mismatches[0].cycle, result.first_mismatches[0].actual) == (40, None)
