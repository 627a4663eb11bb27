"""`eda fo4`: the FO4 inverter Monte Carlo in ngspice."""

from __future__ import annotations

import signal
import time
from pathlib import Path
import click
from eda.spice.fo4_deck import VDD_RANGE_V
from eda.spice.fo4_run import characterize_fo4
from eda.outputs.fo4 import write_fo4_outputs


DEFAULT_VDDS = "1.80:0.90:0.05"


VDDS_HELP = "comma list (1.8,1.2) or range start:stop:step (1.80:0.90:0.05, stop included), in V"


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
