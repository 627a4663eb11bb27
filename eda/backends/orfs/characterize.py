"""The ORFS backend end to end: design folders, make runs, the characterization table.

Same variants as the embedded backend (eda.characterize.Variant: a design at a delay
target), same table columns (plus ORFS_EXTRA_COLUMNS). Layout under out_dir:

    designs/<platform>/<nickname>/   config.mk, constraint-<variant>.sdc, src/   (design.py)
    orfs/                            ORFS's WORK_HOME: logs/, reports/, results/, objects/
    orfs/voltscale/<nickname>/<variant>/make.cmd, make.log
    orfs/voltscale/<nickname>/<variant>/sta-<corner>/, corners.json   (sta_corners.py)
    characterization.csv

After make, every variant's final netlist and SPEF are re-timed with OpenSTA at every
corner (sta_corners.py): one row per variant and corner, delay and power from that
analysis, area and ORFS's own columns from ORFS's reports. retime=False keeps the
earlier table: one row per variant with ORFS's own numbers at the nominal corner.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from eda.designs.registry import Variant
from eda.flow.characterize import prepare_corners
from eda.core.errors import EdaError
from eda.core.files import atomic_write_text
from eda.core.platforms import Platform
from eda.flow.sta import StaSettings
from eda.flow.synth import render_latch_map
from eda.backends.orfs.design import OrfsDesignFolder, OrfsSettings, flow_variant_name, write_design_folder
from eda.backends.orfs.run import run_orfs
from eda.backends.orfs.sta_corners import RETIMED_COLUMNS, PostRouteOptions, final_results, retime_corners, retimed_rows
from eda.backends.orfs.table import orfs_table, read_orfs_run


def write_design_folders(variants: list[Variant], platform: Platform, designs_dir: Path, settings: OrfsSettings,
                         voltscale_latch_map: bool = False) -> dict[str, OrfsDesignFolder]:
    """One design folder per design (keyed by its kind), holding every target of that design."""
    grouped: dict[str, tuple] = {}
    for variant in variants:
        design, targets = grouped.get(variant.design.kind, (variant.design, []))
        if design != variant.design:
            raise EdaError(f"two different designs share the label {variant.design.kind!r}; give them distinct labels")
        targets.append(variant.target_ps)
        grouped[variant.design.kind] = (design, targets)
    latch_map = render_latch_map(platform) if voltscale_latch_map else None
    return {kind: write_design_folder(design, targets, platform.name, designs_dir, settings, latch_map_verilog=latch_map)
            for kind, (design, targets) in grouped.items()}


def default_cache_dir() -> Path:
    """Where prepared liberties are kept: $VOLTSCALE_CACHE, else ~/.cache/voltscale (as eda.cli.cache_dir_from)."""
    given = os.environ.get("VOLTSCALE_CACHE")
    return Path(given or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "voltscale").resolve()


def characterize_with_orfs(variants: list[Variant], platform: Platform, out_dir: Path, settings: OrfsSettings | None = None,
                           *, flow_home: Path | str | None = None, parallel: int = 0, timeout_s: float | None = None,
                           voltscale_latch_map: bool = False, retime: bool = True, corners: list[str] | None = None,
                           sta_settings: StaSettings | None = None, post_route: PostRouteOptions | None = None,
                           cache_dir: Path | None = None) -> pd.DataFrame:
    """Write the design folders, run ORFS on every variant, parse the results into out_dir/characterization.csv.

    With retime (the default), each variant's 6_final.v + 6_final.spef is then timed with
    OpenSTA at `corners` (default: every corner of the platform with liberty data; the
    nominal corner always, first), with `sta_settings` (the embedded backend's power clock
    and activity) and `post_route` options; prepared liberties are cached in cache_dir
    (default: $VOLTSCALE_CACHE or ~/.cache/voltscale).
    """
    if not variants:
        raise EdaError("nothing to characterize: no variants (check kinds and targets)")
    settings = settings or OrfsSettings()
    out_dir = Path(out_dir).resolve()
    corners = list(corners or platform.corners)
    unknown = [c for c in corners if c not in platform.corners]
    if retime and unknown:  # checked before hours of place and route, not after
        raise EdaError(f"platform {platform.name} has no corner(s) {', '.join(unknown)} to re-time at; "
                       f"available: {', '.join(platform.corners)}")
    folders = write_design_folders(variants, platform, out_dir / "designs", settings, voltscale_latch_map)
    jobs = [(folders[v.design.kind], flow_variant_name(v.target_ps)) for v in variants]
    runs = run_orfs(jobs, work_home=out_dir / "orfs", flow_home=flow_home, parallel=parallel, timeout_s=timeout_s)
    corner = platform.nominal
    rows = [read_orfs_run(run.work_home, platform.name, run.design.nickname, run.flow_variant,
                          kind=variant.design.kind, target_ps=variant.target_ps,
                          clock_period_ns=variant.target_ps / 1000.0, main_clock="clk",  # create_clock -name clk (design.py)
                          corner=corner.name, vdd=corner.vdd, temp_c=corner.temp_c,
                          run_dir=str(run.logs_dir.relative_to(out_dir)))
            for run, variant in zip(runs, variants)]
    if not retime:
        table = orfs_table(rows)
    else:
        liberties = prepare_corners(platform, corners, cache_dir or default_cache_dir())

        def one(run, variant, base):
            results = final_results(run.work_home, platform.name, run.design.nickname, run.flow_variant, top=run.design.top,
                                    fallback_sdc=run.design.sdc(run.flow_variant),
                                    use_final_sdc=(post_route or PostRouteOptions()).use_final_sdc)
            run_dir = run.make_log.parent  # <WORK_HOME>/voltscale/<nickname>/<variant>/, beside make.log
            timings = retime_corners(results, platform, liberties, run_dir, settings=sta_settings or StaSettings(),
                                     options=post_route or PostRouteOptions(), ports=set(variant.design.ports),
                                     static_inputs=variant.design.static_inputs, timeout_s=timeout_s or 600.0)
            return retimed_rows(base, timings, str(run_dir.relative_to(out_dir)))

        workers = min(len(runs), parallel if parallel > 0 else (os.cpu_count() or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(one, run, variant, base) for run, variant, base in zip(runs, variants, rows)]
            retimed, errors = [], []
            for run, future in zip(runs, futures):
                try:
                    retimed.extend(future.result())
                except EdaError as exc:
                    errors.append(f"{run.design.nickname} {run.flow_variant}: {exc}")
        if errors:
            others = "".join(f"\n  - {e.splitlines()[0]}" for e in errors[1:])
            raise EdaError(f"post-route re-timing failed for {len(errors)} of {len(runs)} ORFS runs. First:\n{errors[0]}"
                           + (f"\nOthers:{others}" if others else ""))
        table = pd.DataFrame(retimed, columns=RETIMED_COLUMNS)
    atomic_write_text(out_dir / "characterization.csv", table.to_csv(index=False))
    return table
