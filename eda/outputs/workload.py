"""workload.md: what the workload does to the array and the method, beside the paper.

Utilization per layer, the per-layer scaling of the sensitivities, the sensitivity variance of every
mapping, the sizings against the uniform design, and Vmin with its interval at both loss thresholds;
the paper's figures beside ours and where they differ.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from eda.core.files import atomic_write_text

# Shin et al. (JETCAS 2019), ResNet-18 on ImageNet, 256 x 256 MACs
PAPER_VARIANCES = {"conventional": 2.263e-9, "column": 2.796e-9, "column2to1": 4.038e-9, "column4to1": 1.568e-8}
PAPER_VMIN_V = {"tpu": 1.08, "thundervolt": 0.78, "proposed-column": 0.73, "proposed-column2to1": 0.73,
                "proposed-column4to1": 0.68}
PAPER_VNOM_V = 1.08


def _table(frame: pd.DataFrame, formats: dict[str, str]) -> list[str]:
    columns = list(formats)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for values in frame.to_dict("records"):
        lines.append("| " + " | ".join(formats[c].format(values[c]) if not (isinstance(values[c], float) and np.isnan(values[c]))
                                       else "-" for c in columns) + " |")
    return lines


def utilization_lines(utilization: pd.DataFrame) -> list[str]:
    return ["## Utilization of the array", "",
            "Position utilization: the fraction of MAC positions holding a weight, averaged over the tile loads. "
            "MAC-cycle utilization: useful multiplications over cycles x MACs with the whole test set streamed per "
            "load (eda/method/utilization.py, checked against SCALE-Sim v3 in tests/test_workload.py).", ""] + _table(
        utilization, {"layer": "{}", "k_rows": "{}", "filters": "{}", "positions": "{}", "tiles": "{}",
                      "position_utilization": "{:.1%}", "mac_cycle_utilization": "{:.1%}"}) + [""]


def sensitivity_lines(importance: dict, variances: pd.DataFrame, loads: int) -> list[str]:
    total = sum(importance.values())
    lines = ["## Sensitivity (Alg. 1, scaled per layer)", "",
             "Each layer's Alg. 1 sensitivities are scaled so that their sum is the layer's measured importance: the "
             "loss increase when that layer alone sees bit flips at the sensitivity BER (section IV-C: 'scaled to a "
             "constant to reflect the relative importance of different layers').", "",
             "| layer | importance (loss increase) | share |", "|---|---:|---:|"]
    lines += [f"| {name} | {value:.4g} | {value / total:.1%} |" for name, value in importance.items()]
    base = float(variances["variance"].iloc[0])
    lines += ["", "| mapping | variance (ours) | x conventional | paper (ResNet-18) | x conventional |", "|---|---:|---:|---:|---:|"]
    for row in variances.itertuples():
        paper = PAPER_VARIANCES.get(row.strategy, np.nan)
        lines.append(f"| {row.strategy} | {row.variance:.4g} | {row.variance / base:.3f} | {paper:.4g} | "
                     f"{paper / PAPER_VARIANCES['conventional']:.2f} |")
    growth = float(variances["variance"].iloc[-1]) / base
    lines += ["", f"Variance grows {growth:.2f}x from conventional to column-wise 4to1 here, "
              f"{PAPER_VARIANCES['column4to1'] / PAPER_VARIANCES['conventional']:.1f}x in the paper. A MAC's sensitivity "
              f"sums over every tile load it runs ({loads} loads here); sorting moves sensitive weights within a load, "
              "and the more loads a position sums, the more of that is averaged away.", ""]
    return lines


def sizing_lines(sizings: pd.DataFrame) -> list[str]:
    lines = ["## Heterogeneous sizing (eq. 10) against the uniform design", "",
             "Objective sum_i s_i f(a_i) at the sizing voltage; the uniform design puts every MAC on the budget's size.", "",
             "| strategy | budget | budget (mm^2) | used (mm^2) | objective | uniform objective | reduction | sizes used |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in sizings.itertuples():
        reduction = 1 - r.objective / r.uniform_objective if r.uniform_objective > 0 else np.nan
        lines.append(f"| {r.strategy} | {r.budget} | {r.budget_um2 / 1e6:.3f} | {r.total_area_um2 / 1e6:.3f} | "
                     f"{r.objective:.4g} | {r.uniform_objective:.4g} | {reduction:.1%} | {r.sizes_used} |")
    return lines + [""]


def vmin_lines(vmin: pd.DataFrame, settings: dict) -> list[str]:
    budget = settings.get("table_budget")
    rows = vmin[vmin["budget"] == budget] if budget is not None else vmin
    strict = [c for c in vmin.columns if c.startswith("vmin_v_loss")]
    lines = ["## Minimum supply", "",
             f"{settings.get('test_images', '?')} test images; rule: {settings.get('vmin_rule', '')}. Budget {budget}. "
             f"The paper's Vmin is at its nominal {PAPER_VNOM_V} V (65 nm), shown as the ratio Vmin / Vnom.", "",
             "| design | Vmin (V) | loss bound at Vmin | " + " | ".join(f"Vmin at {c.removeprefix('vmin_v_loss')} (V)" for c in strict)
             + " | Vmin / Vnom | paper Vmin / Vnom |", "|---|---:|---:|" + "---:|" * len(strict) + "---:|---:|"]
    nominal = 1.8
    for values in rows.to_dict("records"):
        paper = PAPER_VMIN_V.get(values["design"])
        extra = " | ".join(f"{values[c]:g}" for c in strict)
        lines.append(f"| {values['design']} | {values['vmin_v']:g} | {values['loss_upper_bound_at_vmin']:.2%} | "
                     f"{extra}{' | ' if strict else ''}{values['vmin_v'] / nominal:.3f} | "
                     f"{paper / PAPER_VNOM_V if paper else float('nan'):.3f} |")
    return lines + [""]


PROTECTED_BITS = {"tpu": "none", "thundervolt": "every partial-sum bit (shadow flop)",
                  "proposed": "product bits 6-15 (Razor flops after the multiplier)"}


def protection_lines(vmin: pd.DataFrame, sweep: pd.DataFrame, settings: dict) -> list[str]:
    """Per design at its Vmin: which bits are protected and how often an unprotected one fails."""
    lines = ["## Protected bits and the unprotected failure rate at Vmin", "",
             "Per MAC operation, averaged over the array: the failure probability of the design's MACs at Vmin, and the "
             "part no Razor flop catches (unrecovered: it corrupts the partial sum).", "",
             "| design | protected bits | Vmin (V) | mean P(failure) | unrecovered share | mean P(unrecovered) |",
             "|---|---|---:|---:|---:|---:|"]
    budget = settings.get("table_budget")
    for row in vmin[vmin["budget"] == budget].itertuples():
        point = sweep[(sweep["design"] == row.design) & (sweep["budget"] == budget) & np.isclose(sweep["vdd"], row.vmin_v)]
        if point.empty:
            continue
        point = point.iloc[0]
        lines.append(f"| {row.design} | {PROTECTED_BITS.get(point['kind'], '?')} | {row.vmin_v:g} | "
                     f"{point['mean_mac_p_error']:.3g} | {point['unrecovered_fraction']:.3g} | "
                     f"{point['mean_mac_p_error'] * point['unrecovered_fraction']:.3g} |")
    return lines + [""]


def write_workload_report(path: Path, *, utilization: pd.DataFrame, importance: dict, variances: pd.DataFrame,
                          sizings: pd.DataFrame, vmin: pd.DataFrame, settings: dict, sweep: pd.DataFrame | None = None) -> None:
    network = settings.get("network", {})
    lines = ["# The workload and the method, beside the paper", "",
             f"Network: {network.get('source', '?')} ({network.get('architecture', 'user model')}); clean int8 top-1 "
             f"{settings.get('clean_accuracy', float('nan')):.4f} on {settings.get('test_images', '?')} test images.", ""]
    loads = int(utilization["tiles"].iloc[-1])
    lines += utilization_lines(utilization) + sensitivity_lines(importance, variances, loads)
    lines += sizing_lines(sizings) + vmin_lines(vmin, settings)
    if sweep is not None:
        lines += protection_lines(vmin, sweep, settings)
    atomic_write_text(path, "\n".join(lines) + "\n")
