"""Wall time per stage of a job, written beside its outputs (run_stages.json) for bench/."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path

from eda.core.files import atomic_write_text


class StageTimer:
    """Seconds per stage. A stage entered inside another (e.g. the workload loaded on demand by the
    accuracy stage) is counted in its own entry only: the outer one pauses meanwhile, so the entries
    add up to the wall time."""

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}
        self._open: list[list] = []  # [name, start of its running part]

    @property
    def seconds(self) -> dict[str, float]:
        return {name: round(value, 2) for name, value in self._seconds.items()}

    def _add(self, name: str, seconds: float) -> None:
        self._seconds[name] = self._seconds.get(name, 0.0) + seconds

    @contextmanager
    def stage(self, name: str):
        now = time.monotonic()
        if self._open:
            self._add(self._open[-1][0], now - self._open[-1][1])
        self._open.append([name, now])
        try:
            yield
        finally:
            end = time.monotonic()
            self._add(name, end - self._open.pop()[1])
            if self._open:
                self._open[-1][1] = end

    def summary(self) -> dict:
        seconds = self.seconds
        return {"stages_s": seconds, "total_s": round(sum(self._seconds.values()), 2)}

    def write(self, path: Path, extra: dict | None = None) -> None:
        atomic_write_text(path, json.dumps({**self.summary(), **(extra or {})}, indent=1) + "\n")
