"""Writing the FO4 Monte Carlo outputs: table, samples, manifest and the delay-distribution plot."""

from __future__ import annotations

import json
import math
import platform as host
import time
from pathlib import Path
import numpy as np
import pandas as pd
from eda import __version__
from eda.core.files import atomic_write_text, save_figure
from eda.spice.fo4_deck import INVERTER, MISMATCH_SECTION
from eda.spice.fo4_run import Fo4Result


PAPER_CHAIN_STAGES = 48  # Fig. 6 of Shin et al. shows a 48-stage inverter chain


def plot_fo4_distributions(samples: pd.DataFrame, path: Path | str, chain_stages: int = PAPER_CHAIN_STAGES) -> Path:
    """Two panels: the sampled single-stage FO4 delay per voltage (normalized histograms, log
    delay axis), and the delay of a `chain_stages`-stage chain under the paper's model,
    N(T mu, T sigma^2) (its Fig. 6). Written atomically as PNG (or any matplotlib format)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    vdds = sorted(samples["vdd"].unique(), reverse=True)
    colors = plt.cm.viridis(np.linspace(0.0, 0.9, len(vdds)))
    fig, (ax_stage, ax_chain) = plt.subplots(1, 2, figsize=(13, 5.2))
    # One set of log-spaced bins for every voltage, so the histograms compare by eye.
    low, high = samples["fo4_ps"].min(), samples["fo4_ps"].max()
    bins = np.geomspace(low * 0.98, high * 1.02, 120)
    for color, vdd in zip(colors, vdds):
        delays = samples.loc[samples["vdd"] == vdd, "fo4_ps"].to_numpy()
        ax_stage.hist(delays, bins=bins, color=color, alpha=0.75, histtype="stepfilled", label=f"{vdd:.2f} V")
        mean_ps, sigma_ps = delays.mean(), delays.std(ddof=1)
        chain_mean, chain_sigma = chain_stages * mean_ps, math.sqrt(chain_stages) * sigma_ps
        x = np.linspace(chain_mean - 4 * chain_sigma, chain_mean + 4 * chain_sigma, 200)
        density = np.exp(-0.5 * ((x - chain_mean) / chain_sigma) ** 2) / (chain_sigma * math.sqrt(2 * math.pi))
        # Density per unit of ln(delay), so every curve encloses the same area on the log axis.
        ax_chain.plot(x / 1000, density * x, color=color, label=f"{vdd:.2f} V")
    ax_stage.set_xscale("log")
    ax_stage.set_xlabel("FO4 delay of one stage (ps, log scale)")
    ax_stage.set_ylabel("samples per bin (log-spaced bins)")
    n_per_vdd = samples.groupby("vdd").size()
    ax_stage.set_title(f"{INVERTER}, tt + local mismatch, 25 C: {n_per_vdd.min()}"
                       f"{'' if n_per_vdd.min() == n_per_vdd.max() else '+'} Monte Carlo samples per VDD", fontsize=9)
    ax_chain.set_xscale("log")
    ax_chain.set_xlabel(f"delay of a {chain_stages}-stage FO4 chain (ns, log scale)")
    ax_chain.set_ylabel("probability density per unit ln(delay)")
    ax_chain.set_title(f"N(T mu, T sigma^2), T = {chain_stages} (as Fig. 6 of Shin et al. 2019)", fontsize=9)
    ax_chain.legend(fontsize=7, ncol=2, title="VDD", title_fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=130)


def table_csv_text(table: pd.DataFrame) -> str:
    # Rounded to what the Monte Carlo resolves: ngspice prints 6 significant digits.
    return table.to_csv(index=False, float_format="%.4f", lineterminator="\n")


def samples_csv_text(samples: pd.DataFrame) -> str:
    return samples.to_csv(index=False, float_format="%.4f", lineterminator="\n")


def write_fo4_outputs(result: Fo4Result, out_dir: Path, command: list[str], runtime_s: float | None = None) -> dict[str, Path]:
    """out_dir/fo4.csv, fo4_samples.csv, fo4_distributions.png and manifest.json (runs/ is the work folder)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"table": out_dir / "fo4.csv", "samples": out_dir / "fo4_samples.csv",
             "plot": out_dir / "fo4_distributions.png", "manifest": out_dir / "manifest.json"}
    atomic_write_text(paths["samples"], samples_csv_text(result.samples))
    atomic_write_text(paths["table"], table_csv_text(result.table))
    plot_fo4_distributions(result.samples, paths["plot"])
    manifest = {
        "tool": {"name": "voltscale", "version": __version__},
        "command": command,
        "created_unix": int(time.time()),
        "host": {"python": host.python_version(), "system": host.platform()},
        "runtime_s": None if runtime_s is None else round(runtime_s, 1),
        "ngspice": {"path": result.ngspice.path, "version": result.ngspice.version} if result.ngspice else None,
        "circuit": {"cell": INVERTER, "model_section": MISMATCH_SECTION, "temp_c": 25.0, "fanout": 4},
        "models": {"root": str(result.models.root) if result.models else None,
                   "lib": str(result.models.lib_path) if result.models else None,
                   "sha256": result.model_sha256},
        "seed": int(result.table["seed"].iloc[0]),
        "samples_per_vdd": int(result.table["samples"].iloc[0]),
        "points": [{"vdd": p.vdd, "ngspice_seed": p.ngspice_seed, "run_dir": str(p.run_dir), "reused": p.reused,
                    "runtime_s": round(p.runtime_s, 2)} for p in result.points],
        "outputs": {name: str(p) for name, p in paths.items() if name != "manifest"},
    }
    atomic_write_text(paths["manifest"], json.dumps(manifest, indent=2) + "\n")
    return paths
