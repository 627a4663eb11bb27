"""Prepare liberty files for Yosys and OpenSTA: decompress, validate, normalize, cache.

Two edits are made to a copy (the source is never touched):

* `default_operating_conditions` is moved after the `operating_conditions` group it
  names. Debian's OpenSTA 2.0.17 resolves the name when it reads the attribute, so in
  the sky130 libraries (attribute first) it warns "default_operating_condition ... not
  found" and then reports zero internal power for every cell. Newer readers defer the
  lookup, so the move changes nothing for them.
* Cells matching the platform's dont_use patterns get `dont_use : true;`, which ABC
  honours, as ORFS does with DONT_USE_CELLS.

Each prepared copy is cached under <cache>/liberty/<key>/ with an info.json holding the
library's units and, per cell, its area and whether it is sequential (read with
liberty-parser, once).
"""

from __future__ import annotations

import fnmatch
import gzip
import json
import re
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from eda.core.errors import EdaError
from eda.core.files import atomic_write_text, publish_dir, sha256_text

# Bump when the transformation changes, so cached copies are rebuilt.
PREPARE_VERSION = "1"

_CELL_HEADER = re.compile(r'\bcell\s*\(\s*"?([^")\s]+)"?\s*\)\s*\{')
_DEFAULT_OC = re.compile(r'^[ \t]*default_operating_conditions\s*:\s*"?([^";\s]+)"?\s*;[ \t]*\n', re.M)
_UNIT = {
    "time_unit": re.compile(r'\btime_unit\s*:\s*"?1?([a-z]+)"?\s*;'),
    "leakage_power_unit": re.compile(r'\bleakage_power_unit\s*:\s*"?1?([a-zA-Z]+)"?\s*;'),
}
_CAP_UNIT = re.compile(r'\bcapacitive_load_unit\s*\(\s*([0-9.eE+-]+)\s*,\s*"?([a-zA-Z]+)"?\s*\)')
_NOM_VOLTAGE = re.compile(r'\bnom_voltage\s*:\s*([0-9.eE+-]+)\s*;')
_CAP_SCALE_TO_FF = {"ff": 1.0, "pf": 1e3, "nf": 1e6}


@dataclass(frozen=True)
class PreparedLiberty:
    source: Path
    path: Path  # plain-text, normalized copy
    key: str
    info: dict  # units, notes, cells: {name: {"area": float, "sequential": bool}}

    @property
    def cap_unit_ff(self) -> float:
        """How many fF one capacitance unit of this library is (for set_load)."""
        return self.info["cap_unit_ff"]

    @property
    def cells(self) -> dict:
        return self.info["cells"]


def read_liberty_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        return data.decode("utf-8", errors="replace")
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise EdaError(f"cannot read liberty file {path}: {exc}") from None


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def check_structure(text: str, path: Path) -> list[tuple[str, int, int]]:
    """Top-level groups inside `library` as (header, start, end) offsets; raise on a malformed file."""
    stripped = re.sub(r"/\*.*?\*/", lambda m: " " * len(m.group()), text, flags=re.S)
    head = re.search(r"\blibrary\s*\(", stripped[:20000])
    if head is None:
        raise EdaError(f"{path}: not a liberty file (no 'library (...)' group in the first lines)")
    depth = 0
    open_stack: list[int] = []
    groups: list[tuple[str, int, int]] = []
    for match in re.finditer(r"[{}]", stripped):
        if match.group() == "{":
            open_stack.append(match.start())
            depth += 1
        else:
            if not open_stack:
                raise EdaError(f"{path}, line {_line_of(text, match.start())}: '}}' closes a group that was never opened")
            start = open_stack.pop()
            depth -= 1
            if depth == 1:
                line_start = stripped.rfind("\n", 0, start) + 1
                groups.append((stripped[line_start:start].strip(), line_start, match.end()))
    if open_stack:
        line = _line_of(text, open_stack[-1])
        raise EdaError(
            f"{path}, line {line}: group opened here is never closed (file truncated or a missing '}}'); "
            f"expected {len(open_stack)} more '}}' before the end of the file"
        )
    return groups


