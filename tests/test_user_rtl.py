"""A user's own RTL through `eda characterize --verilog` with real Yosys and OpenSTA runs.

Each test runs the CLI in-process (eda.cli.main.main) with its own cache, seeded with the
prepared sky130hd liberty (conftest's liberty_seed), at one delay target.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from eda.cli.main import main

REGISTERED_MULT = (Path(__file__).parent / "data" / "mult4.v").read_text()

COMB_MULT = """\
module cmult (input [3:0] a, input [3:0] b, output [7:0] p);
    assign p = a * b;
endmodule
"""

# Outputs that are one net (y and z), a slice repeated inside one bus (w), and an output fed by an input.
SHARED_OUTPUTS = """\
module shared (input clk, input [3:0] a, output [3:0] y, output [3:0] z, output [7:0] w, output [3:0] t);
    reg [3:0] r;
    always @(posedge clk) r <= a ^ {a[0], a[3:1]};
    assign y = r;
    assign z = r;
    assign w = {r, r};
    assign t = a;
endmodule
"""

CONSTANT_OUTPUT = """\
module constout (input clk, input [3:0] a, output reg [3:0] y, output [1:0] k, output one);
    always @(posedge clk) y <= a + 4'd1;
    assign k = 2'b10;
    assign one = 1'b1;
endmodule
"""

ALL_CONSTANT = """\
module allconst (input clk, input [3:0] a, output [3:0] y);
    assign y = 4'b1010;
endmodule
"""

ESCAPED = """\
module esc (input clk, input [3:0] \\a+b , input [3:0] b, output reg [3:0] \\y.out );
    reg [3:0] \\r[x] ;
    always @(posedge clk) begin
        \\r[x] <= \\a+b & b;
        \\y.out <= \\r[x] ^ b;
    end
endmodule
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VOLTSCALE_CACHE", raising=False)


def characterize(capsys, cache: Path, source: Path, top: str, *extra, out: Path | None = None) -> tuple[int, str, Path]:
    out = out or source.parent / "out"
    code = main([str(a) for a in ("--cache-dir", cache, "characterize", "--verilog", source, "--top", top,
                                   "--targets", "2000", "-j", "1", "--out", out, *extra)])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, err, out


