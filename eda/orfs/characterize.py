"""The ORFS backend end to end: design folders, make runs, the characterization table.

Same variants as the embedded backend (eda.characterize.Variant: a design at a delay
target), same table columns (plus ORFS_EXTRA_COLUMNS). Layout under out_dir:

    designs/<platform>/<nickname>/   config.mk, constraint-<variant>.sdc, src/   (design.py)
    orfs/                            ORFS's WORK_HOME: logs/, reports/, results/, objects/
    orfs/voltscale/<nickname>/<variant>/make.cmd, make.log
    characterization.csv
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..characterize import Variant
from ..errors import EdaError
from ..fsutil import atomic_write_text
from ..platforms import Platform
from ..steps.synth import render_latch_map
from .design import OrfsDesignFolder, OrfsSettings, flow_variant_name, write_design_folder
from .run import run_orfs
from .table import orfs_table, read_orfs_run


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


def characterize_with_orfs(variants: list[Variant], platform: Platform, out_dir: Path, settings: OrfsSettings | None = None,
                           *, flow_home: Path | str | None = None, parallel: int = 0, timeout_s: float | None = None,
                           voltscale_latch_map: bool = False) -> pd.DataFrame:
    """Write the design folders, run ORFS on every variant, parse the results into out_dir/characterization.csv."""
    if not variants:
        raise EdaError("nothing to characterize: no variants (check kinds and targets)")
    settings = settings or OrfsSettings()
    out_dir = Path(out_dir).resolve()
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
    table = orfs_table(rows)
    atomic_write_text(out_dir / "characterization.csv", table.to_csv(index=False))
    return table
