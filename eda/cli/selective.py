"""`eda selective`: selective bit protection (Razor flops on the partial-sum bits that matter, plain flops on
the others) of the TPU MAC of a finished `eda run`: the bit choice, the RTL check, characterization and the
voltage sweep."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from eda.cli.options import JOBS, SEED, cache_dir_from


def _bits(ctx, param, text: str | None):
    if text is None:
        return None
    words = [w.strip() for w in text.split(",") if w.strip()]
    bits = []
    try:
        for word in words:
            if "-" in word:
                low, high = (int(part) for part in word.split("-", 1))
                bits.extend(range(low, high + 1))
            else:
                bits.append(int(word))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a list of bit indices: expected e.g. 16-23 or 3,16-23") from None
    from eda.core.errors import EdaError
    from eda.designs.selective import check_protected_bits

    try:
        return check_protected_bits(bits)
    except EdaError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("selective")
@click.option("--report", type=click.Path(file_okay=False, path_type=Path), default=Path("reports/sky130hd"), show_default=True,
              help="a finished `eda run` (Table II, the measured per-bit errors, the accuracy sweep)")
@click.option("--max-loss", default=0.01, show_default=True, type=click.FloatRange(0, 1, max_open=True),
              help="largest top-1 accuracy loss (one-sided 95% bound) for the bit choice and Vmin")
@click.option("--images", default=10_000, show_default=True, type=click.IntRange(min=1), help="test images of the sweep")
@click.option("--selection-images", default=2000, show_default=True, type=click.IntRange(min=1),
              help="held-apart training images (the last ones) the flip effects and the bit choice are measured on")
@click.option("--replay-scope", type=click.Choice(["mac", "array"]), default="mac", show_default=True,
              help="replay cost in the bit choice's energy: per MAC (the seed paper's latency overhead) or the whole array stalled")
@click.option("--protected", "protected", default=None, callback=_bits,
              help="protect these partial-sum bits (e.g. 16-23) instead of searching")
@click.option("--target-vdd", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="choose the bits at this supply (0: the supply of the lowest energy per inference)")
@click.option("--seed", default=1, show_default=True, type=SEED, help="error-injection seed (the run's accuracy seed)")
@click.option("-j", "--jobs", default=1, show_default=True, type=JOBS, help="parallel synthesis runs (0: one per core)")
@click.option("--timeout", "timeout_s", default=600.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="seconds per tool run")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True, help="output folder")
@click.pass_context
def selective_command(ctx, report, max_loss, images, selection_images, replay_scope, protected, target_vdd, seed, jobs,
                      timeout_s, out_dir):
    """Selective bit protection: Razor flops on the chosen partial-sum bits of the TPU MAC.

    Ranks the 24 partial-sum bits by expected damage (probability late, from the run's timing simulation,
    x the measured effect of one flip on the network), protects the fewest that keep the accuracy loss
    within --max-loss on held-apart images at the supply of the lowest energy, checks the RTL against
    numpy in iverilog, characterizes it, and sweeps the supply on the test images. Writes
    OUT/selective.csv, selective_bits.csv, selective_search.csv, selective.md and manifest.json.
    """
    from eda.jobs.selective import SelectiveSettings, run_selective

    settings = SelectiveSettings(report, max_loss, images, selection_images, replay_scope, protected, target_vdd, seed=seed,
                                 jobs=jobs, timeout_s=timeout_s)
    paths = run_selective(settings, out_dir, ctx.obj["platforms_dir"] if ctx.obj else None, cache_dir_from(ctx), sys.argv,
                          echo=lambda text: click.echo(text, err=True))
    click.echo(f"wrote {paths['selective.csv']}, {paths['selective.md']} and {paths['manifest.json']}")
