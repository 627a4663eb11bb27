"""`eda approx`: approximate-multiplier MACs (AutoApprox): error statistics, area/delay/power,
network accuracy per level, and a per-layer assignment under an accuracy-loss bound."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from eda.cli.options import JOBS

from eda.cli.options import DEFAULT_TARGETS_HELP, cache_dir_from, parse_targets
from eda.designs.approx import DEFAULT_LEVELS


@click.command("approx")
@click.option("--platform", "platform_name", default="sky130hd", show_default=True, help="platform config name")
@click.option("--levels", "levels_text", default=",".join(DEFAULT_LEVELS), show_default=True,
              help="multiplier levels: exact, trunc<k> (k low columns dropped), bam<h>-<v> (broken array: h weight rows "
                   "and the columns below v dropped); must include exact")
@click.option("--mult-verilog", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="also evaluate your own multiplier: a Verilog file whose module has ports a[7:0], b[7:0] (signed), p[15:0]")
@click.option("--mult-top", default=None, help="module name of --mult-verilog")
@click.option("--targets", default="2000,4000,6000", show_default=True, help=f"synthesis delay targets: {DEFAULT_TARGETS_HELP}")
@click.option("--assign-target", "assign_target", default=None, type=int,
              help="delay target (ps) whose area and power the table and the assignment use (default: the largest)")
@click.option("--max-loss", default=0.01, show_default=True, type=click.FloatRange(0, 1, max_open=True),
              help="largest top-1 accuracy loss of the per-layer assignment against the all-exact network")
@click.option("--images", default=0, show_default=True, type=click.IntRange(min=0), help="test images (0: all 10,000)")
@click.option("--selection-images", default=2000, show_default=True, type=click.IntRange(min=1),
              help="held-out training images the assignment's accuracy is measured on")
@click.option("-j", "--jobs", default=0, show_default=True, type=JOBS, help="parallel synthesis runs (0: one per core)")
@click.option("--timeout", "timeout_s", default=600.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="seconds per tool run")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True, help="output folder")
@click.pass_context
def approx_command(ctx, platform_name, levels_text, mult_verilog, mult_top, targets, assign_target, max_loss, images,
                   selection_images, jobs, timeout_s, out_dir):
    """Approximate multipliers in the TPU MAC, AutoApprox-style.

    Writes OUT/approx.csv and approx.md (per level: error statistics over all 65,536 operand pairs from
    iverilog, area/delay/power from yosys + OpenSTA, test accuracy of the integer network), the
    per-layer assignment (approx_assignment.csv), the greedy's trials, the product tables and manifest.json.
    """
    from eda.designs.approx import parse_level, user_multiplier
    from eda.jobs.approx import ApproxSettings, run_approx

    multipliers = [parse_level(text) for text in levels_text.split(",") if text.strip()]
    if (mult_verilog is None) != (mult_top is None):
        raise click.UsageError("--mult-verilog and --mult-top go together")
    if mult_verilog is not None:
        multipliers.append(user_multiplier(mult_verilog, mult_top))
    target_list = parse_targets(targets)
    settings = ApproxSettings(platform_name, tuple(target_list), assign_target or max(target_list), max_loss,
                              test_images=images, selection_images=selection_images, jobs=jobs, timeout_s=timeout_s)
    paths = run_approx(multipliers, settings, out_dir, ctx.obj["platforms_dir"] if ctx.obj else None,
                       cache_dir_from(ctx), sys.argv, echo=lambda text: click.echo(text, err=True))
    click.echo(f"wrote {paths['approx.csv']}, {paths['approx.md']} and {paths['manifest.json']}")
