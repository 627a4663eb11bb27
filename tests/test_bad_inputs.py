"""A corpus of bad inputs: every one ends in a clear error (non-zero exit, a message naming the file,
key or option and what was expected, no traceback) or in a correct result.

Everything runs in-process on tiny inputs (no synthesis, no simulation): config values through
`eda run --print-config`, option values through the commands that check them before any tool, and
damaged tables through the loaders and the commands that read them (`eda size`, `eda array`,
`eda report` on a copy of the committed sky130hd run).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eda.cli.main import main
from eda.core.errors import EdaError
from eda.core.paths import REPO_ROOT
from eda.parsers.tables import load_error_table, load_sensitivity
from eda.spice.table import load_fo4_table

RUN = REPO_ROOT / "reports" / "sky130hd"
# What `eda report` reads of a finished run (found by tracing its file opens); copied per test.
REPORT_FILES = ["accuracy/accuracy.csv", "characterization.csv", "method_manifest.json", "table2_inputs.json",
                "table2.csv", "tiles/switching_overhead.csv", "sensitivity/variances.csv", "sizing/sizings.csv",
                "power/activity_by_size.csv", "power/leakage.csv"] + [
    f"errors/{kind}/{name}" for kind in ("tpu", "thundervolt", "proposed")
    for name in ("error_probability.csv", "bit_error_probability.csv")]
TARGETS = "[characterize]\ntargets_ps = [3000]\n"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # A case that wrongly got past its check must not fill the user's own cache.
    monkeypatch.setenv("VOLTSCALE_CACHE", str(tmp_path / "cache"))


def run_eda(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def assert_clear_error(capsys, args, *expected: str) -> str:
    """Non-zero exit, no traceback, and every `expected` piece in the message."""
    code, output = run_eda(capsys, *args)
    assert code != 0, f"exit 0 for {args}:\n{output}"
    assert "Traceback" not in output, output
    assert re.search(r"^(error|Error): ", output, flags=re.M), output
    for piece in expected:
        assert piece in output, f"{piece!r} not in:\n{output}"
    return output


def assert_eda_error(call, *expected: str) -> str:
    with pytest.raises(EdaError) as info:
        call()
    message = str(info.value)
    for piece in expected:
        assert piece in message, f"{piece!r} not in {message!r}"
    return message


# --------------------------------------------------------------------------- config (TOML) values

CONFIG_CASES = [
    # (TOML text, pieces of the expected message)
    ("[characterize]\ntargets_ps = [3000]\nshadow_delay_fraction = -0.1\n", ["characterize.shadow_delay_fraction", ">= 0"]),
    ("[characterize]\ntargets_ps = [3000]\nshadow_delay_fraction = 1\n", ["characterize.shadow_delay_fraction", "< 1"]),
    ("[characterize]\ntargets_ps = [3000]\nshadow_delay_fraction = 1.5\n", ["characterize.shadow_delay_fraction"]),
    ("[characterize]\ntargets_ps = [3000]\nshadow_delay_fraction = nan\n", ["characterize.shadow_delay_fraction", "nan"]),
    ("[characterize]\ntargets_ps = [3000]\nshadow_delay_fraction = \"0.2\"\n", ["characterize.shadow_delay_fraction"]),
    ('kinds = ["tpu", "tpu"]\n' + TARGETS, ["kinds", "'tpu' is listed more than once"]),
    ('kinds = ["tpu", "foo"]\n' + TARGETS, ["kinds", "'foo' is not one of"]),
    ("kinds = []\n" + TARGETS, None),  # an empty kind list: accepted (nothing to characterize) or refused; never a crash
    ('kinds = "tpu"\n' + TARGETS, ["kinds", "list"]),
    ("[characterize]\ntargets_ps = [3000, 3000]\n", ["characterize.targets_ps", "3000 is listed more than once"]),
    ("[characterize]\ntargets_ps = []\n", None),   # valid: the platform's [characterize] range (eda/jobs/main.py delay_targets)
    ("[characterize]\ntargets_ps = [0]\n", ["characterize.targets_ps", ">= 1"]),
    ("[characterize]\ntargets_ps = [-3000]\n", ["characterize.targets_ps"]),
    ("[characterize]\ntargets_ps = [3000.5]\n", ["characterize.targets_ps", "int"]),
    ("[characterize]\ntargets_ps = [\"3ns\"]\n", ["characterize.targets_ps", "int"]),
    ("[characterize]\ntargets_ps = [100000000000]\n", ["characterize.targets_ps", "<= 1e+09"]),
    ("[characterize]\ntargets_ps = 3000\n", ["characterize.targets_ps", "list"]),
    ("[characterize]\ntargets_ps = [true]\n", ["characterize.targets_ps"]),
    ("[errors]\nseed = -1\n" + TARGETS, ["errors.seed", ">= 0"]),
    ("[errors]\nseed = 5000000000\n" + TARGETS, ["errors.seed", "<= 4.29497e+09"]),
    ("[errors]\nseed = 1.5\n" + TARGETS, ["errors.seed", "int"]),
    ("[errors]\nprocess_samples = 2000000000\n" + TARGETS, ["errors.process_samples", "<= 1e+07"]),
    ("[errors]\nprocess_samples = 0\n" + TARGETS, ["errors.process_samples", ">= 1"]),
    ("[errors]\npropagation_p = 1\n" + TARGETS, ["errors.propagation_p", "< 1"]),
    ("[errors]\npropagation_p = -0.5\n" + TARGETS, ["errors.propagation_p"]),
    ("[errors]\npropagation_p = inf\n" + TARGETS, ["errors.propagation_p"]),
    ("[errors]\nvdds = [1.8, nan]\n" + TARGETS, ["errors.vdds", "nan"]),
    ("[errors]\nvdds = [1.8, 1.8]\n" + TARGETS, ["errors.vdds", "more than once"]),
    ("[errors]\nvdds = [0]\n" + TARGETS, ["errors.vdds", ">= 0.001"]),
    ("[errors]\nvdds = [100]\n" + TARGETS, ["errors.vdds", "<= 10"]),
    ("[errors]\ncritical_paths = 0\n" + TARGETS, ["errors.critical_paths", ">= 1"]),
    ("[errors]\ndta_cycles = 1000000000000\n" + TARGETS, ["errors.dta_cycles", "<= 1e+08"]),
    ("[errors]\nclock_ns = -1\n" + TARGETS, ["errors.clock_ns", ">= 0"]),
    ("[errors]\nmeasure = 1\n" + TARGETS, ["errors.measure", "bool"]),
    ("corners = [1]\n" + TARGETS, ["corners", "every item must be str"]),
    ("corners = [\"tt\", \"tt\"]\n" + TARGETS, ["corners", "more than once"]),
    ('out_dir = "reports/{nope}"\n' + TARGETS, ["out_dir", "unknown placeholder {nope}", "{platform}"]),
    ('out_dir = "reports/{platform"\n' + TARGETS, ["out_dir", "not a valid pattern"]),
    ('out_dir = "reports/{0}"\n' + TARGETS, ["out_dir", "unknown placeholder {0}"]),
    ('out_dir = "reports/{}"\n' + TARGETS, ["out_dir", "unknown placeholder"]),
    ("out_dir = 3\n" + TARGETS, ["out_dir", "str"]),
    ("[mac]\na_bits = 1\n" + TARGETS, ["mac.a_bits", ">= 2"]),
    ("[mac]\na_bits = 64\n" + TARGETS, ["mac.a_bits", "<= 16"]),
    ("[mac]\nacc_bits = 100\n" + TARGETS, ["mac.acc_bits", "<= 48"]),
    ("[mac]\naccumulate_adder = \"magic\"\n" + TARGETS, ["mac.accumulate_adder", "not one of"]),
    ("[method]\narray_rows = 3000000\n" + TARGETS, ["method.array_rows", "<= 4096"]),
    ("[method]\narray_cols = 0\n" + TARGETS, ["method.array_cols", ">= 1"]),
    ("[method]\ntile_rows = 6\n" + TARGETS, ["method.tile_rows", "multiple of 4"]),
    ("[method]\ntile_rows = 4096\n" + TARGETS, ["method.tile_rows", "<= 64"]),
    ("[method]\niso_fractions = []\n" + TARGETS, ["method.iso_fractions", "at least one"]),
    ("[method]\niso_fractions = [0.5, 2]\n" + TARGETS, ["method.iso_fractions", "<= 1"]),
    ("[method]\ntable_budget = 5\n" + TARGETS, ["method.table_budget", "must index"]),
    ("[method]\nsensitivity_ber = 0.5\n" + TARGETS, ["method.sensitivity_ber", "< 0.5"]),
    ("[method]\nsensitivity_method = \"guess\"\n" + TARGETS, ["method.sensitivity_method", "not one of"]),
    ("[method]\nsizing_vdd = 50\n" + TARGETS, ["method.sizing_vdd", "<= 10"]),
    ("[accuracy]\nmax_loss = 1\n" + TARGETS, ["accuracy.max_loss", "< 1"]),
    ("[accuracy]\nhalf_width = -0.1\n" + TARGETS, ["accuracy.half_width", ">= 0"]),
    ("[accuracy]\nrepeats = 0\n" + TARGETS, ["accuracy.repeats", ">= 1"]),
    ("[accuracy]\nrepeats = 100000\n" + TARGETS, ["accuracy.repeats", "<= 1000"]),
    ("[accuracy]\nseed = -3\n" + TARGETS, ["accuracy.seed", ">= 0"]),
    ("[power]\nactivity_cycles = 0\n" + TARGETS, ["power.activity_cycles", ">= 1"]),
    ("[characterize]\ntargets_ps = [3000]\nclock_period_ns = 0\n", ["characterize.clock_period_ns", ">= 0.001"]),
    ("[characterize]\ntargets_ps = [3000]\nclock_period_ns = inf\n", ["characterize.clock_period_ns", "inf"]),
    ("[characterize]\ntargets_ps = [3000]\ninput_activity = 3\n", ["characterize.input_activity", "<= 2"]),
    ("[characterize]\ntargets_ps = [3000]\njobs = -1\n", ["characterize.jobs", ">= 0"]),
    ("[characterize]\ntargets_ps = [3000]\ntimeout_s = 0\n", ["characterize.timeout_s"]),
    ("[workload]\nimages = -1\n" + TARGETS, ["workload.images", ">= 0"]),
    ("[characterize]\ntargets_ps = [3000]\ntypo = 1\n", ["unknown key 'characterize.typo'"]),
    ("platfrom = \"sky130hd\"\n" + TARGETS, ["unknown key 'platfrom'"]),
    ("[characterize\ntargets_ps = [3000]\n", ["invalid TOML"]),
    ("kinds = [\"tpu\",\n", ["invalid TOML"]),
    ("", None),                                       # valid: every default, targets from the platform
]


@pytest.mark.parametrize("text, expected", CONFIG_CASES, ids=[f"config{i}" for i in range(len(CONFIG_CASES))])
def test_bad_config_values(capsys, tmp_path, text, expected):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    if expected is None:  # either outcome is fine, as long as it is not a crash
        code, output = run_eda(capsys, "run", "--config", path, "--print-config")
        assert "Traceback" not in output
        return
    assert_clear_error(capsys, ["run", "--config", path, "--print-config"], str(path), *expected)


BINARY_CONFIGS = [b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)), b"\xff\xfe\x00k\x00i", b"\x00" * 64, b"kinds = [\"tpu\"]\n\xff"]


@pytest.mark.parametrize("data", BINARY_CONFIGS, ids=[f"binary{i}" for i in range(len(BINARY_CONFIGS))])
def test_binary_config_file(capsys, tmp_path, data):
    path = tmp_path / "binary.toml"
    path.write_bytes(data)
    assert_clear_error(capsys, ["run", "--config", path, "--print-config"], str(path))


def test_config_that_is_a_folder_or_missing(capsys, tmp_path):
    assert_clear_error(capsys, ["run", "--config", tmp_path / "missing.toml", "--print-config"], "missing.toml", "does not exist")
    (tmp_path / "folder.toml").mkdir()
    assert_clear_error(capsys, ["run", "--config", tmp_path / "folder.toml", "--print-config"], "folder.toml")


GOOD_CONFIGS = [
    (TARGETS + "shadow_delay_fraction = 0\n", "characterize.shadow_delay_fraction = 0"),
    (TARGETS + "shadow_delay_fraction = 0.999\n", "characterize.shadow_delay_fraction = 0.999"),
    ('out_dir = "out/{platform}/x"\n' + TARGETS, "out_dir = 'out/{platform}/x'"),
    ('out_dir = "out/{{literal}}"\n' + TARGETS, "out_dir = 'out/{{literal}}'"),
    ("[errors]\nseed = 0\nprocess_samples = 10000000\n" + TARGETS, "errors.process_samples = 10000000"),
    ("[method]\narray_rows = 4096\n" + TARGETS, "method.array_rows = 4096"),
]


@pytest.mark.parametrize("text, line", GOOD_CONFIGS, ids=[f"good{i}" for i in range(len(GOOD_CONFIGS))])
def test_edge_configs_are_accepted(capsys, tmp_path, text, line):
    path = tmp_path / "edge.toml"
    path.write_text(text)
    code, output = run_eda(capsys, "run", "--config", path, "--print-config")
    assert code == 0, output
    assert line in output


# --------------------------------------------------------------------------- option values (no tool runs)

@pytest.fixture
def inputs(tmp_path) -> dict[str, Path]:
    """A small error table (3 sizes x 2 voltages), a 2 x 3 sensitivity map and a characterization table."""
    table = pd.DataFrame({"size_index": [0, 1, 2] * 2, "area_um2": [100.0, 150.0, 200.0] * 2,
                          "delay_ns": [3.0, 2.5, 2.0] * 2, "vdd": [1.8] * 3 + [1.2] * 3, "clock_ns": [3.0] * 6,
                          "p_error": [0.0, 0.0, 0.0, 0.3, 0.1, 0.01]})
    table.to_csv(tmp_path / "errtable.csv", index=False)
    np.save(tmp_path / "sens.npy", np.array([[1.0, 2.0, 3.0], [0.5, 0.1, 4.0]]))
    shutil.copy(RUN / "characterization.csv", tmp_path / "characterization.csv")
    return {"errtable": tmp_path / "errtable.csv", "sens": tmp_path / "sens.npy",
            "char": tmp_path / "characterization.csv", "out": tmp_path / "out"}


OPTION_CASES = [
    # (arguments with {errtable} {sens} {char} {out} placeholders, pieces of the expected message)
    ("characterize --kind tpu --targets 100:100000000:1 --out {out}", ["--targets", "at most 1000"]),
    ("characterize --kind tpu --targets 1ns:100000000ns:1ps --out {out}", ["--targets", "1000"]),
    ("characterize --kind tpu --targets 2 --out {out}", ["--targets", "did you mean 2ns"]),
    ("characterize --kind tpu --targets abc --out {out}", ["--targets", "'abc' is not a target"]),
    ("characterize --kind tpu --targets inf --out {out}", ["--targets", "finite"]),
    ("characterize --kind tpu --targets nan --out {out}", ["--targets"]),
    ("characterize --kind tpu --targets 1e300 --out {out}", ["--targets", "at most"]),
    ("characterize --kind tpu --targets -3ns --out {out}", ["--targets", "positive"]),
    ("characterize --kind tpu --targets 3ns:2ns:0ps --out {out}", ["--targets", "step must be positive"]),
    ("characterize --kind tpu --targets 1:2:3:4 --out {out}", ["--targets", "start:stop:step"]),
    ("characterize --kind tpu --targets , --out {out}", ["--targets", "no targets"]),
    ("characterize --kind tpu --targets 2.5ps --out {out}", ["--targets", "whole number of ps"]),
    ("characterize --kind tpu --targets 3000 -j x --out {out}", ["-j", "'x' is not a valid integer"]),
    ("characterize --kind tpu --targets 3000 -j -1 --out {out}", ["-j"]),
    ("characterize --kind tpu --targets 3000 -j 99999 --out {out}", ["-j"]),
    ("characterize --kind tpu --targets 3000 --a-bits 1000 --out {out}", ["--a-bits", "16"]),
    ("characterize --kind tpu --targets 3000 --acc-bits 0 --out {out}", ["--acc-bits"]),
    ("characterize --kind tpu --targets 3000 --razor-bits -1 --out {out}", ["--razor-bits"]),
    ("characterize --kind tpu --targets 3000 --clock-period-ns 0 --out {out}", ["--clock-period-ns"]),
    ("characterize --kind tpu --targets 3000 --clock-period-ns nan --out {out}", ["--clock-period-ns"]),
    ("characterize --kind tpu --targets 3000 --activity 5 --out {out}", ["--activity"]),
    ("characterize --kind tpu --targets 3000 --timeout 0 --out {out}", ["--timeout"]),
    ("characterize --kind tpu --targets 3000 --timeout abc --out {out}", ["--timeout"]),
    ("characterize --kind foo --targets 3000 --out {out}", ["--kind", "'foo'"]),
    ("array --kind tpu --rows 3000 --cols 3000", ["--rows", "512"]),
    ("array --kind tpu --rows 0", ["--rows"]),
    ("array --kind tpu --cols -4", ["--cols"]),
    ("array --kind tpu --cols x", ["--cols", "'x'"]),
    ("array --kind tpu --seed -1", ["--seed"]),
    ("array --kind tpu -n 0", ["--n-vectors"]),
    ("array --kind tpu --dataflow diagonal", ["--dataflow", "'diagonal'"]),
    ("power --characterization {char} --cycles abc --out {out}", ["--cycles", "'abc'"]),
    ("power --characterization {char} --cycles 0 --out {out}", ["--cycles"]),
    ("power --characterization {char} --cycles 100000000000 --out {out}", ["--cycles"]),
    ("power --characterization {char} --warmup 1.5 --out {out}", ["--warmup"]),
    ("power --characterization {char} --column abc --out {out}", ["--column", "'abc'"]),
    ("power --characterization {char} --column -1 --out {out}", ["--column"]),
    ("power --characterization {char} --row x --out {out}", ["--row"]),
    ("power --characterization {char} --seed x --out {out}", ["--seed", "'x'"]),
    ("power --characterization {char} --seed -5 --out {out}", ["--seed"]),
    ("power --characterization {char} -j x --out {out}", ["-j", "'x'"]),
    ("power --characterization {char} --sizes 0 --out {out}", ["--sizes"]),
    ("power --characterization {char} --targets 1:100000000:1 --out {out}", ["--targets"]),
    ("power --characterization {char} --timeout -1 --out {out}", ["--timeout"]),
    ("power --characterization {out}/missing.csv --out {out}", ["--characterization", "does not exist"]),
    ("size --errtable {errtable} --sensitivity {sens} --out {out}", ["exactly one of --budget-um2 and --iso-size"]),
    ("size --errtable {errtable} --vdd 1.8 --sensitivity {sens} --iso-size 7 --out {out}", ["--iso-size 7", "0..2"]),
    ("size --errtable {errtable} --vdd 1.8 --sensitivity {sens} --iso-size -1 --out {out}", ["--iso-size"]),
    ("size --errtable {errtable} --vdd nan --sensitivity {sens} --iso-size 1 --out {out}", ["--vdd"]),
    ("size --errtable {errtable} --vdd 0.9 --sensitivity {sens} --iso-size 1 --out {out}", ["no rows at 0.9 V", "1.2, 1.8"]),
    ("size --errtable {errtable} --sensitivity {sens} --iso-size 1 --out {out}", ["several supply voltages", "--vdd"]),
    ("size --errtable {errtable} --vdd 1.8 --sensitivity {sens} --budget-um2 -5 --out {out}", ["--budget-um2"]),
    ("size --errtable {errtable} --vdd 1.8 --sensitivity {sens} --budget-um2 inf --out {out}", ["--budget-um2"]),
    ("size --errtable {errtable} --vdd 1.8 --sensitivity {sens} --budget-um2 abc --out {out}", ["--budget-um2"]),
    ("size --errtable {errtable} --vdd 1.8 --sensitivity {sens} --iso-size 1 --area-quantum-um2 0 --out {out}",
     ["--area-quantum-um2"]),
    ("size --errtable {errtable} --vdd 1.8 --clock-ns 7 --sensitivity {sens} --iso-size 1 --out {out}", ["clock 7 ns"]),
    ("size --errtable {errtable} --vdd 1.8 --sensitivity {sens} --iso-size 1 --solver magic --out {out}", ["--solver"]),
    ("size --errtable {out}/none.csv --sensitivity {sens} --iso-size 1 --out {out}", ["none.csv", "does not exist"]),
    ("size --errtable {errtable} --sensitivity {out}/none.npy --vdd 1.8 --iso-size 1 --out {out}", ["none.npy", "does not exist"]),
    ("report {out}/nothing", ["nothing"]),
    ("report {out} --max-loss 1.5", ["--max-loss"]),
    ("report {out} --max-loss abc", ["--max-loss"]),
    ("errtable --characterization {char} --samples 0 --out {out}", ["--samples"]),
    ("errtable --characterization {char} -p 1 --out {out}", ["--propagation-p"]),
    ("errtable --characterization {char} --clock-ns -1 --out {out}", ["--clock-ns"]),
    ("errtable --characterization {char} --vdd 1.8:0.0001:0.0000001 --out {out}", ["--vdd"]),
    ("errtable --characterization {char} --kind nope --out {out}", ["--kind"]),
    ("leakage --nominal-vdd -1", ["--nominal-vdd"]),
    ("sensitivity --rows 100000 --out {out}", ["--rows"]),
    ("sensitivity --ber 0.7 --out {out}", ["--ber"]),
    ("run --images -4", ["--images"]),
    ("run -j abc", ["-j"]),
    ("nosuchcommand", ["No such command"]),
    ("errtable --characterization {char} --clock-ns nan --out {out}", ["--clock-ns", "finite"]),
    ("errtable --characterization {char} -p nan --out {out}", ["--propagation-p", "finite"]),
    ("errtable --characterization {char} --seed -1 --out {out}", ["--seed"]),
    ("errtable --characterization {char} --samples 2000000000 --out {out}", ["--samples"]),
    ("verify --seed -1", ["--seed"]),
    ("verify -n 0", ["--vectors"]),
]


@pytest.mark.parametrize("command, expected", OPTION_CASES, ids=[f"option{i}" for i in range(len(OPTION_CASES))])
def test_bad_option_values(capsys, inputs, command, expected):
    inputs["out"].mkdir(exist_ok=True)
    args = [word.format(**inputs) for word in command.split()]
    assert_clear_error(capsys, args, *expected)


def test_good_size_run_gives_the_sizing(capsys, inputs):
    code, output = run_eda(capsys, "size", "--errtable", inputs["errtable"], "--vdd", "1.2", "--sensitivity", inputs["sens"],
                           "--iso-size", "1", "--out", inputs["out"])
    assert code == 0, output
    assert "sized 2x3 MACs" in output


# --------------------------------------------------------------------------- error-probability tables

def _errtable(tmp_path, change=None, text=None) -> Path:
    path = tmp_path / "errors.csv"
    if text is not None:
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return path
    table = pd.DataFrame({"size_index": [0, 1] * 2, "area_um2": [100.0, 150.0] * 2, "delay_ns": [3.0, 2.5] * 2,
                          "vdd": [1.8, 1.8, 1.2, 1.2], "clock_ns": [3.0] * 4, "p_error": [0.0, 0.0, 0.2, 0.05]})
    if change:
        change(table)
    table.to_csv(path, index=False)
    return path


def _set(column, row, value):
    def change(table):
        table[column] = table[column].astype(object)
        table.loc[row, column] = value
    return change


ERRTABLE_CASES = [
    # (change or raw text, pieces of the message)
    (_set("p_error", 2, 7.5), ["line 4", "'p_error'", "7.5", "<= 1"]),
    (_set("p_error", 2, -0.1), ["line 4", "'p_error'", ">= 0"]),
    (_set("p_error", 2, float("nan")), ["line 4", "'p_error'", "finite"]),
    (_set("p_error", 0, float("inf")), ["line 2", "'p_error'", "finite"]),
    (_set("p_error", 1, "high"), ["line 3", "'p_error'", "'high'"]),
    (_set("vdd", 1, float("nan")), ["line 3", "'vdd'"]),
    (_set("vdd", 1, -1.8), ["line 3", "'vdd'", "> 0"]),
    (_set("area_um2", 0, 0.0), ["line 2", "'area_um2'", "> 0"]),
    (_set("area_um2", 0, ""), ["line 2", "'area_um2'"]),
    (_set("delay_ns", 3, -2.0), ["line 5", "'delay_ns'"]),
    (_set("clock_ns", 3, 0.0), ["line 5", "'clock_ns'"]),
    # p_error falls as the voltage falls: 0.2 at 1.8 V, 0.0 at 1.2 V for size 0
    (lambda t: t.__setitem__("p_error", [0.2, 0.0, 0.0, 0.05]), ["'p_error'", "must not fall as the voltage falls", "1.2 V"]),
    (lambda t: t.__delitem__("p_error"), ["lacks the column(s) p_error"]),
    (lambda t: [t.__delitem__(c) for c in ("vdd", "clock_ns")], ["vdd", "clock_ns"]),
    ("", ["is empty"]),
    ("area_um2,delay_ns,vdd,clock_ns,p_error\n", ["no rows at"]),
    (b"\xff\xfe\x00\x01binary", ["errors.csv"]),
    ('a,"b\n', ["errors.csv"]),
]


@pytest.mark.parametrize("change, expected", ERRTABLE_CASES, ids=[f"errtable{i}" for i in range(len(ERRTABLE_CASES))])
def test_bad_error_tables(tmp_path, change, expected):
    path = _errtable(tmp_path, text=change) if isinstance(change, (str, bytes)) else _errtable(tmp_path, change)
    assert_eda_error(lambda: load_error_table(path, 1.8), str(path) if expected[0] != "no rows at" else "", *expected)


def test_bad_error_table_through_eda_size(capsys, tmp_path, inputs):
    path = _errtable(tmp_path, _set("p_error", 2, 7.5))
    assert_clear_error(capsys, ["size", "--errtable", path, "--vdd", "1.2", "--sensitivity", inputs["sens"], "--iso-size", "0",
                                "--out", tmp_path / "o"], str(path), "'p_error'", "<= 1")


def test_good_error_table_keeps_the_sizes(tmp_path):
    table = load_error_table(_errtable(tmp_path), 1.2)
    assert list(table["area_um2"]) == [100.0, 150.0] and list(table["p_error"]) == [0.2, 0.05]


# --------------------------------------------------------------------------- sensitivity maps and sizing maps

def _write(path: Path, data) -> Path:
    if isinstance(data, (bytes, str)):
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    else:
        np.save(path, data, allow_pickle=True)
    return path


SENSITIVITY_CASES = [
    ("s.npy", np.array([[1.0, np.nan]]), ["row 0, column 1", "finite number >= 0"]),
    ("s.npy", np.array([[1.0, np.inf], [1, 2]]), ["row 0, column 1"]),
    ("s.npy", np.array([[1.0, 2.0], [-1.0, 2.0]]), ["row 1, column 0", ">= 0"]),
    ("s.npy", np.zeros((0, 3)), ["shape", "M x N"]),
    ("s.npy", np.zeros((2, 2, 2)), ["shape", "M x N"]),
    ("s.npy", np.array([["a", "b"]]), ["not numeric"]),
    ("s.npy", np.array([{"a": 1}], dtype=object), ["cannot read"]),
    ("s.npy", b"not an npy file", ["cannot read"]),
    ("s.npy", b"", ["cannot read"]),
    ("s.csv", "1,2\n3,nan\n", ["row 1, column 1"]),
    ("s.csv", "1,2\n3\n", ["cannot read"]),
    ("s.csv", "1,x\n", ["cannot read"]),
    ("s.csv", "1,-2\n", ["row 0, column 1"]),
    ("s.json", "[[1, 2]]", [".npy or .csv"]),
    ("s.csv", b"\xff\xfe\x00", ["cannot read"]),
]


@pytest.mark.parametrize("name, data, expected", SENSITIVITY_CASES, ids=[f"sensitivity{i}" for i in range(len(SENSITIVITY_CASES))])
def test_bad_sensitivity_maps(tmp_path, name, data, expected):
    path = _write(tmp_path / name, data)
    assert_eda_error(lambda: load_sensitivity(path), str(path), *expected)


SIZING_MAP_CASES = [
    ("m.csv", "0,1\n1,0\n1,0\n", ["sizing map"]),            # 3 rows, 2 expected
    ("m.csv", "0,1\n1\n", ["sizing map"]),
    ("m.csv", "0,x\n1,0\n", ["line 1", "field 2", "'x'"]),
    ("m.csv", "0,1.5\n1,0\n", ["line 1", "field 2"]),
    ("m.csv", "0,-1\n1,0\n", ["sizing map"]),
    ("m.csv", "", ["sizing map"]),
    ("m.npy", np.array([[0, 1], [1, np.nan]]), ["sizing map"]),
    ("m.npy", np.array([[0.5, 1], [1, 0]]), ["sizing map"]),
    ("m.npy", b"garbage", ["sizing map"]),
    ("m.npy", np.zeros((3, 3), dtype=int), ["sizing map"]),
]


@pytest.mark.parametrize("name, data, expected", SIZING_MAP_CASES, ids=[f"sizing{i}" for i in range(len(SIZING_MAP_CASES))])
def test_bad_sizing_maps(capsys, tmp_path, name, data, expected):
    path = _write(tmp_path / name, data)
    assert_clear_error(capsys, ["array", "--kind", "tpu", "--rows", "2", "--cols", "2", "--sizing-map", path,
                                "--out", tmp_path / "a.v"], str(path), *expected)
    assert not (tmp_path / "a.v").exists()


def test_missing_sizing_map(capsys, tmp_path):
    assert_clear_error(capsys, ["array", "--kind", "tpu", "--rows", "2", "--cols", "2", "--sizing-map", tmp_path / "no.csv"],
                       "no.csv", "does not exist")


# --------------------------------------------------------------------------- FO4 tables

FO4_HEADER = "vdd,fo4_mean_ps,fo4_sigma_ps,samples,seed\n"
FO4_GOOD_ROWS = "1.8,80,2,100,1\n1.5,100,3,100,1\n1.2,150,5,100,1\n"
FO4_CASES = [
    (FO4_HEADER + "1.8,80,2,100,1\n1.5,70,3,100,1\n", ["line 2", "'fo4_mean_ps'", "must fall as vdd rises"]),
    (FO4_HEADER + "1.2,100,2,100,1\n1.8,100,3,100,1\n", ["'fo4_mean_ps'", "must fall as vdd rises"]),
    (FO4_HEADER + "1.8,80,2,100,1\n1.2,150,5,100,1\n1.5,160,3,100,1\n", ["line 4", "must fall as vdd rises"]),
    (FO4_HEADER + "1.8,nan,2,100,1\n", ["line 2", "'fo4_mean_ps'", "finite"]),
    (FO4_HEADER + "1.8,inf,2,100,1\n", ["line 2", "finite"]),
    (FO4_HEADER + "1.8,,2,100,1\n", ["line 2", "empty cell"]),
    (FO4_HEADER + "1.8,x,2,100,1\n", ["line 2", "'x' is not a number"]),
    (FO4_HEADER + "-1.8,80,2,100,1\n", ["line 2", "'vdd'", "positive"]),
    (FO4_HEADER + "1.8,80,2,100.5,1\n", ["line 2", "'samples'", "whole number"]),
    (FO4_HEADER + "1.8,80,2,100,1\n1.8,90,2,100,1\n", ["line 3", "repeats line 2"]),
    (FO4_HEADER, ["no data rows"]),
    ("vdd,fo4_ps\n1.8,80\n", ["missing column(s)", "fo4_mean_ps"]),
    ("", ["missing column(s)"]),
    (b"\xff\xfe\x00binary\x00", ["cannot read"]),
    (FO4_HEADER + "1.8,80,0,100,1\n", ["line 2", "'fo4_sigma_ps'", "positive"]),
]


@pytest.mark.parametrize("text, expected", FO4_CASES, ids=[f"fo4_{i}" for i in range(len(FO4_CASES))])
def test_bad_fo4_tables(tmp_path, text, expected):
    path = _write(tmp_path / "fo4.csv", text)
    assert_eda_error(lambda: load_fo4_table(path), str(path), *expected)


def test_good_fo4_table_is_sorted_by_vdd(tmp_path):
    table = load_fo4_table(_write(tmp_path / "fo4.csv", FO4_HEADER + FO4_GOOD_ROWS))
    assert list(table["vdd"]) == [1.2, 1.5, 1.8] and list(table["fo4_mean_ps"]) == [150, 100, 80]


def test_committed_fo4_tables_are_accepted():
    for path in sorted((REPO_ROOT / "platforms").glob("*/fo4_*.csv")):
        if "_corners" not in path.name and "_samples" not in path.name:
            assert len(load_fo4_table(path)) >= 2


# --------------------------------------------------------------------------- damaged run folders for `eda report`

@pytest.fixture
def run_copy(tmp_path) -> Path:
    if not (RUN / "method_manifest.json").is_file():
        pytest.skip("no committed sky130hd run (reports/sky130hd) to damage")
    folder = tmp_path / "run"
    for name in REPORT_FILES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(RUN / name, folder / name)
    return folder


def _csv_cell(name, column, value, row=3):
    def damage(folder):
        table = pd.read_csv(folder / name)
        table[column] = table[column].astype(object)
        table.loc[row, column] = value
        table.to_csv(folder / name, index=False)
    return damage


def _replace(name, data):
    def damage(folder):
        (folder / name).write_bytes(data)
    return damage


def _remove(name):
    return lambda folder: (folder / name).unlink()


def _truncate(name):
    def damage(folder):
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: len(data) // 2])
    return damage


def _drop_column(name, column):
    def damage(folder):
        pd.read_csv(folder / name).drop(columns=column).to_csv(folder / name, index=False)
    return damage


REPORT_CASES = [
    (_csv_cell("accuracy/accuracy.csv", "loss_upper_bound", float("nan")), ["accuracy.csv", "line 5", "'loss_upper_bound'"]),
    (_csv_cell("accuracy/accuracy.csv", "loss_upper_bound", "abc"), ["accuracy.csv", "'loss_upper_bound'", "'abc'"]),
    (_csv_cell("accuracy/accuracy.csv", "vdd", float("nan")), ["accuracy.csv", "'vdd'"]),
    (_csv_cell("accuracy/accuracy.csv", "clean_accuracy", float("inf")), ["accuracy.csv", "'clean_accuracy'"]),
    (_replace("accuracy/accuracy.csv", b""), ["accuracy.csv", "is empty"]),
    (_replace("accuracy/accuracy.csv", b"design,budget,vdd,accuracy_mean,clean_accuracy\n"), ["accuracy.csv", "no rows"]),
    (_drop_column("accuracy/accuracy.csv", "vdd"), ["accuracy.csv", "lacks the column(s) vdd"]),
    (_remove("accuracy/accuracy.csv"), ["accuracy.csv", "is missing"]),
    (_truncate("method_manifest.json"), ["method_manifest.json", "not valid JSON"]),
    (_replace("method_manifest.json", b"[]"), ["method_manifest.json", "settings"]),
    (_replace("method_manifest.json", b"\xff\xfe"), ["method_manifest.json"]),
    (_remove("method_manifest.json"), ["method_manifest.json", "run `eda run`"]),
    (_truncate("table2_inputs.json"), ["table2_inputs.json", "not valid JSON"]),
    (_replace("table2_inputs.json", b"[{}]"), ["run", "not a complete"]),
    (_remove("table2_inputs.json"), ["table2_inputs.json"]),
    (_replace("characterization.csv", b""), ["characterization.csv", "is empty"]),
    (_drop_column("characterization.csv", "kind"), ["characterization.csv", "kind"]),
    (_remove("characterization.csv"), ["characterization.csv", "is missing"]),
    (_remove("tiles/switching_overhead.csv"), ["switching_overhead.csv", "is missing"]),
    (_replace("tiles/switching_overhead.csv", b""), ["switching_overhead.csv", "is empty"]),
    (_replace("table2.csv", b""), ["table2.csv", "is empty"]),
    (_remove("errors/tpu/error_probability.csv"), ["error_probability.csv", "is missing"]),
    (_csv_cell("errors/tpu/error_probability.csv", "p_error", 7.5), ["tpu/error_probability.csv", "'p_error'", "<= 1"]),
    (_csv_cell("errors/proposed/error_probability.csv", "vdd", float("nan")), ["proposed/error_probability.csv", "'vdd'"]),
    (_replace("errors/thundervolt/error_probability.csv", b"kind,vdd\n"), ["thundervolt/error_probability.csv", "lacks"]),
    (_replace("sizing/sizings.csv", b""), ["sizings.csv", "is empty"]),
    (_replace("sensitivity/variances.csv", b"\x00\x01\x02"), ["run", "not a complete `eda run` folder"]),
]


@pytest.mark.parametrize("damage, expected", REPORT_CASES, ids=[f"report{i}" for i in range(len(REPORT_CASES))])
def test_damaged_run_folders(capsys, run_copy, damage, expected):
    damage(run_copy)
    before = (run_copy / "table2.csv").read_bytes() if (run_copy / "table2.csv").is_file() else None
    assert_clear_error(capsys, ["report", run_copy], *expected)
    if before is not None:  # a refused report leaves Table II as it was
        assert (run_copy / "table2.csv").read_bytes() == before


def test_intact_run_folder_rerenders(capsys, run_copy):
    code, output = run_eda(capsys, "report", run_copy)
    assert code == 0, output
    assert "proposed-column4to1" in output


# --------------------------------------------------------------------------- unwritable output places

UNWRITABLE_CASES = [
    ("rtl --kind tpu --out {file}/x.v", ["x.v"]),
    ("array --kind tpu --out {file}/a.v", ["a.v"]),
    ("size --errtable {errtable} --vdd 1.8 --sensitivity {sens} --iso-size 1 --out {file}", ["file"]),
    ("size --errtable {errtable} --vdd 1.8 --sensitivity {sens} --iso-size 1 --out {file}/sub", ["file"]),
]


@pytest.mark.parametrize("command, expected", UNWRITABLE_CASES, ids=[f"unwritable{i}" for i in range(len(UNWRITABLE_CASES))])
def test_unwritable_output_places(capsys, tmp_path, inputs, command, expected):
    regular_file = tmp_path / "file"
    regular_file.write_text("a regular file where a folder is needed\n")
    args = [word.format(file=regular_file, **inputs) for word in command.split()]
    assert_clear_error(capsys, args, *expected)
    assert regular_file.read_text().startswith("a regular file")


# --------------------------------------------------------------------------- Verilog files (one is refused before yosys runs)

VERILOG_CASES = [
    ("missing.v", None, ["missing.v"]),
    ("folder.v", "dir", ["folder.v"]),
]


@pytest.mark.parametrize("name, content, expected", VERILOG_CASES, ids=[f"verilog{i}" for i in range(len(VERILOG_CASES))])
def test_bad_verilog_paths(capsys, tmp_path, name, content, expected):
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    assert_clear_error(capsys, ["--cache-dir", tmp_path / "cache", "characterize", "--verilog", path, "--top", "m",
                                "--targets", "3ns", "--out", tmp_path / "out"], *expected)


# --------------------------------------------------------------------------- liberty files (read before any tool)

LIBERTY_CASES = [
    (b"", ["not a liberty file"]),
    (b"this is a README, not a cell library\n" * 5, ["not a liberty file"]),
    (bytes(range(256)), ["not a liberty file"]),
    (b"library (x) {\n  cell (a) {\n", ["line 2", "never closed"]),
    (b"library (x) {\n}\n}\n", ["line 3", "never opened"]),
    (b"\x1f\x8b\x08garbage", ["cannot read liberty file"]),
    (b'library (x) {\n time_unit : "1ns";\n}\n', ["capacitive_load_unit"]),
]


@pytest.mark.parametrize("data, expected", LIBERTY_CASES, ids=[f"liberty{i}" for i in range(len(LIBERTY_CASES))])
def test_bad_liberty_files(tmp_path, data, expected):
    from eda.core.liberty import prepare_liberty

    path = _write(tmp_path / "cells.lib", data)
    assert_eda_error(lambda: prepare_liberty(path, (), tmp_path / "cache"), str(path), *expected)


def test_corpus_has_150_cases():
    cases = (len(CONFIG_CASES) + len(BINARY_CONFIGS) + len(GOOD_CONFIGS) + len(OPTION_CASES) + len(ERRTABLE_CASES)
             + len(SENSITIVITY_CASES) + len(SIZING_MAP_CASES) + len(FO4_CASES) + len(REPORT_CASES) + len(UNWRITABLE_CASES)
             + len(VERILOG_CASES) + len(LIBERTY_CASES))
    assert cases >= 150, cases
