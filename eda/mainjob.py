"""`eda run`: the main job, driven by a TOML configuration."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import REPO_ROOT
from .characterize import Variant, characterize, write_outputs
from .config import load_config
from .designs import mac_design
from .fsutil import atomic_write_text
from .pareto import pareto_front
from .platforms import load_platform
from .rtl import MacParams
from .steps.sta import StaSettings


def run_main_job(config_path: Path | None, out_dir: Path | None, jobs: int | None, platforms_dir, cache_dir: Path) -> Path:
    config = load_config(config_path)
    platform = load_platform(config["platform"], platforms_dir)
    out = Path(out_dir) if out_dir else REPO_ROOT / config["out_dir"].format(platform=platform.name)
    targets = config["characterize.targets_ps"]
    settings = StaSettings(
        clock_period_ns=float(config["characterize.clock_period_ns"]),
        input_activity=float(config["characterize.input_activity"]),
        shadow_delay_fraction=float(config["characterize.shadow_delay_fraction"]),
    )
    designs = [
        mac_design(MacParams(kind, config["mac.a_bits"], config["mac.w_bits"], config["mac.acc_bits"], config["mac.razor_bits"]))
        for kind in config["kinds"]
    ]
    variants = [Variant(design, target) for design in designs for target in targets]
    click.echo(f"characterizing {len(designs)} MAC kinds x {len(targets)} targets on {platform.name} into {out}", err=True)
    result = characterize(variants, platform, settings, cache_dir, corners=config["corners"] or None,
                          jobs=config["characterize.jobs"] if jobs is None else jobs, timeout_s=float(config["characterize.timeout_s"]))
    csv_path = write_outputs(result, out, platform, settings, sys.argv)
    atomic_write_text(out / "summary.md", summary_markdown(result.table, platform.nominal_corner))
    click.echo(f"wrote {csv_path} and {out / 'summary.md'}", err=True)
    write_voltage_outputs(result.table, csv_path, out, platform, config)
    if config["method.enabled"]:
        from .method_job import method_inputs, run_method

        paths = run_method(config, platform, method_inputs(out, result.table, platform, config["kinds"]), cache_dir)
        click.echo(f"wrote {paths['table2_md']} and {paths['html']}", err=True)
    return out


def write_voltage_outputs(table, csv_path: Path, out: Path, platform, config: dict) -> None:
    """FO4 table, delay/power at the other corners, and the error-probability tables per kind."""
    from .errtable import ErrorModelSettings
    from .errtable_report import write_kind_errors
    from .fo4 import load_fo4_table
    from .fo4_table import platform_fo4_table
    from .scaling import scaling_markdown, voltage_scaling_table

    fo4_path = platform_fo4_table(platform.name)
    fo4 = load_fo4_table(fo4_path)
    atomic_write_text(out / "fo4.csv", fo4_path.read_text())
    samples_path = fo4_path.with_name(fo4_path.stem + "_samples.csv")
    if samples_path.is_file():
        import pandas as pd

        from .fo4 import plot_fo4_distributions

        plot_fo4_distributions(pd.read_csv(samples_path), out / "fo4_distributions.png")
    scaling = voltage_scaling_table(table, fo4, platform.nominal_corner)
    atomic_write_text(out / "voltage_scaling.csv", scaling.to_csv(index=False))
    atomic_write_text(out / "voltage_scaling.md", scaling_markdown(scaling, str(fo4_path.relative_to(REPO_ROOT))))
    settings = ErrorModelSettings(float(config["errors.propagation_p"]), config["errors.critical_paths"],
                                  config["errors.process_samples"], config["errors.seed"])
    vdds = [float(v) for v in config["errors.vdds"]] or None
    for kind in config["kinds"]:
        params = MacParams(kind, config["mac.a_bits"], config["mac.w_bits"], config["mac.acc_bits"], config["mac.razor_bits"])
        write_kind_errors(table, csv_path, params, platform.nominal_corner, fo4, fo4_path,
                          float(config["errors.clock_ns"]) or None, vdds, settings, out / "errors" / kind, sys.argv)
    click.echo(f"wrote {out / 'voltage_scaling.md'} and {out / 'errors'}/<kind>/", err=True)


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
