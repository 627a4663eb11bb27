"""`eda report`: re-render Table II from a finished run."""

from __future__ import annotations

from pathlib import Path
import click
from eda.core.errors import EdaError
from eda.jobs.report import rebuild
from eda.outputs.report import markdown_table, COLUMNS
from eda.jobs.trace import render, trace
from eda.cli.options import FiniteFloatRange, cache_dir_from


@click.command("report")
@click.argument("report_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--max-loss", type=FiniteFloatRange(0, 1, max_open=True), default=None,
              help="accuracy-loss threshold for Vmin (default: the run's, e.g. 0.03 = 3 points)")
def report_command(report_dir, max_loss):
    """Re-render Table II (CSV, markdown, HTML) from a finished `eda run` folder; no tool is rerun."""
    try:
        table = rebuild(report_dir, max_loss)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        # A run folder edited by hand or cut short (a table without a column, a JSON entry without a key):
        # the files' own checks name most problems; this names the folder for the rest instead of a traceback.
        raise EdaError(f"{report_dir} is not a complete `eda run` folder ({type(exc).__name__}: {exc}); "
                       "rerun `eda run` to rewrite it") from None
    click.echo(markdown_table(table, COLUMNS))
    click.echo(f"wrote {report_dir / 'table2.md'} and {report_dir / 'report.html'}")


@click.command("trace")
@click.argument("report_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("table_name", metavar="TABLE")
@click.argument("row")
@click.argument("column")
@click.pass_context
def trace_command(ctx, report_dir, table_name, row, column):
    """Print the chain from one reported number down to the tool logs it came from.

    TABLE is a CSV of the run folder (table2.csv, characterization.csv, tiles/characterization.csv,
    accuracy/vmin.csv); ROW a 0-based row number or the value of its first column (a design name);
    COLUMN a column name. Example: eda trace reports/sky130hd table2.csv proposed-column power_nominal_w
    """
    link = trace(report_dir, table_name, row, column, cache_dir_from(ctx))
    click.echo("\n".join(render(link)))
