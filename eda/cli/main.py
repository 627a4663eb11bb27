"""The `eda` command line."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from eda.core.errors import EdaError
from eda.designs.mac import MAC_KINDS, MacParams, render_mac
from eda.cli.options import (GLOBAL_OPTIONS, MAX_CYCLES, MAX_PROCESS_SAMPLES, POSITIVE_FINITE, SEED, FiniteFloatRange, cache_dir_from, hoist_global_options,
                              mac_options, parse_voltages, read_csv_table)
from eda.method.errtable import PROJECT_PROPAGATION_P
from eda.method.errmodel import DEFAULT_CRITICAL_PATHS









class GlobalOptionsAnywhere(click.Group):
    """The group whose options --cache-dir and --platforms-dir may also follow the subcommand
    (`eda characterize ... --cache-dir X`), as users type them; they are moved before it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args, GLOBAL_OPTIONS))


@click.group(cls=GlobalOptionsAnywhere, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--platforms-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="folder holding <platform>/lib and lef (else $EDA_PLATFORMS_DIR, $FLOW_HOME/platforms, $PDK_ROOT)")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="run cache (else $VOLTSCALE_CACHE or ~/.cache/voltscale)")
@click.version_option(package_name="voltscale")
@click.pass_context
def cli(ctx, platforms_dir, cache_dir):
    """voltscale: MAC variants for voltage-scalable DNN accelerators, characterized with open tools."""
    ctx.ensure_object(dict)
    ctx.obj.update(platforms_dir=platforms_dir, cache_dir=cache_dir)


@cli.command()
@click.option("--kind", type=click.Choice(MAC_KINDS), required=True, help="MAC kind")
@mac_options
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="write here instead of stdout")
def rtl(kind, mac, out):
    """Render the Verilog of one MAC variant."""
    text = render_mac(replace(mac, kind=kind))
    if out is None:
        click.echo(text, nl=False)
    else:
        from eda.core.files import atomic_write_text

        atomic_write_text(out, text)
        click.echo(f"wrote {out}", err=True)


@cli.command()
@click.option("--kind", "kinds", type=click.Choice(MAC_KINDS), multiple=True, help="MAC kind (repeatable; default: all)")
@mac_options
@click.option("-n", "--vectors", "n_vectors", default=10_000, show_default=True, type=click.IntRange(1, MAX_CYCLES), help="random vectors")
@click.option("--seed", default=0, show_default=True, type=SEED, help="random seed")
@click.option("--error-rate", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="fraction of cycles with an injected Razor error (thundervolt, proposed)")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None, help="keep the simulation files here")
def verify(kinds, mac, n_vectors, seed, error_rate, workdir):
    """Simulate MAC variants with iverilog and compare every cycle with the numpy golden model."""
    import tempfile

    from eda.verify.mac_sim import verify_mac

    failed = []
    with tempfile.TemporaryDirectory(prefix="voltscale-verify-") as tmp:
        for kind in kinds or MAC_KINDS:
            rate = 0.0 if kind == "tpu" else error_rate
            result = verify_mac(replace(mac, kind=kind), n_vectors, seed,
                                workdir=(workdir or Path(tmp)) / kind, error_rate=rate)
            click.echo(f"{kind}: {'PASS' if result.passed else 'FAIL'}: {result.summary()}")
            if not result.passed:
                failed.append(kind)
    if failed:
        raise EdaError(f"simulation does not match the golden model for: {', '.join(failed)}")


@cli.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=f"TOML configuration (default: {Path('voltscale.toml')})")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="output folder (default: the config's out_dir)")
@click.option("-j", "--jobs", default=None, type=click.IntRange(min=0), help="parallel runs (default: the config's)")
@click.option("--model", default=None, help="your network: net.py:ClassName or net.onnx (overrides workload.model)")
@click.option("--weights", default=None, help="state_dict of --model (torch.save(model.state_dict(), path))")
@click.option("--data", default=None, help="test data: .npz with images and labels, or a folder <label>/<image>")
@click.option("--images", default=None, type=click.IntRange(min=0), help="test images used (0: all)")
@click.option("--platform", "platform_name", default=None,
              help="platform config under platforms/ (overrides the config's; its delay targets, corners and supplies "
                   "then start from the platform's defaults)")
@click.option("--print-config", is_flag=True, help="print the resolved configuration with units and exit")
@click.pass_context
def run(ctx, config_path, out_dir, jobs, model, weights, data, images, platform_name, print_config):
    """The main job: characterize every configured MAC kind and write reports/<platform>/."""
    from eda.jobs.config import load_config, print_config as config_text, with_platform, with_workload

    overrides = {k: v for k, v in (("model", model), ("weights", weights), ("data", data), ("images", images)) if v is not None}
    config, reset = with_platform(with_workload(load_config(config_path), **overrides), platform_name)
    if reset:
        click.echo(f"platform {config.platform}: {', '.join(reset)} reset from the config's {Path(config.source_path).name} "
                   "(set for its own platform) to the defaults (platform's target range, nominal corner only, every "
                   "FO4-table supply, automatic sizing supply)", err=True)
    if print_config:
        click.echo(config_text(config))
        return
    from eda.jobs.main import run_main_job

    run_main_job(config, out_dir, jobs, ctx.obj["platforms_dir"], cache_dir_from(ctx))


