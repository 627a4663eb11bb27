"""Prepare liberty files for Yosys and OpenSTA: decompress, validate, normalize, cache.

Up to three edits are made to a copy (the source is never touched):

* `default_operating_conditions` is moved after the `operating_conditions` group it
  names. Debian's OpenSTA 2.0.17 resolves the name when it reads the attribute, so in
  the sky130 libraries (attribute first) it warns "default_operating_condition ... not
  found" and then reports zero internal power for every cell. Newer readers defer the
  lookup, so the move changes nothing for them.
* Cells matching the platform's dont_use patterns get `dont_use : true;`, which ABC
  honours, as ORFS does with DONT_USE_CELLS.
* Boolean-function attributes written without quotes (gf180mcu: `clear : !RN ;`) are
  quoted; Yosys 0.23 cannot read them otherwise.

A corner split across several files (asap7) is first merged into one library
(`prepare_corner_liberty`, `merge_liberty_texts`).

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


_COMMENT = re.compile(r"/\*.*?\*/", re.S)


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
    stripped = _COMMENT.sub(lambda m: " " * len(m.group()), text)
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


# Boolean-function attributes written without quotes (gf180mcu's test_cell groups: `clear : !RN ;`).
# Yosys 0.23's liberty reader stops at the '!' ("Syntax error in liberty file"); quoted, it and
# OpenSTA read them as usual.
_UNQUOTED_FUNCTION = re.compile(
    r'^([ \t]*(?:function|next_state|clocked_on|clear|preset|enable|data_in|three_state)[ \t]*:[ \t]*)([^"\s;][^";\n]*?)([ \t]*;)',
    re.M)


def _quote_functions(text: str, notes: list[str]) -> str:
    quoted, count = _UNQUOTED_FUNCTION.subn(r'\1"\2"\3', text)
    if count:
        notes.append(f"quoted {count} unquoted Boolean-function attributes (Yosys 0.23 cannot read e.g. `clear : !RN ;`)")
    return quoted


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


def _cell_skeleton(cell_text: str) -> str:
    """The cell group with the bodies of its inner groups (pins, timing tables, ff) emptied.

    The area and the sequential flag are the cell's own attribute and the names of its inner
    groups; the tables inside are most of a library (asap7: 2.6 M tokens), and liberty-parser
    lexes them in pure Python at about 0.2 ms a token, so they are cut before it sees them."""
    stripped = _COMMENT.sub(lambda m: " " * len(m.group()), cell_text)
    kept, position, depth = [], 0, 0
    for brace in re.finditer(r"[{}]", stripped):
        if brace.group() == "{":
            depth += 1
            if depth == 2:
                kept.append(stripped[position:brace.end()])
        else:
            if depth == 2:
                position = brace.start()
            depth -= 1
    kept.append(stripped[position:])
    return "".join(kept)


def _cell_table(text: str, groups: list[tuple[str, int, int]], path: Path) -> dict:
    """Area and sequential flag of every cell, read with liberty-parser."""
    from liberty.parser import parse_liberty

    cell_groups = [(h, s, e) for h, s, e in groups if h.startswith("cell")]
    body = "library (cells) {\n" + "\n".join(_cell_skeleton(text[s:e]) for _, s, e in cell_groups) + "\n}\n"
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
    stem = source.name.removesuffix(".gz").removesuffix(".lib")
    return _prepare_text(read_liberty_text(source), source, stem, dont_use, cache_dir, {})


def prepare_corner_liberty(sources: tuple[Path, ...] | list[Path], dont_use: tuple[str, ...], cache_dir: Path) -> PreparedLiberty:
    """One prepared library for a corner: the file itself, or the merge of a corner split across
    several files (asap7: AO, INVBUF, OA, SEQ, SIMPLE), since Yosys and OpenSTA are given one.

    A merged library's `source` is its first file; info["merged_from"] lists them all, and the
    cache key covers every file's text.
    """
    sources = [Path(s) for s in sources]
    if not sources:
        raise EdaError("no liberty file given for the corner")
    if len(sources) == 1:
        return prepare_liberty(sources[0], dont_use, cache_dir)
    texts = [read_liberty_text(path) for path in sources]
    merged = merge_liberty_texts(texts, sources)
    stem = sources[0].name.removesuffix(".gz").removesuffix(".lib") + f"_merged{len(sources)}"
    return _prepare_text(merged, sources[0], stem, dont_use, cache_dir, {"merged_from": [str(p) for p in sources]})


def _header_attributes(text: str, groups: list[tuple[str, int, int]]) -> dict[str, str]:
    """The library-level `name : value;` attributes before the first group (units, nominal PVT)."""
    first = groups[0][1] if groups else len(text)
    return {m.group(1): m.group(2).strip().strip('"') for m in re.finditer(r"^\s*(\w+)\s*:\s*([^;]+);", text[:first], re.M)}


# Attributes that must agree for cells of several files to be timed as one library.
_MERGE_MUST_MATCH = ("time_unit", "voltage_unit", "current_unit", "leakage_power_unit", "nom_voltage", "nom_temperature",
                     "nom_process")


def merge_liberty_texts(texts: list[str], paths: list[Path]) -> str:
    """One liberty text: the first file's header, every other file's top-level groups it lacks
    (lookup-table templates), and the cells of all files. Raises EdaError when the files disagree
    on units or PVT, define a template differently, or repeat a cell."""
    structures = [check_structure(text, path) for text, path in zip(texts, paths)]
    base_text, base_groups = texts[0], structures[0]
    base_attrs = _header_attributes(base_text, base_groups)
    first_cell = next((s for h, s, _ in base_groups if h.startswith("cell")), None)
    if first_cell is None:
        raise EdaError(f"{paths[0]}: no cell group; cannot be the base of a merged library")
    header = base_text[:first_cell]
    # A header may name several groups (asap7's normalized_driver_waveform (waveform_template_name),
    # told apart by an attribute inside), so a header stands for the set of its groups' texts.
    known = _groups_by_header(base_text, base_groups)
    extra_groups, cells, cell_origin = [], [], {}
    for text, groups, path in zip(texts, structures, paths):
        attrs = _header_attributes(text, groups)
        for key in _MERGE_MUST_MATCH:
            if attrs.get(key) != base_attrs.get(key):
                raise EdaError(f"{path}: {key} is {attrs.get(key)!r} but {paths[0]} has {base_attrs.get(key)!r}; "
                               "the files of one corner must share units and PVT to be merged")
        for head, bodies in _groups_by_header(text, groups).items():
            if head not in known:
                known[head] = bodies
                extra_groups += list(bodies.values())
            elif set(known[head]) != set(bodies):
                raise EdaError(f"{path}: group '{head}' differs from the one(s) of the same name in {paths[0]} "
                               "or an earlier file of the corner; expected identical definitions")
        for head, start, end in groups:
            if not head.startswith("cell"):
                continue
            body = text[start:end]
            match = _CELL_HEADER.search(body)
            name = match.group(1) if match else head
            if name in cell_origin:
                raise EdaError(f"{path}: cell {name} is also in {cell_origin[name]}; a corner's files must not overlap")
            cell_origin[name] = path
            cells.append(body)
    names = ", ".join(p.name for p in paths)
    return (header + f"/* voltscale: merged from {names} */\n" + "\n".join(extra_groups + cells) + "\n}\n")


def _groups_by_header(text: str, groups: list[tuple[str, int, int]]) -> dict[str, dict[str, str]]:
    """Non-cell top-level groups: header -> {text without comments and spacing: original text}."""
    result: dict[str, dict[str, str]] = {}
    for head, start, end in groups:
        if not head.startswith("cell"):
            result.setdefault(head, {})[_squeeze(text[start:end])] = text[start:end]
    return result


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"/\*.*?\*/", " ", text, flags=re.S)).strip()


def _prepare_text(text: str, source: Path, stem: str, dont_use: tuple[str, ...], cache_dir: Path,
                  extra_info: dict) -> PreparedLiberty:
    # Only a library the quoting changes gets it in its key, so the cached copies of the others stay valid.
    needs_quoting = _UNQUOTED_FUNCTION.search(text) is not None
    key = sha256_text(f"{PREPARE_VERSION}\n{sorted(dont_use)}\n{text}" + ("\nquote-functions" if needs_quoting else ""))[:20]
    final_dir = cache_dir / "liberty" / key
    info_path = final_dir / "info.json"
    if info_path.is_file():
        return PreparedLiberty(source, final_dir / f"{stem}.lib", key, json.loads(info_path.read_text()))

    groups = check_structure(text, source)
    notes: list[str] = []
    if extra_info.get("merged_from"):
        notes.append(f"merged {len(extra_info['merged_from'])} files into one library (first file's header)")
    normalized = _mark_dont_use(_quote_functions(_move_default_operating_conditions(text, notes), notes), dont_use, notes)
    info = {
        "source": str(source),
        "prepare_version": PREPARE_VERSION,
        "notes": notes,
        **extra_info,
        **_library_units(text, source),
        "cells": _cell_table(text, groups, source),
    }
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(dir=final_dir.parent, prefix=f".{key}."))
    (tmp_dir / f"{stem}.lib").write_text(normalized)
    atomic_write_text(tmp_dir / "info.json", json.dumps(info, indent=1))
    publish_dir(tmp_dir, final_dir)
    return PreparedLiberty(source, final_dir / f"{stem}.lib", key, info)
