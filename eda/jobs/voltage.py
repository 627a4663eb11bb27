"""The voltage part of `eda run`: FO4 table, delay and power at the other corners, error tables per kind."""

from __future__ import annotations

import sys
from pathlib import Path
import click
from eda.core.paths import REPO_ROOT
from eda.core.files import atomic_write_text
from eda.designs.mac import MacParams
from eda.jobs.config import Config


def write_voltage_outputs(table, csv_path: Path, out: Path, platform, config: Config) -> None:
    """FO4 table, delay/power at the other corners, and the error-probability tables per kind."""
    from eda.method.errtable import ErrorModelSettings
    from eda.jobs.errors import write_kind_errors
    from eda.spice.table import load_fo4_table
    from eda.spice.table import platform_fo4_table
    from eda.outputs.scaling import scaling_markdown
    from eda.method.scaling import voltage_scaling_table

    fo4_path = platform_fo4_table(platform.name)
    fo4 = load_fo4_table(fo4_path)
    atomic_write_text(out / "fo4.csv", fo4_path.read_text())
    samples_path = fo4_path.with_name(fo4_path.stem + "_samples.csv")
    if samples_path.is_file():
        import pandas as pd

        from eda.outputs.fo4 import plot_fo4_distributions

        plot_fo4_distributions(pd.read_csv(samples_path), out / "fo4_distributions.png")
    scaling = voltage_scaling_table(table, fo4, platform.nominal_corner)
    atomic_write_text(out / "voltage_scaling.csv", scaling.to_csv(index=False))
    atomic_write_text(out / "voltage_scaling.md", scaling_markdown(scaling, str(fo4_path.relative_to(REPO_ROOT))))
    settings = ErrorModelSettings(float(config.errors.propagation_p), config.errors.critical_paths,
                                  config.errors.process_samples, config.errors.seed)
    vdds = [float(v) for v in config.errors.vdds] or None
    for kind in config.kinds:
        params = MacParams(kind, config.mac.a_bits, config.mac.w_bits, config.mac.acc_bits, config.mac.razor_bits)
        write_kind_errors(table, csv_path, params, platform.nominal_corner, fo4, fo4_path,
                          float(config.errors.clock_ns) or None, vdds, settings, out / "errors" / kind, sys.argv)
    click.echo(f"wrote {out / 'voltage_scaling.md'} and {out / 'errors'}/<kind>/", err=True)
