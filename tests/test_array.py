"""Systolic arrays of every MAC kind and dataflow, simulated in iverilog, bit-exact against
the numpy model in eda.verify.array_sim and against the plain product X @ W."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner

from eda.designs.array import DATAFLOWS, ArrayParams, check_mapping, identity_row_order, map_weights, render_array, row_order_from_selects, select_registers
from eda.cli.array import array_command
from eda.verify.array_sim import ArrayStimulus, RazorError, array_model, build_stimulus, random_activations_and_weights, random_mapping, simulate_array, verify_array, wrap_signed
from eda.core.errors import EdaError
from eda.designs.mac import MAC_KINDS
from eda.core.runner import run_tool

N_VECTORS = 24
ACC_BITS = 24


def nontrivial_mapping(params: ArrayParams, seed: int):
    """A random mapping the dataflow allows, in which the permutations really permute
    (columns moved, and each column's rows ordered differently from its neighbour's)."""
    rng = np.random.default_rng(seed)
    for _ in range(100):
        column_order, row_order = random_mapping(params, rng)
        columns_moved = params.dataflow == "conventional" or (column_order != np.arange(params.cols)).any()
        rows_differ = params.group_rows == 1 or all(
            (row_order[:, c] != row_order[:, c - 1]).any() for c in range(1, params.cols)
        ) and (row_order[:, 0] != np.arange(params.rows)).any()
        if columns_moved and rows_differ:
            return column_order, row_order
    raise AssertionError("no nontrivial mapping found")


def dropped_sum(params, errors, activations, weights, column_order, row_order) -> np.ndarray:
    """What the injected errors take away from X @ W (vectors x filters), computed
    from the error semantics directly: proposed loses the flagged MAC's product,
    thundervolt the product of the MAC below it (nothing for the last row)."""
    lost = np.zeros((len(activations), params.cols), dtype=np.int64)
    for e in errors:
        row = e.row + 1 if params.kind == "thundervolt" else e.row
        if row == params.rows:
            continue
        channel, filter_ = row_order[row, e.col], column_order[e.col]
        lost[e.vector, filter_] += activations[e.vector, channel] * weights[channel, filter_]
    return lost


# --------------------------------------------------------------------------- bit-exact products


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("kind", MAC_KINDS)
def test_4x4_array_computes_the_unpermuted_product(kind, dataflow, tmp_path):
    params = ArrayParams(kind, 4, 4, dataflow)
    column_order, row_order = nontrivial_mapping(params, seed=1)

    result = verify_array(params, N_VECTORS, seed=1, workdir=tmp_path, column_order=column_order, row_order=row_order)

    assert result.passed, result.summary()
    assert result.equals_unpermuted_product, result.summary()
    # The extreme products are in the stream: vector 0 is all -128, filter 0 all -128.
    assert result.actual[0, 0] == 4 * 128 * 128


@pytest.mark.parametrize(
    "kind, dataflow",
    [("proposed", "column4to1"), ("proposed", "conventional"), ("tpu", "column2to1"), ("thundervolt", "column4to1")],
)
def test_8x8_array_computes_the_unpermuted_product(kind, dataflow, tmp_path):
    params = ArrayParams(kind, 8, 8, dataflow)
    column_order, row_order = nontrivial_mapping(params, seed=2)

    result = verify_array(params, 40, seed=2, workdir=tmp_path, column_order=column_order, row_order=row_order)

    assert result.passed, result.summary()
    assert result.equals_unpermuted_product, result.summary()


@pytest.mark.parametrize("kind, dataflow", [("proposed", "column4to1"), ("thundervolt", "column2to1")])
def test_narrow_array_wraps_like_the_accumulator(kind, dataflow, tmp_path):
    # 10-bit partial sums (not a whole number of hex digits) overflow on 4 rows of 4x6-bit products.
    params = ArrayParams(kind, 4, 3, dataflow, a_bits=4, w_bits=6, acc_bits=10, razor_bits=5)
    errors = [RazorError(1, 1, 3), RazorError(0, 2, 5)]

    result = verify_array(params, N_VECTORS, seed=11, errors=errors, workdir=tmp_path)

    assert result.passed, result.summary()
    rng = np.random.default_rng(11)
    activations, weights = random_activations_and_weights(params, N_VECTORS, rng)
    unwrapped = activations @ weights
    assert (unwrapped[0, 0] == 4 * 8 * 32) and result.actual[0, 0] == 0  # 1024 wraps to 0 in 10 bits
    assert np.array_equal(result.unpermuted_product, wrap_signed(unwrapped, 10))


@pytest.mark.parametrize("dataflow", ["column2to1", "column4to1"])
def test_selects_that_do_not_match_the_weights_give_another_product(dataflow, tmp_path):
    params = ArrayParams("proposed", 4, 4, dataflow)
    rng = np.random.default_rng(3)
    activations, weights = random_activations_and_weights(params, N_VECTORS, rng)
    column_order, row_order = nontrivial_mapping(params, seed=3)
    right = build_stimulus(params, activations, weights, column_order, row_order)
    # Weights sorted for row_order, but every select register left at 0 (no switching).
    wrong = ArrayStimulus(right.activations, right.loaded_weights, np.zeros_like(right.selects))

    actual, known = simulate_array(params, wrong, tmp_path)

    assert known.all()
    product = wrap_signed(activations @ weights, ACC_BITS)[:, column_order]
    assert (actual != product).any()
    # ...and the model predicts exactly what the wrongly configured hardware does.
    assert np.array_equal(actual, array_model(params, wrong))


def test_wrong_schedule_fails_the_comparison(tmp_path, monkeypatch):
    """The comparison reads each result at the cycle the model says: shift that by one
    cycle and the same simulation must fail."""
    import eda.verify.array_sim as array_sim

    original = array_sim.output_cycles
    monkeypatch.setattr(array_sim, "output_cycles", lambda params, n: original(params, n) + 1)

    result = verify_array(ArrayParams("tpu", 4, 4, "column4to1"), N_VECTORS, seed=4, workdir=tmp_path)

    assert not result.passed
    assert "mismatches" in result.summary() and "expected" in result.summary()


# --------------------------------------------------------------------------- Razor errors


ERRORS_4X4 = [
    RazorError(row=0, col=0, vector=0),  # extreme products of vector 0
    RazorError(row=1, col=2, vector=5),
    RazorError(row=2, col=1, vector=5),
    RazorError(row=2, col=2, vector=5),  # right below an error on the same vector
    RazorError(row=1, col=1, vector=6),  # the same MAC in consecutive cycles
    RazorError(row=1, col=1, vector=7),
    RazorError(row=3, col=3, vector=15),  # last row
]


@pytest.mark.parametrize("dataflow", ["conventional", "column2to1", "column4to1"])
@pytest.mark.parametrize("kind", ["thundervolt", "proposed"])
def test_razor_errors_drop_exactly_the_modelled_products(kind, dataflow, tmp_path):
    params = ArrayParams(kind, 4, 4, dataflow)
    column_order, row_order = nontrivial_mapping(params, seed=5)
    rng = np.random.default_rng(5)
    activations, weights = random_activations_and_weights(params, N_VECTORS, rng)

    result = verify_array(
        params, N_VECTORS, seed=5, errors=ERRORS_4X4, workdir=tmp_path, column_order=column_order, row_order=row_order
    )

    assert result.passed, result.summary()
    lost = dropped_sum(params, ERRORS_4X4, activations, weights, column_order, row_order)
    assert np.array_equal(result.actual, wrap_signed(activations @ weights - lost, ACC_BITS))
    assert np.count_nonzero(lost) >= 4  # the errors did drop products
    assert not result.equals_unpermuted_product


def test_razor_errors_in_an_8x8_array(tmp_path):
    params = ArrayParams("proposed", 8, 8, "column4to1")
    errors = [RazorError(r, c, v) for r, c, v in [(0, 7, 3), (7, 0, 3), (4, 4, 10), (5, 2, 30), (3, 6, 31)]]
    result = verify_array(params, 32, seed=6, errors=errors, workdir=tmp_path)

    assert result.passed, result.summary()
    assert (result.actual != result.unpermuted_product).sum() == len(errors)


def test_razor_errors_at_other_cycles_are_caught(tmp_path, monkeypatch):
    """Inject the errors one cycle late: the simulation must disagree with the model."""
    import eda.verify.array_sim as array_sim

    original = array_sim.razor_error_cycle
    monkeypatch.setattr(array_sim, "razor_error_cycle", lambda params, error: original(params, error) + 1)

    result = verify_array(ArrayParams("proposed", 4, 4), N_VECTORS, seed=7, errors=ERRORS_4X4, workdir=tmp_path)

    assert not result.passed


def test_thundervolt_macs_pass_error_and_shadow_down_the_column():
    # Zero-delay simulation cannot tell the shadow value from the flop value (see
    # eda.verify.array_sim), so the wiring of the shadow path is checked in the netlist.
    verilog = render_array(ArrayParams("thundervolt", 3, 2))
    for r in (1, 2):
        for c in (0, 1):
            instance = re.search(rf"mac_r{r}_c{c} \((.*?)\);", verilog, flags=re.S).group(1)
            assert f".err_in(err_r{r - 1}_c{c})" in instance
            assert f".psum_in_shadow(shadow_r{r - 1}_c{c})" in instance
            assert f".psum_in(psum_r{r - 1}_c{c})" in instance
    assert "psum_out[24 +: 24] = err_r2_c1 ? shadow_r2_c1 : psum_r2_c1;" in verilog


def test_tpu_arrays_take_no_razor_errors(tmp_path):
    with pytest.raises(EdaError, match="tpu"):
        verify_array(ArrayParams("tpu", 4, 4), 4, errors=[RazorError(0, 0, 0)], workdir=tmp_path)
    with pytest.raises(EdaError, match="outside"):
        verify_array(ArrayParams("proposed", 4, 4), 4, errors=[RazorError(4, 0, 0)], workdir=tmp_path)


# --------------------------------------------------------------------------- sizing map


def elaborated_mac_modules(verilog: str, top: str, workdir) -> dict[str, str]:
    """MAC instance -> module, as iverilog elaborates `top` (its .scope records)."""
    (workdir / "array.v").write_text(verilog)
    run_tool(["iverilog", "-g2005", "-s", top, "-o", "array.vvp", "array.v"], cwd=workdir, name="iverilog")
    scopes = re.findall(r'\.scope module, "(\w+)" "(\w+)"', (workdir / "array.vvp").read_text())
    return {instance: module for instance, module in scopes if instance.startswith("mac_r")}


def test_sizing_map_instantiates_one_module_per_size(tmp_path):
    sizing_map = np.array([[0, 0, 2, 2], [0, 5, 5, 2], [5, 0, 2, 2], [0, 0, 0, 5]])
    params = ArrayParams("proposed", 4, 4, "column4to1", sizing_map)

    modules = elaborated_mac_modules(render_array(params), params.top, tmp_path)

    assert set(modules.values()) == {"mac_proposed_s0", "mac_proposed_s2", "mac_proposed_s5"}
    for r in range(4):
        for c in range(4):
            assert modules[f"mac_r{r}_c{c}"] == f"mac_proposed_s{sizing_map[r, c]}"
    result = verify_array(params, N_VECTORS, seed=8, workdir=tmp_path / "sim")
    assert result.passed, result.summary()


# --------------------------------------------------------------------------- mapping (numpy only)


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_select_registers_apply_the_row_order(dataflow):
    params = ArrayParams("tpu", 8, 6, dataflow)
    _, row_order = nontrivial_mapping(params, seed=9)

    selects = select_registers(params, row_order)

    assert np.array_equal(row_order_from_selects(params, selects), row_order)
    assert selects.min() >= 0 and selects.max() < 1 << params.select_bits  # all 0 without switching


def test_mapped_weights_keep_the_product():
    params = ArrayParams("tpu", 8, 4, "column4to1")
    rng = np.random.default_rng(10)
    activations, weights = random_activations_and_weights(params, 5, rng)
    column_order, row_order = nontrivial_mapping(params, seed=10)
    stimulus = build_stimulus(params, activations, weights, column_order, row_order)

    assert np.array_equal(stimulus.loaded_weights, map_weights(weights, column_order, row_order))
    assert np.array_equal(array_model(params, stimulus)[:, np.argsort(column_order)], activations @ weights)


@pytest.mark.parametrize(
    "dataflow, column_order, swap_rows, message",
    [
        ("column2to1", [0, 1, 2, 3], (1, 2), "outside the group of 2"),
        ("column4to1", [0, 1, 2, 3], (3, 4), "outside the group of 4"),
        ("conventional", [1, 0, 2, 3], None, "use dataflow 'column'"),
        ("column", [0, 0, 2, 3], None, "permutation of 0..3"),
    ],
)
def test_mappings_the_hardware_cannot_apply_are_refused(dataflow, column_order, swap_rows, message):
    params = ArrayParams("tpu", 8, 4, dataflow)
    row_order = identity_row_order(params)
    if swap_rows:
        a, b = swap_rows
        row_order[[a, b], 0] = row_order[[b, a], 0]
    with pytest.raises(EdaError, match=re.escape(message)):
        check_mapping(params, column_order, row_order)


# --------------------------------------------------------------------------- command


def invoke(args):
    return CliRunner().invoke(array_command, [str(a) for a in args])


def test_command_writes_the_verilog_and_verifies(tmp_path):
    out = tmp_path / "array.v"
    result = invoke(["--kind", "thundervolt", "--rows", 4, "--cols", 2, "--dataflow", "column2to1",
                     "--out", out, "--verify", "-n", 8])

    assert result.exit_code == 0, result.output
    assert "module array_thundervolt_column2to1_4x2" in out.read_text()
    assert "PASS" in result.output


def test_command_prints_to_stdout_with_a_npy_sizing_map(tmp_path):
    path = tmp_path / "sizes.npy"
    np.save(path, np.array([[1, 0], [3, 1]]))
    result = invoke(["--kind", "tpu", "--rows", 2, "--cols", 2, "--sizing-map", path])

    assert result.exit_code == 0, result.output
    declared = set(re.findall(r"^module (\w+)", result.output, flags=re.MULTILINE))
    assert declared == {"mac_tpu_s0", "mac_tpu_s1", "mac_tpu_s3", "array_tpu_conventional_2x2"}


@pytest.mark.parametrize(
    "content, args, message",
    [
        ("0,1,2\n1,1,1\n", [], r"sizing map .*sizes\.csv has shape 2x3; expected 4x4"),
        ("0,1,2,3\n" * 3 + "0,1.5,0,0\n", [], r"sizing map .*sizes\.csv must hold integer size indices; line 4, field 2 is '1\.5'"),
        ("0,1,2,3\n" * 3 + "0,-1,0,0\n", [], r"negative size index -1 at row 3, column 1"),
        ("0,1,2,3\n" * 3 + "0,1\n", [], r"rows of different lengths"),
        (None, ["--rows", 6, "--dataflow", "column4to1"], r"rows must be divisible by 4; got 6"),
        (None, ["--rows", 3, "--dataflow", "column2to1"], r"rows must be divisible by 2; got 3"),
    ],
)
def test_command_errors_name_the_problem(content, args, message, tmp_path):
    base = ["--kind", "proposed", "--out", tmp_path / "array.v"]
    if content is not None:
        (tmp_path / "sizes.csv").write_text(content)
        base += ["--sizing-map", tmp_path / "sizes.csv"]

    result = invoke(base + args)

    assert result.exit_code != 0
    assert isinstance(result.exception, EdaError)
    assert re.search(message, str(result.exception)), str(result.exception)
    assert not (tmp_path / "array.v").exists()


def test_npy_sizing_map_with_fractions_is_refused(tmp_path):
    path = tmp_path / "sizes.npy"
    np.save(path, np.array([[0.0, 1.0], [2.5, 0.0]]))
    result = invoke(["--kind", "tpu", "--rows", 2, "--cols", 2, "--sizing-map", path])

    assert isinstance(result.exception, EdaError)
    assert re.search(r"sizes\.npy must hold integer size indices; row 1, column 0 is 2\.5", str(result.exception))
