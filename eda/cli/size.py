"""`eda size`: heterogeneous MAC sizing (eq. 10) of one sensitivity map."""

from __future__ import annotations

import sys
from pathlib import Path
import click
from eda.core.errors import EdaError
from eda.cli.options import POSITIVE_FINITE, FiniteFloatRange
from eda.method.sizer import iso_area_budget, size_dp, size_fast
from eda.parsers.tables import load_error_table, load_sensitivity
from eda.outputs.sizing import write_sizing_outputs


@click.command("size")
@click.option("--errtable", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="error-probability CSV: area_um2, delay_ns, vdd, clock_ns, p_error (one row per size and voltage)")
@click.option("--vdd", type=FiniteFloatRange(min=0, min_open=True, max=10), default=None, help="supply voltage whose rows to use (needed if the table has several)")
@click.option("--clock-ns", type=POSITIVE_FINITE, default=None, help="clock period whose rows to use (needed if several at --vdd)")
@click.option("--sensitivity", "sensitivity_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="M x N sensitivity map (.npy, or .csv without header)")
@click.option("--budget-um2", type=POSITIVE_FINITE, default=None, help="area budget of the whole array in um^2")
@click.option("--iso-size", type=click.IntRange(min=0), default=None,
              help="iso-area budget: M x N MACs of this size index (sizes sorted by area, from 0)")
@click.option("--solver", type=click.Choice(["fast", "dp"]), default="fast", show_default=True,
              help="fast: exact LP + core DP; dp: the paper's Alg. 2 (small arrays only)")
@click.option("--area-quantum-um2", type=POSITIVE_FINITE, default=None,
              help="area grid for both solvers (default: coarsest of 1, 0.1, ..., 0.0001 um^2 that keeps every area exact)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True, help="output folder")
def size_command(errtable, vdd, clock_ns, sensitivity_path, budget_um2, iso_size, solver, area_quantum_um2, out_dir):
    """Choose one size per MAC to minimize sum s_i f(a_i) within an area budget (paper eq. 10, Alg. 2)."""
    if (budget_um2 is None) == (iso_size is None):
        raise click.UsageError("give exactly one of --budget-um2 and --iso-size")
    sizes = load_error_table(errtable, vdd, clock_ns)
    sensitivity = load_sensitivity(sensitivity_path)
    if iso_size is not None:
        if not 0 <= iso_size < len(sizes):
            raise EdaError(f"--iso-size {iso_size} is not a size index: the table has sizes 0..{len(sizes) - 1} at this voltage")
        budget_um2 = iso_area_budget(sensitivity.size, float(sizes["area_um2"].iloc[iso_size]))
    solve = size_fast if solver == "fast" else size_dp
    result = solve(sensitivity, sizes["area_um2"].to_numpy(), sizes["p_error"].to_numpy(), budget_um2,
                   area_quantum_um2=area_quantum_um2)
    outputs = write_sizing_outputs(result, sizes, out_dir, sensitivity=sensitivity, iso_index=iso_size, command=sys.argv)
    status = "optimal" if result.proven_optimal else f"gap {result.gap:.3g}"
    click.echo(f"sized {sensitivity.shape[0]}x{sensitivity.shape[1]} MACs ({solver}, {status}, {result.seconds:.2f} s): "
               f"objective {result.objective:.6g}, area {result.total_area_um2:.2f} of {result.budget_um2:.2f} um^2; "
               f"wrote {outputs['summary_md']}")