@cli.command()
@click.option("--characterization", "characterization_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="characterization.csv from `eda characterize` or `eda run`")
@click.option("--fo4", "fo4_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="FO4 table from `eda fo4` (default: the platform's, e.g. platforms/sky130hd/fo4_tt_025C.csv)")
@click.option("--kind", default="proposed", show_default=True, type=click.Choice(MAC_KINDS), help="MAC kind whose sizes are tabulated")
@click.option("--corner", default=None, help="corner the sizes were timed at (default: the platform's nominal)")
@click.option("--vdd", "vdd_text", default=None, help="supply voltages, 1.8,1.2 or 1.8:0.9:0.05 (default: every FO4 table voltage)")
@click.option("--clock-ns", type=POSITIVE_FINITE, default=None,
              help="clock period (default: the slowest size's delay at the nominal supply, so every size meets timing there)")
@click.option("-p", "--propagation-p", default=PROJECT_PROPAGATION_P, show_default=True, type=FiniteFloatRange(0, 1, max_open=True),
              help="probability that a transition propagates one more stage (eq. 7; the paper uses 0.5, see eda/method/errtable.py)")
@click.option("--critical-paths", default=DEFAULT_CRITICAL_PATHS, show_default=True, type=click.IntRange(1, 1_000_000), help="N in eq. 8")
@click.option("--samples", default=10_000, show_default=True, type=click.IntRange(1, MAX_PROCESS_SAMPLES), help="process-variation samples (eq. 9)")
@click.option("--seed", default=1, show_default=True, type=SEED, help="Monte Carlo seed")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True, help="output folder")
def errtable(characterization_csv, fo4_csv, kind, corner, vdd_text, clock_ns, propagation_p, critical_paths, samples, seed, out_dir):
    """Timing-error probability of every MAC size at every supply voltage (paper eqs. 7-9).

    Writes OUT/error_probability.csv (one row per size and voltage), error_probability.md
    (sizes down, voltages across) and the plots of error probability against area.
    """
    from eda.method.errtable import ErrorModelSettings
    from eda.jobs.errors import write_kind_errors
    from eda.spice.table import load_fo4_table
    from eda.spice.table import platform_fo4_table

    characterization = read_csv_table(characterization_csv)
    platform_name = str(characterization["platform"].iloc[0]) if "platform" in characterization.columns else "sky130hd"
    if corner is None:
        from eda.core.platforms import platform_config

        corner = platform_config(platform_name)[0]["nominal_corner"]
    fo4_csv = fo4_csv or platform_fo4_table(platform_name)
    result = write_kind_errors(characterization, characterization_csv, MacParams(kind), corner, load_fo4_table(fo4_csv),
                               fo4_csv, clock_ns, parse_voltages(vdd_text) if vdd_text else None,
                               ErrorModelSettings(propagation_p, critical_paths, samples, seed), out_dir, sys.argv)
    click.echo(f"wrote {result.table['csv']} ({len(result.sizes)} sizes x {result.voltages} voltages, clock {result.clock_ns:.4g} ns)")
    if result.bits is None:
        largest = result.sizes.loc[result.sizes["area_um2"].idxmax()]
        click.echo(f"no per-bit table: the run folder {characterization_csv.parent / largest['run_dir']} is not there "
                   "(it is written beside characterization.csv by `eda characterize`)", err=True)
    else:
        click.echo(f"wrote {result.bits['csv']} and {result.bits['heatmap']}")




@cli.command()
@click.option("--platform", "platform_name", default="sky130hd", show_default=True)
@click.pass_context
def platforms(ctx, platform_name):
    """Show where a platform's data files were found."""
    from eda.core.platforms import available_platforms, load_platform

    click.echo(f"known platforms: {', '.join(available_platforms())}")
    platform = load_platform(platform_name, ctx.obj["platforms_dir"])
    click.echo(f"{platform.name}: data in {platform.data_dir}")
    for corner in platform.corners.values():
        mark = " (nominal)" if corner.name == platform.nominal_corner else ""
        click.echo(f"  {corner.name}{mark}: {corner.process}, {corner.vdd} V, {corner.temp_c} C: {', '.join(map(str, corner.libs))}")


def _register_commands() -> None:
    from eda.cli.power import power_command
    from eda.cli.approx import approx_command
    from eda.cli.bitwidth import bitwidth_command
    from eda.cli.selective import selective_command
    from eda.cli.compare import compare_command
    from eda.cli.cross_pdk import cross_pdk_command
    from eda.cli.dta import dta_command
    from eda.cli.export import export_command
    from eda.cli.array import array_command
    from eda.cli.characterize import characterize_command
    from eda.cli.fo4 import fo4_command
    from eda.cli.import_orfs import import_orfs_command
    from eda.cli.leakage import leakage_command
    from eda.cli.sensitivity import sensitivity_command
    from eda.cli.layout import qflow_command
    from eda.cli.report import report_command, trace_command
    from eda.cli.size import size_command
    from eda.cli.train import train_command
    from eda.cli.voltage_model import voltage_model_command

    cli.add_command(array_command)
    cli.add_command(approx_command)
    cli.add_command(bitwidth_command)
    cli.add_command(selective_command)
    cli.add_command(compare_command)
    cli.add_command(cross_pdk_command)
    cli.add_command(power_command)
    cli.add_command(dta_command)
    cli.add_command(export_command)
    cli.add_command(characterize_command)
    cli.add_command(fo4_command)
    cli.add_command(import_orfs_command)
    cli.add_command(leakage_command)
    cli.add_command(qflow_command)
    cli.add_command(sensitivity_command)
    cli.add_command(size_command)
    cli.add_command(train_command)
    cli.add_command(report_command)
    cli.add_command(trace_command)
    cli.add_command(voltage_model_command)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="eda", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except EdaError as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())


def entry_point() -> None:
    sys.exit(main())
