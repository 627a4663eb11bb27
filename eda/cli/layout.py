"""`eda layout`: place and route MAC variants with qflow; post-synthesis vs post-layout tables."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import click

from eda.core.errors import EdaError
from eda.core.files import atomic_write_text
from eda.designs.mac import MAC_KINDS
from eda.cli.options import mac_options
from eda.flow.sta import StaSettings
from eda.backends.qflow.flow import DEFAULT_PLATFORM, characterize_qflow, prepare_qflow
from eda.backends.qflow.report import markdown, results_table, side_by_side


def _targets(text: str) -> list[int]:
    from eda.cli.options import parse_targets

    return parse_targets(text)


def _cache_dir(ctx: click.Context) -> Path:
    from eda.cli.options import cache_dir_from

    return cache_dir_from(ctx)


@click.command("layout")
@click.option("--platform", "platform_name", default=DEFAULT_PLATFORM, show_default=True,
              help="platform with a qflow technology (osu018: Debian's qflow-tech-osu018)")
@click.option("--kind", "kinds", type=click.Choice(MAC_KINDS), multiple=True, help="MAC kind (repeatable; default: all)")
@mac_options
@click.option("--targets", default="3000", show_default=True, help="synthesis delay targets: 2000,3000 or start:stop:step in ps")
@click.option("--clock-period-ns", default=10.0, show_default=True, type=click.FloatRange(min=0, min_open=True), help="STA/power clock")
@click.option("--activity", default=0.2, show_default=True, type=click.FloatRange(0, 2), help="input toggles per cycle for power")
@click.option("--density", default=None, type=click.FloatRange(0.1, 1.0), help="qflow initial_density (fill padding); default: the tech's")
@click.option("-j", "--jobs", default=0, show_default=True, help="parallel runs (0: one per core)")
@click.option("--timeout", "timeout_s", default=900.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="seconds per tool run (> 0)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True, help="output folder")
@click.pass_context
def qflow_command(ctx, platform_name, kinds, mac, targets, clock_period_ns, activity,
                  density, jobs, timeout_s, out_dir):
    """Place and route MAC variants with qflow (GrayWolf + qrouter) and compare post-synthesis
    with post-layout delay, power and area (wire RC from qrouter, read by OpenSTA as SPEF).

    Writes OUT/layout.csv (one row per variant and stage), OUT/layout.md (side by side),
    OUT/manifest.json and OUT/runs/<kind>-D<target>/ with every stage's folder and log."""
    from eda.designs.registry import mac_design

    platforms_dir = (ctx.obj or {}).get("platforms_dir")
    setup = prepare_qflow(platform_name, _cache_dir(ctx), platforms_dir)
    settings = StaSettings(clock_period_ns=clock_period_ns, input_activity=activity)
    designs = [mac_design(replace(mac, kind=k)) for k in (kinds or MAC_KINDS)]
    variants = [(d, t) for d in designs for t in _targets(targets)]
    extra = f"set initial_density = {density}\n" if density else ""
    workers = jobs if jobs > 0 else (os.cpu_count() or 1)
    start = time.monotonic()
    results, errors = [], []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(characterize_qflow, d, t, setup, out_dir / "runs", settings=settings, timeout_s=timeout_s,
                               project_vars=extra): (d.kind, t) for d, t in variants}
        for future in as_completed(futures):
            kind, target = futures[future]
            try:
                result = future.result()
            except EdaError as exc:
                errors.append(f"{kind}-D{target}: {exc}")
                continue
            results.append(result)
            click.echo(f"{kind}-D{target}: routed ({result.metrics['total_runtime_s']:.1f} s)", err=True)
    if errors:
        raise EdaError(f"{len(errors)} of {len(variants)} layout runs failed; the first:\n{errors[0]}")
    order = {(d.kind, t): i for i, (d, t) in enumerate(variants)}
    results.sort(key=lambda r: order[(r.kind, r.target_ps)])
    table = results_table(results)
    side = side_by_side(table)
    text = markdown(side, setup.platform.name, clock_period_ns, activity)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "layout.csv", table.to_csv(index=False))
    atomic_write_text(out_dir / "layout.md", text)
    atomic_write_text(out_dir / "manifest.json", json.dumps({
        "command": sys.argv, "platform": setup.platform.name, "liberty": str(setup.liberty.source),
        "qflow_tech": str(setup.tech.tech_dir), "sta_settings": {"clock_period_ns": clock_period_ns, "input_activity": activity},
        "runtime_s": round(time.monotonic() - start, 3),
        "runs": [{"variant": f"{r.kind}-D{r.target_ps}", "run_dir": str(r.run_dir), "metrics": r.metrics} for r in results],
    }, indent=1))
    click.echo(text, nl=False)