def rows(out: Path) -> list[dict]:
    with open(out / "characterization.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def endpoints(out: Path, variant: str) -> set[str]:
    (sta_dir,) = (out / "runs" / variant).glob("02-sta-*")
    with open(sta_dir / "endpoints.csv", newline="") as handle:
        return {row["endpoint"] for row in csv.DictReader(handle)}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def assert_timed(out: Path, kind: str) -> dict:
    (row,) = rows(out)
    assert row["kind"] == kind and row["target_ps"] == "2000"
    assert float(row["area_um2"]) > 0 and float(row["delay_ns"]) > 0 and float(row["power_w"]) > 0
    return row


@pytest.mark.parametrize("register_io", [False, True])
def test_registered_multiplier(capsys, cache, tmp_path, register_io):
    source = write(tmp_path, "mult4.v", REGISTERED_MULT)
    code, err, out = characterize(capsys, cache, source, "mult4", *(["--register-io"] if register_io else []))
    assert code == 0, err
    row = assert_timed(out, "mult4")
    assert float(row["area_sequential_um2"]) > 0
    # The product bits are endpoints: the netlist was read whole (no concatenated assigns lost).
    assert {f"p[{i}]" for i in range(8)} <= endpoints(out, "mult4-D2000")


def test_combinational_multiplier_with_register_io(capsys, cache, tmp_path):
    source = write(tmp_path, "cmult.v", COMB_MULT)
    code, err, out = characterize(capsys, cache, source, "cmult", "--register-io")
    assert code == 0, err
    assert_timed(out, "cmult")


def test_outputs_sharing_one_net_are_all_timed(capsys, cache, tmp_path):
    source = write(tmp_path, "shared.v", SHARED_OUTPUTS)
    code, err, out = characterize(capsys, cache, source, "shared")
    assert code == 0, err
    assert_timed(out, "shared")
    names = endpoints(out, "shared-D2000")
    for bus, width in (("y", 4), ("z", 4), ("w", 8), ("t", 4)):
        assert {f"{bus}[{i}]" for i in range(width)} <= names, (bus, sorted(names))


def test_constant_outputs_beside_logic(capsys, cache, tmp_path):
    source = write(tmp_path, "constout.v", CONSTANT_OUTPUT)
    code, err, out = characterize(capsys, cache, source, "constout")
    assert code == 0, err
    assert_timed(out, "constout")
    assert {f"y[{i}]" for i in range(4)} <= endpoints(out, "constout-D2000")


@pytest.mark.parametrize("register_io", [False, True])
def test_all_constant_outputs_say_so(capsys, cache, tmp_path, register_io):
    source = write(tmp_path, "allconst.v", ALL_CONSTANT)
    code, err, out = characterize(capsys, cache, source, "allconst", *(["--register-io"] if register_io else []))
    assert code != 0
    assert "every output of module allconst" in err and "is a constant" in err, err
    assert "y=1010" in err
    assert "--register-io" not in err  # it would not help
    assert not (out / "characterization.csv").exists()


def test_escaped_identifiers(capsys, cache, tmp_path):
    source = write(tmp_path, "esc.v", ESCAPED)
    code, err, out = characterize(capsys, cache, source, "esc")
    assert code == 0, err
    assert_timed(out, "esc")
    assert any(name.startswith("y.out") for name in endpoints(out, "esc-D2000"))


def test_escaped_port_names_with_register_io_are_refused_clearly(capsys, cache, tmp_path):
    source = write(tmp_path, "esc.v", ESCAPED)
    code, err, _ = characterize(capsys, cache, source, "esc", "--register-io")
    assert code != 0
    assert re.search(r"^error: module esc: --register-io cannot wrap port\(s\) with escaped names", err, re.M), err
    assert "\\a+b" in err


def test_verilog_file_name_with_a_space(capsys, cache, tmp_path):
    source = write(tmp_path, "my mult.v", REGISTERED_MULT)
    code, err, out = characterize(capsys, cache, source, "mult4", out=tmp_path / "out dir")
    assert code == 0, err
    assert_timed(out, "mult4")
    synth = (out / "runs" / "mult4-D2000" / "01-synth" / "synth.ys").read_text()
    assert 'read_verilog -defer "../00-rtl/my mult.v"' in synth


@pytest.mark.parametrize("folder", ["c$env(HOME)", "c[exit]", "c{x}", "c$env(HOME)[exit]{x}"])
def test_cache_folder_with_tcl_characters(capsys, tmp_path, seed_cache, folder):
    cache = seed_cache(tmp_path / folder / "cache")
    source = write(tmp_path, "mult4.v", REGISTERED_MULT)
    code, err, out = characterize(capsys, cache, source, "mult4")
    assert code == 0, err  # [exit] would end OpenSTA before any report; $env(HOME) would read another path
    assert_timed(out, "mult4")
    (sta_tcl,) = (out / "runs" / "mult4-D2000").glob("02-sta-*/sta.tcl")
    # OpenSTA's read_liberty cannot take a quoted path; the liberty is read relative to the run.
    assert re.search(r"^read_liberty \.\./\.\./\.\./liberty/\w+/\S+\.lib$", sta_tcl.read_text(), re.M)


def test_cache_folder_with_a_space_is_refused_clearly(capsys, tmp_path, seed_cache):
    cache = seed_cache(tmp_path / "my cache")
    source = write(tmp_path, "mult4.v", REGISTERED_MULT)
    code, err, out = characterize(capsys, cache, source, "mult4")
    assert code != 0
    assert re.search(r"^error: the cache folder \(--cache-dir / \$VOLTSCALE_CACHE\) '.*my cache' contains a space", err, re.M), err
    assert not (cache / "runs").exists()


def test_cache_folder_from_the_environment(capsys, tmp_path, seed_cache, monkeypatch):
    cache = seed_cache(tmp_path / "env[exit]" / "cache")
    monkeypatch.setenv("VOLTSCALE_CACHE", str(cache))
    source = write(tmp_path, "mult4.v", REGISTERED_MULT)
    out = tmp_path / "out"
    code = main([str(a) for a in ("characterize", "--verilog", source, "--top", "mult4", "--targets", "2000", "-j", "1",
                                   "--out", out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert_timed(out, "mult4")
    assert (cache / "runs").is_dir()
