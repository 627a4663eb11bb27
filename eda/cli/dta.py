"""`eda dta`: timing-error probabilities measured by timing simulation, beside eqs. 7-9."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from eda.cli.options import JOBS, SEED

from eda.cli.options import mac_options
from eda.designs.mac import MAC_KINDS
from eda.flow.dta import DEFAULT_MODE, DTA_MODES
from eda.jobs.dta import DEFAULT_CYCLES, DEFAULT_SEED
from eda.method.errmodel import DEFAULT_CRITICAL_PATHS
from eda.method.errtable import PROJECT_PROPAGATION_P


@click.command("dta")
@click.option("--characterization", "characterization_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="characterization.csv from `eda characterize` or `eda run` (run folders beside it, or in the cache)")
@click.option("--kind", "kinds", type=click.Choice(MAC_KINDS), multiple=True, help="MAC kind (repeatable; default: all in the table)")
@click.option("--sizes", type=click.IntRange(min=1), default=None,
              help="N of the kind's Pareto sizes, spread over the list (default: all)")
@click.option("--cycles", default=DEFAULT_CYCLES, show_default=True, type=click.IntRange(min=1), help="measured clock cycles")
@click.option("--seed", default=DEFAULT_SEED, show_default=True, type=SEED, help="random-operand seed")
@click.option("--operands", "operands_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="operand CSV (columns a, w, psum_in; one row per operation) instead of random operands")
@click.option("--vdd", "vdd_text", default=None, help="supply voltages, 1.8,1.4 or 1.8:0.9:0.05 (default: every FO4 table voltage)")
@click.option("--clock-ns", type=click.FloatRange(min=0, min_open=True), default=None,
              help="clock period (default: the slowest Pareto size's delay at the nominal supply, as `eda errtable`)")
@click.option("--mode", type=click.Choice(DTA_MODES), default=DEFAULT_MODE, show_default=True,
              help="inertial: event-driven, pulses narrower than a gate's delay vanish (as iverilog + SDF); "
                   "transport: no pulse filtering; floating: the floating-mode upper bound")
@click.option("-p", "--propagation-p", default=PROJECT_PROPAGATION_P, show_default=True, type=click.FloatRange(0, 1, max_open=True),
              help="the configured p of eq. 7, shown beside the measurement and the fitted p")
@click.option("--critical-paths", default=DEFAULT_CRITICAL_PATHS, show_default=True, type=click.IntRange(min=1), help="N in eq. 8")
@click.option("--fo4", "fo4_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="FO4 table (default: the platform's)")
@click.option("--platform", "platform_name", default=None, help="platform (default: the table's platform column, else sky130hd)")
@mac_options
@click.option("-j", "--jobs", default=0, show_default=True, type=JOBS, help="parallel simulations (0: one per core)")
@click.option("--timeout", "timeout_s", default=600.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="seconds per tool run (> 0)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True, help="output folder")
@click.pass_context
def dta_command(ctx, characterization_csv, kinds, sizes, cycles, seed, operands_csv, vdd_text, clock_ns, mode, propagation_p,
                critical_paths, fo4_csv, platform_name, mac, jobs, timeout_s, out_dir):
    """Timing-error probabilities of every MAC size measured by timing simulation (dynamic timing analysis).

    Writes OUT/measured_bit_error_probability.csv, measured_error_probability.csv, measured_vs_model.csv,
    fitted_p.json (eq. 7's p fitted per kind) and measured_error_probability.md (measured beside eqs. 7-9).
    """

    from eda.cli.options import cache_dir_from, characterized_platform, parse_voltages
    from eda.jobs.dta import dta_report
    from eda.method.errtable import ErrorModelSettings

    platform = characterized_platform(ctx, characterization_csv, platform_name)
    results, paths = dta_report(
        characterization_csv, out_dir, platform, cache_dir_from(ctx), kinds=list(kinds) or None, sizes=sizes, cycles=cycles,
        seed=seed, operands_csv=operands_csv, vdds=parse_voltages(vdd_text) if vdd_text else None, clock_ns=clock_ns,
        fo4_csv=fo4_csv, model=ErrorModelSettings(propagation_p=propagation_p, critical_paths=critical_paths), mode=mode,
        mac=mac, jobs=jobs, timeout_s=timeout_s, command=sys.argv)
    for result in results:
        fitted = f"fitted p = {result.fit.p:.3f}" if result.fit else "no error measured, no p fitted"
        runtime = ", ".join(f"{r['target_ps']} ps {r['build_s']:.1f} s{' (cached)' if r['cached'] else ''}" for r in result.runs)
        click.echo(f"{result.kind}: {len(result.runs)} sizes, clock {result.clock_ns:.4g} ns, {fitted}; simulation per size: {runtime}")
    click.echo(f"wrote {paths['macs']}, {paths['bits']}, {paths['fit']} and {paths['markdown']}")
