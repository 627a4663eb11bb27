"""What each stage of `eda run` reads, for the keys of eda/core/stages.py, and the workload loaded
only when a stage that needs it runs.

A stage's inputs are: the configuration values it reads (`config_inputs`), the output digests of the
stages it reads from, the platform's files (our platform folder and the liberty and LEF files it
names), the workload's files, the versions of the tools it runs, and the code of the package
(every file under eda/ and rtl/: any code change recomputes every stage; the per-run caches of
syntheses, timing simulations and accuracy points keep that cheap).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from eda.core.paths import PLATFORM_CONFIG_DIR, REPO_ROOT, RTL_DIR
from eda.core.stages import Stages, source_digest
from eda.jobs.config import SECTIONS, VARIABLES, Config, value_of

CODE_FOLDERS = (REPO_ROOT / "eda", RTL_DIR)
RUN_TOOLS = ("yosys", "iverilog", "sta")
# Settings that change how a run is executed, not what it computes.
EXECUTION_ONLY = ("characterize.jobs", "characterize.timeout_s", "out_dir")


def config_inputs(config: Config, *keys: str) -> dict[str, Any]:
    """{key: value} of the named configuration variables; a section name stands for every variable in it."""
    found = {}
    for key in keys:
        names = [v.key for v in VARIABLES if v.section == key] if key in SECTIONS else [key]
        found.update({name: value_of(config, name) for name in names if name not in EXECUTION_ONLY})
    return found


def whole_config(config: Config) -> dict[str, Any]:
    return {v.key: value_of(config, v.key) for v in VARIABLES if v.key not in EXECUTION_ONLY}


@dataclass
class RunBasis:
    """The inputs every stage of one `eda run` may name: code, platform files, tools, workload."""

    config: Config
    platform: Any
    stages: Stages
    cache_dir: Path

    @cached_property
    def code(self) -> str:
        return source_digest(*CODE_FOLDERS)

    @cached_property
    def platform_files(self) -> str:
        folder = PLATFORM_CONFIG_DIR / self.platform.name
        data = sorted({str(p) for corner in self.platform.corners.values() for p in corner.libs} | {str(p) for p in self.platform.lefs})
        return self.stages.files_digest([*(str(p) for p in sorted(folder.rglob("*")) if p.is_file()), *data])

    @cached_property
    def tools(self) -> dict[str, str]:
        from eda.flow.versions import tool_versions

        return tool_versions(*RUN_TOOLS)

    @cached_property
    def workload(self) -> str:
        """Digest of what the workload is made of: its settings and files (the reference network's are
        under eda/, in the code digest)."""
        from eda.nn.data import fashion_mnist_dir

        w = self.config.workload
        files: list[Path] = []
        trees: list[Path] = []
        if w.model:
            files.append(Path(w.model if w.model.endswith(".onnx") else w.model.rpartition(":")[0]))
        if w.weights:
            files.append(Path(w.weights))
        if w.data:
            (trees if Path(w.data).is_dir() else files).append(Path(w.data))
        if not w.data or not w.model:  # the Fashion-MNIST test set, or the training images for calibration
            folder = fashion_mnist_dir()
            files += [folder / f"{prefix}-{kind}-idx{n}-ubyte.gz" for prefix in ("t10k", "train")
                      for kind, n in (("images", 3), ("labels", 1))]
        from eda.core.stages import digest_of

        return digest_of({"settings": config_inputs(self.config, "workload"),
                          "files": self.stages.files_digest(files),
                          "folders": {str(t): self.stages.tree_digest(t) for t in trees}})

    def inputs(self, config_keys: tuple[str, ...] = (), *, upstream: tuple[str, ...] | dict = (), platform: bool = False,
               tools: bool = False, workload: bool = False, **derived) -> dict:
        """A stage's inputs: the named configuration values, the earlier stages' output digests, and what is asked for.

        upstream: stage names (all their outputs), or {stage: [the output files read, a folder ending in /]} so that
        a file the stage does not read (a manifest with its date) does not make it run again."""
        found: dict[str, Any] = {"config": config_inputs(self.config, *config_keys), "code": self.code}
        if upstream:
            wanted = upstream if isinstance(upstream, dict) else dict.fromkeys(upstream)
            found["upstream"] = {name: self.stages.digest(name, only) for name, only in wanted.items()}
        if platform:
            found["platform_files"] = self.platform_files
        if tools:
            found["tools"] = self.tools
        if workload:
            found["workload"] = self.workload
        if derived:
            found["derived"] = derived
        return found


@dataclass
class LazyWorkload:
    """The network and its data, loaded the first time a stage asks (torch is imported then)."""

    config: Config
    stages: Stages
    _loaded: Any = field(default=None, repr=False)

    def get(self):
        if self._loaded is None:
            from eda.jobs import workload as wl

            w = self.config.workload
            with self.stages.timer.stage("workload"):
                self._loaded = wl.load_workload(w.model, w.weights, w.data, w.images)
        return self._loaded

    @property
    def loaded(self) -> bool:
        return self._loaded is not None
