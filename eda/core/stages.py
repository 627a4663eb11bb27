"""Incremental stages of a job: a stage whose inputs did not change is not run again.

After LibreLane's step states (eda/core/step.py), one level up: each stage of `eda run` declares
its inputs -- the configuration values it reads, the digests of the files it reads (the outputs of
the stages before it, platform data, the workload), the tool versions and the code of the package --
and its outputs (files and folders under the output folder). Its key is the sha256 of the inputs.

The record of a stage, `<out>/.stages/<stage>.json`, holds its key, its inputs and the sha256 of
every output file it left. A stage whose key matches its record and whose outputs on disk still have
the recorded digests is reused: it does not run, and the stages after it read what they need from
its output files. Otherwise it runs, and the job's `run_stages.json` says why: no record, which
inputs changed, or which output changed or went missing.

Digests of files are memoized by (size, mtime_ns), as make and git do: a file is read again only
when its size or modification time changed, or when it was modified within RECENT_S of the check
(a second write in the same clock tick would not change its mtime).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from eda.core.files import atomic_write_text, sha256_file
from eda.core.timing import StageTimer

RECORD_FORMAT = "voltscale-stage-1"
RECORD_DIR = ".stages"
INPUT_MEMO = "input_files.json"
RECENT_S = 2.0


def canonical(value: Any) -> Any:
    """The value as JSON would give it back (tuples as lists, keys as strings, paths as text)."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def digest_of(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted names of the entries that differ between two JSON values."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new)):
            name = f"{prefix}.{key}" if prefix else str(key)
            found += [name] if key not in old or key not in new else differences(old[key], new[key], name)
        return found
    return [] if old == new else [prefix or "(everything)"]


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") or part == "__pycache__" for part in relative.parts)


def listed_files(folder: Path) -> list[Path]:
    """Every regular file under folder, sorted, without hidden ones (temporary copies, records) and bytecode."""
    folder = Path(folder)
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        found += [Path(root) / f for f in files if not f.startswith(".") and not f.endswith((".pyc", "~"))]
    return sorted(found)


