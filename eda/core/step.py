"""The step contract, after LibreLane: declared inputs and outputs, one folder per step.

A State maps design views ("verilog", "netlist", ...) to files and carries metrics.
`run_step` makes the step folder, records state_in.json / state_out.json and the
runtime, checks that declared inputs exist and declared outputs were produced, and
returns a new State; steps themselves only return what changed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from eda.core.errors import EdaError
from eda.core.files import atomic_write_text


def _paths(value) -> list[Path]:
    """A view is one file or a tuple of files (e.g. several Verilog sources)."""
    return [Path(v) for v in value] if isinstance(value, (tuple, list)) else [Path(value)]


@dataclass(frozen=True)
class State:
    views: Mapping[str, Path] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)

    def updated(self, views: Mapping[str, Path], metrics: Mapping[str, Any]) -> "State":
        return State(MappingProxyType({**self.views, **views}), MappingProxyType({**self.metrics, **metrics}))

    def to_json(self, relative_to: Path | None = None) -> dict:
        def show(path: Path) -> str:
            if relative_to is not None:
                try:
                    return str(Path(path).relative_to(relative_to))
                except ValueError:
                    pass
            return str(path)

        views = {k: [show(p) for p in _paths(v)] if isinstance(v, (tuple, list)) else show(v) for k, v in self.views.items()}
        return {"views": views, "metrics": dict(self.metrics)}


class Step:
    """Subclasses set `id`, `inputs`, `outputs` and implement `run`."""

    id: str = "step"
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()

    def run(self, state: State, step_dir: Path) -> tuple[dict[str, Path], dict[str, Any]]:
        raise NotImplementedError


def run_step(step: Step, state: State, step_dir: Path, run_root: Path | None = None) -> State:
    missing = [v for v in step.inputs if v not in state.views or not all(p.exists() for p in _paths(state.views[v]))]
    if missing:
        raise EdaError(f"step {step.id}: missing input view(s) {', '.join(missing)} in {step_dir}")
    step_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(step_dir / "state_in.json", json.dumps(state.to_json(run_root), indent=1))
    start = time.monotonic()
    views, metrics = step.run(state, step_dir)
    produced = [v for v in step.outputs if v not in views or not all(p.exists() for p in _paths(views[v]))]
    if produced:
        raise EdaError(f"step {step.id} did not produce {', '.join(produced)}; see the logs in {step_dir}")
    metrics = {**metrics, f"{step.id}__runtime_s": round(time.monotonic() - start, 3)}
    new_state = state.updated(views, metrics)
    atomic_write_text(step_dir / "state_out.json", json.dumps(new_state.to_json(run_root), indent=1))
    return new_state
