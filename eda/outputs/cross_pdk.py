"""Writing `eda cross-pdk`: cross_pdk.md (the platforms, their MAC ladders, error onsets and Table II side by
side), one CSV per table with every column, ladders.png, and manifest.json with the sha256 of every source
and output."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from eda.core.files import atomic_write_text, make_dir, save_figure, sha256_file, sha256_text


def _num(value, fmt: str) -> str:
    return "-" if not isinstance(value, (int, float)) or not math.isfinite(value) else format(value, fmt)


def _pct(value) -> str:
    return _num(value * 100 if isinstance(value, (int, float)) else value, ".1f") + ("%" if isinstance(value, (int, float))
                                                                                    and math.isfinite(value) else "")


def _span(values: pd.Series, fmt: str) -> str:
    low, high = _num(float(values.min()), fmt), _num(float(values.max()), fmt)
    return low if low == high else f"{low}-{high}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(str(cell).replace("|", "/") for cell in row) + " |" for row in rows)]


def _platform_lines(runs) -> list[str]:
    rows = []
    for run in runs:
        s = run.settings
        accuracy = (f"{s.get('test_images')} images, up to {s.get('repeats')} passes, max loss {s.get('max_loss')}"
                    if run.method_ran else "method half not run: no Table II" if run.error_tables
                    else "characterization only (no voltage model, no error tables): its ladder is the Pareto-optimal "
                         "netlists")
        rows.append([run.platform, f"{run.nominal_corner} ({run.nominal_vdd:g} V)", run.voltage_model, accuracy, str(run.run_dir)])
    return _table(["platform", "nominal corner", "voltage model (delay vs supply)", "accuracy", "run folder"], rows)


def _ladder_lines(summary: pd.DataFrame) -> list[str]:
    rows = [[r.platform, r.kind, str(r.sizes), _span(pd.Series([r.area_min_um2, r.area_max_um2]), ".0f"),
             _pct(r.area_span), f"{_num(r.delay_min_ns, '.3g')}-{_num(r.delay_max_ns, '.3g')}", _pct(r.delay_span),
             f"{_num(r.power_min_mw, '.3g')}-{_num(r.power_max_mw, '.3g')}"] for r in summary.itertuples(index=False)]
    return _table(["platform", "kind", "sizes", "area (µm²)", "area span", "delay (ns)", "delay span", "power @nominal (mW)"], rows)


def _onset_lines(onsets: pd.DataFrame) -> list[str]:
    rows = []
    for (platform, kind), group in onsets.groupby(["platform", "kind"], sort=False):
        smallest, largest = group.loc[group["area_um2"].idxmin()], group.loc[group["area_um2"].idxmax()]
        rows.append([platform, kind, _num(group["clock_ns"].iloc[0], ".4g"),
                     f"{_num(smallest.onset_vdd_v, '.3g')} V ({_pct(smallest.onset_vs_nominal)})",
                     f"{_num(largest.onset_vdd_v, '.3g')} V ({_pct(largest.onset_vs_nominal)})",
                     f"{_span(group['p_error_at_lowest'], '.3g')} @{_num(group['lowest_vdd_v'].iloc[0], '.3g')} V"])
    return _table(["platform", "kind", "clock (ns)", "errors from (smallest size)", "errors from (largest size)",
                   "p_error at the lowest supply"], rows)


def _table2_lines(table2: pd.DataFrame) -> list[str]:
    rows = [[r.platform, r.design, _num(r.area_mm2, ".1f"), _num(r.power_nominal_w, ".4g"), _num(r.vmin_v, ".3g"),
             _pct(r.vmin_vs_nominal), _num(r.power_scaled_w, ".4g"), _pct(r.power_saving_vs_tpu),
             _pct(r.power_saving_vs_thundervolt), _pct(getattr(r, "energy_activity_saving_vs_tpu", float("nan")))]
            for r in table2.itertuples(index=False)]
    return _table(["platform", "design", "area (mm²)", "power @Vnom (W)", "Vmin (V)", "Vmin / Vnom", "power @Vmin (W)",
                   "power saving vs tpu", "vs thundervolt", "energy saving vs tpu (activity)"], rows)


def render_markdown(runs, tables: dict[str, pd.DataFrame]) -> str:
    skipped = [run.platform for run in runs if not run.method_ran]
    table2 = tables["table2"]
    lines = [
        "# Every platform side by side",
        "",
        "The same MAC kinds, sizing method and network on each platform's own `eda run`. Supplies are also given as a "
        "fraction of the platform's nominal supply and sizes relative to its fastest TPU MAC (ladders.csv), since the "
        "nominal supplies differ by 7x. Each number's source: the CSV beside this file and the run folder named below; "
        "the sha256 of every source: manifest.json.",
        "",
        "## Platforms",
        "",
        *_platform_lines(runs),
        "",
        "## MAC ladders (the sizes the method chose among, nominal corner)",
        "",
        *_ladder_lines(tables["ladder_summary"]),
        "",
        "![MAC ladders](ladders.png)",
        "",
        f"## Error tables: where timing errors start (p_error >= {1e-3:g} per cycle)",
        "",
        "The supply at and below which a MAC size fails on at least one cycle in a thousand, at the run's clock "
        "(the slowest size's delay at nominal): the smallest size has no slack, the largest the most.",
        "",
        *_onset_lines(tables["error_onsets"]),
        "",
        "## Table II",
        "",
        *(_table2_lines(table2) if not table2.empty else ["No run folder has the method half."]),
        "",
    ]
    if skipped:
        lines += [f"No Table II (the method half did not run): {', '.join(skipped)}.", ""]
    return "\n".join(lines)


def ladder_figure(ladders: pd.DataFrame, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = list(dict.fromkeys(ladders["kind"]))
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 3.6), sharey=True, squeeze=False)
    for axis, kind in zip(axes[0], kinds):
        for platform, rows in ladders[ladders["kind"] == kind].groupby("platform", sort=False):
            rows = rows.sort_values("delay_vs_fastest_tpu")
            axis.plot(rows["delay_vs_fastest_tpu"], rows["area_vs_fastest_tpu"], marker="o", ms=3, label=platform)
        axis.set_title(kind)
        axis.set_xlabel("delay / fastest tpu delay")
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("area / fastest tpu area")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def write_cross_pdk(out_dir: Path, runs, tables: dict[str, pd.DataFrame], argv: list[str]) -> dict[str, Path]:
    """Build every text first, then write them; manifest.json last."""
    texts = {"cross_pdk.md": render_markdown(runs, tables),
             **{f"{name}.csv": frame.to_csv(index=False) for name, frame in tables.items()}}
    make_dir(out_dir)
    paths = {}
    for name, text in texts.items():
        paths[name] = out_dir / name
        atomic_write_text(paths[name], text)
    paths["ladders.png"] = ladder_figure(tables["ladders"], out_dir / "ladders.png")
    sources = {f"{run.platform}/{name}": path for run in runs for name, path in run.sources.items()}
    manifest = {
        "command": list(argv),
        "runs": [{"platform": run.platform, "run_dir": str(run.run_dir), "nominal_corner": run.nominal_corner,
                  "nominal_vdd": run.nominal_vdd, "voltage_model": run.voltage_model, "error_tables": run.error_tables, "method_ran": run.method_ran,
                  "settings": run.settings} for run in runs],
        "sources": {name: {"path": str(path), "sha256": sha256_file(path)} for name, path in sorted(sources.items())},
        "outputs": {name: sha256_text(text) for name, text in texts.items()},
    }
    paths["manifest.json"] = out_dir / "manifest.json"
    atomic_write_text(paths["manifest.json"], json.dumps(manifest, indent=1, default=str) + "\n")
    return paths
