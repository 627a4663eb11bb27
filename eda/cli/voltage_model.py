"""`eda voltage-model`: an FO4 table for a platform without SPICE models, fitted to its liberty corners."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from eda.cli.options import JOBS

from eda.cli.options import cache_dir_from, parse_targets, parse_voltages
from eda.core.errors import EdaError
from eda.designs.mac import MAC_KINDS, MacParams


@click.command("voltage-model")
@click.option("--platform", "platform_name", required=True, help="platform config name (e.g. gf180, ihp-sg13g2)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="output folder (platforms/<name> to install the table the platform config names)")
@click.option("--vdd", "vdd_text", default=None,
              help="table voltages, 1.8,1.2 or 5.0:1.8:0.1 (default: half the nominal supply up to the highest fitted corner)")
@click.option("--sigma-fraction", default=None, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="fo4_sigma_ps = this * fo4_mean_ps (no Monte Carlo; default 0.03, see eda/method/voltage_model.py)")
@click.option("--alpha", default=None, type=click.FloatRange(min=0, min_open=True),
              help="fix alpha instead of fitting it (default: fitted with 3+ voltages, 1.3 with two)")
@click.option("--check-targets", default=None,
              help="also characterize the MACs at these delay targets (ps) at every corner pair and compare the "
                   "predicted delays with OpenSTA's (writes voltage_check.csv and .md)")
@click.option("--kind", "kinds", type=click.Choice(MAC_KINDS), multiple=True, help="MAC kind of the check (repeatable; default: tpu, proposed)")
@click.option("-j", "--jobs", default=0, show_default=True, type=JOBS, help="parallel runs of the check (0: one per core)")
@click.pass_context
def voltage_model_command(ctx, platform_name, out_dir, vdd_text, sigma_fraction, alpha, check_targets, kinds, jobs):
    """Fit the alpha-power law to the FO4 stage timed at a platform's liberty corners and write its FO4 table.

    Corners that share process and temperature at different supplies are fitted (three or more
    voltages: k, Vth and alpha; two: Vth with alpha fixed). The table comes from the group holding the
    nominal corner, in the columns of platforms/sky130hd/fo4_tt_025C.csv, named as the platform config's
    fo4_table (else fo4_<process>_<temp>C.csv).
    """
    import pandas as pd

    from eda.core.platforms import load_platform, platform_config
    from eda.flow.voltage_model import fit_groups, measure_corners
    from eda.method.voltage_model import DEFAULT_SIGMA_FRACTION, default_table_vdds, fo4_table_from_fit
    from eda.outputs.voltage_model import write_fo4_model

    platform = load_platform(platform_name, (ctx.obj or {}).get("platforms_dir"))
    cache_dir = cache_dir_from(ctx)
    measured = measure_corners(platform, cache_dir, cache_dir / "voltage-model" / platform.name)
    fits = fit_groups(measured, alpha)
    nominal = platform.nominal
    used = (nominal.process, float(nominal.temp_c))
    if used not in fits:
        corners = ", ".join(f"{c.name} ({c.process}, {c.temp_c:g} C, {c.vdd:g} V)" for c in platform.corners.values())
        raise EdaError(f"platform {platform.name}: no other corner shares the nominal corner's process and temperature "
                       f"({nominal.process}, {nominal.temp_c:g} C) at another supply, so no voltage law can be fitted. "
                       f"Corners: {corners}")
    fit = fits[used]
    vdds = parse_voltages(vdd_text) if vdd_text else default_table_vdds(fit, nominal.vdd)
    fraction = DEFAULT_SIGMA_FRACTION if sigma_fraction is None else sigma_fraction
    table = fo4_table_from_fit(fit, vdds, fraction)
    raw, _ = platform_config(platform.name)
    name = raw.get("fo4_table") or f"fo4_{nominal.process}_{nominal.temp_c:03.0f}C.csv"
    paths = write_fo4_model(out_dir, name, table, measured, fits, used, fraction, platform.name, sys.argv)
    click.echo(f"{platform.name}: FO4 {', '.join(f'{v:g} V {d:.1f} ps' for v, d in zip(fit.vdd, fit.delay_ps))}; "
               f"fit Vth {fit.vth:.3f} V, alpha {fit.alpha:.3f}{'' if fit.alpha_fitted else ' (fixed)'}")
    click.echo(f"wrote {paths['table']} ({len(table)} voltages) and {paths['manifest']}")
    if check_targets:
        _check(platform, out_dir, measured, fits, table, parse_targets(check_targets), kinds or ("tpu", "proposed"),
               cache_dir, jobs)


def _check(platform, out_dir: Path, measured, fits, table, targets: list[int], kinds, cache_dir: Path, jobs: int) -> None:
    from eda.core.paths import REPO_ROOT
    from eda.designs.registry import mac_design
    from eda.flow.voltage_model import characterize_voltage_corners
    from eda.method.voltage_model import corner_pair_check, error_summary
    from eda.outputs.voltage_model import write_check
    from eda.spice.table import load_fo4_table, platform_fo4_table

    def load_platform_nominal_vdd(name: str) -> float:
        from eda.core.platforms import platform_config

        raw, _ = platform_config(name)
        return float(raw["corners"][raw["nominal_corner"]]["vdd"])

    reference_path = platform_fo4_table("sky130hd")
    designs = [mac_design(MacParams(kind)) for kind in kinds]
    characterization = characterize_voltage_corners(platform, designs, targets, cache_dir, jobs=jobs)
    reference = load_fo4_table(reference_path)
    # sky130's nominal 1.80 V against this platform's: the scaled-voltage variant of the sky130 ratio.
    scale = load_platform_nominal_vdd("sky130hd") / platform.nominal.vdd
    check = corner_pair_check(characterization, reference, fits, table, scale)
    paths = write_check(out_dir, check, measured, fits, platform.name, str(reference_path.relative_to(REPO_ROOT)))
    for r in error_summary(check).itertuples():
        click.echo(f"  {r.from_corner} -> {r.to_corner}: max |error| sky130 FO4 {r.max_abs_error_reference_fo4:.2%} "
                   f"(scaled V {r.max_abs_error_reference_fo4_scaled:.2%}), "
                   f"alpha-power {r.max_abs_error_alpha_power:.2%}, platform table {r.max_abs_error_platform_fo4:.2%}")
    click.echo(f"wrote {paths['csv']} and {paths['md']}")
