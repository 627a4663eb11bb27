"""`eda run`: the main job, driven by a TOML configuration."""

from __future__ import annotations

import string
import sys
from pathlib import Path

import click

from eda.core.errors import EdaError
from eda.core.paths import REPO_ROOT
from eda.designs.registry import Variant
from eda.flow.characterize import characterize, write_outputs
from eda.jobs.config import Config, load_config, mac_params
from eda.designs.registry import mac_design
from eda.core.files import atomic_write_text
from eda.core.platforms import load_platform
from eda.flow.sta import StaSettings
from eda.outputs.summary import summary_markdown
from eda.jobs.voltage import write_voltage_outputs
from eda.core.errors import EdaError


def output_folder(pattern: str, platform_name: str) -> str:
    try:
        # Only the bare field: format would also evaluate {platform.attr} and {platform[0]}.
        fields = {field for _, field, spec, conversion in string.Formatter().parse(pattern) if field is not None
                  for field in (field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else ""),)}
        if fields - {"platform"}:
            raise KeyError(", ".join(sorted(fields - {"platform"})))
        return pattern.format(platform=platform_name)
    except (KeyError, IndexError, ValueError) as exc:
        raise EdaError(f"out_dir {pattern!r}: only the placeholder {{platform}} is known ({exc!r})") from None


# The stages of `eda run` before the method half, with the files and folders each writes.
CHARACTERIZATION_OUTPUTS = ("characterization.csv", "targets.csv", "manifest.json", "summary.md", "runs")
VOLTAGE_OUTPUTS = ("fo4.csv", "fo4_distributions.png", "voltage_scaling.csv", "voltage_scaling.md", "errors")
WORKLOAD_OUTPUTS = ("workload/utilization.csv", "workload/network.json")


def run_main_job(config: Config | Path | None, out_dir: Path | None, jobs: int | None, platforms_dir, cache_dir: Path) -> Path:
    """`eda run` with a loaded configuration (or the path of one).

    Every stage is skipped when its inputs and outputs are those of its last run into this folder
    (eda/core/stages.py); run_stages.json says, per stage, whether it was recomputed or reused, and why."""
    from eda.core.files import make_dir
    from eda.core.stages import Stages
    from eda.jobs.incremental import LazyWorkload, RunBasis

    if not isinstance(config, Config):
        config = load_config(config)
    platform = load_platform(config.platform, platforms_dir)
    out = Path(out_dir) if out_dir else REPO_ROOT / output_folder(config.out_dir, platform.name)
    make_dir(out)
    stages = Stages(out)
    basis = RunBasis(config, platform, stages, Path(cache_dir))
    workload = LazyWorkload(config, stages) if config.method.enabled else None
    if workload is not None:  # a bad model or data file fails here, before any tool runs
        stages.run("workload", basis.inputs(("method.array_rows", "method.array_cols"), workload=True), WORKLOAD_OUTPUTS,
                   lambda: write_workload_files(workload.get(), config, out))
    stages.run("characterization",
               basis.inputs(("platform", "kinds", "corners", "mac", "characterize.targets_ps", "characterize.clock_period_ns",
                             "characterize.input_activity", "characterize.shadow_delay_fraction"), platform=True, tools=True),
               CHARACTERIZATION_OUTPUTS, lambda: characterize_kinds(config, platform, out, cache_dir, jobs))
    csv_path = out / "characterization.csv"
    measured = config.errors.measure and workload is not None
    stages.run("timing simulation and error tables",
               basis.inputs(("platform", "kinds", "mac", "errors", "characterize.shadow_delay_fraction")
                            + (("method.array_rows",) if measured else ()),
                            upstream={"characterization": ("characterization.csv", "runs/")}, platform=True,
                            tools=config.errors.measure, workload=measured),
               VOLTAGE_OUTPUTS,
               lambda: write_voltage_outputs(read_characterization(csv_path), csv_path, out, platform, config, cache_dir,
                                             workload_operands(config, workload)))
    if config.method.enabled:
        from eda.jobs.method import run_method

        paths = run_method(config, platform, out, cache_dir, basis, workload)
        click.echo(f"wrote {paths['table2_md']} and {paths['html']}", err=True)
    stages.write(out / "run_stages.json")
    reused = [name for name, status in stages.status.items() if status["status"] == "reused"]
    if reused:
        click.echo(f"reused {len(reused)} of {len(stages.status)} stages whose inputs and outputs were unchanged "
                   f"({', '.join(reused)}); see {out / 'run_stages.json'}", err=True)
    return out


def read_characterization(csv_path: Path):
    import pandas as pd

    return pd.read_csv(csv_path)


def write_workload_files(workload, config, out: Path) -> None:
    """workload/utilization.csv (how busy the array is, layer by layer) and workload/network.json (what
    the network and the test set are): what the later stages need of the workload without loading it."""
    import json

    from eda.jobs import workload as wl

    utilization = wl.utilization(workload, config.method.array_rows, config.method.array_cols)
    atomic_write_text(out / "workload" / "utilization.csv", utilization.to_csv(index=False))
    atomic_write_text(out / "workload" / "network.json",
                      json.dumps({"network": workload.network.meta, "test_images": len(workload.test),
                                  "calibration_images": len(workload.calibration)}, indent=1, default=str) + "\n")


def characterize_kinds(config, platform, out: Path, cache_dir: Path, jobs: int | None):
    settings = StaSettings(
        clock_period_ns=float(config.characterize.clock_period_ns),
        input_activity=float(config.characterize.input_activity),
        shadow_delay_fraction=float(config.characterize.shadow_delay_fraction),
    )
    designs = [
        mac_design(mac_params(config, kind))
        for kind in config.kinds
    ]
    targets = delay_targets(config, platform)
    variants = [Variant(design, target) for design in designs for target in targets]
    click.echo(f"characterizing {len(designs)} MAC kinds x {len(targets)} targets on {platform.name} into {out}", err=True)
    result = characterize(variants, platform, settings, cache_dir, corners=config.corners or None,
                          jobs=config.characterize.jobs if jobs is None else jobs, timeout_s=float(config.characterize.timeout_s))
    csv_path = write_outputs(result, out, platform, settings, sys.argv)
    atomic_write_text(out / "summary.md", summary_markdown(result.table, platform.nominal_corner))
    click.echo(f"wrote {csv_path} and {out / 'summary.md'}", err=True)
    return result.table, csv_path


def delay_targets(config: Config, platform) -> list[int]:
    """The config's delay targets (ps), else the platform's [characterize] range."""
    targets = list(config.characterize.targets_ps) or list(platform.targets_ps)
    if not targets:
        raise EdaError(f"characterize.targets_ps is empty and {platform.config_path} sets no [characterize] targets_ps: "
                       "give the delay targets (ps) in one of them")
    return targets


def workload_operands(config, workload):
    """() -> (operand frame, label) of the workload for the timing simulation, or None (random operands).
    workload: the LazyWorkload of the run (loaded only when the timing simulation runs)."""
    if workload is None or not config.errors.measure:
        return None
    from eda.jobs import workload as wl

    return lambda: wl.mixed_operands(workload.get(), config.errors.dta_cycles + 100, config.method.array_rows)
