"""Every bad input to the `eda` CLI ends in a non-zero exit and one clear message naming what went wrong.

The CLI runs in-process through `eda.cli.main`, which returns the exit code and prints
`error: ...` (or click's `Error: ...` for usage errors) on stderr. Every test uses its own
cache under tmp_path; the prepared sky130hd liberty is built once per session and copied
into each test's cache, so the tests that reach synthesis only pay for the tool run.
"""

from __future__ import annotations

import csv
import gzip
import re
import shutil
from pathlib import Path

import pytest

from eda.cli.main import main

PLATFORM = "sky130hd"
NOMINAL_LIB = "sky130_fd_sc_hd__tt_025C_1v80.lib"

SIGNED_MULT = """\
// 4x4 signed multiplier, purely combinational.
module mult (
    input  wire signed [3:0] a,
    input  wire signed [3:0] b,
    output wire signed [7:0] p
);
    assign p = a * b;
endmodule
"""


# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    # Anything a command writes relative to the cwd lands in the test's own folder.
    monkeypatch.chdir(tmp_path)


def run_eda(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_message(stderr: str) -> str:
    """The message after `error:` (ours) or `Error:` (click's usage errors)."""
    match = re.search(r"^(?:error|Error): (.*)", stderr, flags=re.M | re.S)
    assert match, f"no error message on stderr:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    return match.group(1).strip()


def assert_one_paragraph(message: str) -> None:
    assert message, "empty error message"
    assert "\n\n" not in message, f"message is more than one paragraph:\n{message}"


def fails(capsys, *args: str) -> str:
    """Run the CLI, require a non-zero exit, return the one-paragraph error message."""
    code, _, err = run_eda(capsys, *args)
    assert code != 0, f"exit code 0 for {args}; stderr:\n{err}"
    return error_message(err)


def characterize_tpu(cache: Path, out: Path, *extra: str) -> list[str]:
    return ["--cache-dir", cache, "characterize", "--kind", "tpu", "--targets", "3000", "-j", "1", "--out", out, *extra]


def fake_platforms_dir(root: Path, platforms_root: Path, liberty_bytes: bytes) -> Path:
    """<root>/sky130hd/{lib,lef} laid out like the real data, with our own nominal liberty."""
    real = platforms_root / PLATFORM
    (root / PLATFORM / "lib").mkdir(parents=True)
    (root / PLATFORM / "lib" / NOMINAL_LIB).write_bytes(liberty_bytes)
    (root / PLATFORM / "lef").mkdir()
    for lef in (real / "lef").iterdir():
        (root / PLATFORM / "lef" / lef.name).symlink_to(lef)
    return root


def nominal_liberty_text(platforms_root: Path) -> bytes:
    lib_dir = platforms_root / PLATFORM / "lib"
    plain = lib_dir / NOMINAL_LIB
    if plain.is_file():
        return plain.read_bytes()
    return gzip.decompress((lib_dir / (NOMINAL_LIB + ".gz")).read_bytes())


# --------------------------------------------------------------------------- unknown names, bad values


def test_unknown_mac_kind(capsys, cache, tmp_path):
    message = fails(capsys, *["--cache-dir", cache, "characterize", "--kind", "foo", "--targets", "3000", "--out", tmp_path / "out"])
    assert_one_paragraph(message)
    assert "--kind" in message and "'foo'" in message
    for kind in ("tpu", "thundervolt", "proposed"):
        assert kind in message  # the valid choices are listed
    assert not (tmp_path / "out").exists()


def test_unknown_platform(capsys, cache, tmp_path):
    message = fails(capsys, *characterize_tpu(cache, tmp_path / "out", "--platform", "nosuch"))
    assert_one_paragraph(message)
    assert "unknown platform 'nosuch'" in message
    assert "sky130hd" in message  # the known platforms are listed
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "targets, names",
    [
        ("abc", ["'abc'", "not a target"]),
        ("-5", ["'-5'", "positive"]),
        ("100:50:0", ["'100:50:0'", "step must be positive"]),
    ],
    ids=["not-a-number", "negative", "zero-step"],
)
def test_bad_targets(capsys, cache, tmp_path, targets, names):
    message = fails(capsys, *["--cache-dir", cache, "characterize", "--kind", "tpu", "--targets", targets, "--out", tmp_path / "out"])
    assert_one_paragraph(message)
    assert "--targets" in message
    for name in names:
        assert name in message
    assert not (cache / "runs").exists()


