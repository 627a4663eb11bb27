"""Switching overhead: the proposed-MAC array tile characterized per dataflow."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
import pandas as pd
from eda.core.files import atomic_write_text
from eda.jobs.config import Config


def measure_tiles(config: Config, platform, cache_dir: Path, target_ps: int, out: Path) -> pd.DataFrame:
    """Characterize the proposed-MAC tile per dataflow; the per-MAC switching overhead table."""
    from eda.flow.characterize import characterize, write_outputs
    from eda.flow.sta import StaSettings
    from eda.method.overhead import switching_overhead
    from eda.designs.tile import tile_variants
    from eda.parsers.verilog import use_persistent_tables

    use_persistent_tables(cache_dir)  # tile_variants reads the tile's ports with pyverilog

    settings = StaSettings(float(config.characterize.clock_period_ns), float(config.characterize.input_activity),
                           float(config.characterize.shadow_delay_fraction))
    rows, cols = config.method.tile_rows, config.method.tile_cols
    bits = asdict(config.mac)
    variants = tile_variants("proposed", int(target_ps), rows, cols, **bits)
    result = characterize(variants, platform, settings, cache_dir, corners=None, jobs=config.characterize.jobs,
                          timeout_s=float(config.characterize.timeout_s))
    write_outputs(result, out, platform, settings, sys.argv)
    overhead = switching_overhead(result.table, "proposed", platform.nominal_corner, rows, cols)
    atomic_write_text(out / "switching_overhead.csv", overhead.to_csv(index=False))
    return overhead
