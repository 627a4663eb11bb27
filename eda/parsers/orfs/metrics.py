"""ORFS metrics JSON: per-stage `logs/<platform>/<design>/<variant>/<N>_*.json` and metadata.json.

Key spellings. OpenROAD qualifies some metric names with ':' (`finish__timing__fmax__clock:core_clock`,
`...__class:sequential_cell`, `...__corner:default`); ORFS's metadata.json kept the ':' until
its 2026-01 genMetrics change, after which the qualifier is spelled with '__'
(`finish__timing__fmax__clock__core_clock`). Keys are therefore looked up in a canonical form
with every ':' replaced by '__', so either spelling is found. Metrics 2.1 (ORFS before 2022)
also put the qualifier before the quantity for two synthesis keys; those are mapped to the
current names (LEGACY_KEYS).

Repeated keys. OpenROAD's metrics writer emits some keys twice in one object: 6_report.json
holds `finish__design__instance__area` first as the "Cell type report" total (fill cells
included), then as the standard-cell area without fill cells (likewise `__count`). The LAST
value wins here. That is what ORFS's own genMetrics.py gets from `json.load` when it merges
the stage files into metadata.json, so a value read here equals the one ORFS publishes.
Every value of a repeated key is kept, in file order, in `MetricsJson.repeated`; the
characterization table reads no repeated key (it uses the unambiguous `...__stdcell` keys).

Units: time metrics (slack, tns, skew) are in the platform's time unit (see units.py),
fmax in Hz, power in W, area in um^2.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from eda.core.errors import EdaError
from eda.parsers.orfs.units import parse_time_unit_ns

# Metrics 2.1 names (ORFS genMetrics before the per-stage JSON files) -> current names.
LEGACY_KEYS = {
    "synth__design__instance__stdcell__area": "synth__design__instance__area__stdcell",
    "synth__design__instance__stdcell__count": "synth__design__instance__count__stdcell",
}

# What genMetrics writes when it could not find a value: read as "absent" (NaN).
NOT_FOUND_MARKERS = ("N/A", "ERR")

_STAGE_LOG_NAME = re.compile(r"^(\d+)_(?:(\d+)_)?")


def canonical_key(key: str) -> str:
    """The spelling used for look-ups: ':' -> '__', legacy names mapped to current ones."""
    key = key.replace(":", "__")
    return LEGACY_KEYS.get(key, key)


@dataclass(frozen=True)
class MetricsJson:
    """One metrics object. `values` maps canonical keys to the last value given for them."""

    values: Mapping[str, Any]
    repeated: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)  # canonical key -> every value, file order
    spelled: Mapping[str, str] = field(default_factory=dict)  # canonical key -> key as written in the file
    source: str = "metrics JSON"

    def __contains__(self, key: str) -> bool:
        return canonical_key(key) in self.values

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(canonical_key(key), default)

    def number(self, key: str) -> float:
        """The metric as a float; NaN when absent or a genMetrics not-found marker."""
        value = self.get(key)
        if value is None or (isinstance(value, str) and value.strip() in NOT_FOUND_MARKERS):
            return math.nan
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                return float(value)
            except (TypeError, ValueError):
                raise EdaError(f"{self.source}: metric {self.spelled.get(canonical_key(key), key)!r} is {value!r}, "
                               "expected a number") from None
        return float(value)

    def keys_with_prefix(self, prefix: str) -> dict[str, Any]:
        """Canonical key -> value for every metric whose canonical key starts with `prefix`."""
        prefix = canonical_key(prefix)
        return {k: v for k, v in self.values.items() if k.startswith(prefix)}

    def time_unit_ns(self) -> float | None:
        """metadata.json's `run__flow__platform__time_units` ('1ns'), in ns; None when absent."""
        unit = self.get("run__flow__platform__time_units")
        if unit is None:
            return None
        try:
            return parse_time_unit_ns(str(unit))
        except EdaError as exc:
            raise EdaError(f"{self.source}: run__flow__platform__time_units: {exc}") from None


def parse_metrics_json(text: str, source: str | Path = "metrics JSON") -> MetricsJson:
    """An ORFS metrics file (stage JSON or metadata.json) -> MetricsJson, repeated keys kept."""
    pairs_seen: list[list[tuple[str, Any]]] = []

    def keep_pairs(pairs: list[tuple[str, Any]]) -> dict:
        pairs_seen.append(pairs)
        return dict(pairs)

    try:
        top = json.loads(text, object_pairs_hook=keep_pairs)
    except json.JSONDecodeError as exc:
        raise EdaError(f"{source}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(top, dict):
        raise EdaError(f"{source}: expected a JSON object of metrics, found {type(top).__name__}")
    # The outermost object is the last one the hook saw; nested objects (none in ORFS
    # files, but allowed) stay values of their key.
    top_pairs = pairs_seen[-1]
    values: dict[str, Any] = {}
    every: dict[str, list[Any]] = {}
    spelled: dict[str, str] = {}
    for key, value in top_pairs:
        canon = canonical_key(key)
        values[canon] = value
        every.setdefault(canon, []).append(value)
        spelled[canon] = key
    repeated = {k: tuple(v) for k, v in every.items() if len(v) > 1}
    return MetricsJson(MappingProxyType(values), MappingProxyType(repeated), MappingProxyType(spelled), str(source))


def merge_metrics(parts: Iterable[MetricsJson], source: str = "merged metrics") -> MetricsJson:
    """Later parts win, as ORFS's genMetrics merges stage files (sorted by name) into metadata.json."""
    values: dict[str, Any] = {}
    repeated: dict[str, tuple[Any, ...]] = {}
    spelled: dict[str, str] = {}
    for part in parts:
        values.update(part.values)
        repeated.update(part.repeated)
        spelled.update(part.spelled)
    return MetricsJson(MappingProxyType(values), MappingProxyType(repeated), MappingProxyType(spelled), source)


def stage_json_order(path: Path) -> tuple[int, int, str]:
    """Sort key of a stage file name: 2_1_floorplan.json < 3_3_place_gp.json < 6_report.json."""
    match = _STAGE_LOG_NAME.match(path.name)
    if match is None:
        return (10**6, 0, path.name)
    return (int(match.group(1)), int(match.group(2)) if match.group(2) else 10**6, path.name)


def read_stage_metrics(logs_dir: Path) -> MetricsJson | None:
    """Every `<N>_*.json` in an ORFS logs folder, merged in stage order; None if there are none."""
    files = sorted((p for p in Path(logs_dir).glob("*.json") if _STAGE_LOG_NAME.match(p.name)), key=stage_json_order)
    if not files:
        return None
    parts = [parse_metrics_json(p.read_text(errors="replace"), p) for p in files]
    return merge_metrics(parts, source=f"{logs_dir}/*.json")
