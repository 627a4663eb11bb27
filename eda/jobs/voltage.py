"""The voltage part of `eda run`: FO4 table, delay and power at the other corners, error tables per kind."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
import click
from eda.core.paths import REPO_ROOT
from eda.core.files import atomic_write_text
from eda.jobs.config import Config, mac_params


def measure_errors(csv_path: Path, out: Path, platform, config: Config, settings, vdds, cache_dir: Path,
                   operands) -> dict[str, float]:
    """`eda dta` for every kind (cached): measured tables in errors/measured/, and the p of eq. 7 fitted
    per kind, which the error tables then use (the simulation cannot resolve the 1e-8-level rates
    that decide accuracy; the fitted model extrapolates to them)."""
    from eda.jobs.dta import dta_report

    click.echo(f"timing simulation of every size ({config.errors.dta_cycles} cycles of the workload's operands)", err=True)
    results, _ = dta_report(csv_path, out / "errors" / "measured", platform, cache_dir, kinds=list(config.kinds),
                            cycles=int(config.errors.dta_cycles), vdds=vdds, clock_ns=float(config.errors.clock_ns) or None,
                            model=settings, mac=mac_params(config, "tpu"),
                            shadow_delay_fraction=float(config.characterize.shadow_delay_fraction),
                            jobs=config.characterize.jobs, timeout_s=float(config.characterize.timeout_s), command=sys.argv,
                            operands=operands() if operands is not None else None)
    fitted = {r.kind: float(r.fit.p) for r in results if r.fit is not None and config.errors.fit_p}
    for kind, p in fitted.items():
        click.echo(f"  {kind}: p of eq. 7 fitted to the simulation: {p:.3f}", err=True)
    return fitted


def write_voltage_outputs(table, csv_path: Path, out: Path, platform, config: Config, cache_dir: Path | None = None,
                          operands=None) -> None:
    """FO4 table, delay/power at the other corners, the timing simulation of every size, and the
    error-probability tables per kind (eqs. 7-9 with p fitted to the simulation, or as configured).
    operands: () -> (frame, label), the workload's operand stream for the timing simulation."""
    from eda.method.errtable import ErrorModelSettings
    import pandas as pd

    from eda.jobs.errors import path_split_table, write_kind_errors
    from eda.outputs.errtable import write_path_split
    from eda.spice.table import load_fo4_table
    from eda.spice.table import platform_fo4_table
    from eda.outputs.scaling import scaling_markdown
    from eda.method.scaling import voltage_scaling_table

    fo4_path = platform_fo4_table(platform.name)
    fo4 = load_fo4_table(fo4_path)
    atomic_write_text(out / "fo4.csv", fo4_path.read_text())
    samples_path = fo4_path.with_name(fo4_path.stem + "_samples.csv")
    if samples_path.is_file():
        from eda.outputs.fo4 import plot_fo4_distributions

        plot_fo4_distributions(pd.read_csv(samples_path), out / "fo4_distributions.png")
    scaling = voltage_scaling_table(table, fo4, platform.nominal_corner)
    atomic_write_text(out / "voltage_scaling.csv", scaling.to_csv(index=False))
    atomic_write_text(out / "voltage_scaling.md", scaling_markdown(scaling, str(fo4_path.relative_to(REPO_ROOT))))
    settings = ErrorModelSettings(float(config.errors.propagation_p), config.errors.critical_paths,
                                  config.errors.process_samples, config.errors.seed)
    vdds = [float(v) for v in config.errors.vdds] or None
    fitted = measure_errors(csv_path, out, platform, config, settings, vdds, cache_dir, operands) \
        if config.errors.measure and cache_dir is not None else {}
    splits = []
    for kind in config.kinds:
        params = mac_params(config, kind)
        splits.append(path_split_table(table, csv_path, params, platform.nominal_corner, cache_dir))
        kind_settings = replace(settings, propagation_p=fitted[kind]) if kind in fitted else settings
        write_kind_errors(table, csv_path, params, platform.nominal_corner, fo4, fo4_path,
                          float(config.errors.clock_ns) or None, vdds, kind_settings, out / "errors" / kind, sys.argv,
                          cache_dir)
    write_path_split(pd.concat(splits, ignore_index=True), mac_params(config, "proposed"), out / "errors")
    click.echo(f"wrote {out / 'voltage_scaling.md'} and {out / 'errors'}/<kind>/", err=True)
