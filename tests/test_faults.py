"""Fault injection: kill -9 at random points, tools that hang or write nothing, two runs at once.

What docs/reliability.md promises is checked here: after any kill the cache holds only complete
entries and the output folder only tables whose run folders exist; a resumed run ends with the
table an uninterrupted run gives; concurrent runs on one cache or one --out all succeed.

Each test uses its own cache (seeded with the prepared liberty, see tests/test_cache.py) and runs
`eda characterize` as a subprocess in its own process group, as a user's shell would.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eda.cli.main import main
from eda.core.platforms import load_platform
from eda.core.runner import ToolError, run_tool, tool_version

# Slow-ish (about a minute together) but part of the normal suite: run-tests.sh selects no markers.
pytestmark = pytest.mark.slow

TARGETS = "2000,3000,4500,6000"
SEED = 20261207
KILLS = 10


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def nominal(platforms_root) -> str:
    return load_platform("sky130hd", platforms_root).nominal_corner


def seeded_cache(path: Path, liberty_seed: Path) -> Path:
    import shutil

    shutil.copytree(liberty_seed, path / "liberty")
    return path


def eda_command(cache: Path, out: Path, corner: str, targets: str = TARGETS, *extra: str) -> list[str]:
    jobs = [] if "-j" in extra else ["-j", "1"]
    return [sys.executable, "-m", "eda.cli", "--cache-dir", str(cache), "characterize", "--kind", "tpu",
            "--targets", targets, "--corner", corner, *jobs, "--out", str(out), *extra]


def _as_a_terminal_job() -> None:
    # A disposition of SIG_IGN is inherited across exec, and Python then never raises
    # KeyboardInterrupt: in a full suite run some worker ignores SIGINT by the time this test runs
    # (alone it passes). A job started from a terminal has the default disposition; give it that.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(command: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    # Its own process group, so the kill reaches everything in it, as a kill of a shell job would.
    with open(log, "ab") as handle:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=handle, stderr=handle,
                                start_new_session=True, env={**os.environ, **(env or {})},
                                preexec_fn=_as_a_terminal_job)


def run(command: list[str], env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, **(env or {})})


def kill_group(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def table(path: Path) -> list[dict]:
    """The rows of a characterization.csv, without columns that time the run itself."""
    with open(path, newline="") as handle:
        return [{k: v for k, v in row.items() if "runtime" not in k} for row in csv.DictReader(handle)]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def processes_inside(folder: Path) -> list[str]:
    """Processes (other than zombies) whose working folder is under `folder`: tools left running."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or not alive(int(proc.name)):
            continue
        try:
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if cwd.startswith(str(folder)):
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{proc.name} {command}")
    return found