# --------------------------------------------------------------------------- platform data


@pytest.fixture
def no_platform_env(monkeypatch):
    for var in ("EDA_PLATFORMS_DIR", "FLOW_HOME", "PDK_ROOT"):
        monkeypatch.delenv(var, raising=False)


def test_missing_platform_data_lists_every_place_looked(capsys, cache, tmp_path, no_platform_env):
    message = fails(capsys, *characterize_tpu(cache, tmp_path / "out"))
    assert_one_paragraph(message)
    assert "platform data for 'sky130hd' not found" in message
    for place in ("--platforms-dir", "$EDA_PLATFORMS_DIR", "$FLOW_HOME/platforms", "$PDK_ROOT"):
        assert place in message


def test_platform_data_not_in_any_given_place_names_each_folder(capsys, cache, tmp_path, monkeypatch, no_platform_env):
    for var, sub in (("EDA_PLATFORMS_DIR", "eda"), ("FLOW_HOME", "flow"), ("PDK_ROOT", "pdk")):
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(var, str(tmp_path / sub))
    message = fails(capsys, *characterize_tpu(cache, tmp_path / "out"))
    assert_one_paragraph(message)
    assert str(tmp_path / "eda" / "sky130hd" / "lib") in message
    assert str(tmp_path / "flow" / "platforms" / "sky130hd" / "lib") in message
    assert str(tmp_path / "pdk" / "sky130A" / "libs.ref" / "sky130_fd_sc_hd" / "lib") in message


def test_empty_platforms_dir_is_named(capsys, cache, tmp_path, no_platform_env):
    empty = tmp_path / "empty_platforms"
    empty.mkdir()
    message = fails(capsys, "--platforms-dir", empty, *characterize_tpu(cache, tmp_path / "out"))
    assert_one_paragraph(message)
    assert str(empty / "sky130hd") in message


def test_empty_platforms_dir_is_an_error_even_when_env_points_elsewhere(capsys, cache, tmp_path, platforms_root, monkeypatch):
    monkeypatch.setenv("EDA_PLATFORMS_DIR", str(platforms_root))  # real data, but not where the user asked
    empty = tmp_path / "empty_platforms"
    empty.mkdir()
    message = fails(capsys, "--platforms-dir", empty, *characterize_tpu(cache, tmp_path / "out"))
    assert str(empty / "sky130hd") in message


# --------------------------------------------------------------------------- missing tool


