"""Table II and the method's report: markdown, CSV, an HTML page with the plots, and the
`eda report` command that re-renders them (optionally with another accuracy-loss threshold)
from a finished `eda run` folder without rerunning anything."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from eda import __version__
from eda.core.files import atomic_write_text
from eda.method.power_model import FACTOR_TEXT, savings_attribution
from eda.method.table2 import PAPER_BASELINES, PAPER_BEST_DESIGN, PAPER_QUOTED_SAVINGS, DesignSpec, paper_table2

SPECS_FILE = "table2_inputs.json"
ATTRIBUTION_FILE = "table2_attribution.csv"
ACTIVITY_SIZES_FILE = "power/activity_by_size.csv"  # written by eda/jobs/activity.py

COLUMNS = [  # (column, header, format)
    ("design", "design", "{}"), ("technology", "technology", "{}"), ("bitwidth_bits", "bits", "{:d}"),
    ("macs", "MACs", "{:d}"), ("frequency_mhz", "frequency (MHz)", "{:.0f}"), ("throughput_gops", "throughput (GOPS)", "{:.0f}"),
    ("area_mm2", "area (mm^2)", "{:.1f}"), ("power_nominal_w", "power @Vnom (W)", "{:.2f}"), ("vmin_v", "Vmin (V)", "{:.2f}"),
    ("power_scaled_w", "power @Vmin (W)", "{:.2f}"), ("energy_per_op_pj", "energy/op @Vmin (pJ)", "{:.3f}"),
    ("power_saving_vs_tpu", "saving vs tpu (power)", "{:.1%}"), ("power_saving_vs_thundervolt", "saving vs thundervolt (power)", "{:.1%}"),
    ("energy_saving_vs_tpu", "saving vs tpu (energy/op)", "{:.1%}"),
    ("energy_saving_vs_thundervolt", "saving vs thundervolt (energy/op)", "{:.1%}"),
]
ACTIVITY_VIEW = [  # Table II's activity-based power beside the vectorless one
    ("design", "design", "{}"), ("vmin_v", "Vmin (V)", "{:.2f}"),
    ("power_nominal_w", "vectorless @Vnom (W)", "{:.2f}"), ("power_activity_nominal_w", "activity @Vnom (W)", "{:.2f}"),
    ("power_scaled_w", "vectorless @Vmin (W)", "{:.2f}"), ("power_activity_vmin_w", "activity @Vmin (W)", "{:.2f}"),
    ("power_activity_leakage_vmin_w", "of it leakage (W)", "{:.2e}"),
    ("switching_overhead_nominal_w", "switching overhead @Vnom (W, vectorless)", "{:.2f}"),
    ("energy_per_op_pj", "vectorless energy/op (pJ)", "{:.3f}"), ("energy_per_op_activity_pj", "activity energy/op (pJ)", "{:.3f}"),
    ("power_saving_vs_tpu", "saving vs tpu (vectorless)", "{:.1%}"), ("power_activity_saving_vs_tpu", "saving vs tpu (activity)", "{:.1%}"),
    ("power_saving_vs_thundervolt", "saving vs thundervolt (vectorless)", "{:.1%}"),
    ("power_activity_saving_vs_thundervolt", "saving vs thundervolt (activity)", "{:.1%}"),
    ("cycles_per_inference", "cycles/inference", "{:.0f}"),
    ("energy_per_inference_activity_uj", "energy/inference, activity (uJ)", "{:.3f}"),
]
ATTRIBUTION_VIEW = [
    ("design", "design", "{}"), ("baseline", "vs", "{}"), ("power", "power", "{}"), ("saving", "saving", "{:.1%}"),
    ("area_ratio", "area ratio", "{:.3f}"), ("power_density_ratio", "power/area @Vnom ratio", "{:.3f}"),
    ("voltage_ratio", "voltage-scaling ratio", "{:.3f}"),
    ("area_points", "from area", "{:+.1%}"), ("power_density_points", "from power/area", "{:+.1%}"),
    ("voltage_points", "from Vmin", "{:+.1%}"), ("paper_quoted_saving", "paper's stated saving", "{}"),
]
SIZE_VIEW = [  # power/activity_by_size.csv
    ("kind", "kind", "{}"), ("size_index", "size", "{:d}"), ("target_ps", "target (ps)", "{:d}"),
    ("area_um2", "area (um^2)", "{:.1f}"), ("power_vectorless_w", "vectorless (W)", "{:.3e}"),
    ("power_activity_w", "activity (W)", "{:.3e}"), ("activity_over_vectorless", "activity / vectorless", "{:.3f}"),
    ("power_activity_leakage_w", "leakage (W)", "{:.2e}"), ("mean_toggle_rate", "toggles / net / cycle", "{:.3f}"),
]
PAPER_COLUMNS = [("design", "design", "{}"), ("technology", "technology", "{}"), ("macs", "MACs", "{:d}"),
                 ("frequency_mhz", "frequency (MHz)", "{:.0f}"), ("area_mm2", "area (mm^2)", "{:.1f}"),
                 ("power_nominal_w", "power @1.08 V (W)", "{:.1f}"), ("vmin_v", "Vmin (V)", "{:.2f}"),
                 ("power_scaled_w", "power @Vmin (W)", "{:.1f}"), ("power_saving_vs_tpu", "saving vs tpu", "{:.1%}"),
                 ("power_saving_vs_thundervolt", "saving vs thundervolt", "{:.1%}")]


def _cell(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    if fmt == "{:d}":
        return str(int(value))
    return fmt.format(value)


def markdown_table(table: pd.DataFrame, columns) -> str:
    present = [c for c in columns if c[0] in table.columns]
    lines = ["| " + " | ".join(h for _, h, _ in present) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(present))) + "|"]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(_cell(row[c], f) for c, _, f in present) + " |")
    return "\n".join(lines)


def html_table(table: pd.DataFrame, columns) -> str:
    present = [c for c in columns if c[0] in table.columns]
    view = pd.DataFrame({h: [_cell(v, f) for v in table[c]] for c, h, f in present})
    return view.to_html(index=False, border=0, classes="t2")


def attribution_table(table: pd.DataFrame) -> pd.DataFrame:
    """Every saving split into area, power per area at Vnom and voltage scaling (eda/method/power_model.py):
    ours on the vectorless and (if present) the activity powers, then the paper's Table II, with the
    paper's stated savings beside its best design."""
    parts = [savings_attribution(table, source="vectorless", nominal="power_nominal_w", scaled="power_scaled_w")]
    if "power_activity_vmin_w" in table.columns:
        parts.append(savings_attribution(table, source="activity", nominal="power_activity_nominal_w",
                                         scaled="power_activity_vmin_w"))
    paper = savings_attribution(paper_table2(), source="paper", nominal="power_nominal_w", scaled="power_scaled_w",
                                baselines=PAPER_BASELINES)
    if not paper.empty:
        best = paper["design"] == PAPER_BEST_DESIGN
        paper["paper_quoted_saving"] = np.where(best, paper["baseline"].map(PAPER_QUOTED_SAVINGS), np.nan)
    frames = [p for p in parts + [paper] if not p.empty]
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True)
    return frame[~frame["design"].isin(["tpu", PAPER_BASELINES["tpu"]])].reset_index(drop=True)  # the reference itself


