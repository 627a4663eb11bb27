"""The run cache: identical runs are reused untouched, changed inputs get new entries, a killed
run leaves nothing a later run would trust, and parallel runs give the serial results.

Every test uses its own cache under tmp_path. The prepared sky130hd liberty (a separate
part of the cache, <cache>/liberty/) is built once per session and copied in, so each test
pays only for the runs it checks. One run = the tpu MAC at one delay target (~1 s).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eda.cli.main import main

PLATFORM = "sky130hd"


# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VOLTSCALE_CACHE", raising=False)


def characterize_args(cache: Path, out: Path, targets: str, *extra: str, jobs: int = 1) -> list[str]:
    return ["--cache-dir", str(cache), "characterize", "--kind", "tpu", "--targets", targets, "-j", str(jobs),
            "--out", str(out), *extra]


def characterize(capsys, cache: Path, out: Path, targets: str, *extra: str, jobs: int = 1) -> dict:
    """Run `eda characterize` in-process; require success; return the manifest."""
    code = main(characterize_args(cache, out, targets, *extra, jobs=jobs))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads((out / "manifest.json").read_text())


def csv_rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def finished_runs(cache: Path) -> list[Path]:
    """Cache entries proper: the folders directly in <cache>/runs/ not hidden as in-progress."""
    runs = cache / "runs"
    return sorted(p for p in runs.iterdir() if not p.name.startswith(".")) if runs.is_dir() else []


def snapshot(run_dirs: list[Path]) -> dict[str, tuple[int, int, str]]:
    """Every file in the given run folders: (mtime_ns, size, sha256), keyed by path."""
    files = {}
    for run_dir in run_dirs:
        for path in sorted(run_dir.rglob("*")):
            if path.is_file():
                stat = path.stat()
                files[str(path)] = (stat.st_mtime_ns, stat.st_size, hashlib.sha256(path.read_bytes()).hexdigest())
    assert files, f"no files in {run_dirs}"
    return files


def by_target(manifest: dict) -> dict[int, dict]:
    return {entry["target_ps"]: entry for entry in manifest["runs"]}


# --------------------------------------------------------------------------- reuse


def test_identical_rerun_recomputes_nothing(capsys, cache, tmp_path):
    first = characterize(capsys, cache, tmp_path / "out1", "2000,3000")
    assert [e["cached"] for e in first["runs"]] == [False, False]
    entries = finished_runs(cache)
    assert sorted(e.name for e in entries) == sorted(e["cache_key"] for e in first["runs"])
    everything_before = sorted(p.name for p in (cache / "runs").iterdir())
    before = snapshot(entries)

    second = characterize(capsys, cache, tmp_path / "out2", "2000,3000")

    assert len(second["runs"]) == 2
    assert all(e["cached"] is True for e in second["runs"]), second["runs"]
    assert [e["cache_key"] for e in second["runs"]] == [e["cache_key"] for e in first["runs"]]
    assert sorted(p.name for p in (cache / "runs").iterdir()) == everything_before  # nothing new, not even a temp folder
    assert snapshot(entries) == before  # same files, same bytes, same mtimes
    assert csv_rows(tmp_path / "out2" / "characterization.csv") == csv_rows(tmp_path / "out1" / "characterization.csv")


@pytest.mark.parametrize(
    "changed_args, expect",
    [
        (["--targets", "3000,4000"], {3000: True, 4000: False}),
        (["--activity", "0.5"], {3000: False}),
        (["--clock-period-ns", "7"], {3000: False}),
    ],
    ids=["new-target", "activity", "clock-period"],
)
def test_changed_input_makes_new_entry_and_keeps_old(capsys, cache, tmp_path, changed_args, expect):
    base = characterize(capsys, cache, tmp_path / "base", "3000")
    old_entries = finished_runs(cache)
    old_files = snapshot(old_entries)
    old_key = base["runs"][0]["cache_key"]

    args = characterize_args(cache, tmp_path / "changed", "3000")
    option = changed_args[0]
    if option == "--targets":
        args[args.index("--targets") + 1] = changed_args[1]
    else:
        args += changed_args
    assert main(args) == 0, capsys.readouterr().err
    changed = json.loads((tmp_path / "changed" / "manifest.json").read_text())

    assert {t: e["cached"] for t, e in by_target(changed).items()} == expect
    new_keys = {e["cache_key"] for e in changed["runs"] if not e["cached"]}
    assert new_keys and old_key not in new_keys
    now = {p.name for p in finished_runs(cache)}
    assert now == {old_key} | new_keys  # one new entry per changed variant, the old one kept
    assert snapshot(old_entries) == old_files  # and left untouched
    if option == "--activity":
        assert {r["input_activity"] for r in csv_rows(tmp_path / "changed" / "characterization.csv")} == {"0.5"}
    if option == "--clock-period-ns":
        assert {r["power_clock_ns"] for r in csv_rows(tmp_path / "changed" / "characterization.csv")} == {"7.0"}

    # The original command still finds its entry.
    again = characterize(capsys, cache, tmp_path / "again", "3000")
    assert [(e["cache_key"], e["cached"]) for e in again["runs"]] == [(old_key, True)]


# --------------------------------------------------------------------------- a killed run

KILL_TARGETS = "1500:4000:500"  # 6 targets
KILL_TARGET_LIST = [1500, 2000, 2500, 3000, 3500, 4000]


def test_killed_run_leaves_no_corrupt_entry_and_no_half_written_csv(cache, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "eda.cli", *characterize_args(cache, out, KILL_TARGETS)]
    log = open(tmp_path / "killed.log", "wb")
    # Own process group, so the kill also takes yosys/sta down, as a Ctrl-\ or OOM kill would.
    proc = subprocess.Popen(command, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not any((run / "metrics.json").is_file() for run in finished_runs(cache)):
            assert proc.poll() is None, f"the run ended before it could be killed:\n{(tmp_path / 'killed.log').read_text()}"
            assert time.monotonic() < deadline, "no run finished within 120 s"
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        log.close()
    assert proc.returncode == -signal.SIGKILL

    # Every entry the cache would trust is complete.
    done = finished_runs(cache)
    for run in done:
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["metrics"]["synth__area_um2"] > 0
        assert metrics["metrics"]["corners"], run
    assert 1 <= len(done) < len(KILL_TARGET_LIST), "the kill did not land partway through"
    # No output was written at all, let alone half of one.
    assert not (out / "characterization.csv").exists()
    assert not (out / "manifest.json").exists()

    # Finish the job: the runs done before the kill are reused, the rest computed.
    finished = subprocess.run(command, cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["runs"]) == len(KILL_TARGET_LIST)
    assert {e["cache_key"] for e in manifest["runs"] if e["cached"]} == {run.name for run in done}
    rows = csv_rows(out / "characterization.csv")
    assert sorted(int(r["target_ps"]) for r in rows) == KILL_TARGET_LIST
    assert all(float(r["area_um2"]) > 0 and float(r["delay_ns"]) > 0 for r in rows)
    assert len(finished_runs(cache)) == len(KILL_TARGET_LIST)
    # The rerun removed the half-built folders of the killed process.
    assert not [d.name for d in (cache / "runs").iterdir() if d.name.startswith(".")]


# --------------------------------------------------------------------------- parallel runs

PARALLEL_TARGETS = "1500,3000,4500,8000"


def test_parallel_runs_match_serial(capsys, tmp_path, seed_cache):
    parallel = characterize(capsys, seed_cache(tmp_path / "cache_j2"), tmp_path / "out_j2", PARALLEL_TARGETS, jobs=2)
    serial = characterize(capsys, seed_cache(tmp_path / "cache_j1"), tmp_path / "out_j1", PARALLEL_TARGETS, jobs=1)

    expected = {1500, 3000, 4500, 8000}
    assert set(by_target(parallel)) == set(by_target(serial)) == expected and len(parallel["runs"]) == 4
    assert not any(e["cached"] for e in parallel["runs"])
    assert len(finished_runs(tmp_path / "cache_j2")) == 4
    p_rows = {int(r["target_ps"]): r for r in csv_rows(tmp_path / "out_j2" / "characterization.csv")}
    s_rows = {int(r["target_ps"]): r for r in csv_rows(tmp_path / "out_j1" / "characterization.csv")}
    assert set(p_rows) == set(s_rows) == expected
    for target in expected:
        for column in ("area_um2", "delay_ns", "cells", "power_w"):
            assert p_rows[target][column] == s_rows[target][column], (target, column)
    # The targets give different netlists, so a mix-up between concurrent runs would show.
    assert len({p_rows[t]["area_um2"] for t in expected}) > 1


# --------------------------------------------------------------------------- where the cache lives


def test_relative_cache_dir(capsys, tmp_path, cache):
    manifest = characterize(capsys, Path("cache"), tmp_path / "out", "3000")  # cwd is tmp_path
    assert len(manifest["runs"]) == 1


def test_moved_cache_still_hits(capsys, tmp_path, cache):
    first = characterize(capsys, cache, tmp_path / "out1", "3000")
    os.rename(tmp_path / "cache", tmp_path / "moved")
    second = characterize(capsys, tmp_path / "moved", tmp_path / "out2", "3000")
    assert [(e["cache_key"], e["cached"]) for e in second["runs"]] == [(first["runs"][0]["cache_key"], True)]


def test_half_built_runs_of_dead_processes_are_removed(tmp_path):
    """A killed process leaves .<key>.<pid>.* behind; the next run clears it, a live one's stays."""
    from eda.flow.characterize import remove_orphaned_runs

    runs = tmp_path / "runs"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    orphan = runs / f".abc123.{dead_pid}.x1"
    live = runs / f".def456.{os.getpid()}.x2"
    finished = runs / "abc123"
    for folder in (orphan, live, finished):
        folder.mkdir(parents=True)
    assert remove_orphaned_runs(tmp_path) == 1
    assert not orphan.exists() and live.exists() and finished.exists()
