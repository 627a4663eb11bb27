"""`--cache-dir` and `--platforms-dir` belong to the `eda` group but are accepted after the subcommand too."""

from __future__ import annotations


import pytest

from eda.cli.main import main
from eda.cli.options import hoist_global_options

COMB = """\
module comb4 (input [3:0] a, input [3:0] b, output [3:0] y);
    assign y = a ^ b;
endmodule
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VOLTSCALE_CACHE", raising=False)


@pytest.mark.parametrize("args, expected", [
    (["run", "--cache-dir", "C"], ["--cache-dir", "C", "run"]),
    (["run", "-j", "2", "--cache-dir=C", "--out", "o"], ["--cache-dir=C", "run", "-j", "2", "--out", "o"]),
    (["--platforms-dir", "P", "platforms", "--cache-dir", "C", "--platform", "x"],
     ["--platforms-dir", "P", "--cache-dir", "C", "platforms", "--platform", "x"]),
    (["run", "--", "--cache-dir", "C"], ["run", "--", "--cache-dir", "C"]),
    (["--cache-dir", "C", "run"], ["--cache-dir", "C", "run"]),
    (["--help"], ["--help"]),
    ([], []),
])
def test_hoist(args, expected):
    assert hoist_global_options(args) == expected


def test_platforms_dir_after_the_subcommand(capsys, tmp_path):
    missing = tmp_path / "no-platforms-here"
    code = main(["platforms", "--platform", "sky130hd", "--platforms-dir", str(missing)])
    err = capsys.readouterr().err
    assert code != 0
    assert "No such option" not in err
    assert str(missing) in err  # the option was used: it is where the data was looked for


def test_cache_dir_after_the_subcommand(capsys, tmp_path, cache):
    source = tmp_path / "comb4.v"
    source.write_text(COMB)
    code = main([str(a) for a in ("characterize", "--verilog", source, "--top", "comb4", "--register-io",
                                   "--targets", "2000", "-j", "1", "--out", tmp_path / "out", "--cache-dir", cache)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert [p for p in (cache / "runs").iterdir() if not p.name.startswith(".")]
