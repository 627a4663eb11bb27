"""Import finished ORFS runs made elsewhere (`eda import-orfs`) into the characterization table.

Each argument is one of (tried in this order):

- a file: a metrics JSON of any ORFS generation (metadata.json, metrics.json, a stage
  JSON such as 6_report.json, a committed `metadata-base-ok.json`), 6_finish.rpt,
  6_report.log or synth_stat.txt: one run made of that file;
- an ORFS WORK_HOME (or ORFS's flow/ folder): a folder holding logs/ and/or reports/;
  every logs|reports/<platform>/<design>/<variant>/ under it is one run;
- one run's folder inside such a tree (logs/<platform>/<design>/<variant>): that run,
  its reports/ and results/ siblings included;
- any other folder: the ORFS files lying directly in it (by their ORFS names), one run.

The platform is, in order: --platform, the <platform> part of the ORFS tree, the metrics'
run__flow__platform; else an error asks for --platform. Rows are ORFS_COLUMNS (the
embedded backend's CSV_COLUMNS first, NaN/empty where ORFS says nothing) with the
`*_source` columns; provenance.csv names the file (and key or report section) of every
number, manifest.json the inputs with their sha256.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from eda import __version__
from eda.core.errors import EdaError
from eda.core.files import atomic_write_text, sha256_file
from eda.core.platforms import available_platforms, platform_config
from eda.backends.orfs.table import ORFS_COLUMNS, OrfsFiles, OrfsRunFolders, read_metrics, read_orfs_files, run_time_unit_ns
from eda.parsers.orfs.units import orfs_platform_name

TREE_KINDS = ("logs", "reports", "results")
_FLOW_VARIANT_TARGET = re.compile(r"^D(\d+)$")  # our FLOW_VARIANT naming (design.py flow_variant_name)
_STAGE_JSON = re.compile(r"^\d+_.*\.json$")
_NAMED_FILES = {"6_finish.rpt": "finish", "6_report.log": "report_log", "synth_stat.txt": "synth"}


@dataclass(frozen=True)
class FoundRun:
    """One run to import: its files and what its location says about it."""

    files: OrfsFiles
    given: Path  # the argument it was found through
    platform: str | None = None  # from the ORFS tree layout
    design: str | None = None
    flow_variant: str | None = None

    @property
    def where(self) -> str:
        parts = [p for p in (self.platform, self.design, self.flow_variant) if p]
        return f"{self.given}" + (f" ({'/'.join(parts)})" if parts else "")


# --------------------------------------------------------------------------- finding runs


def _files_in(folder: Path) -> OrfsFiles:
    """The ORFS files lying directly in `folder`, recognised by their ORFS names."""
    files = sorted(p for p in folder.iterdir() if p.is_file())
    stage = tuple(p for p in files if _STAGE_JSON.match(p.name))
    others = [p for p in files if p.suffix == ".json" and p not in stage]
    if len(others) > 1:
        raise EdaError(f"{folder}: several metrics JSON files ({', '.join(p.name for p in others)}); "
                       "give the one to import as a file argument")
    named = {_NAMED_FILES[p.name]: p for p in files if p.name in _NAMED_FILES}
    return OrfsFiles(stage, others[0] if others else None, **named)


def _single_file(path: Path) -> OrfsFiles:
    if path.suffix == ".json":
        return OrfsFiles(metadata=path)  # any one metrics object, stage file or metadata alike
    if path.name in _NAMED_FILES:
        return OrfsFiles(**{_NAMED_FILES[path.name]: path})
    raise EdaError(f"{path}: not an ORFS output this command reads: expected a metrics JSON (*.json), "
                   f"{', '.join(_NAMED_FILES)}, or a folder holding them")


def _tree_position(path: Path) -> tuple[Path, str, str, str] | None:
    """(WORK_HOME, platform, design, variant) when `path` is logs|reports|results/<p>/<d>/<v>[/file]."""
    folder = path if path.is_dir() else path.parent
    parts = folder.resolve().parts
    if len(parts) >= 5 and parts[-4] in TREE_KINDS:
        return Path(*parts[:-4]), parts[-3], parts[-2], parts[-1]
    return None


def _runs_in_tree(work_home: Path) -> list[tuple[str, str, str]]:
    """Every <platform>/<design>/<variant> under work_home's logs/ and reports/, sorted."""
    found = set()
    for kind in ("logs", "reports"):
        for variant in (work_home / kind).glob("*/*/*"):
            if variant.is_dir():
                found.add(variant.relative_to(work_home / kind).parts)
    return sorted(found)


