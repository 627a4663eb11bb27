"""summary.md of a characterization: the Pareto-optimal sizes of every MAC kind."""

from __future__ import annotations

from eda.method.pareto import pareto_front


def summary_markdown(table, nominal_corner: str) -> str:
    """Per kind: the Pareto-optimal sizes at the nominal corner."""
    lines = ["# MAC characterization summary", "",
             "Pareto-optimal sizes per MAC kind (a larger area buys a shorter register-to-register delay).",
             "Every number comes from `characterization.csv`, whose `run_dir` column points to the Yosys and OpenSTA logs.", ""]
    nominal = table[table["corner"] == nominal_corner]
    for kind, rows in nominal.groupby("kind", sort=False):
        front = pareto_front(rows)
        span = front["area_um2"].max() / front["area_um2"].min() - 1
        lines += [f"## {kind}: {len(front)} Pareto-optimal sizes of {len(rows)} runs, area span {span:.1%}", "",
                  "| target (ps) | area (um^2) | delay (ns) | power (mW) | internal (mW) | switching (mW) | leakage (nW) | cells |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in front.itertuples():
            lines.append(f"| {r.target_ps} | {r.area_um2:.1f} | {r.delay_ns:.3f} | {r.power_w * 1e3:.4f} | {r.power_internal_w * 1e3:.4f} | "
                         f"{r.power_switching_w * 1e3:.4f} | {r.power_leakage_w * 1e9:.2f} | {r.cells} |")
        lines.append("")
        incomplete = rows[~rows["power_activity_propagated"].astype(bool)]
        if len(incomplete):
            lines += [f"**Power of {kind} is under-reported in {len(incomplete)} of {len(rows)} runs**: OpenSTA's activity "
                      "propagation stopped at the first register stage (a bug of OpenSTA 2.0.17, see "
                      "`eda/parsers/sta.py` ActivityTrace); those rows have `power_activity_propagated = False`. "
                      "A newer OpenSTA ($OPENSTA_EXE) does not have it.", ""]
    clock, activity = nominal["power_clock_ns"].iloc[0], nominal["input_activity"].iloc[0]
    lines.append(f"Power at the nominal corner, {clock:g} ns clock, input activity {activity:g} toggles/cycle (OpenSTA report_power).")
    return "\n".join(lines) + "\n"
