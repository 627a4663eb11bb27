"""Wall time per stage of a job, written beside its outputs (run_stages.json) for bench/."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path

from eda.core.files import atomic_write_text


class StageTimer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        start = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.monotonic() - start, 2)

    def write(self, path: Path) -> None:
        atomic_write_text(path, json.dumps({"stages_s": self.seconds, "total_s": round(sum(self.seconds.values()), 2)},
                                           indent=1) + "\n")
