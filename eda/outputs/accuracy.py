"""The accuracy-against-supply plot of the accuracy sweep."""

from __future__ import annotations

from pathlib import Path
import pandas as pd


def plot_sweep(sweep: pd.DataFrame, path: Path, max_loss: float) -> None:
    """Fig. 14-style: accuracy loss against supply with its 95% interval (paired against the error-free
    pass on the same images), one panel per budget, one line per design; only the evaluated points of
    each design's Vmin search are drawn. Collapsed points (no simulation) are drawn at a loss of 100%."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from eda.core.files import save_figure

    budgets = list(dict.fromkeys(sweep["budget"]))
    fig, axes = plt.subplots(1, len(budgets), figsize=(4.2 * len(budgets), 3.6), sharey=True, squeeze=False)
    for ax, budget in zip(axes[0], budgets):
        part = sweep[sweep["budget"] == budget]
        for design, rows in part.groupby("design", sort=False):
            rows = rows.sort_values("vdd")
            low = (rows["loss"] - rows["loss_ci_low"]).clip(lower=0) * 100
            high = (rows["loss_ci_high"] - rows["loss"]).clip(lower=0) * 100
            ax.errorbar(rows["vdd"], rows["loss"] * 100, yerr=[low, high], marker="o", markersize=3, capsize=2,
                        label=design)
        ax.axhline(max_loss * 100, color="grey", linestyle=":", linewidth=1)
        ax.set_yscale("symlog", linthresh=0.5)
        ax.set_title(f"budget: {budget}")
        ax.set_xlabel("supply voltage (V)")
        ax.invert_xaxis()
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("top-1 accuracy loss (points)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