def attribution_view(attribution: pd.DataFrame) -> pd.DataFrame:
    """The attribution with the paper's stated savings as text, blank where it states none."""
    if "paper_quoted_saving" not in attribution.columns:
        return attribution
    return attribution.assign(paper_quoted_saving=[f"{v:.1%}" if np.isfinite(v) else ""
                                                   for v in attribution["paper_quoted_saving"].astype(float)])


def power_text(settings: dict) -> str:
    """How the activity-based power was obtained: operands and the leakage law."""
    power = settings.get("power") or {}
    if not power.get("activity"):
        return "Activity-based power: not measured in this run ([power] activity = false)."
    return (f"Activity-based power: each MAC size a design uses, simulated at gate level (zero delay, yosys cell models, "
            f"iverilog) for {power.get('activity_cycles')} cycles after {power.get('warmup_cycles')} warm-up cycles on "
            f"the reference network's int8 operands ({power.get('operands')}), every net's measured activity set in "
            f"OpenSTA at the nominal corner (power/activity_by_size.csv); summed over the sizing map plus the tile's "
            f"(vectorless) switching overhead. Every MAC is assumed to see that one typical MAC's stream, idle MACs "
            f"included; glitches are not simulated. At Vmin: {power.get('leakage_law')}. Energy per inference = "
            f"power @Vmin x cycles per inference / f (n/a until the workload gives its cycles).")