def test_yosys_not_on_path(capsys, cache, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sta = shutil.which("sta")
    assert sta, "OpenSTA (sta) must be installed for this test"
    (bin_dir / "sta").symlink_to(sta)  # everything the flow needs except yosys
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("YOSYS_EXE", raising=False)
    message = fails(capsys, *characterize_tpu(cache, tmp_path / "out"))
    assert_one_paragraph(message)
    assert "yosys not found" in message
    assert "apt-get install yosys" in message  # how to install it
    assert "YOSYS_EXE" in message  # how to point at a build elsewhere
    assert not (cache / "runs").exists()


def test_yosys_override_names_a_missing_program(capsys, cache, tmp_path, monkeypatch):
    monkeypatch.setenv("YOSYS_EXE", "no-such-yosys-binary")
    message = fails(capsys, *characterize_tpu(cache, tmp_path / "out"))
    assert_one_paragraph(message)
    assert "yosys not found" in message
    assert "no-such-yosys-binary" in message
    assert "apt-get install yosys" in message


# --------------------------------------------------------------------------- malformed liberty


def test_truncated_liberty_names_file_and_line(capsys, cache, tmp_path, platforms_root, monkeypatch):
    text = nominal_liberty_text(platforms_root)
    half = text[: len(text) // 2]
    fake = fake_platforms_dir(tmp_path / "platforms", platforms_root, half)
    monkeypatch.setenv("EDA_PLATFORMS_DIR", str(fake))
    prepared_before = sorted(p.name for p in (cache / "liberty").iterdir())
    message = fails(capsys, "--platforms-dir", fake, *characterize_tpu(cache, tmp_path / "out"))
    assert_one_paragraph(message)
    lib_path = fake / PLATFORM / "lib" / NOMINAL_LIB
    assert str(lib_path) in message
    line = re.search(r"\bline (\d+)\b", message)
    assert line, message
    assert 1 <= int(line.group(1)) <= half.count(b"\n") + 1
    assert "truncated" in message or "never closed" in message
    # Nothing was cached for the broken file, and nothing was run.
    assert sorted(p.name for p in (cache / "liberty").iterdir()) == prepared_before
    assert not (cache / "runs").exists()


def test_liberty_that_is_not_liberty_names_file(capsys, cache, tmp_path, platforms_root, monkeypatch):
    fake = fake_platforms_dir(tmp_path / "platforms", platforms_root, b"this is a README, not a cell library\n" * 50)
    monkeypatch.setenv("EDA_PLATFORMS_DIR", str(fake))
    message = fails(capsys, "--platforms-dir", fake, *characterize_tpu(cache, tmp_path / "out"))
    assert_one_paragraph(message)
    assert str(fake / PLATFORM / "lib" / NOMINAL_LIB) in message
    assert "not a liberty file" in message


# --------------------------------------------------------------------------- user Verilog


def test_verilog_syntax_error_names_file(capsys, cache, tmp_path):
    bad = tmp_path / "bad.v"
    bad.write_text("module x (input a, output b);\n    assign b = a &;\nendmodule\n")
    message = fails(capsys, *["--cache-dir", cache, "characterize", "--verilog", bad, "--top", "x", "--targets", "3000",
                              "--out", tmp_path / "out"])
    assert_one_paragraph(message)
    assert str(bad) in message
    assert re.search(r"line\W*2\b", message), message  # the line of the error
    assert not (cache / "runs").exists()


def test_unknown_top_lists_modules_found(capsys, cache, tmp_path):
    two = tmp_path / "two.v"
    two.write_text("module alpha (input a, output b);\n    assign b = a;\nendmodule\n"
                   "module beta (input a, output b);\n    assign b = ~a;\nendmodule\n")
    message = fails(capsys, *["--cache-dir", cache, "characterize", "--verilog", two, "--top", "gamma", "--targets", "3000",
                              "--out", tmp_path / "out"])
    assert_one_paragraph(message)
    assert "'gamma'" in message and str(two) in message
    assert "alpha" in message and "beta" in message


def test_combinational_top_without_register_io_suggests_it(capsys, cache, tmp_path):
    mult = tmp_path / "mult.v"
    mult.write_text(SIGNED_MULT)
    message = fails(capsys, *["--cache-dir", cache, "characterize", "--verilog", mult, "--top", "mult", "--targets", "3000",
                              "--out", tmp_path / "out"])
    assert_one_paragraph(message)
    assert "--register-io" in message
    assert "'clk'" in message  # the clock port it looked for
    assert not (cache / "runs").exists()


# --------------------------------------------------------------------------- tools that fail or time out

UNDEFINED_SUBMODULE = """\
module top (input clk, input a, output b);
    not_defined_anywhere u0 (.a(a), .b(b));
endmodule
"""


def failed_run_dir(message: str) -> Path:
    match = re.search(r"\(all files of the failed run: (.+?)\)", message)
    assert match, message
    return Path(match.group(1))


def test_yosys_failure_names_tool_and_keeps_log(capsys, cache, tmp_path):
    source = tmp_path / "undef.v"
    source.write_text(UNDEFINED_SUBMODULE)  # pyverilog parses it; yosys' hierarchy -check rejects it
    message = fails(capsys, *["--cache-dir", cache, "characterize", "--verilog", source, "--top", "top", "--targets", "3000",
                              "-j", "1", "--out", tmp_path / "out"])
    assert "yosys failed" in message
    assert "yosys-run.log" in message
    assert "not_defined_anywhere" in message  # the log tail shows yosys' own complaint
    kept = failed_run_dir(message)
    log = kept / "01-synth" / "yosys-run.log"
    assert log.is_file()
    assert "not_defined_anywhere" in log.read_text()
    # A failed run never enters the cache proper.
    runs = cache / "runs"
    assert not runs.exists() or [p for p in runs.iterdir() if not p.name.startswith(".")] == []
    assert not (tmp_path / "out" / "characterization.csv").exists()


def test_yosys_timeout_says_timed_out_and_keeps_log(capsys, cache, tmp_path):
    source = tmp_path / "mult.v"
    source.write_text(SIGNED_MULT)
    message = fails(capsys, *["--cache-dir", cache, "characterize", "--verilog", source, "--top", "mult", "--register-io",
                              "--targets", "3000", "-j", "1", "--timeout", "0.01", "--out", tmp_path / "out"])
    assert "yosys timed out" in message
    assert "after 0.01 s" in message
    assert "yosys-run.log" in message
    log = failed_run_dir(message) / "01-synth" / "yosys-run.log"
    assert log.is_file()
    named = re.search(r"kept at (\S+?);", message)
    assert named and Path(named.group(1)).is_file(), f"the message names a log that does not exist:\n{message}"
    runs = cache / "runs"
    assert not runs.exists() or [p for p in runs.iterdir() if not p.name.startswith(".")] == []
    assert not (tmp_path / "out" / "characterization.csv").exists()


def test_log_path_in_tool_error_exists(capsys, cache, tmp_path):
    source = tmp_path / "undef.v"
    source.write_text(UNDEFINED_SUBMODULE)
    message = fails(capsys, *["--cache-dir", cache, "characterize", "--verilog", source, "--top", "top",
                              "--targets", "3000", "-j", "1", "--out", tmp_path / "out"])
    named = re.search(r"Full log: (\S+?);", message)
    assert named, message
    assert Path(named.group(1)).is_file(), f"the message names {named.group(1)}, which does not exist"


# --------------------------------------------------------------------------- eda run --config


def test_bad_config_reports_every_problem_at_once(capsys, cache, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text(
        'platfrom = "sky130hd"\n'  # unknown key (typo)
        'kinds = ["tpu", "foo"]\n'  # bad kind
        "[mac]\n"
        'a_bits = "eight"\n'  # wrong type
        "[characterize]\n"
        "targets_ps = [3000]\n"
    )
    message = fails(capsys, "--cache-dir", cache, "run", "--config", config, "--out", tmp_path / "out")
    assert_one_paragraph(message)
    assert str(config) in message
    assert "3 problem(s)" in message
    assert "unknown key 'platfrom'" in message
    assert "'mac.a_bits'" in message and "int" in message and "'eight'" in message
    assert "kinds" in message and "'foo'" in message
    assert not (tmp_path / "out").exists()
    assert not (cache / "runs").exists()


# --------------------------------------------------------------------------- the happy path


def test_characterize_own_verilog_with_register_io(capsys, cache, tmp_path):
    source = tmp_path / "mult.v"
    source.write_text(SIGNED_MULT)
    out = tmp_path / "out"
    code, stdout, err = run_eda(capsys, "--cache-dir", cache, "characterize", "--verilog", source, "--top", "mult",
                                "--register-io", "--targets", "3000", "-j", "1", "--out", out)
    assert code == 0, err
    assert "error" not in err.lower()
    with open(out / "characterization.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1
    row = rows[0]
    assert row["kind"] == "mult" and row["target_ps"] == "3000" and row["platform"] == "sky130hd"
    assert float(row["area_um2"]) > 0
    assert float(row["area_sequential_um2"]) > 0  # the input/output registers of --register-io
    assert float(row["delay_ns"]) > 0
    assert float(row["power_internal_w"]) > 0
    assert (out / "runs" / "mult-D3000" / "01-synth" / "yosys.log").is_file()


def test_config_without_targets_takes_the_platforms_range(tmp_path):
    from eda.core.platforms import load_platform
    from eda.jobs.config import load_config
    from eda.jobs.main import delay_targets

    config = tmp_path / "no_targets.toml"
    config.write_text("[characterize]\ntargets_ps = []\n")
    gf180 = load_platform("gf180")
    assert gf180.targets_ps and delay_targets(load_config(config), gf180) == list(gf180.targets_ps)
