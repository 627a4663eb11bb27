"""One way to run every external tool: command recorded, output logged, failures explained.

Each call writes `<name>.cmd` (the exact command line) and `<name>.log` (stdout and
stderr, interleaved) into the step directory, so any step can be re-run by hand.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
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


def run_tool(
    command: list[str],
    *,
    cwd: Path,
    name: str,
    timeout_s: float | None = 600.0,
    env: dict | None = None,
    check: bool = True,
) -> ToolRun:
    """Run `command` in `cwd`; log to `cwd/<name>.log`; raise ToolError on failure."""
    cwd.mkdir(parents=True, exist_ok=True)
    log_path = cwd / f"{name}.log"
    (cwd / f"{name}.cmd").write_text(shlex.join(command) + "\n")
    tool = Path(command[0]).name
    start = time.monotonic()
    try:
        with open(log_path, "w") as log:
            proc = subprocess.run(
                command,
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout_s,
                env={**os.environ, **(env or {})},
            )
    except FileNotFoundError:
        hint = INSTALL_HINTS.get(tool, f"install {tool}")
        raise ToolError(f"{tool} not found. Install it ({hint}) or put it on PATH.", log_path) from None
    except subprocess.TimeoutExpired:
        raise ToolError(
            f"{tool} timed out after {timeout_s:g} s in {cwd}. The log so far is kept at {log_path}; "
            f"its last lines:\n{_tail(log_path)}",
            log_path,
        ) from None
    run = ToolRun(tool, command, log_path, proc.returncode, time.monotonic() - start)
    if check and proc.returncode != 0:
        raise ToolError(
            f"{tool} failed (exit code {proc.returncode}) running {shlex.join(command)} in {cwd}. "
            f"Full log: {log_path}; its last lines:\n{_tail(log_path)}",
            log_path,
        )
    return run


def tool_version(tool_path: str, args: tuple[str, ...] = ("-V",)) -> str:
    """First line of the tool's version banner, recorded in manifests and cache keys."""
    try:
        out = subprocess.run([tool_path, *args], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0].strip() if text else "unknown"
