"""Tables of qflow results: the long CSV (one row per variant and stage) and the
side-by-side markdown table (post-synthesis next to post-layout). Data in, text out."""

from __future__ import annotations

import pandas as pd

CSV_COLUMNS = [
    "kind", "target_ps", "stage", "area_um2", "delay_ns", "power_w", "power_internal_w", "power_switching_w",
    "power_leakage_w", "wire_cap_ff", "cell_area_um2", "die_area_um2", "utilization", "cells", "routed_nets",
    "failed_nets", "razor_window_slack_ns", "critical_startpoint", "critical_endpoint", "platform", "clock_period_ns",
    "input_activity", "run_dir",
]


def results_table(results) -> pd.DataFrame:
    """QflowResults -> the long table (area_um2: cell area for synthesis, die area for layout)."""
    return pd.DataFrame([row for r in results for row in r.rows()], columns=CSV_COLUMNS)


def side_by_side(table: pd.DataFrame) -> pd.DataFrame:
    """One row per variant: synthesis and layout numbers next to each other, with the changes."""
    keys = ["kind", "target_ps"]
    synth = table[table["stage"] == "synthesis"].set_index(keys)
    layout = table[table["stage"] == "layout"].set_index(keys)
    out = pd.DataFrame(index=synth.index)
    out["cells"] = synth["cells"]
    out["cell_area_um2"] = synth["area_um2"]
    out["die_area_um2"] = layout["area_um2"]
    out["delay_synthesis_ns"] = synth["delay_ns"]
    out["delay_layout_ns"] = layout["delay_ns"]
    out["delay_change_pct"] = 100.0 * (layout["delay_ns"] / synth["delay_ns"] - 1.0)
    out["power_synthesis_w"] = synth["power_w"]
    out["power_layout_w"] = layout["power_w"]
    out["power_change_pct"] = 100.0 * (layout["power_w"] / synth["power_w"] - 1.0)
    out["wire_cap_ff"] = layout["wire_cap_ff"]
    return out.reset_index()


def markdown(side: pd.DataFrame, platform: str, clock_period_ns: float, activity: float) -> str:
    header = ["kind", "target (ps)", "cells", "cell area (um²)", "die area (um²)", "delay synth (ns)", "delay layout (ns)",
              "Δ delay", "power synth (mW)", "power layout (mW)", "Δ power", "wire C (pF)"]
    lines = [
        f"Post-synthesis vs post-layout on {platform} (qflow: GrayWolf placement, qrouter routing; "
        f"OpenSTA on the routed netlist without and with qrouter's RC as SPEF).",
        f"Delay: minimum clk-to-clk period (ideal clocks). Power: at a {clock_period_ns:g} ns clock, input activity {activity:g}.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|",
    ]
    for row in side.itertuples(index=False):
        lines.append("| " + " | ".join([
            str(row.kind), str(row.target_ps), str(row.cells), f"{row.cell_area_um2:.0f}", f"{row.die_area_um2:.0f}",
            f"{row.delay_synthesis_ns:.3f}", f"{row.delay_layout_ns:.3f}", f"{row.delay_change_pct:+.1f}%",
            f"{row.power_synthesis_w * 1e3:.3f}", f"{row.power_layout_w * 1e3:.3f}", f"{row.power_change_pct:+.1f}%",
            f"{row.wire_cap_ff / 1e3:.3f}",
        ]) + " |")
    return "\n".join(lines) + "\n"
