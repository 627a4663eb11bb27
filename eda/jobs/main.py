"""`eda run`: the main job, driven by a TOML configuration."""

from __future__ import annotations

import string
import sys
from pathlib import Path

import click

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
from eda.core.timing import StageTimer
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


def run_main_job(config: Config | Path | None, out_dir: Path | None, jobs: int | None, platforms_dir, cache_dir: Path) -> Path:
    """`eda run` with a loaded configuration (or the path of one)."""
    if not isinstance(config, Config):
        config = load_config(config)
    platform = load_platform(config.platform, platforms_dir)
    out = Path(out_dir) if out_dir else REPO_ROOT / output_folder(config.out_dir, platform.name)
    timer = StageTimer()
    workload = None
    if config.method.enabled:  # a bad model or data file fails here, before any tool runs
        from eda.jobs import workload as wl

        with timer.stage("workload"):
            workload = wl.load_workload(config.workload.model, config.workload.weights, config.workload.data,
                                        config.workload.images)
    with timer.stage("characterization"):
        table, csv_path = characterize_kinds(config, platform, out, cache_dir, jobs)
    with timer.stage("timing simulation and error tables"):
        write_voltage_outputs(table, csv_path, out, platform, config, cache_dir, workload_operands(config, workload))
    if config.method.enabled:
        from eda.jobs.inputs import method_inputs
        from eda.jobs.method import run_method

        paths = run_method(config, platform, method_inputs(out, table, platform, config.kinds), cache_dir, timer, workload)
        click.echo(f"wrote {paths['table2_md']} and {paths['html']}", err=True)
    timer.write(out / "run_stages.json")
    return out


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
    targets = config.characterize.targets_ps
    variants = [Variant(design, target) for design in designs for target in targets]
    click.echo(f"characterizing {len(designs)} MAC kinds x {len(targets)} targets on {platform.name} into {out}", err=True)
    result = characterize(variants, platform, settings, cache_dir, corners=config.corners or None,
                          jobs=config.characterize.jobs if jobs is None else jobs, timeout_s=float(config.characterize.timeout_s))
    csv_path = write_outputs(result, out, platform, settings, sys.argv)
    atomic_write_text(out / "summary.md", summary_markdown(result.table, platform.nominal_corner))
    click.echo(f"wrote {csv_path} and {out / 'summary.md'}", err=True)
    return result.table, csv_path


def workload_operands(config, workload):
    """() -> (operand frame, label) of the workload for the timing simulation, or None (random operands)."""
    if workload is None or not config.errors.measure:
        return None
    from eda.jobs import workload as wl

    return lambda: wl.mixed_operands(workload, config.errors.dta_cycles + 100, config.method.array_rows)
