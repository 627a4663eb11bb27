"""Incremental stages (eda/core/stages.py), writes that leave identical files alone, and pyverilog's
parser tables built once (eda/parsers/verilog.py). The whole `eda run` is in test_run_reduced.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from eda.core.files import atomic_write_text
from eda.core.stages import Stages


def test_identical_bytes_leave_the_file_and_its_mtime_alone(tmp_path):
    path = tmp_path / "a.csv"
    atomic_write_text(path, "x,y\n1,2\n")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    atomic_write_text(path, "x,y\n1,2\n")
    assert path.stat().st_mtime_ns == 1_000_000_000
    atomic_write_text(path, "x,y\n1,3\n")
    assert path.read_text() == "x,y\n1,3\n" and path.stat().st_mtime_ns != 1_000_000_000


def _stage(out: Path, inputs: dict, calls: list) -> dict:
    stages = Stages(out)

    def compute():
        calls.append(inputs)
        atomic_write_text(out / "part" / "table.csv", f"value\n{inputs['config']['value']}\n")

    stages.run("part", inputs, ["part"], compute)
    stages.write(out / "run_stages.json")
    return json.loads((out / "run_stages.json").read_text())["stages"]["part"]


def test_a_stage_runs_again_only_when_an_input_or_an_output_changed(tmp_path):
    calls = []
    first = _stage(tmp_path, {"config": {"value": 1}, "code": "c1"}, calls)
    assert first == {"status": "recomputed", "reason": "no record of an earlier run in this folder"}
    assert _stage(tmp_path, {"config": {"value": 1}, "code": "c1"}, calls)["status"] == "reused"
    assert len(calls) == 1
    changed = _stage(tmp_path, {"config": {"value": 2}, "code": "c1"}, calls)
    assert changed["status"] == "recomputed" and changed["changed_inputs"] == ["config.value"]
    (tmp_path / "part" / "table.csv").write_text("edited\n")
    edited = _stage(tmp_path, {"config": {"value": 2}, "code": "c1"}, calls)
    assert edited["reason"] == "output part/table.csv changed or is missing"
    assert (tmp_path / "part" / "table.csv").read_text() == "value\n2\n"
    assert _stage(tmp_path, {"config": {"value": 2}, "code": "c2"}, calls)["changed_inputs"] == ["code"]
    assert len(calls) == 4


def test_a_stage_that_fails_is_run_again(tmp_path):
    stages = Stages(tmp_path)

    def fail():
        atomic_write_text(tmp_path / "part" / "half.csv", "half\n")
        raise RuntimeError("killed")

    try:
        stages.run("part", {"code": "c"}, ["part"], fail)
    except RuntimeError:
        pass
    calls = []
    assert _stage(tmp_path, {"config": {"value": 1}, "code": "c"}, calls)["status"] == "recomputed"


def test_input_digests_follow_the_file_content(tmp_path):
    data = tmp_path / "data.bin"
    data.write_bytes(b"one")
    os.utime(data, ns=(10**18, 10**18))
    first = Stages(tmp_path).files_digest([data])
    data.write_bytes(b"two")
    assert Stages(tmp_path).files_digest([data]) != first


def test_pyverilog_tables_are_built_once_and_read_by_every_parser(tmp_path):
    """A fresh process with the tables in place builds no LALR table (PLY's lr_parse_table never runs)."""
    netlist = tmp_path / "n.v"
    netlist.write_text("module m (input clk, input d, output q);\n  DFF r (.CLK(clk), .D(d), .Q(q));\nendmodule\n")
    script = (
        "import sys, pathlib, ply.yacc as y\n"
        "calls = []\n"
        "real = y.LRGeneratedTable.lr_parse_table\n"
        "y.LRGeneratedTable.lr_parse_table = lambda self: calls.append(1) or real(self)\n"
        "from eda.parsers.verilog import parse_verilog\n"
        f"tree = parse_verilog([pathlib.Path({str(netlist)!r})], pathlib.Path({str(tmp_path / 'cache')!r}))\n"
        "print(len(calls), [i.name for i in tree.description.definitions[0].items[-1].instances])\n")
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split(" ", 1)
            for _ in range(2)]
    assert runs[0][1].strip() == runs[1][1].strip() == "['r']"
    assert (int(runs[0][0]), int(runs[1][0])) == (1, 0)
    assert len(list((tmp_path / "cache" / "parser-tables").glob("*/parsetab.py"))) == 1