def source_digest(*folders: Path) -> str:
    """sha256 of every file under the folders (names and content): the code version of a stage."""
    digest = hashlib.sha256()
    for folder in folders:
        folder = Path(folder)
        for path in listed_files(folder):
            digest.update(f"{folder.name}/{path.relative_to(folder).as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def stage_file_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + ".json"


@dataclass(frozen=True)
class StageOutcome:
    name: str
    recomputed: bool
    reason: str
    digest: str  # of the stage's output files (names and sha256): what the next stages' keys include


class Stages:
    """The stages of one job writing into `out`: their keys, records, reuse and timing."""

    def __init__(self, out: Path, timer: StageTimer | None = None) -> None:
        self.out = Path(out)
        self.records_dir = self.out / RECORD_DIR
        self.timer = timer or StageTimer()
        self.status: dict[str, dict] = {}
        self._outcomes: dict[str, StageOutcome] = {}
        self._files: dict[str, dict[str, list]] = {}
        memo = self._read(self.records_dir / INPUT_MEMO)
        self._memo_before = memo.get("files", {}) if memo.get("format") == RECORD_FORMAT else {}
        self._memo: dict[str, list] = {}

    # ----------------------------------------------------------------- digests of input files

    @staticmethod
    def _read(path: Path) -> dict:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def file_digest(self, path: Path) -> str | None:
        """sha256 of a file (None if there is none), memoized across runs by size and mtime."""
        name = os.path.abspath(path)
        try:
            info = os.stat(name)
        except OSError:
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        known = self._memo.get(name) or self._memo_before.get(name)
        recent = time.time() - info.st_mtime < RECENT_S
        if known and known[0] == info.st_size and known[1] == info.st_mtime_ns and not recent:
            sha = known[2]
        else:
            sha = sha256_file(Path(name))
        if not recent:
            self._memo[name] = [info.st_size, info.st_mtime_ns, sha]
        return sha

    def files_digest(self, paths: Iterable[Path]) -> str:
        return digest_of({str(p): self.file_digest(p) for p in paths})

    def tree_digest(self, folder: Path) -> str:
        """Every file under a folder (an input folder, e.g. a user's image folder), by relative name."""
        folder = Path(folder)
        return digest_of({p.relative_to(folder).as_posix(): self.file_digest(p) for p in listed_files(folder)})

    # ----------------------------------------------------------------- outputs

    def _output_files(self, outputs: Iterable[str]) -> list[tuple[str, Path]]:
        found = []
        for name in outputs:
            path = self.out / name
            if path.is_dir():
                found += [(p.relative_to(self.out).as_posix(), p) for p in listed_files(path)]
            elif path.is_file():
                found.append((Path(name).as_posix(), path))
        return found

    def _file_entry(self, path: Path, known: list | None, since: float) -> list | None:
        """[sha256, size, mtime_ns] of an output file; the known entry's digest is kept when the stat agrees
        and the file was not modified since `since` (epoch seconds)."""
        try:
            info = path.stat()
        except OSError:
            return None
        if known and known[1] == info.st_size and known[2] == info.st_mtime_ns and info.st_mtime < since - RECENT_S:
            return known
        return [sha256_file(path), info.st_size, info.st_mtime_ns]

    def _changed_output(self, recorded: dict[str, list]) -> str | None:
        """The first recorded output that is missing or whose content changed, else None (and the
        entries of files only touched are refreshed)."""
        now = time.time()
        for name, known in recorded.items():
            entry = self._file_entry(self.out / name, known, now)
            if entry is None or entry[0] != known[0]:
                return name
            recorded[name] = entry
        return None

    @staticmethod
    def outputs_digest(files: dict[str, list]) -> str:
        return digest_of({name: entry[0] for name, entry in sorted(files.items())})

    # ----------------------------------------------------------------- the stage

    def run(self, name: str, inputs: dict, outputs: Iterable[str], compute: Callable[[], Any]) -> StageOutcome:
        """Run compute() unless the stage's record says it already ran on these inputs and its outputs are
        intact. outputs: files and folders relative to the output folder that the stage writes."""
        outputs = list(outputs)
        inputs = canonical(inputs)
        key = digest_of(inputs)
        path = self.records_dir / stage_file_name(name)
        record = self._read(path)
        if record.get("format") != RECORD_FORMAT or record.get("stage") != name:
            record = {}
        with self.timer.stage(name):
            changed: list[str] = []
            if not record:
                reason = "no record of an earlier run in this folder"
            elif record.get("key") != key:
                changed = differences(record.get("inputs", {}), inputs)
                reason = "inputs changed: " + ", ".join(changed)
            else:
                files = dict(record.get("outputs", {}))
                missing = self._changed_output(files)
                reason = f"output {missing} changed or is missing" if missing else ""
                if not missing:
                    outcome = StageOutcome(name, False, "inputs and outputs unchanged", self.outputs_digest(files))
                    if files != record.get("outputs"):
                        atomic_write_text(path, json.dumps({**record, "outputs": files}, indent=1) + "\n")
                    return self._done(outcome, changed, files)
            started = time.time()
            compute()
            previous = record.get("outputs", {})
            files = {}
            for relative, file in self._output_files(outputs):
                entry = self._file_entry(file, previous.get(relative), started)
                if entry is not None:
                    files[relative] = entry
            atomic_write_text(path, json.dumps({"format": RECORD_FORMAT, "stage": name, "key": key, "inputs": inputs,
                                                "outputs": files}, indent=1) + "\n")
            return self._done(StageOutcome(name, True, reason, self.outputs_digest(files)), changed, files)

    def _done(self, outcome: StageOutcome, changed: list[str], files: dict[str, list]) -> StageOutcome:
        self._outcomes[outcome.name] = outcome
        self._files[outcome.name] = files
        self.status[outcome.name] = {"status": "recomputed" if outcome.recomputed else "reused", "reason": outcome.reason,
                                     **({"changed_inputs": changed} if changed else {})}
        return outcome

    def digest(self, name: str, only: Iterable[str] | None = None) -> str:
        """The outputs digest of a stage already run (or reused) in this job; with `only`, of those of its
        output files a later stage reads (names relative to the output folder; one ending in / is a folder)."""
        if only is None:
            return self._outcomes[name].digest
        wanted = list(only)
        files = self._files[name]
        picked = {n: e for n, e in files.items() if any(n == w or (w.endswith("/") and n.startswith(w)) for w in wanted)}
        absent = [w for w in wanted if not w.endswith("/") and w not in files]
        return digest_of({"files": self.outputs_digest(picked), "absent": absent})

    def write(self, path: Path) -> None:
        """run_stages.json: seconds per stage, and whether each stage was recomputed or reused and why;
        and the memo of input digests (rewritten only when it changed)."""
        self.timer.write(path, {"stages": self.status})
        if self._memo:
            memo = {"format": RECORD_FORMAT, "files": {**self._memo_before, **self._memo}}
            memo["files"] = {k: v for k, v in sorted(memo["files"].items()) if os.path.exists(k)}
            atomic_write_text(self.records_dir / INPUT_MEMO, json.dumps(memo, indent=0, sort_keys=True) + "\n")
