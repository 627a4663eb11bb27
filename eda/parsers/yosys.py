"""Parse Yosys output: `stat -json` (cell counts per type) and log checks."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from eda.core.errors import EdaError


@dataclass(frozen=True)
class CellStats:
    top: str
    cell_counts: dict[str, int]  # per library cell type (or unmapped $-cell)

    @property
    def cells(self) -> int:
        return sum(self.cell_counts.values())

    def unmapped(self) -> list[str]:
        return sorted(cell for cell in self.cell_counts if cell.startswith("$"))

    def area_um2(self, cell_areas: dict[str, dict]) -> tuple[float, float]:
        """(sequential, combinational) area from per-cell liberty data."""
        sequential = combinational = 0.0
        for cell, count in self.cell_counts.items():
            entry = cell_areas.get(cell)
            if entry is None:
                raise EdaError(f"cell {cell} is in the netlist but not in the liberty file")
            if entry["sequential"]:
                sequential += entry["area"] * count
            else:
                combinational += entry["area"] * count
        return sequential, combinational


def parse_stat_json(text: str, top: str) -> CellStats:
    """Yosys `stat -json` output; the JSON object may follow other console lines."""
    start = text.find("{")
    if start < 0:
        raise EdaError("yosys stat output holds no JSON object")
    try:
        data = json.loads(text[start:])
    except json.JSONDecodeError as exc:
        raise EdaError(f"yosys stat JSON is malformed: {exc}") from None
    modules = data.get("modules", {})
    key = next((k for k in modules if k.lstrip("\\") == top), None)
    if key is None:
        raise EdaError(f"yosys stat JSON has no module {top!r} (has: {', '.join(modules) or 'none'})")
    counts = {name.lstrip("\\"): int(n) for name, n in modules[key].get("num_cells_by_type", {}).items()}
    return CellStats(top, counts)


_WARNING = re.compile(r"^Warning: (.*)$", re.M)


def log_warnings(log_text: str, ignore: tuple[str, ...] = ("unsupported expression",)) -> list[str]:
    """Yosys warnings worth surfacing (the liberty reader's noise about scan cells is dropped)."""
    return [w for w in _WARNING.findall(log_text) if not any(i in w for i in ignore)]
