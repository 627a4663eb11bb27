"""`eda export`: SCALE-Sim and Accelergy inputs from a finished run."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("export")
@click.argument("report_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="output folder (default: REPORT_DIR/export)")
@click.option("--model", default=None,
              help="the run's network when it was not the reference: net.py:ClassName or net.onnx (as given to `eda run`)")
@click.option("--weights", type=click.Path(dir_okay=False, path_type=Path), default=None, help="state_dict of --model")
@click.option("--input-shape", "input_shape_text", default=None,
              help="C,H,W of one input image (default for the reference network: 1,28,28)")
def export_command(report_dir, out_dir, model, weights, input_shape_text):
    """Write SCALE-Sim and Accelergy inputs from a finished `eda run` folder; no tool is rerun.

    OUT/scalesim_topology.csv (the network's conv and FC layers in SCALE-Sim's format), OUT/scalesim.cfg
    (the run's array, weight stationary), OUT/ERT.yaml (Accelergy energy reference table: energy per MAC
    operation of every kind and size at every corner's supply) and OUT/manifest.json (sources and sha256).
    Example: eda export reports/sky130hd --out export/
    """
    from eda.jobs.export import export, parse_input_shape

    shape = parse_input_shape(input_shape_text) if input_shape_text else None
    result = export(report_dir, out_dir, sys.argv, model=model, weights=weights, input_shape=shape)
    click.echo(f"{result.layers} layers, {result.tables} MAC sizes, {result.actions} ERT actions")
    for path in result.files.values():
        click.echo(f"wrote {path}")