def power_markdown(table: pd.DataFrame, settings: dict, sizes: pd.DataFrame | None = None) -> list[str]:
    attribution = attribution_table(table)
    lines = []
    if "power_activity_vmin_w" in table.columns:
        lines += ["## Power: activity-based beside vectorless", "", power_text(settings), "",
                  markdown_table(table, ACTIVITY_VIEW), ""]
        if sizes is not None:
            lines += ["Per MAC size (at Vnom and the power clock of the characterization):", "", markdown_table(sizes, SIZE_VIEW), ""]
    if not attribution.empty:
        lines += ["## Savings, attributed", "",
                  "Each saving 1 - P/P_base splits multiplicatively: P/P_base = (area ratio) x (power per area at Vnom "
                  "ratio) x (voltage-scaling ratio, P@Vmin / P@Vnom of the design over the baseline's). 'from ...' is the "
                  "saving times that factor's share of the log saving (the three add up to the saving; negative: the "
                  f"factor works against it). Factors: {'; '.join(FACTOR_TEXT.values())}. Paper rows: its Table II "
                  f"(65 nm, post-layout power on real images); it states {PAPER_QUOTED_SAVINGS['tpu']:.1%} vs TPU and "
                  f"{PAPER_QUOTED_SAVINGS['thundervolt']:.1%} vs Thundervolt for {PAPER_BEST_DESIGN}.", "",
                  markdown_table(attribution_view(attribution), ATTRIBUTION_VIEW), ""]
    return lines


def table2_markdown(table: pd.DataFrame, settings: dict, sizes: pd.DataFrame | None = None) -> str:
    return "\n".join([
        "# Table II: systolic-array accelerators compared", "",
        f"Ours: {settings.get('array', '?')} MACs on {table['technology'].iloc[0]}, network "
        f"{(settings.get('network') or {}).get('architecture') or (settings.get('network') or {}).get('source', '?')} "
        f"on {settings.get('test_images', '?')} test images; Vmin = lowest supply whose one-sided 95% bound of the "
        f"paired top-1 loss is <= {settings.get('max_loss', 0):.1%} (budget `{settings.get('table_budget')}`; "
        "accuracy/vmin.csv, workload.md). Power @Vmin = power @Vnom x (Vmin/Vnom)^2 (the paper's rule).", "",
        markdown_table(table, COLUMNS), "",
        "The paper's Table II (65 nm, ResNet-18 on ImageNet; seeds/002, savings recomputed from its powers):", "",
        markdown_table(paper_table2(), PAPER_COLUMNS), "",
        *power_markdown(table, settings, sizes),
    ])


HTML = jinja2.Template("""<!doctype html>
<html><head><meta charset="utf-8"><title>voltscale report: {{ platform }}</title>
<style>body{font-family:sans-serif;max-width:1200px;margin:auto}table.t2{border-collapse:collapse;font-size:13px}
table.t2 td,table.t2 th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}img{max-width:100%}</style></head>
<body><h1>voltscale: {{ platform }}</h1>
<p>Generated by voltscale {{ version }}. Every number traces through <code>manifest.json</code> and <code>method_manifest.json</code>.</p>
<h2>Table II</h2>{{ ours }}
<p>Assumptions: {{ assumptions }}</p>
<h3>The paper's Table II (65 nm)</h3>{{ paper }}
{% if activity %}<h2>Power: activity-based beside vectorless</h2><p>{{ power_text }}</p>{{ activity }}{% endif %}
{% if attribution %}<h2>Savings, attributed</h2><p>Saving 1 - P/P<sub>base</sub> with P/P<sub>base</sub> = (area ratio)
x (power per area at Vnom ratio) x (voltage-scaling ratio); "from ..." = saving x the factor's share of the log saving.
The paper states {{ paper_quoted }}.</p>{{ attribution }}{% endif %}
<h2>Accuracy against supply voltage</h2><img src="accuracy/accuracy.png">
<h2>Minimum voltages</h2>{{ vmin }}
<h2>Sensitivity maps</h2>{{ variances }}
{% for s in strategies %}<img src="sensitivity/{{ s }}.png" width="280">{% endfor %}
<h2>Sizings</h2>{{ sizings }}
{% for s in sizing_dirs %}<div><b>{{ s }}</b><br><img src="sizing/{{ s }}/size_histogram.png" width="380"><img src="sizing/{{ s }}/size_map.png" width="300"></div>{% endfor %}
<h2>Switching overhead (tile)</h2>{{ overhead }}
<h2>Error probability</h2>
{% for k in kinds %}<img src="errors/{{ k }}/error_probability_vs_area.png" width="420">{% endfor %}
<h2>FO4</h2><img src="fo4_distributions.png" width="500">
</body></html>
""")


def assumptions_text(settings: dict) -> str:
    return (f"array {settings.get('array')}; eq. 7 p = {settings.get('propagation_p')}; clocks per kind (ns) "
            f"{json.dumps(settings.get('clocks_ns', {}))}; sizing at {settings.get('sizing_vdd')} V; "
            f"{settings.get('repeats')} inferences per point; power at the design clock from OpenSTA's stated-activity "
            "report (dynamic part scaled with frequency); switching overhead from a small tile (tiles/); "
            "tpu: a timing error flips a high-order partial-sum bit; thundervolt: drops the next MAC's update; "
            "proposed: drops the product.")


