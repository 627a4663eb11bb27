"""`eda bitwidth`: input-dependent dynamic bit-width (TPU MACs at reduced operand widths, the network
at each precision, the escalation thresholds from held-apart training images, energy per inference)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from eda.cli.options import JOBS, cache_dir_from, parse_delay_ps


def _widths(ctx, param, text: str) -> tuple[int, ...]:
    words = [w.strip() for w in text.split(",") if w.strip()]
    try:
        widths = tuple(int(w) for w in words)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a list of bit widths: expected whole numbers, e.g. 4,6,8") from None
    from eda.core.errors import EdaError
    from eda.jobs.bitwidth import check_widths

    try:
        return check_widths(widths)
    except EdaError as exc:
        raise click.BadParameter(str(exc)) from None


def _target(ctx, param, text: str) -> int:
    try:
        ps = parse_delay_ps(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if ps < 50:
        raise click.BadParameter(f"{text!r} is {ps} ps: too small a delay target (write the unit, e.g. 6ns or 6000ps)")
    return ps


@click.command("bitwidth")
@click.option("--platform", "platform_name", default="sky130hd", show_default=True, help="platform config name")
@click.option("--widths", default="4,6,8", show_default=True, callback=_widths,
              help="operand widths (bits) of the MACs and the network's precisions, 2..8, including 8 (the baseline)")
@click.option("--max-loss", default=0.01, show_default=True, type=click.FloatRange(0, 1, max_open=True),
              help="largest top-1 accuracy loss of the dynamic policy against static 8-bit on the held-apart images")
@click.option("--target", "target", default="6000", show_default=True, callback=_target,
              help="synthesis delay target of every MAC width (bare number: ps; eda approx's comparison target)")
@click.option("--images", default=0, show_default=True, type=click.IntRange(min=0), help="test images (0: all 10,000)")
@click.option("--selection-images", default=2000, show_default=True, type=click.IntRange(min=1),
              help="held-apart training images (the last ones) the thresholds are chosen on")
@click.option("-j", "--jobs", default=0, show_default=True, type=JOBS, help="parallel synthesis runs (0: one per core)")
@click.option("--timeout", "timeout_s", default=600.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="seconds per tool run")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True, help="output folder")
@click.pass_context
def bitwidth_command(ctx, platform_name, widths, max_loss, target, images, selection_images, jobs, timeout_s, out_dir):
    """Dynamic bit-width: every image at low precision first, escalated when the classifier is unsure.

    Simulates each b x b TPU MAC against numpy (iverilog, every operand pair), characterizes it (yosys +
    OpenSTA, cached), runs the int8 reference network at each precision, chooses the escalation
    thresholds on held-apart training images under the --max-loss bound, and compares the policy
    with every static width on the test set. Writes OUT/bitwidth.csv, bitwidth_macs.csv, bitwidth.md
    and manifest.json.
    """
    from eda.jobs.bitwidth import BitwidthSettings, run_bitwidth

    settings = BitwidthSettings(platform_name, widths, max_loss, target, test_images=images, selection_images=selection_images,
                                jobs=jobs, timeout_s=timeout_s)
    paths = run_bitwidth(settings, out_dir, ctx.obj["platforms_dir"] if ctx.obj else None, cache_dir_from(ctx), sys.argv,
                         echo=lambda text: click.echo(text, err=True))
    click.echo(f"wrote {paths['bitwidth.csv']}, {paths['bitwidth.md']} and {paths['manifest.json']}")
