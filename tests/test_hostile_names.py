"""Hostile names in every option and config key that reaches a tool script: nothing runs, and the
result is right or a clear error (non-zero exit, one `error:`/`Error:` line, no traceback).

Tcl payloads name an absolute MARKER file that must never appear. Yosys and OpenSTA really run
(sky130hd, one target, a cache seeded with the prepared liberty)."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest

from eda.cli.main import main
from eda.core.errors import EdaError
from eda.core.script_words import tcl_word, verilog_identifier, yosys_word
from eda.flow.synth import synthesis_scripts

MULT = (Path(__file__).parent / "data" / "mult4.v").read_text()

COMB = """\
module comb4 (input [3:0] a, input [3:0] b, output [3:0] y);
    assign y = a ^ b;
endmodule
"""


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "MARKER"


def payloads(marker: Path) -> list[str]:
    """Names that would run code or split a word if written into a script unquoted."""
    return [
        f"ck [exec touch {marker}]",
        f"ck/*[exec touch {marker}]*/",
        f"x[exec touch {marker}]",
        "x$env(HOME)",
        "x[exit]",
        'x"y',
        "x y",
        "x\ny",
        "x;y",
        "x{y",
        "x}y",
        "x\\y",
        "$x",
        "1x",
    ]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VOLTSCALE_CACHE", raising=False)


@pytest.fixture
def cache(tmp_path, liberty_seed) -> Path:
    path = tmp_path / "cache"
    shutil.copytree(liberty_seed, path / "liberty")
    return path


def run(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, err


def assert_clear_error(code: int, err: str, *named: str) -> None:
    assert code != 0, err
    assert re.search(r"^(error|Error): \S", err, re.M), err
    for text in named:
        assert text in err, err


def characterized(out: Path) -> list[dict]:
    with open(out / "characterization.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_hostile_clock_names(capsys, cache, tmp_path, marker):
    source = tmp_path / "comb4.v"
    source.write_text(COMB)
    for clock in payloads(marker):
        code, err = run(capsys, "--cache-dir", cache, "characterize", "--verilog", source, "--top", "comb4", "--register-io",
                        "--clock", clock, "--targets", "2000", "-j", "1", "--out", tmp_path / "out")
        assert_clear_error(code, err, "--clock", "not a plain Verilog identifier")
    assert not marker.exists()
    assert not (cache / "runs").exists()


def test_hostile_top_names(capsys, cache, tmp_path, marker):
    source = tmp_path / "comb4.v"
    source.write_text(COMB)
    for top in payloads(marker):
        code, err = run(capsys, "--cache-dir", cache, "characterize", "--verilog", source, "--top", top, "--register-io",
                        "--targets", "2000", "-j", "1", "--out", tmp_path / "out")
        assert_clear_error(code, err, "--top")
    assert not marker.exists()


def test_hostile_verilog_paths(capsys, cache, tmp_path, marker):
    for index, name in enumerate(payloads(marker)):
        if "/" in name or "\n" in name:
            continue  # not a file name (a path separator) / tested below
        folder = tmp_path / f"src{index}"
        folder.mkdir()
        source = folder / f"{name}.v"
        source.write_text(MULT)
        out = tmp_path / f"out{index}"
        code, err = run(capsys, "--cache-dir", cache, "characterize", "--verilog", source, "--top", "mult4",
                        "--targets", "2000", "-j", "1", "--out", out)
        if code == 0:
            (row,) = characterized(out)
            assert float(row["delay_ns"]) > 0 and float(row["area_um2"]) > 0
        else:  # only a double quote cannot be written into a yosys script
            assert '"' in name, err
            assert_clear_error(code, err, "Verilog file", "double quote")
    assert not marker.exists()


def test_verilog_path_with_a_newline(capsys, cache, tmp_path):
    source = tmp_path / "a\nb.v"
    source.write_text(MULT)
    code, err = run(capsys, "--cache-dir", cache, "characterize", "--verilog", source, "--top", "mult4",
                    "--targets", "2000", "-j", "1", "--out", tmp_path / "out")
    assert_clear_error(code, err, "Verilog file", "line break")


def test_hostile_cache_folders(capsys, tmp_path, liberty_seed, marker):
    """Slow (~25 s): one real yosys + OpenSTA run per hostile folder name, because the point is that
    the tools themselves never see an unquoted name."""
    source = tmp_path / "mult4.v"
    source.write_text(MULT)
    for index, name in enumerate(payloads(marker)):
        if "/" in name:
            name = name.replace("/", "_")
        cache = tmp_path / f"c{index}" / name
        shutil.copytree(liberty_seed, cache / "liberty")
        out = tmp_path / f"out{index}"
        code, err = run(capsys, "--cache-dir", cache, "characterize", "--verilog", source, "--top", "mult4",
                        "--targets", "2000", "-j", "1", "--out", out)
        if code == 0:
            (row,) = characterized(out)
            assert float(row["delay_ns"]) > 0
        else:  # ABC (under yosys) cannot read files whose path has whitespace, ';' or quotes
            assert re.search(r"[\s;\"']", name), err
            assert_clear_error(code, err, "the cache folder (--cache-dir / $VOLTSCALE_CACHE)")
            assert not (cache / "runs").exists()
    assert not marker.exists()


def test_hostile_out_folders(capsys, cache, tmp_path, marker):
    source = tmp_path / "mult4.v"
    source.write_text(MULT)
    for index, name in enumerate(payloads(marker)[:5]):  # the output folder reaches no script
        out = tmp_path / f"o{index}" / name.replace("/", "_")
        code, err = run(capsys, "--cache-dir", cache, "characterize", "--verilog", source, "--top", "mult4",
                        "--targets", "2000", "-j", "1", "--out", out)
        assert code == 0, err
        assert len(characterized(out)) == 1
    assert not marker.exists()


def test_hostile_platform_names(capsys, tmp_path, marker):
    for name in [*payloads(marker), "../sky130hd", "sky130hd/../sky130hd", "/etc"]:
        code, err = run(capsys, "platforms", "--platform", name)
        assert_clear_error(code, err, "unknown platform")
    assert not marker.exists()


def test_hostile_out_dir_in_config(capsys, cache, tmp_path):
    config = tmp_path / "c.toml"
    for pattern in ("reports/{platform.upper}", "reports/{platform[0]}", "reports/{other}", "reports/{"):
        config.write_text(f'out_dir = "{pattern}"\nkinds = ["tpu"]\n[characterize]\ntargets_ps = [3000]\n')
        code, err = run(capsys, "--cache-dir", cache, "run", "--config", config)
        assert_clear_error(code, err, "out_dir", "{platform}")


# --------------------------------------------------------------------------- the quoting functions


@pytest.mark.parametrize("text", ["a b", "a$b", "a[exit]b", "a{b", "a}b", "a\\b", 'a"b', "a;b", "a\nb", "a\tb", "{a}", "#a"])
def test_tcl_word_is_one_literal_word(text):
    tkinter = pytest.importorskip("tkinter")
    try:
        interp = tkinter.Tcl()
    except tkinter.TclError:
        pytest.skip("no Tcl interpreter")
    assert interp.eval(f"llength [list {tcl_word(text)}]") == "1"
    assert interp.eval(f"set v {tcl_word(text)}") == text


def test_plain_words_stay_byte_identical():
    for text in ("/home/u/.cache/voltscale/liberty/866c/x.lib", "../00-rtl/mac_tpu.v", "a+b-c_d.v"):
        assert tcl_word(text) == text and yosys_word(text, "path") == text
    assert tcl_word("a b") == "{a b}" and yosys_word("a b", "path") == '"a b"'
    assert tcl_word("x.spef", braced=True) == "{x.spef}"


def test_identifiers():
    assert verilog_identifier("clk_1$x", "--clock") == "clk_1$x"
    for bad in ("1clk", "$clk", "c k", "\\clk", "", "clk[0]"):
        with pytest.raises(EdaError, match="--clock"):
            verilog_identifier(bad, "--clock")


def test_mac_synthesis_script_unchanged(platforms_root, liberty_seed):
    """Our own designs' scripts (hashed into cache keys) are the text they were before quoting."""
    from eda.core.liberty import prepare_liberty
    from eda.core.platforms import load_platform

    platform = load_platform("sky130hd", platforms_root)
    liberty = prepare_liberty(platform.nominal.libs[0], platform.dont_use, liberty_seed.parent)
    script = synthesis_scripts("mac_tpu", [Path("../00-rtl/mac_tpu.v")], 3000, liberty, platform)["synth.ys"]
    assert f"read_verilog -defer ../00-rtl/mac_tpu.v\n" in script
    assert f"dfflibmap -liberty {liberty.path}\n" in script
    assert "write_verilog -noattr -noexpr -nohex -nodec netlist.v\n" in script
    assert "port_bits" not in script and "splitnets" not in script
