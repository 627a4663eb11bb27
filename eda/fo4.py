"""FO4 inverter delay vs supply voltage, with local mismatch: the paper's mu(V), sigma(V).

`characterize_fo4` runs the ngspice Monte Carlo (eda/spice/), `load_fo4_table` reads and
checks a saved table (platforms/sky130hd/fo4_tt_025C.csv is one), `plot_fo4_distributions`
draws the delay distributions (the paper's Fig. 6), and `fo4_command` is `eda fo4`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import platform as host
import signal
import time
from pathlib import Path

import click
import numpy as np
import pandas as pd

from . import __version__
from .errors import EdaError
from .fsutil import atomic_write_text, save_figure
from .spice.fo4_deck import INVERTER, MISMATCH_SECTION, VDD_RANGE_V
from .spice.fo4_run import SAMPLES_COLUMNS, TABLE_COLUMNS, Fo4Result, characterize_fo4, fo4_table

__all__ = ["characterize_fo4", "fo4_table", "Fo4Result", "load_fo4_table", "plot_fo4_distributions",
           "write_fo4_outputs", "parse_vdds", "fo4_command", "TABLE_COLUMNS", "SAMPLES_COLUMNS"]

DEFAULT_VDDS = "1.80:0.90:0.05"
VDDS_HELP = "comma list (1.8,1.2) or range start:stop:step (1.80:0.90:0.05, stop included), in V"
PAPER_CHAIN_STAGES = 48  # Fig. 6 of Shin et al. shows a 48-stage inverter chain

# Integer columns of the table; the others are real numbers.
_INTEGER_COLUMNS = {"samples", "seed"}


def parse_vdds(text: str) -> list[float]:
    """'1.8,1.2' or '1.80:0.90:0.05' (either direction, stop included) -> voltages in the given order."""
    vdds_mv: list[int] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            if ":" in part:
                start, stop, step = (round(float(x) * 1000) for x in part.split(":"))
                if step <= 0:
                    raise ValueError("step must be positive")
                # Work in integer mV so 0.05 V steps land exactly on 0.90 V.
                direction = 1 if stop >= start else -1
                vdds_mv.extend(range(start, stop + direction, direction * step))
            else:
                vdds_mv.append(round(float(part) * 1000))
        except ValueError as exc:
            raise click.BadParameter(f"{part!r} is not a voltage ({VDDS_HELP}): {exc}", param_hint="--vdd")
    if not vdds_mv:
        raise click.BadParameter(f"no voltage in {text!r} ({VDDS_HELP})", param_hint="--vdd")
    low, high = VDD_RANGE_V
    outside = [mv / 1000 for mv in vdds_mv if not low * 1000 <= mv <= high * 1000]
    if outside:
        raise click.BadParameter(f"{', '.join(f'{v:g}' for v in outside)} V outside {low}-{high} V", param_hint="--vdd")
    unique = list(dict.fromkeys(vdds_mv))
    return [mv / 1000 for mv in unique]


def load_fo4_table(path: Path | str) -> pd.DataFrame:
    """Read and check an FO4 table: columns vdd, fo4_mean_ps, fo4_sigma_ps, samples, seed.

    Returns exactly those columns, ascending in vdd (ready for np.interp). Raises EdaError
    naming the file, line and column of the first problem: a missing column, an empty or
    non-numeric cell, a non-positive value (seed may be 0), a non-integer count or seed,
    a repeated vdd. Extra columns are ignored.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise EdaError(f"cannot read the FO4 table {path}: {exc.strerror or exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in (reader.fieldnames or [])]
    missing = [column for column in TABLE_COLUMNS if column not in header]
    if missing:
        raise EdaError(f"{path}: missing column(s) {', '.join(missing)} (header line 1 has: {', '.join(header) or 'nothing'}; "
                       f"needed: {', '.join(TABLE_COLUMNS)})")
    rows, first_line_of_vdd = [], {}
    for row_number, raw in enumerate(reader, start=2):  # line 1 is the header
        raw = {(k or "").strip(): v for k, v in raw.items()}
        row = {}
        for column in TABLE_COLUMNS:
            cell = (raw.get(column) or "").strip()
            where = f"{path}, line {row_number}, column {column!r}"
            try:
                value = float(cell)
            except ValueError:
                raise EdaError(f"{where}: {cell!r} is not a number" if cell else f"{where}: empty cell") from None
            if not math.isfinite(value):
                raise EdaError(f"{where}: {cell!r} is not a finite number")
            if column in _INTEGER_COLUMNS and value != int(value):
                raise EdaError(f"{where}: {cell!r} is not a whole number")
            if value < 0 or (value == 0 and column != "seed"):
                raise EdaError(f"{where}: {cell!r} must be positive" + (" or 0" if column == "seed" else ""))
            row[column] = int(value) if column in _INTEGER_COLUMNS else value
        vdd_key = round(row["vdd"], 6)
        if vdd_key in first_line_of_vdd:
            raise EdaError(f"{path}, line {row_number}, column 'vdd': {row['vdd']:g} V repeats line {first_line_of_vdd[vdd_key]}")
        first_line_of_vdd[vdd_key] = row_number
        rows.append(row)
    if not rows:
        raise EdaError(f"{path}: no data rows under the header")
    return pd.DataFrame(rows, columns=TABLE_COLUMNS).sort_values("vdd").reset_index(drop=True)


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


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


@click.command("fo4")
@click.option("--vdd", "vdd_text", default=DEFAULT_VDDS, show_default=True, help=f"supply voltages: {VDDS_HELP}")
@click.option("--samples", default=500, show_default=True, type=click.IntRange(min=2), help="Monte Carlo samples per voltage")
@click.option("--seed", default=1, show_default=True, type=click.IntRange(min=0),
              help="base seed; each voltage's ngspice seed derives from (seed, vdd)")
@click.option("-j", "--jobs", default=1, show_default=True, type=click.IntRange(min=1), help="ngspice processes at once")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="output folder: fo4.csv, fo4_samples.csv, fo4_distributions.png, manifest.json, runs/")
@click.option("--timeout", "timeout_s", default=None, type=click.FloatRange(min=0, min_open=True),
              help="seconds per voltage (default: 3 s per sample, at least 120)")
