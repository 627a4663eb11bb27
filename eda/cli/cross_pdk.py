"""`eda cross-pdk`: finished `eda run` folders of several platforms side by side."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("cross-pdk")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("reports/cross-pdk"),
              show_default=True, help="output folder")
def cross_pdk_command(run_dirs, out_dir):
    """MAC ladders (area, delay, power), error tables and Table II of every platform side by side.

    RUN_DIRS: one finished `eda run` folder per platform (e.g. reports/sky130hd reports/gf180). A folder without the
    method half (no error tables, no Table II) contributes its characterization only. Writes cross_pdk.md, a CSV per
    table, ladders.png and manifest.json (sha256 of every source) into --out.
    """
    from eda.jobs.cross_pdk import run_cross_pdk

    paths = run_cross_pdk(list(run_dirs), out_dir, sys.argv)
    click.echo(paths["cross_pdk.md"].read_text())
    click.echo(f"wrote {', '.join(str(p) for p in paths.values())}", err=True)
