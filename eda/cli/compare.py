"""`eda compare`: every system of a finished run (Table II, selective protection, approximate multipliers,
dynamic bit-width, and their combination with voltage scaling) in one table at one accuracy-loss constraint."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from eda.cli.options import FiniteFloatRange


@click.command("compare")
@click.argument("report_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--max-loss", type=FiniteFloatRange(0, 1, max_open=True), default=0.01, show_default=True,
              help="largest top-1 accuracy loss against each system's own exact baseline")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="output folder (default: REPORT_DIR/compare)")
def compare_command(report_dir, max_loss, out_dir):
    """One table of every system at its operating point under the same accuracy-loss constraint.

    Reads REPORT_DIR (a finished `eda run` with the outputs of `eda approx`, `eda bitwidth` and `eda selective`
    in approx/, bitwidth/, selective/); recomputes Table II's Vmin at --max-loss without rewriting the run;
    writes compare.csv, compare.md, compare.html, the recomputed Table II and manifest.json (sha256 of every source).
    """
    from eda.core.errors import EdaError
    from eda.jobs.compare import run_compare

    try:
        paths = run_compare(report_dir, max_loss, out_dir, sys.argv)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        # A run folder edited by hand or cut short (a JSON entry without a key, a table without a row): the readers'
        # own checks name most problems; this names the folder for the rest instead of a traceback.
        raise EdaError(f"{report_dir} is not a complete run folder for `eda compare` ({type(exc).__name__}: {exc})") from None
    click.echo(paths["compare.md"].read_text())
    click.echo(f"wrote {paths['compare.csv']}, {paths['compare.md']}, {paths['compare.html']} and {paths['manifest.json']}",
               err=True)