@click.option("--progress/--no-progress", default=True, show_default=True, help="progress bar on stderr")
def fo4_command(vdd_text, samples, seed, jobs, out_dir, timeout_s, progress):
    """FO4 inverter delay Monte Carlo in ngspice (sky130_fd_sc_hd__inv_1, tt + mismatch, 25 C).

    One ngspice process per voltage; finished voltages in OUT/runs/ are reused by a rerun
    with the same settings.
    """
    vdds = parse_vdds(vdd_text)
    start = time.monotonic()
    # A plain `kill` must also stop the ngspice children (they ignore SIGINT and would run on):
    # turn SIGTERM into SystemExit, so characterize_fo4's cleanup runs.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        result = characterize_fo4(vdds, samples, seed, jobs, out_dir / "runs", progress=progress, timeout_s=timeout_s)
    finally:
        signal.signal(signal.SIGTERM, previous)
    # The options as resolved (defaults included), so the manifest alone reruns the table.
    command = ["eda", "fo4", "--vdd", vdd_text, "--samples", str(samples), "--seed", str(seed), "-j", str(jobs),
               "--out", str(out_dir)]
    paths = write_fo4_outputs(result, out_dir, command, time.monotonic() - start)
    reused = sum(p.reused for p in result.points)
    click.echo(f"wrote {paths['table']} ({len(result.table)} voltages x {samples} samples; "
               f"{reused} of {len(result.points)} reused from {out_dir / 'runs'})")
    for row in result.table.sort_values("vdd", ascending=False).itertuples():
        click.echo(f"  {row.vdd:.2f} V: {row.fo4_mean_ps:9.2f} ps  sigma {row.fo4_sigma_ps:7.2f} ps")
