"""Pictures of 2-D maps over the MAC array (sensitivity, size)."""

from __future__ import annotations

from pathlib import Path
from eda.core.files import save_figure


def plot_map(path: Path, sensitivity, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import LogNorm

    # idle MACs (no weight ever mapped) have sensitivity 0: masked, drawn in light grey
    masked = np.ma.masked_less_equal(sensitivity, 0.0)
    figure, axes = plt.subplots(figsize=(5.2, 4.4))
    cmap = plt.get_cmap("viridis").with_extremes(bad="#dddddd")
    if masked.count():
        image = axes.imshow(masked, cmap=cmap, norm=LogNorm(vmin=masked.min(), vmax=masked.max()),
                            interpolation="nearest")
        figure.colorbar(image, ax=axes, label="MAC sensitivity (loss units, log scale)")
    axes.set_title(title, fontsize=9)
    axes.set_xlabel("column (filters)")
    axes.set_ylabel("row (inputs)")
    figure.tight_layout()
    save_figure(figure, path)
