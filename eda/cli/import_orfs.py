"""`eda import-orfs`: existing OpenROAD-flow-scripts results -> the characterization table."""

from __future__ import annotations

import sys
from pathlib import Path

import click

SHOWN_COLUMNS = ["design", "platform", "flow_variant", "clock", "delay_ns", "area_um2", "power_w", "cells",
                 "critical_startpoint", "critical_endpoint", "delay_source"]


@click.command("import-orfs")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path), metavar="RUN_DIR...")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True, help="output folder")
@click.option("--platform", default=None,
              help="ORFS platform of every run (default: from the logs|reports/<platform>/ folder or the metrics' "
                   "run__flow__platform); gf180mcu, sky130_fd_sc_hd... are accepted")
def import_orfs_command(run_dirs, out_dir, platform):
    """Read finished ORFS runs into OUT/characterization.csv, provenance.csv and manifest.json.

    RUN_DIR is an ORFS WORK_HOME or flow/ folder (logs/, reports/, results/), one run's
    logs/<platform>/<design>/<variant> folder, a folder holding ORFS files, or a single file:
    a metrics JSON of any ORFS generation (metadata.json, metrics.json, 6_report.json),
    6_finish.rpt, 6_report.log or synth_stat.txt. Columns ORFS says nothing about are empty.
    """
    from eda.backends.orfs.importer import import_orfs, write_import

    table, provenance, entries = import_orfs(list(run_dirs), platform)
    csv_path = write_import(out_dir, table, provenance, entries, sys.argv)
    shown = table[SHOWN_COLUMNS].copy()
    # Sources name full paths (provenance.csv keeps them); on screen the file name says enough.
    shown["delay_source"] = shown["delay_source"].map(_short_source)
    click.echo(shown.to_string(index=False))
    click.echo(f"wrote {csv_path} ({len(table)} runs), {Path(out_dir) / 'provenance.csv'}, {Path(out_dir) / 'manifest.json'}")


def _short_source(source) -> str:
    """'/a/b/6_finish.rpt:report_clock_min_period' -> '6_finish.rpt:report_clock_min_period' (each path in it)."""
    import re

    return re.sub(r"[^\s(]*/", "", source) if isinstance(source, str) else ""