def wait_for_no_tools(folder: Path, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while (left := processes_inside(folder)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"tools still running after their eda process was killed: {left}"


def assert_cache_complete(cache: Path, corner: str) -> None:
    """Every entry in <cache>/runs/ (not a hidden in-progress folder) is complete: metrics and logs."""
    runs = cache / "runs"
    for entry in sorted(runs.iterdir()) if runs.is_dir() else []:
        if entry.name.startswith("."):
            continue
        assert (entry / "metrics.json").is_file(), f"cache entry without metrics.json: {entry}"
        json.loads((entry / "metrics.json").read_text())
        for log in ("01-synth/yosys.log", f"02-sta-{corner}/sta.log"):
            assert (entry / log).is_file(), f"cache entry without {log}: {entry}"


def assert_outputs_consistent(out: Path) -> None:
    """A characterization.csv, if there is one, names only complete run folders."""
    csv_path = out / "characterization.csv"
    if not csv_path.exists():
        return
    rows = table(csv_path)
    assert rows, f"empty table {csv_path}"
    for row in rows:
        run_dir = out / row["run_dir"]
        assert (run_dir / "metrics.json").is_file(), f"{csv_path} names {row['run_dir']}, which is missing or incomplete"
    if (out / "manifest.json").exists():
        json.loads((out / "manifest.json").read_text())  # whole, not half written


def fake_tool(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


# --------------------------------------------------------------------------- kill -9 and resume


def test_killed_at_random_points_resumes_to_the_uninterrupted_result(tmp_path, liberty_seed, nominal):
    reference_out = tmp_path / "reference"
    started = time.monotonic()
    done = run(eda_command(seeded_cache(tmp_path / "reference_cache", liberty_seed), reference_out, nominal))
    assert done.returncode == 0, done.stderr
    horizon = time.monotonic() - started  # kill points are drawn from the length of a whole run

    cache, out = seeded_cache(tmp_path / "cache", liberty_seed), tmp_path / "out"
    command = eda_command(cache, out, nominal)
    rng = random.Random(SEED)
    kills = attempts = 0
    while kills < KILLS:
        attempts += 1
        assert attempts <= 4 * KILLS, f"only {kills} kills landed in {attempts} attempts"
        proc = start(command, tmp_path / "attempts.log")
        began = time.monotonic()
        try:
            code = proc.wait(timeout=rng.uniform(0.0, horizon))
        except subprocess.TimeoutExpired:
            kill_group(proc)
            kills += 1
            wait_for_no_tools(cache)
        else:
            assert code == 0, (tmp_path / "attempts.log").read_text()[-3000:]
            # Everything is cached now; later kills land inside these shorter runs (and their writes).
            horizon = time.monotonic() - began
        assert_cache_complete(cache, nominal)
        assert_outputs_consistent(out)

    print(f"{kills} kills in {attempts} attempts; {len(list((cache / 'runs').glob('[!.]*')))} runs cached before the last")
    finished = run(command)
    assert finished.returncode == 0, finished.stderr
    assert table(out / "characterization.csv") == table(reference_out / "characterization.csv")
    assert_cache_complete(cache, nominal)
    assert_outputs_consistent(out)
    assert sorted(p.name for p in (cache / "runs").iterdir()) == sorted(p.name for p in (tmp_path / "reference_cache" / "runs").iterdir())
    assert not [p.name for p in (out / "runs").iterdir() if p.name.startswith(".")], "a killed writer's copies were left"


class Killed(BaseException):
    """Stands for a kill -9 at one step of write_outputs (BaseException: no `except Exception` stops it)."""


def test_output_folder_is_consistent_after_a_kill_at_every_write_step(tmp_path, liberty_seed, platforms_root, monkeypatch):
    """The random kills above rarely land inside write_outputs, which takes milliseconds; here the
    rewrite of an existing output folder is stopped at each of its file system steps in turn."""
    import shutil

    from eda.designs.mac import MacParams
    from eda.designs.registry import Variant, mac_design
    from eda.flow import characterize as flow
    from eda.flow.sta import StaSettings

    platform, settings = load_platform("sky130hd", platforms_root), StaSettings()
    design = mac_design(MacParams("tpu"))
    result = flow.characterize([Variant(design, 2500), Variant(design, 4500)], platform, settings,
                               seeded_cache(tmp_path / "cache", liberty_seed), jobs=1, progress=False)
    out = tmp_path / "out"
    flow.write_outputs(result, out, platform, settings, ["eda"])
    steps = {"rename": os, "replace": os, "rmtree": shutil, "copyfile": shutil, "_exchange": flow.replace_dir.__globals__}
    real = {name: (owner[name] if isinstance(owner, dict) else getattr(owner, name)) for name, owner in steps.items()}

    def kill_at(step: int) -> bool:
        """Rewrite out/, killed at its step-th file system call; True if it got that far."""
        count = 0
        for run in (out / "runs").iterdir():  # copies unlike the cached runs, so that write_outputs replaces each
            if run.is_dir() and not run.name.startswith("."):
                (run / "stale.txt").write_text("not in the cached run\n")

        def counted(name):
            def call(*args, **kwargs):
                nonlocal count
                count += 1
                if count == step:
                    raise Killed(name)
                return real[name](*args, **kwargs)
            return call

        with monkeypatch.context() as patch:
            for name, owner in steps.items():
                if isinstance(owner, dict):
                    patch.setitem(owner, name, counted(name))
                else:
                    patch.setattr(owner, name, counted(name))
            try:
                flow.write_outputs(result, out, platform, settings, ["eda"])
            except Killed:
                return True
        return False

    step = 1
    while kill_at(step):
        assert_outputs_consistent(out)
        step += 1
    assert step > 10, f"write_outputs made only {step - 1} file system calls; is the test still hooking them?"
    assert_outputs_consistent(out)


# --------------------------------------------------------------------------- concurrent runs


def test_two_identical_runs_on_one_out_both_succeed(tmp_path, liberty_seed, nominal):
    cache, out = seeded_cache(tmp_path / "cache", liberty_seed), tmp_path / "out"
    command = eda_command(cache, out, nominal, "2000,3000,4000")
    # The first pair builds the runs (one process per key, the other waits and reuses); the next
    # pairs only copy from the cache and write the table, where fixed temporary names used to collide.
    for pair in range(6):
        procs = [start(command, tmp_path / f"pair{pair}-{i}.log") for i in range(2)]
        for i, proc in enumerate(procs):
            assert proc.wait(timeout=120) == 0, (tmp_path / f"pair{pair}-{i}.log").read_text()[-3000:]
        assert_cache_complete(cache, nominal)
        assert_outputs_consistent(out)
        assert len(table(out / "characterization.csv")) == 3
    assert not [p.name for p in (out / "runs").iterdir() if p.name.startswith(".")]


def test_concurrent_writers_of_one_cache_key_build_it_once(tmp_path, liberty_seed, nominal):
    cache = seeded_cache(tmp_path / "cache", liberty_seed)
    procs = [start(eda_command(cache, tmp_path / f"out{i}", nominal, "2500,3500"), tmp_path / f"{i}.log") for i in range(2)]
    for i, proc in enumerate(procs):
        assert proc.wait(timeout=120) == 0, (tmp_path / f"{i}.log").read_text()[-3000:]
    manifests = [json.loads((tmp_path / f"out{i}" / "manifest.json").read_text()) for i in range(2)]
    # The lock makes one process build each key and the other reuse it.
    for first, second in zip(manifests[0]["runs"], manifests[1]["runs"]):
        assert first["cache_key"] == second["cache_key"]
        assert sorted([first["cached"], second["cached"]]) == [False, True], (first, second)
    assert table(tmp_path / "out0" / "characterization.csv") == table(tmp_path / "out1" / "characterization.csv")
    assert_cache_complete(cache, nominal)
    assert len([p for p in (cache / "runs").iterdir() if not p.name.startswith(".")]) == 2


# --------------------------------------------------------------------------- tools that misbehave


def test_tool_exiting_0_without_outputs_is_kept_in_failed(tmp_path, liberty_seed, nominal):
    cache = seeded_cache(tmp_path / "cache", liberty_seed)
    silent = fake_tool(tmp_path / "silent-yosys", 'echo "fake yosys: writes nothing"\nexit 0\n')
    done = run(eda_command(cache, tmp_path / "out", nominal, "3000"), env={"YOSYS_EXE": str(silent)})

    assert done.returncode == 1, done.stderr
    failed = sorted((cache / "failed").iterdir())
    assert len(failed) == 1 and failed[0].name.startswith("tpu-D3000-")
    log = failed[0] / "01-synth" / "yosys-run.log"
    assert log.is_file() and (failed[0] / "01-synth" / "synth.ys").is_file()
    assert "did not write" in done.stderr and "stat.json" in done.stderr
    assert str(log) in done.stderr  # the log is named where it now is, not in the vanished temp folder
    assert not [p for p in (cache / "runs").iterdir() if not p.name.startswith(".")], "a failed run was cached"
    assert not (tmp_path / "out" / "characterization.csv").exists()


def test_hanging_tool_is_killed_with_its_children(tmp_path, liberty_seed, nominal):
    cache = seeded_cache(tmp_path / "cache", liberty_seed)
    # Answers the version check, then hangs in synthesis with a child of its own (as yosys runs ABC).
    hanging = fake_tool(tmp_path / "hanging-yosys",
                        'if [ "$1" = "-V" ]; then echo "Yosys 0.0 (fake)"; exit 0; fi\n'
                        'sleep 120 &\necho $! > child.pid\nsleep 120\n')
    started = time.monotonic()
    done = run(eda_command(cache, tmp_path / "out", nominal, "3000", "--timeout", "1"), env={"YOSYS_EXE": str(hanging)})

    assert done.returncode == 1, done.stderr
    assert time.monotonic() - started < 30
    assert "timed out after 1 s" in done.stderr
    child = int(next((cache / "failed").glob("*/01-synth/child.pid")).read_text())
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child), "the hanging tool's child outlived the timeout"


def test_ctrl_c_stops_the_tools_and_the_queued_runs(tmp_path, liberty_seed, nominal):
    """Tools run in their own sessions, so the terminal's SIGINT reaches only eda, which must stop them."""
    cache = seeded_cache(tmp_path / "cache", liberty_seed)
    hanging = fake_tool(tmp_path / "hanging-yosys",
                        'if [ "$1" = "-V" ]; then echo "Yosys 0.0 (fake)"; exit 0; fi\n'
                        'sleep 120 &\necho $! > child.pid\nsleep 120\n')
    proc = start(eda_command(cache, tmp_path / "out", nominal, "2000,3000,4000,5000", "-j", "2"), tmp_path / "eda.log",
                 env={"YOSYS_EXE": str(hanging)})
    try:
        deadline = time.monotonic() + 60
        while len(pids := list(cache.glob("runs/.*/01-synth/child.pid"))) < 2 or not all(p.read_text() for p in pids):
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "eda.log").read_text()[-3000:]
            time.sleep(0.05)
        children = [int(p.read_text()) for p in pids]
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the shell's foreground job
        assert proc.wait(timeout=60) != 0  # generous: on a loaded machine the pool takes a while to stop
    finally:
        if proc.poll() is None:
            kill_group(proc)
    wait_for_no_tools(cache)
    assert not any(alive(child) for child in children)
    assert len(list(cache.glob("*/*/01-synth/yosys-run.log"))) == 2, "a queued run started after the interrupt"


def test_run_tool_timeout_kills_the_process_group(tmp_path):
    started = time.monotonic()
    with pytest.raises(ToolError, match=r"timed out after 0\.5 s"):
        run_tool(["sh", "-c", "sleep 60 & echo $! > child.pid; sleep 60"], cwd=tmp_path, name="hang", timeout_s=0.5)
    assert time.monotonic() - started < 10
    child = int((tmp_path / "child.pid").read_text())
    time.sleep(0.2)
    assert not alive(child)


def test_hanging_version_check_fails_fast_and_clearly(tmp_path):
    hanging = fake_tool(tmp_path / "mute-tool", "sleep 60\n")
    started = time.monotonic()
    with pytest.raises(ToolError, match="printed no version within 0.5 s"):
        tool_version(str(hanging), ("-V",), timeout_s=0.5)
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("value", ["-1", "0", "nan"])
def test_timeout_must_be_positive(capsys, tmp_path, value):
    code = main(["--cache-dir", str(tmp_path / "cache"), "characterize", "--kind", "tpu", "--targets", "3000",
                 "--timeout", value, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code != 0 and "--timeout" in err, err  # click rejects -1 and 0 (exit 2), characterize nan (exit 1)
    assert not (tmp_path / "cache").exists()  # rejected before any work


def test_library_callers_get_a_clear_timeout_error(tmp_path):
    with pytest.raises(Exception, match="timeout of x must be a positive number of seconds"):
        run_tool(["true"], cwd=tmp_path, name="x", timeout_s=-1)
