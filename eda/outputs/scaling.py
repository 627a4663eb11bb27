"""Markdown of the voltage-scaling table (FO4 model and V^2 rule against STA at the liberty corners)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def scaling_markdown(table: pd.DataFrame, fo4_source: str) -> str:
    if table.empty:
        return ("# Delay and power at other supply voltages\n\nNo corner besides the nominal one was characterized; "
                "add corners (e.g. `corners = [\"ss_n40C_1v40\", \"ff_100C_1v95\"]` in the config).\n")
    lines = ["# Delay and power at other supply voltages", "",
             "Per variant: the delay ratio to the nominal corner predicted by the FO4 model (mu(V)/mu(V_nom), "
             f"from `{fo4_source}`) next to the one OpenSTA measures with the liberty at that corner, and the dynamic "
             "power scaled by (V/V_nom)^2 next to OpenSTA's report_power there (same clock and input activity). "
             "Leakage is listed apart. A corner also differs in process and temperature from the FO4 model; the last "
             "column says how, so the error columns mix all three effects.", ""]
    for (kind, corner), rows in table.groupby(["kind", "corner"], sort=False):
        first = rows.iloc[0]
        lines += [f"## {kind} at {corner} ({first['vdd']:g} V, {first['temp_c']:g} C): {first['corner_differs_from_model']}", "",
                  "| target (ps) | delay nom. (ns) | delay STA (ns) | ratio STA | ratio FO4 model | model error | "
                  "dyn. power nom. (mW) | V^2 rule (mW) | STA (mW) | V^2 error | leakage nom. (nW) | leakage STA (nW) |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in rows.itertuples():
            model = "n/a" if np.isnan(r.delay_ratio_fo4_model) else f"{r.delay_ratio_fo4_model:.3f}"
            model_error = "n/a (outside FO4 table)" if np.isnan(r.delay_model_error) else f"{r.delay_model_error:+.1%}"
            lines.append(f"| {r.target_ps} | {r.delay_nominal_ns:.3f} | {r.delay_sta_ns:.3f} | {r.delay_ratio_sta:.3f} | {model} | "
                         f"{model_error} | {r.dynamic_power_nominal_w * 1e3:.4f} | {r.dynamic_power_v2_rule_w * 1e3:.4f} | "
                         f"{r.dynamic_power_sta_w * 1e3:.4f} | {r.power_model_error:+.1%} | {r.leakage_nominal_w * 1e9:.2f} | "
                         f"{r.leakage_sta_w * 1e9:.2f} |")
        lines.append("")
    return "\n".join(lines)