def write_report(out: Path, table: pd.DataFrame, *, variances: pd.DataFrame, sizings: pd.DataFrame, vmin: pd.DataFrame,
                 sweep: pd.DataFrame, overhead: pd.DataFrame, settings: dict, specs: list[DesignSpec] | None = None) -> dict:
    out = Path(out)
    paths = {"table2_csv": out / "table2.csv", "table2_md": out / "table2.md", "html": out / "report.html",
             "method_manifest": out / "method_manifest.json"}
    atomic_write_text(paths["table2_csv"], table.to_csv(index=False))
    measured = "power_activity_vmin_w" in table.columns and (out / ACTIVITY_SIZES_FILE).is_file()
    activity_sizes = pd.read_csv(out / ACTIVITY_SIZES_FILE) if measured else None
    atomic_write_text(paths["table2_md"], table2_markdown(table, settings, activity_sizes))
    attribution = attribution_table(table)
    paths["attribution"] = out / ATTRIBUTION_FILE
    atomic_write_text(paths["attribution"], attribution.to_csv(index=False))
    strategies = list(variances["strategy"]) if variances is not None else []
    sizing_dirs = [f"{r.strategy}-{r.budget}" for r in sizings.itertuples()] if sizings is not None else []
    kinds = sorted(set(table["kind"]))
    atomic_write_text(paths["html"], HTML.render(
        platform=table["technology"].iloc[0], version=__version__, ours=html_table(table, COLUMNS),
        paper=html_table(paper_table2(), PAPER_COLUMNS), assumptions=assumptions_text(settings),
        activity=(html_table(table, ACTIVITY_VIEW) + (html_table(activity_sizes, SIZE_VIEW) if activity_sizes is not None else ""))
        if "power_activity_vmin_w" in table.columns else "",
        power_text=power_text(settings),
        attribution=html_table(attribution_view(attribution), ATTRIBUTION_VIEW) if not attribution.empty else "",
        paper_quoted=f"{PAPER_QUOTED_SAVINGS['tpu']:.1%} vs TPU and {PAPER_QUOTED_SAVINGS['thundervolt']:.1%} vs "
                     f"Thundervolt for {PAPER_BEST_DESIGN}",
        vmin=vmin.to_html(index=False, border=0, classes="t2", float_format=lambda x: f"{x:.4g}"),
        variances=variances.to_html(index=False, border=0, classes="t2", float_format=lambda x: f"{x:.4g}"),
        sizings=sizings.to_html(index=False, border=0, classes="t2", float_format=lambda x: f"{x:.6g}"),
        overhead=overhead.to_html(index=False, border=0, classes="t2", float_format=lambda x: f"{x:.4g}"),
        strategies=strategies, sizing_dirs=sizing_dirs, kinds=kinds))
    manifest = {
        "tool": {"name": "voltscale", "version": __version__}, "created_unix": int(time.time()),
        "settings": settings,
        "derivation": {
            "table2.csv": "eda/method/table2.py from characterization.csv (sizes' area and power), tiles/switching_overhead.csv, "
                          "sizing/*/size_map.npy (MAC counts per size) and accuracy/vmin.csv; the activity columns from "
                          "power/activity_by_size.csv (eda/jobs/activity.py) and power/leakage.csv (eda/method/power_model.py)",
            ATTRIBUTION_FILE: "eda/method/power_model.py savings_attribution on table2.csv and the paper's Table II",
            "accuracy/vmin.csv": "accuracy/accuracy.csv: lowest supply at and above which accuracy_mean >= clean - max_loss",
            "accuracy/accuracy.csv": "eda/nn/sweep.py + eda/nn/accuracy.py: MAC error maps from errors/<kind>/error_probability.csv",
            "sizing/": "eda/method/sizer.py size_fast on sensitivity/<strategy>.npy and the proposed error table at sizing_vdd",
        },
        "table2_inputs": SPECS_FILE if specs is not None else None,
    }
    atomic_write_text(paths["method_manifest"], json.dumps(manifest, indent=1, default=str))
    if specs is not None:
        atomic_write_text(out / SPECS_FILE, json.dumps([{**s.__dict__, "size_counts": {str(k): v for k, v in s.size_counts.items()}}
                                                         for s in specs], indent=1))
    return paths


# --------------------------------------------------------------------------- command






