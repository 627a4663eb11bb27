"""`eda train`: train the reference Fashion-MNIST CNN and write its int8 weights (committed data)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("train")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="training seed")
@click.option("--epochs", default=4, show_default=True, type=click.IntRange(min=1), help="passes over the 60,000 images")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="folder for fashion_cnn.npz/.json (default: eda/nn/reference/, the committed copy)")
def train_command(seed, epochs, out_dir):
    """Train the reference CNN on Fashion-MNIST (deterministic: one thread, fixed seed) and save it as int8."""
    from eda.nn.fashion import REFERENCE_DIR, save_reference, train_reference

    model, meta = train_reference(seed, epochs, progress=lambda line: click.echo(line, err=True))
    path = save_reference(model, meta, out_dir or REFERENCE_DIR)
    click.echo(f"wrote {path} (float test accuracy {meta['float_test_accuracy']:.4f})")