def _move_default_operating_conditions(text: str, notes: list[str]) -> str:
    match = _DEFAULT_OC.search(text)
    if match is None:
        return text
    name = match.group(1)
    group = re.search(r'\boperating_conditions\s*\(\s*"?' + re.escape(name) + r'"?\s*\)\s*\{[^}]*\}[ \t]*\n', text)
    if group is None or group.start() < match.start():
        return text
    moved = text[: match.start()] + text[match.end() : group.end()] + match.group() + text[group.end() :]
    notes.append(
        f"moved default_operating_conditions ({name}) after its operating_conditions group "
        "(OpenSTA 2.0.17 otherwise reports zero internal power)"
    )
    return moved


def _mark_dont_use(text: str, patterns: tuple[str, ...], notes: list[str]) -> str:
    if not patterns:
        return text
    marked: list[str] = []

    def mark(match: re.Match) -> str:
        if any(fnmatch.fnmatchcase(match.group(1), pattern) for pattern in patterns):
            marked.append(match.group(1))
            return match.group() + "\n        dont_use : true;"
        return match.group()

    text = _CELL_HEADER.sub(mark, text)
    notes.append(f"marked {len(marked)} cells dont_use (patterns: {', '.join(patterns)})")
    return text


def _library_units(text: str, path: Path) -> dict:
    # The header ends at the first cell group; a library may have "cell" in its name (osu018_stdcells).
    first_cell = re.search(r"\bcell\s*\(", text)
    header = text[: first_cell.start() if first_cell else 20000]
    units = {key: (m.group(1) if (m := rx.search(header)) else None) for key, rx in _UNIT.items()}
    cap = _CAP_UNIT.search(header)
    if cap is None or cap.group(2).lower() not in _CAP_SCALE_TO_FF:
        raise EdaError(f"{path}: no usable capacitive_load_unit in the library header")
    nom = _NOM_VOLTAGE.search(header)
    return {
        **units,
        "cap_unit_ff": float(cap.group(1)) * _CAP_SCALE_TO_FF[cap.group(2).lower()],
        "nom_voltage": float(nom.group(1)) if nom else None,
    }


def _cell_table(text: str, groups: list[tuple[str, int, int]], path: Path) -> dict:
    """Area and sequential flag of every cell, read with liberty-parser."""
    from liberty.parser import parse_liberty

    cell_groups = [(h, s, e) for h, s, e in groups if h.startswith("cell")]
    body = "library (cells) {\n" + "\n".join(text[s:e] for _, s, e in cell_groups) + "\n}\n"
    try:
        library = parse_liberty(body)
    except Exception as exc:  # liberty-parser raises bare Exceptions with the position
        raise EdaError(f"{path}: liberty parse error: {exc}") from None
    cells = {}
    for cell in library.get_groups("cell"):
        name = str(cell.args[0]).strip('"')
        sequential = any(group.group_name in ("ff", "latch", "statetable", "ff_bank", "latch_bank") for group in cell.groups)
        cells[name] = {"area": float(cell.get("area", 0.0)), "sequential": sequential}
    return cells


def prepare_liberty(source: Path, dont_use: tuple[str, ...], cache_dir: Path) -> PreparedLiberty:
    """The normalized, plain-text copy of `source` (built once, then read from the cache)."""
    text = read_liberty_text(source)
    key = sha256_text(f"{PREPARE_VERSION}\n{sorted(dont_use)}\n{text}")[:20]
    stem = source.name.removesuffix(".gz").removesuffix(".lib")
    final_dir = cache_dir / "liberty" / key
    info_path = final_dir / "info.json"
    if info_path.is_file():
        return PreparedLiberty(source, final_dir / f"{stem}.lib", key, json.loads(info_path.read_text()))

    groups = check_structure(text, source)
    notes: list[str] = []
    normalized = _mark_dont_use(_move_default_operating_conditions(text, notes), dont_use, notes)
    info = {
        "source": str(source),
        "prepare_version": PREPARE_VERSION,
        "notes": notes,
        **_library_units(text, source),
        "cells": _cell_table(text, groups, source),
    }
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(dir=final_dir.parent, prefix=f".{key}."))
    (tmp_dir / f"{stem}.lib").write_text(normalized)
    atomic_write_text(tmp_dir / "info.json", json.dumps(info, indent=1))
    publish_dir(tmp_dir, final_dir)
    return PreparedLiberty(source, final_dir / f"{stem}.lib", key, info)
