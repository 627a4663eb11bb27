"""`eda power`: MAC power from gate-level simulation on measured operands."""

from __future__ import annotations

import sys
from pathlib import Path
import click
from eda.cli.options import JOBS, MAX_CYCLES, POSITIVE_FINITE, SEED, mac_options
from eda.designs.mac import MAC_KINDS
from eda.jobs.power import DEFAULT_CYCLES, DEFAULT_WARMUP_CYCLES, power_report


@click.command("power")
@click.option("--characterization", "characterization_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="characterization.csv from `eda characterize` or `eda run` (run folders beside it)")
@click.option("--kind", "kinds", type=click.Choice(MAC_KINDS), multiple=True, help="MAC kind (repeatable; default: all in the table)")
@click.option("--sizes", type=click.IntRange(1, 10_000), default=None, help="at most N sizes per kind, spread over area (default: all rows)")
@click.option("--targets", default=None, help="only these delay targets: 2000,3000 or 1800:3600:200 (ps)")
@click.option("--corner", default=None, help="liberty corner (default: the platform's nominal)")
@click.option("--platform", "platform_name", default=None, help="platform (default: the table's platform column, else sky130hd)")
@click.option("--operands", type=click.Choice(["network", "random"]), default="network", show_default=True,
              help="network: one MAC of the array running the reference CNN on test images (needs torch); random: uniform codes")
@click.option("--layer", default="conv2", show_default=True, help="network layer whose operands the MAC sees")
@click.option("--row", "k", type=click.IntRange(min=0), default=None, help="im2col row k of the layer (default: a typical row, see eda/nn/operands.py)")
@click.option("--column", "filter_index", type=click.IntRange(min=0), default=0, show_default=True, help="filter (array column) of the layer")
@click.option("--cycles", default=DEFAULT_CYCLES, show_default=True, type=click.IntRange(1, MAX_CYCLES), help="measured clock cycles")
@click.option("--warmup", "warmup_cycles", default=DEFAULT_WARMUP_CYCLES, show_default=True, type=click.IntRange(1, MAX_CYCLES),
              help="cycles simulated before the measured window (weight load, pipeline fill)")
@click.option("--seed", default=0, show_default=True, type=SEED, help="training seed (network) or random seed (random)")
@mac_options
@click.option("-j", "--jobs", default=0, show_default=True, type=JOBS, help="parallel runs (0: one per core)")
@click.option("--timeout", "timeout_s", default=600.0, show_default=True, type=POSITIVE_FINITE,
              help="seconds per tool run (> 0)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True, help="output folder")
@click.pass_context
def power_command(ctx, characterization_csv, kinds, sizes, targets, corner, platform_name, operands, layer, k, filter_index,
                  cycles, warmup_cycles, seed, mac, jobs, timeout_s, out_dir):
    """MAC power with switching activity from gate-level simulation, beside the stated-activity power.

    Writes OUT/activity_power.csv, activity_power.md, activity_power.json and OUT/runs/<kind>-D<target>/.
    """
    from eda.cli.options import cache_dir_from, characterized_platform, parse_targets

    platform = characterized_platform(ctx, characterization_csv, platform_name)
    table, paths = power_report(
        characterization_csv, out_dir, platform, cache_dir_from(ctx), operands=operands, kinds=list(kinds) or None, sizes=sizes,
        targets=parse_targets(targets) if targets else None, corner=corner,
        mac=mac, cycles=cycles, warmup_cycles=warmup_cycles,
        layer=layer, k=k, filter_index=filter_index, seed=seed, jobs=jobs, timeout_s=timeout_s, command=sys.argv)
    cached = int(table["cached"].sum())
    click.echo(f"wrote {paths['csv']} and {paths['markdown']} ({len(table)} sizes; {cached} from cache)")
