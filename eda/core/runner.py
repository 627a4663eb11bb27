"""One way to run every external tool: command recorded, output logged, failures explained.

Each call writes `<name>.cmd` (the exact command line) and `<name>.log` (stdout and
stderr, interleaved) into the step directory, so any step can be re-run by hand.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from eda.core.errors import EdaError

# Debian package that provides each tool, for the "missing tool" message.
INSTALL_HINTS = {
    "yosys": "apt-get install yosys",
    "sta": "apt-get install opensta",
    "iverilog": "apt-get install iverilog",
    "vvp": "apt-get install iverilog",
    "ngspice": "apt-get install ngspice",
}

TAIL_LINES = 15

# Seconds a tool may run (a synthesis or STA of one variant takes seconds; this only stops a hang).
DEFAULT_TIMEOUT_S = 600.0
# A version banner is printed at once; a tool that does not answer in this time hangs.
VERSION_TIMEOUT_S = 5.0

# Each tool runs in its own session (its own process group), so a timeout can kill the tool with
# the children it started (ABC under yosys). Being out of our group, it would also miss a kill -9 of
# this process; so, on Linux, a two-line shim first asks the kernel to SIGKILL it when its parent
# dies (PR_SET_PDEATHSIG), then execs the tool: same pid, same arguments, no shell.
_PR_SET_PDEATHSIG = 1
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    f"ctypes.CDLL(None).prctl({_PR_SET_PDEATHSIG}, signal.SIGKILL)\n"
    "if os.getppid() != int(sys.argv[1]): os._exit(137)  # the parent died before the prctl\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)

# Process groups of the tools running now, so an interrupted run can stop them (kill_running_tools).
_running: set[int] = set()
_running_lock = threading.Lock()
_stopping = threading.Event()


class ToolError(EdaError):
    """A tool was missing, failed or timed out; the log is kept at `log_path`."""

    def __init__(self, message: str, log_path: Path | None = None):
        super().__init__(message)
        self.log_path = log_path


@dataclass(frozen=True)
class ToolRun:
    tool: str
    command: list[str]
    log_path: Path
    returncode: int
    runtime_s: float

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def find_tool(tool: str, env_var: str | None = None) -> str:
    """Path of `tool`, honouring an override variable such as OPENSTA_EXE."""
    override = os.environ.get(env_var) if env_var else None
    candidate = override or tool
    path = shutil.which(candidate)
    if path is None:
        where = f"${env_var}={override!r}" if override else "PATH"
        hint = INSTALL_HINTS.get(tool, f"install {tool}")
        raise ToolError(f"{tool} not found on {where}. Install it ({hint}) or point {env_var or 'PATH'} at it.")
    return path


def _tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line for line in text[-lines:])


def check_timeout(timeout_s: float | None, what: str = "timeout") -> None:
    """A timeout is a positive number of seconds (None: none); 0 or less would fail every run at once."""
    if timeout_s is not None and not timeout_s > 0:
        raise EdaError(f"{what} must be a positive number of seconds, got {timeout_s!r}")


@contextlib.contextmanager
def _started(command: list[str], cwd: Path, stdout, env: dict) -> Iterator[subprocess.Popen]:
    """`command` running as the leader of a new session (on Linux it dies with this process).

    If the body raises (a timeout, Ctrl-C), the tool's whole process group is killed before the
    leader is reaped: while it is not, its pid cannot be reused, so the kill cannot hit a stranger.
    """
    # As Popen would: a relative path with a slash is relative to cwd, a bare name is looked up on PATH.
    program = command[0] if os.path.isabs(command[0]) or "/" not in command[0] else str(cwd / command[0])
    executable = shutil.which(program, path=env.get("PATH"))
    if executable is None:
        raise FileNotFoundError(command[0])
    argv = [executable, *command[1:]]
    if sys.platform.startswith("linux") and sys.executable:
        argv = [sys.executable, "-S", "-c", _DIE_WITH_PARENT, str(os.getpid()), *argv]
    with _running_lock:
        if _stopping.is_set():
            raise ToolError(f"not starting {Path(command[0]).name}: the run was interrupted")
        proc = subprocess.Popen(argv, cwd=cwd, stdout=stdout, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
        _running.add(proc.pid)
    try:
        yield proc
    except BaseException:
        _kill_group(proc.pid)
        proc.communicate()  # reap it (and drain a pipe)
        raise
    finally:
        with _running_lock:
            _running.discard(proc.pid)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


def kill_running_tools() -> None:
    """Kill every tool started by run_tool and still running, and start no new one (Ctrl-C, errors)."""
    with _running_lock:
        _stopping.set()
        groups = list(_running)
    for pgid in groups:
        _kill_group(pgid)


def run_tool(
    command: list[str],
    *,
    cwd: Path,
    name: str,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    env: dict | None = None,
    check: bool = True,
    expect: tuple[str, ...] = (),
) -> ToolRun:
    """Run `command` in `cwd`; log to `cwd/<name>.log`; raise ToolError on failure.

    `expect` names files (relative to cwd) the tool must write: a tool that exits 0 without
    them failed too, and the error says which file is missing and where the log is.
    """
    check_timeout(timeout_s, f"timeout of {name}")
    cwd.mkdir(parents=True, exist_ok=True)
    log_path = cwd / f"{name}.log"
    (cwd / f"{name}.cmd").write_text(shlex.join(command) + "\n")
    tool = Path(command[0]).name
    start = time.monotonic()
    try:
        with open(log_path, "w") as log, _started(command, cwd, log, {**os.environ, **(env or {})}) as proc:
            returncode = proc.wait(timeout=timeout_s)
    except FileNotFoundError:
        hint = INSTALL_HINTS.get(tool, f"install {tool}")
        raise ToolError(f"{tool} not found. Install it ({hint}) or put it on PATH.", log_path) from None
    except subprocess.TimeoutExpired:
        raise ToolError(
            f"{tool} timed out after {timeout_s:g} s in {cwd} (it and every process it started were killed). "
            f"The log so far is kept at {log_path}; its last lines:\n{_tail(log_path)}",
            log_path,
        ) from None
    run = ToolRun(tool, command, log_path, returncode, time.monotonic() - start)
    if check and returncode != 0:
        raise ToolError(
            f"{tool} failed (exit code {returncode}) running {shlex.join(command)} in {cwd}. "
            f"Full log: {log_path}; its last lines:\n{_tail(log_path)}",
            log_path,
        )
    missing = [file for file in expect if not (cwd / file).is_file()]
    if check and missing:
        raise ToolError(
            f"{tool} exited 0 but did not write {', '.join(str(cwd / m) for m in missing)} running "
            f"{shlex.join(command)}. Full log: {log_path}; its last lines:\n{_tail(log_path)}",
            log_path,
        )
    return run


def tool_version(tool_path: str, args: tuple[str, ...] = ("-V",), timeout_s: float = VERSION_TIMEOUT_S) -> str:
    """First line of the tool's version banner, recorded in manifests and cache keys."""
    command = [tool_path, *args]
    try:
        with _started(command, Path.cwd(), subprocess.PIPE, dict(os.environ)) as proc:
            out, _ = proc.communicate(timeout=timeout_s)
    except OSError as exc:
        return f"unknown ({exc})"
    except subprocess.TimeoutExpired:
        raise ToolError(
            f"`{shlex.join(command)}` printed no version within {timeout_s:g} s and was killed: {tool_path} "
            "hangs or is not the tool it should be (check PATH and the YOSYS_EXE / OPENSTA_EXE variables)"
        ) from None
    text = out.decode(errors="replace").strip().splitlines()
    return text[0].strip() if text else "unknown"
