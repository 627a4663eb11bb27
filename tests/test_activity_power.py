"""Realistic-activity MAC power: gate-level model, VCD toggle counts, annotated OpenSTA power, operand stream.

Real yosys, iverilog and OpenSTA on MACs synthesized here (sky130hd, one delay target per kind).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eda.jobs.power import CSV_COLUMNS, measure_power, operand_vectors, random_operands, select_rows, zero_operands
from eda.designs.registry import Variant
from eda.flow.characterize import characterize, prepare_corners, write_outputs
from eda.cli.main import main
from eda.designs.registry import mac_design
from eda.core.errors import EdaError
from eda.parsers.vcd import read_activity
from eda.core.platforms import load_platform
from eda.designs.mac import MAC_KINDS, MacParams
from eda.verify.mac_sim import random_vectors
from eda.core.step import State, run_step
from eda.flow.gatesim import VCD_SCOPE, GateLevelModel, GateLevelSimulation, NetActivity, compare_with_golden, window_times
from eda.flow.sta import StaSettings

TARGET_PS = 3000
SETTINGS = StaSettings()


@pytest.fixture(scope="module")
def flow(platforms_root, liberty_seed, tmp_path_factory):
    """Every MAC kind synthesized and characterized once; the table and run folders as `eda characterize` writes them."""
    cache = tmp_path_factory.mktemp("power_cache")
    shutil.copytree(liberty_seed, cache / "liberty")
    platform = load_platform("sky130hd", platforms_root)
    variants = [Variant(mac_design(MacParams(kind)), TARGET_PS) for kind in MAC_KINDS]
    result = characterize(variants, platform, SETTINGS, cache, jobs=2, progress=False)
    out = tmp_path_factory.mktemp("characterized")
    write_outputs(result, out, platform, SETTINGS, ["pytest"])
    liberty = prepare_corners(platform, None, cache)[platform.nominal_corner]
    return {"platform": platform, "cache": cache, "liberty": liberty, "csv": out / "characterization.csv",
            "table": result.table, "netlist": {k: out / "runs" / f"{k}-D{TARGET_PS}" / "01-synth" / "netlist.v" for k in MAC_KINDS}}


def simulate(flow, kind: str, vectors: pd.DataFrame, run_dir: Path, warmup: int = 4) -> State:
    params = MacParams(kind)
    state = State({"netlist": flow["netlist"][kind]})
    state = run_step(GateLevelModel(params.module, flow["liberty"], 120), state, run_dir / "gatemodel", run_dir)
    return run_step(GateLevelSimulation(params, vectors, warmup, 120), state, run_dir / "gatesim", run_dir)


@pytest.mark.parametrize("kind", MAC_KINDS)
def test_gate_level_model_matches_the_golden_model_bit_for_bit(flow, kind, tmp_path):
    params = MacParams(kind)
    vectors = random_vectors(params, 400, seed=11)  # corner cases (wraps, weight reloads) + random cycles
    state = simulate(flow, kind, vectors, tmp_path)
    result = compare_with_golden(params, vectors, state.views["sim_outputs"])
    assert result.passed, result.summary()
    assert result.cycles_compared >= len(vectors) - 3


def test_toggle_counts_from_the_vcd_are_exact_for_a_counter(flow, tmp_path):
    n, warmup = 300, 5
    counter = np.arange(n) % 128  # a_in counts up: bit b flips every 2^b cycles
    operands = pd.DataFrame({"a_code": counter, "w_code": np.full(n, 3), "psum_in": np.zeros(n, dtype=np.int64)})
    vectors = operand_vectors(MacParams("tpu"), operands)
    state = simulate(flow, "tpu", vectors, tmp_path, warmup)
    state = run_step(NetActivity(n, warmup, ("clk",)), state, tmp_path / "activity", tmp_path)
    table = pd.read_csv(state.views["activity"]).set_index("net")
    measured = n - warmup
    # The window holds the input changes of cycles warmup..n-1 (each from the previous cycle's value).
    for bit in range(8):
        values = (counter >> bit) & 1
        expected = int(np.count_nonzero(values[warmup:] != values[warmup - 1:-1]))
        for net in (f"a_in[{bit}]", f"a_out[{bit}]"):  # the port and the register's output net
            assert table.loc[net, "toggles"] == expected, net
            assert table.loc[net, "activity"] == pytest.approx(expected / measured)
    assert table.loc["a_in[7]", "toggles"] == 0  # the counter stays below 128
    assert table.loc["a_in[0]", "duty"] == pytest.approx(0.5, abs=1 / measured)
    assert table.loc["clk", "activity"] == pytest.approx(2.0)  # two edges per period
    assert table.loc["clk", "duty"] == pytest.approx(0.5)  # the testbench holds clk high from 10k+5 to 10k+10
    assert table.loc["w_in[0]", "toggles"] == 0 and table.loc["w_in[0]", "duty"] == 1.0  # weight 3, held
    # The whole window is known: the warm-up loaded the weight and filled the registers.
    assert (table["unknown_fraction"] == 0).all()


def test_vcd_window_is_counted_from_its_start(flow, tmp_path):
    """read_activity on the same VCD with a later window counts only the later toggles."""
    n, warmup = 64, 4
    operands = pd.DataFrame({"a_code": np.arange(n) % 2, "w_code": np.ones(n, dtype=np.int64), "psum_in": np.zeros(n, dtype=np.int64)})
    state = simulate(flow, "tpu", operand_vectors(MacParams("tpu"), operands), tmp_path, warmup)
    start, end = window_times(n, warmup)
    full = read_activity(state.views["vcd"], VCD_SCOPE, start, end, 10).set_index("net")
    half = read_activity(state.views["vcd"], VCD_SCOPE, start + 10 * 30, end, 10).set_index("net")
    assert full.loc["a_in[0]", "toggles"] == n - warmup and half.loc["a_in[0]", "toggles"] == n - warmup - 30
    assert full.loc["a_in[0]", "activity"] == pytest.approx(1.0)
    with pytest.raises(EdaError, match="before the end of the measured window"):
        read_activity(state.views["vcd"], VCD_SCOPE, start, end + 1000, 10)


def test_realistic_power_responds_to_activity_and_differs_from_stated(flow, tmp_path):
    stated = flow["table"].query("kind == 'tpu' and corner == 'tt_025C_1v80'").iloc[0]
    params = MacParams("tpu")
    common = dict(liberty=flow["liberty"], platform=flow["platform"], settings=SETTINGS, cache_dir=flow["cache"])
    busy = measure_power(flow["netlist"]["tpu"], params, random_operands(204, seed=5), **common)
    idle = measure_power(flow["netlist"]["tpu"], params, zero_operands(204), **common)
    assert busy.cycles_simulated == idle.cycles_simulated == 200
    assert busy.annotated_nets > 500 and busy.annotated_pins > busy.annotated_nets
    # Realistic power is its own number, not the stated-activity one.
    assert abs(busy.power_w / stated["power_w"] - 1) > 0.05
    # With all-zero operands only the clock toggles: the datapath's dynamic power vanishes.
    assert idle.mean_toggle_rate == 0.0 < busy.mean_toggle_rate
    assert idle.combinational_w < 0.02 * busy.combinational_w
    assert idle.internal_w + idle.switching_w < 0.6 * (busy.internal_w + busy.switching_w)
    assert idle.leakage_w == pytest.approx(busy.leakage_w, rel=0.5)
    # Same inputs: from the cache, same numbers.
    again = measure_power(flow["netlist"]["tpu"], params, random_operands(204, seed=5), **common)
    assert again.cached and not busy.cached and again.power_w == busy.power_w


FIXED_SET_POWER_ACTIVITY = """\
# A set_power_activity whose -pins works, as in OpenSTA builds newer than 2.0.17.
proc set_power_activity { args } {
  sta::parse_key_args "set_power_activity" args keys {-input_ports -pins -activity -duty} flags {-global -input}
  set duty 0.5
  if { [info exists keys(-duty)] } { set duty $keys(-duty) }
  if { [info exists keys(-input_ports)] } {
    foreach port [get_ports $keys(-input_ports)] { sta::set_power_input_port_activity $port $keys(-activity) $duty }
  }
  if { [info exists keys(-pins)] } {
    foreach pin [get_pins $keys(-pins)] { sta::set_power_pin_activity $pin $keys(-activity) $duty }
  }
}
"""


def test_official_pins_command_gives_the_same_power_as_the_workaround(flow, tmp_path):
    """Where `set_power_activity -pins` works (newer OpenSTA), the script uses it, with the same result."""
    from eda.parsers.sta import parse_sta_log
    from eda.core.runner import run_tool
    from eda.flow.gatesim import parse_annotation
    from eda.flow.sta import sta_executable

    common = dict(liberty=flow["liberty"], platform=flow["platform"], settings=SETTINGS, cache_dir=flow["cache"])
    run = measure_power(flow["netlist"]["proposed"], MacParams("proposed"), random_operands(104, seed=8), **common)
    assert run.annotation_method in ("sta::set_power_pin_activity", "set_power_activity -pins")
    shutil.copytree(run.run_dir, tmp_path / "run")
    work = tmp_path / "run" / "04-power"
    script = (work / "power.tcl").read_text().replace("source activity.tcl", "source fixed.tcl\nsource activity.tcl")
    (work / "fixed.tcl").write_text(FIXED_SET_POWER_ACTIVITY)
    (work / "official.tcl").write_text(script)
    log = run_tool([sta_executable(), "-no_init", "-exit", "official.tcl"], cwd=work, name="official").log_text()
    assert parse_annotation(log, "official.log")["method"] == "set_power_activity -pins"
    assert parse_annotation(log, "official.log")["annotated_pins"] == run.annotated_pins
    assert parse_sta_log(log).power_total.total_w == pytest.approx(run.power_w, rel=1e-6)


def test_power_command_writes_the_table_and_reuses_the_cache(flow, tmp_path):
    out = tmp_path / "power"
    args = ["--cache-dir", str(flow["cache"]), "power", "--characterization", str(flow["csv"]), "--kind", "tpu",
            "--kind", "proposed", "--operands", "random", "--cycles", "120", "-j", "2", "--out", str(out)]
    assert main(args) == 0
    table = pd.read_csv(out / "activity_power.csv")
    assert list(table.columns) == CSV_COLUMNS
    assert list(table["kind"]) == ["tpu", "proposed"] and (table["cycles_simulated"] == 120).all()
    assert (table["power_realistic_w"] > 0).all() and (table["power_stated_w"] > 0).all()
    total = table[["power_realistic_internal_w", "power_realistic_switching_w", "power_realistic_leakage_w"]].sum(axis=1)
    assert np.allclose(total, table["power_realistic_w"], rtol=1e-4)
    assert "| proposed | 3000 |" in (out / "activity_power.md").read_text()
    run = out / table["run_dir"].iloc[1]
    assert (run / "04-power" / "power.tcl").is_file() and not list(run.rglob("*.vcd"))
    assert main(args) == 0  # second time: every run from the cache
    assert pd.read_csv(out / "activity_power.csv")["power_realistic_w"].tolist() == table["power_realistic_w"].tolist()


def test_row_selection_names_what_is_missing(flow):
    table = pd.read_csv(flow["csv"])
    with pytest.raises(EdaError, match="no row at target"):
        select_rows(table, flow["csv"], ["tpu"], "tt_025C_1v80", targets=[1234])
    with pytest.raises(EdaError, match="lacks column"):
        select_rows(table.drop(columns=["run_dir"]), flow["csv"], None, "tt_025C_1v80")
    assert len(select_rows(table, flow["csv"], None, "tt_025C_1v80", sizes=1)) == len(MAC_KINDS)


def test_operand_stream_partial_sums_are_exact(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    import torch.nn.functional as F

    from eda.method.mapping import weight_matrix
    from eda.nn.operands import operand_stream, quantize_activations
    from eda.nn.quantize import quantize_weights, quantized_model
    from eda.nn.train import train_reference
    from eda.nn.maps import reference_dir

    cache = tmp_path / "cache"
    common = dict(n_images=3, epochs=2, cache_dir=cache)
    last = operand_stream("conv2", 53, 4, **common)  # the bottom row of the 54-row layer
    before = operand_stream("conv2", 52, 4, **common)
    assert last.meta["K"] == 54 and len(last.frame) == 3 * 16 and last.meta["operations"] == 48
    # psum_in of row k+1 = psum_in of row k + its product, position by position.
    f = last.frame
    b = before.frame
    assert np.array_equal(f["psum_in"], b["psum_in"] + b["a_code"] * b["w_code"])

    # Independently: the bottom MAC's output is the full integer convolution (torch, no bias).
    reference = train_reference(epochs=2, out_dir=reference_dir(cache, 0, 2))
    quantized = quantize_weights(reference.model)
    network = quantized_model(reference.model, quantized)
    with torch.no_grad():
        x = network.input_of("conv2", reference.data.x_test[:3]).numpy()
    codes = quantize_activations(x, last.meta["activation_scale"])
    weights = quantized["conv2"].codes.astype(np.float64)
    conv = F.conv2d(torch.from_numpy(codes.astype(np.float64)), torch.from_numpy(weights), padding=1).numpy()
    expected = np.rint(conv[:, 4].reshape(-1)).astype(np.int64)  # filter 4, images then row-major positions
    assert np.array_equal(f["psum_in"] + f["a_code"] * f["w_code"], expected)
    assert (f["w_code"] == weight_matrix(quantized["conv2"].codes)[53, 4]).all()
    with torch.no_grad():
        train_peak = float(np.abs(network.input_of("conv2", reference.data.x_train).numpy()).max())
    assert last.meta["activation_scale"] == pytest.approx(train_peak / 127)
    assert f["a_code"].between(0, 127).all()  # ReLU outputs: non-negative codes

    # Row tiles: the top row of a tile starts from zero (tiles are summed below the array).
    tiled = operand_stream("conv2", 16, 4, array_rows=16, **common)
    assert tiled.meta["array_row"] == 0 and tiled.meta["row_tile"] == 1 and (tiled.frame["psum_in"] == 0).all()
    # Cached: the .npz is read back unchanged.
    assert len(list((cache / "nn" / "operands").glob("*.npz"))) == 3
    assert operand_stream("conv2", 53, 4, **common).frame.equals(f)
    with pytest.raises(EdaError, match="outside 0..53"):
        operand_stream("conv2", 54, 0, **common)
