"""`eda array`: systolic-array Verilog for every MAC kind and dataflow, optionally simulated against numpy."""

from __future__ import annotations

from pathlib import Path
import click
from eda.core.errors import EdaError
from eda.designs.mac import MAC_KINDS
from eda.designs.array import DATAFLOWS, load_sizing_map, ArrayParams, render_array
from eda.cli.options import SEED

MAX_RENDERED_SIDE = 512


@click.command("array")
@click.option("--kind", type=click.Choice(MAC_KINDS), required=True, help="MAC kind")
# A 3000 x 3000 array (9 million MACs of Verilog) ended in a MemoryError; the paper's is 256 x 256.
@click.option("--rows", default=4, show_default=True, type=click.IntRange(1, MAX_RENDERED_SIDE), help="MAC rows (M)")
@click.option("--cols", default=4, show_default=True, type=click.IntRange(1, MAX_RENDERED_SIDE), help="MAC columns (N)")
@click.option("--dataflow", type=click.Choice(DATAFLOWS), default="conventional", show_default=True,
              help="column: filters permuted to columns (same RTL); column2to1/column4to1: activation switching")
@click.option("--sizing-map", "sizing_map_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="ROWSxCOLS size indices, .csv (comma-separated, no header) or .npy; default: all 0 (one size)")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write the Verilog here (default: stdout, unless --verify)")
@click.option("--verify", is_flag=True, help="simulate with iverilog and compare with the numpy model")
@click.option("-n", "--n-vectors", default=64, show_default=True, type=click.IntRange(1, 1_000_000),
              help="activation vectors to simulate (--verify)")
@click.option("--seed", default=0, show_default=True, type=SEED, help="random weights, activations and mapping (--verify)")
def array_command(kind, rows, cols, dataflow, sizing_map_path, out, verify, n_vectors, seed):
    """Render a ROWSxCOLS systolic array of MACs; optionally verify it bit-exact in iverilog."""
    sizing_map = None if sizing_map_path is None else load_sizing_map(sizing_map_path, rows, cols)
    params = ArrayParams(kind, rows, cols, dataflow, sizing_map)
    text = render_array(params)
    if out is not None:
        from eda.core.files import atomic_write_text

        atomic_write_text(out, text)
        click.echo(f"wrote {out} ({params.top}, MAC modules {', '.join(map(params.mac_module, params.sizes_in_use))})", err=True)
    elif not verify:
        click.echo(text, nl=False)
    if verify:
        import tempfile

        from eda.verify.array_sim import verify_array

        with tempfile.TemporaryDirectory(prefix="voltscale-array-") as tmp:
            result = verify_array(params, n_vectors, seed, workdir=Path(tmp))
        click.echo(f"{params.top}: {'PASS' if result.passed else 'FAIL'}: {result.summary()}", err=True)
        if not result.passed:
            raise EdaError(f"the {params.top} simulation does not match the numpy model")