def find_runs(path: Path) -> list[FoundRun]:
    """The runs one command-line argument stands for (see the module docstring); EdaError when none."""
    path = Path(path)
    if not path.exists():
        raise EdaError(f"{path}: no such file or folder")
    position = _tree_position(path)
    if path.is_file():
        platform, design, variant = position[1:] if position else (None, None, None)
        return [FoundRun(_single_file(path), path, platform, design, variant)]
    if position is not None:
        work_home, platform, design, variant = position
        return [FoundRun(OrfsFiles.in_run(OrfsRunFolders.of(work_home, platform, design, variant)), path, platform, design, variant)]
    if any((path / kind).is_dir() for kind in ("logs", "reports")):
        triplets = _runs_in_tree(path)
        runs = [FoundRun(OrfsFiles.in_run(OrfsRunFolders.of(path, *t)), path, *t) for t in triplets]
        runs = [r for r in runs if r.files.any]
        if not runs:
            raise EdaError(f"{path}: an ORFS tree (logs/ or reports/) but no <platform>/<design>/<variant>/ in it holds "
                           "metrics JSON, 6_finish.rpt, 6_report.log or synth_stat.txt")
        return runs
    files = _files_in(path)
    if not files.any:
        raise EdaError(f"{path}: no ORFS outputs: expected logs/ and reports/ folders (a WORK_HOME), or files named "
                       f"*.json, {', '.join(_NAMED_FILES)}")
    return [FoundRun(files, path)]


# --------------------------------------------------------------------------- rows


def _platform_of(run: FoundRun, given: str | None, stated: str | None) -> str:
    # A run that names its platform is not read as another's: units and corners would be wrong.
    for claimed, what in ((run.platform, "its ORFS folder"), (stated, "its metrics' run__flow__platform")):
        if given and claimed and orfs_platform_name(claimed) != orfs_platform_name(given):
            raise EdaError(f"{run.where}: --platform {given} but {what} says {claimed}; drop --platform or import "
                           "this run separately")
    for value in (given, run.platform, stated):
        if value:
            return orfs_platform_name(value)
    raise EdaError(f"{run.where}: cannot tell the ORFS platform (not in an ORFS logs|reports/<platform>/... tree, "
                   "and no run__flow__platform in its metrics); pass --platform")


def _nominal_corner(platform: str) -> dict[str, Any]:
    """corner, vdd, temp_c of our config's nominal corner (none for a platform we have no config of).

    ORFS times at the platform's default liberty, which our configs name as the nominal corner.
    """
    if platform not in available_platforms():
        return {}
    raw, _path = platform_config(platform)
    name = raw.get("nominal_corner")
    spec = raw.get("corners", {}).get(name, {})
    return {"corner": name, "vdd": spec.get("vdd"), "temp_c": spec.get("temp_c")}


def import_run(run: FoundRun, platform: str | None = None) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """(row, source of each number, manifest entry) of one found run."""
    metrics, _name = read_metrics(run.files)
    stated = metrics.get("run__flow__platform") if metrics is not None else None
    name = _platform_of(run, platform, stated)
    design = run.design or (metrics.get("run__flow__design") if metrics is not None else None) or run.given.stem
    variant = run.flow_variant or (metrics.get("run__flow__variant") if metrics is not None else None)
    target = _FLOW_VARIANT_TARGET.match(variant or "")
    row, sources = read_orfs_files(run.files, name, run.where, kind=design, design=design, flow_variant=variant,
                                   target_ps=int(target.group(1)) if target else None, run_dir=str(run.given),
                                   **_nominal_corner(name))
    entry = {
        "given": str(run.given), "platform": name, "design": design, "flow_variant": variant,
        "time_unit_ns": run_time_unit_ns(name, metrics),
        "files": {str(p): sha256_file(p) for p in run.files.paths()},
    }
    return row, sources, entry


def import_orfs(paths: list[Path], platform: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, Any]]]:
    """(table with ORFS_COLUMNS, provenance table, manifest entries) of every run under `paths`."""
    if not paths:
        raise EdaError("no ORFS run folders or files given")
    rows, provenance, entries = [], [], []
    for path in paths:
        for run in find_runs(Path(path)):
            row, sources, entry = import_run(run, platform)
            index = len(rows)
            rows.append(row)
            entries.append(entry)
            provenance.extend({"row": index, "design": row["design"], "flow_variant": row["flow_variant"], "column": column,
                               "value": row[column], "source": source} for column, source in sources.items())
    return (pd.DataFrame(rows, columns=ORFS_COLUMNS),
            pd.DataFrame(provenance, columns=["row", "design", "flow_variant", "column", "value", "source"]), entries)


def write_import(out_dir: Path, table: pd.DataFrame, provenance: pd.DataFrame, entries: list[dict[str, Any]],
                 command: list[str]) -> Path:
    """out_dir/characterization.csv, provenance.csv and manifest.json; returns the table's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "characterization.csv", table.to_csv(index=False))
    atomic_write_text(out_dir / "provenance.csv", provenance.to_csv(index=False))
    manifest = {
        "tool": {"name": "voltscale", "version": __version__},
        "command": command,
        "created_unix": int(time.time()),
        "backend": "orfs-import",
        # Every number of a row is ORFS's own, at the SDC clock and OpenROAD's default activity.
        "runs": [{**entry, "row": i, "delay_ns": _json_number(table.loc[i, "delay_ns"])} for i, entry in enumerate(entries)],
    }
    atomic_write_text(out_dir / "manifest.json", json.dumps(manifest, indent=1))
    return out_dir / "characterization.csv"


def _json_number(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
