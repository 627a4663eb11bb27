"""Writing `eda compare`: compare.csv (every column), compare.md and compare.html (the key columns, the bases
and assumptions), the Table II recomputed at the comparison's max_loss, and manifest.json with the sha256 of
every source file and of every output."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from eda.core.files import atomic_write_text, make_dir, sha256_file, sha256_text


def _pct(value) -> str:
    return "-" if value is None or not isinstance(value, (int, float)) or not math.isfinite(value) else f"{value:.1%}"


def _num(value, fmt: str) -> str:
    return "-" if value is None or not isinstance(value, (int, float)) or not math.isfinite(value) else format(value, fmt)


def key_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The columns a reader compares, formatted (the CSV has them all, unrounded)."""
    out = []
    for r in table.itertuples(index=False):
        accuracy = "-" if not math.isfinite(r.accuracy) else (
            f"{r.accuracy:.2%} [{r.accuracy_ci_low:.2%}, {r.accuracy_ci_high:.2%}]"
            if math.isfinite(r.accuracy_ci_low) and math.isfinite(r.accuracy_ci_high) else f"{r.accuracy:.2%}")
        out.append({
            "system": r.system, "seed paper": r.seed_paper, "role": r.role, "supply (V)": _num(r.vdd_v, ".2f"),
            "area / MAC (µm²)": _num(r.area_per_mac_um2, ".0f"), "chip (mm²)": _num(r.chip_area_mm2, ".1f"),
            "power (W)": _num(r.power_w, ".4g"), "energy / inference (µJ)": _num(r.energy_per_inference_uj, ".1f"),
            "accuracy [95%]": accuracy, "loss vs own baseline": _pct(r.loss_vs_own_baseline),
            "within max loss": "yes" if r.meets_max_loss is True else "no",
            "saving": _pct(r.saving_vs_tpu), "saving against": r.baseline, "seed paper's own number": r.seed_headline,
        })
    return pd.DataFrame(out)


def _markdown(frame: pd.DataFrame) -> list[str]:
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "/") for v in row) + " |")
    return lines


def render_markdown(table: pd.DataFrame, settings: dict) -> str:
    bases = table.groupby("energy_basis", sort=False)["system"].apply(list)
    lines = [
        "# Every system in one comparison",
        "",
        f"Each system at its operating point under the same accuracy-loss constraint (max loss {settings['max_loss']:g} "
        f"of top-1 against the system's own exact baseline). Savings are never taken across energy bases: the Table II and "
        f"selective rows against the tpu of Table II at its own Vmin, the approximate-multiplier and bit-width rows against "
        f"the exact MAC of their own study ('saving against'). Area: per MAC (µm²) and chip (mm², the scope in compare.csv "
        f"`area_scope`); power: the scope in `power_scope`. Every number's file and row: compare.csv `source`; the sha256 of "
        f"every source file: manifest.json.",
        "",
        *_markdown(key_rows(table)),
        "",
        "## Energy bases",
        "",
    ]
    for basis, systems in bases.items():
        lines.append(f"- {basis}: {', '.join(systems)}.")
    lines += ["", "## Assumptions and notes", ""]
    for r in table.itertuples(index=False):
        notes = [n for n in (r.constraint, r.assumptions) if isinstance(n, str) and n]
        lines.append(f"- **{r.system}**: {'; '.join(notes)}.")
    lines += ["", f"Table II at max loss {settings['max_loss']:g}: {settings['table2_file']} (recomputed from the run's "
              f"accuracy sweep with the functions of `eda report`, budget {settings['table_budget']}; Vmin is exact only "
              "where the run's bisection evaluated the supplies around it). Combination supplies on a "
              f"{settings['voltage_step_v']:g} V grid, FO4 delay log-interpolated between the table's points.", ""]
    return "\n".join(lines)


def render_html(table: pd.DataFrame, settings: dict) -> str:
    body = key_rows(table).to_html(index=False, escape=True, border=0)
    return ("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>eda compare</title>"
            "<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;font-size:13px}"
            "td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}</style></head><body>\n"
            f"<h1>Every system in one comparison (max loss {settings['max_loss']:g})</h1>\n{body}\n"
            "<p>All columns, sources and assumptions: compare.csv; bases and notes: compare.md.</p>\n</body></html>\n")


def write_compare(out_dir: Path, table: pd.DataFrame, table2: pd.DataFrame, sources: dict[str, Path], settings: dict,
                  argv: list[str], report_dir: Path) -> dict[str, Path]:
    """Build every text first, then write them; manifest.json last."""
    texts = {
        "compare.csv": table.to_csv(index=False),
        "compare.md": render_markdown(table, settings),
        "compare.html": render_html(table, settings),
        settings["table2_file"]: table2.to_csv(index=False),
    }
    make_dir(out_dir)
    paths = {}
    for name, text in texts.items():
        paths[name] = out_dir / name
        atomic_write_text(paths[name], text)
    manifest = {
        "command": list(argv), "report_dir": str(report_dir), "settings": settings,
        "sources": {name: {"path": str(path), "sha256": sha256_file(path)} for name, path in sorted(sources.items())},
        "outputs": {name: sha256_text(text) for name, text in texts.items()},
    }
    paths["manifest.json"] = out_dir / "manifest.json"
    atomic_write_text(paths["manifest.json"], json.dumps(manifest, indent=1, default=str) + "\n")
    return paths
