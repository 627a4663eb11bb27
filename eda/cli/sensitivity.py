"""`eda sensitivity`: 2D MAC-array sensitivity maps of the reference network (paper Fig. 9/12(a)).

The lead registers `sensitivity_command` in eda/cli/main.py. This module imports neither torch nor
numpy-heavy code at import time, so registering it keeps `eda --help` fast and works without
the `nn` extra; running it without torch gives a clear error.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import click
from eda.cli.options import MAX_ARRAY_SIDE, SEED

from eda.core.errors import EdaError
from eda.outputs.maps import plot_map

PAPER_VARIANCES = {"conventional": 2.263e-9, "column": 2.796e-9, "column2to1": 4.038e-9, "column4to1": 1.568e-8}


def _default_cache(ctx: click.Context) -> Path:
    from eda.cli.options import cache_dir_from

    return cache_dir_from(ctx)




@click.command("sensitivity")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="folder for the maps (.npy), permutations (.npz), variances.csv, pictures and summary.json")
@click.option("--rows", default=256, show_default=True, type=click.IntRange(1, MAX_ARRAY_SIDE), help="MAC array rows (M)")
@click.option("--cols", default=256, show_default=True, type=click.IntRange(1, MAX_ARRAY_SIDE), help="MAC array columns (N)")
@click.option("--ber", default=1e-2, show_default=True, type=click.FloatRange(0, 0.5, min_open=True, max_open=True), help="weight bit error rate p of Alg. 1")
@click.option("--seed", default=0, show_default=True, type=SEED, help="training seed (split, init, shuffling)")
@click.option("--epochs", default=None, type=click.IntRange(1, 10_000), help="training epochs [default: the reference recipe]")
@click.option("--method", type=click.Choice(["taylor", "curvature"]), default="taylor", show_default=True,
              help="taylor: paper Alg. 1 |dC/dw * eps|; curvature: 1/2 Fisher * E[dw^2] (second order)")
@click.option("--check-filters/--no-check-filters", default=False, show_default=True,
              help="also run the Fig. 2 check: bit-flip injection per conv filter vs predicted sensitivity (~20 s)")
@click.option("--check-ber", default=2e-3, show_default=True, type=click.FloatRange(0, 0.5, min_open=True, max_open=True), help="bit error rate of the Fig. 2 check")
@click.option("--check-draws", default=256, show_default=True, type=click.IntRange(1, 1_000_000), help="Monte Carlo draws per filter in the Fig. 2 check")
@click.pass_context
def sensitivity_command(ctx, out_dir, rows, cols, ber, seed, epochs, method, check_filters, check_ber, check_draws):
    """Sensitivity maps of the reference CNN on an M x N array for the four mapping strategies."""
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("sklearn") is None:
        raise EdaError("the sensitivity command needs torch and scikit-learn: pip install 'voltscale[nn]'")
    import numpy as np
    import pandas as pd

    from eda.core.files import atomic_write_text
    from eda.method.mapping import STRATEGIES, map_all_strategies
    from eda.nn.maps import sensitivity_study
    from eda.nn.train import DEFAULT_EPOCHS

    epochs = DEFAULT_EPOCHS if epochs is None else epochs
    study = sensitivity_study(ber=ber, seed=seed, cache_dir=_default_cache(ctx), epochs=epochs, method=method)
    maps = map_all_strategies(study.sensitivities, rows, cols)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows_out = []
    base = maps["conventional"].variance
    for strategy in STRATEGIES:
        result = maps[strategy]
        np.save(out_dir / f"map_{strategy}.npy", result.sensitivity)
        permutation = result.permutation
        np.savez_compressed(out_dir / f"permutation_{strategy}.npz",
                            row_source=permutation.row_source, column_filter=permutation.column_filter,
                            load_layer=np.array([load.layer for load in permutation.loads]),
                            load_row_tile=np.array([load.row_tile for load in permutation.loads]),
                            load_column_tile=np.array([load.column_tile for load in permutation.loads]),
                            group_rows=np.array(permutation.group_rows))
        plot_map(out_dir / f"map_{strategy}.png", result.sensitivity,
                  f"{strategy}: {rows}x{cols}, BER {ber:g}, variance {result.variance:.3e}")
        rows_out.append({"strategy": strategy, "variance": result.variance,
                         "variance_vs_conventional": result.variance / base if base > 0 else float("nan"),
                         "mean": float(result.sensitivity.mean()), "max": float(result.sensitivity.max()),
                         "zero_sensitivity_macs": int((result.sensitivity == 0).sum()),
                         "paper_variance": PAPER_VARIANCES[strategy],
                         "paper_vs_conventional": PAPER_VARIANCES[strategy] / PAPER_VARIANCES["conventional"]})
    table = pd.DataFrame(rows_out)
    atomic_write_text(out_dir / "variances.csv", table.to_csv(index=False))
    summary = {"rows": rows, "cols": cols, "ber": ber, "method": method, "seed": seed, "epochs": epochs,
               "layers": list(study.sensitivities), "accuracy": study.accuracy,
               "quantization": {name: {"scale": layer.scale, "bits": 8, "scheme": "symmetric per-layer"}
                                for name, layer in study.quantized.items()},
               "recipe": study.reference.meta.get("recipe")}
    if check_filters:
        from eda.nn.maps import filter_check

        check = filter_check(study, p=check_ber, draws=check_draws, seed=seed)
        atomic_write_text(out_dir / "filter_check.csv", check.table.to_csv(index=False))
        atomic_write_text(out_dir / "filter_check_rho.csv", check.rhos.to_csv(index=False))
        summary["filter_check"] = {"p": check_ber, "draws": check_draws, "spearman_rho_taylor": check.rho,
                                   "rhos": check.rhos.to_dict(orient="records")}
        click.echo(f"Fig. 2 check, Spearman rho (all {len(check.table)} filters):")
        click.echo(check.rhos.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2, default=float) + "\n")
    click.echo(table[["strategy", "variance", "variance_vs_conventional"]].to_string(index=False))
    click.echo(f"wrote {out_dir}", err=True)
