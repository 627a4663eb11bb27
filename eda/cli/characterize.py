"""`eda characterize`: targets with units, the platform's default targets, missed targets flagged.

Registered in eda/cli/main.py's _register_commands() under the name `characterize`, so it
replaces the command of the same name defined earlier in main.py (left in place while a long
job had main.py imported; delete it there). Differences from that command:

- --targets takes units (2ns, 1800ps; bare = ps, small bare numbers refused: options.parse_targets)
  and defaults to the platform config's `[characterize] targets_ps = [first, last, step]`;
- OUT/targets.csv flags each row at the nominal corner whose delay misses its synthesis
  target by more than TARGET_TOLERANCE (target_met), with a warning on stderr. It is a
  separate file, not a column of characterization.csv, because eda/jobs and eda/method read
  that table by its columns (eda.flow.characterize.CSV_COLUMNS);
- --backend orfs re-times with --corner, --clock-period-ns and --activity (it ignored them).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click
import pandas as pd

from eda.cli.options import DEFAULT_TARGETS_HELP, JOBS, POSITIVE_FINITE, FiniteFloatRange, cache_dir_from, mac_options, parse_targets
from eda.designs.mac import MAC_KINDS

FALLBACK_TARGETS = "2000,3000,4000,6000"  # ps; for a platform whose config names no targets
# Synthesis targets are ABC's delay goal, met to within the liberty's accuracy; a delay more
# than this fraction above the target means ABC could not reach it (the design is as fast as
# the library allows), so rows at neighbouring targets are likely the same netlist.
TARGET_TOLERANCE = 0.05
TARGETS_CSV = "targets.csv"


def target_check(table: pd.DataFrame, nominal_corner: str, tolerance: float = TARGET_TOLERANCE) -> pd.DataFrame:
    """One row per (kind, target) at the nominal corner: delay_ns vs target, target_met (pure).

    Only the nominal corner is checked: the target was set for it; slower corners are
    expected to be slower.
    """
    columns = ["kind", "corner", "target_ps", "target_ns", "delay_ns", "delay_over_target", "target_met"]
    if table.empty or "corner" not in table.columns:
        return pd.DataFrame(columns=columns)
    rows = table[table["corner"] == nominal_corner]
    check = pd.DataFrame({
        "kind": rows["kind"].to_numpy(),
        "corner": rows["corner"].to_numpy(),
        "target_ps": pd.to_numeric(rows["target_ps"], errors="coerce").to_numpy(),
        "delay_ns": pd.to_numeric(rows["delay_ns"], errors="coerce").to_numpy(),
    })
    check["target_ns"] = check["target_ps"] / 1000.0
    check["delay_over_target"] = check["delay_ns"] / check["target_ns"]
    known = check["delay_ns"].notna() & check["target_ns"].notna()
    check["target_met"] = (check["delay_ns"] <= check["target_ns"] * (1 + tolerance)).where(known)
    return check[columns]


def warn_missed_targets(check: pd.DataFrame, csv_path: Path, tolerance: float = TARGET_TOLERANCE) -> None:
    missed = check[check["target_met"] == False]  # noqa: E712 (NaN, unknown, is neither)
    if missed.empty:
        return
    listed = ", ".join(f"{r.kind} {int(r.target_ps)}ps -> {r.delay_ns * 1000:.0f}ps" for r in missed.itertuples())
    click.echo(f"warning: {len(missed)} of {len(check)} targets missed by more than {tolerance:.0%} at the nominal "
               f"corner ({listed}): synthesis could not reach them; such rows are the fastest design the library gives, "
               f"not a design at that target. See {csv_path} (target_met).", err=True)


def write_target_check(table: pd.DataFrame, out_dir: Path, nominal_corner: str) -> Path:
    from eda.core.files import atomic_write_text

    check = target_check(table, nominal_corner)
    path = Path(out_dir) / TARGETS_CSV
    atomic_write_text(path, check.to_csv(index=False))
    warn_missed_targets(check, path)
    return path


def default_targets(platform) -> list[int]:
    """The platform config's [characterize] targets_ps, else FALLBACK_TARGETS."""
    return list(platform.targets_ps) or parse_targets(FALLBACK_TARGETS)


@click.command("characterize")
@click.option("--platform", "platform_name", default="sky130hd", show_default=True, help="platform config name")
@click.option("--kind", "kinds", type=click.Choice(MAC_KINDS), multiple=True, help="MAC kind (repeatable; default: all)")
@click.option("--verilog", "verilog", type=click.Path(dir_okay=False, path_type=Path), multiple=True,
              help="characterize your own RTL instead (repeatable); needs --top")
@click.option("--top", default=None, help="top module of --verilog")
@click.option("--clock", default="clk", show_default=True, help="clock port of --verilog's top")
@click.option("--register-io", is_flag=True, help="wrap --verilog's top in input and output registers")
@mac_options
@click.option("--targets", default=None,
              help=f"synthesis delay targets: {DEFAULT_TARGETS_HELP}. Default: the platform config's [characterize] "
                   f"targets_ps, else {FALLBACK_TARGETS} ps")
@click.option("--corner", "corners", multiple=True, help="liberty corner(s) to analyse (default: nominal; orfs: every corner)")
@click.option("--clock-period-ns", default=10.0, show_default=True, type=POSITIVE_FINITE, help="STA/power clock")
@click.option("--activity", default=0.2, show_default=True, type=FiniteFloatRange(0, 2), help="input toggles per cycle for power")
@click.option("-j", "--jobs", default=0, show_default=True, type=JOBS, help="parallel runs (0: one per core)")
@click.option("--timeout", "timeout_s", default=600.0, show_default=True, type=POSITIVE_FINITE,
              help="seconds per tool run (> 0)")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="run on a Dask cluster: a scheduler address (tcp://host:port), or 'local' for a LocalCluster of "
                   "--jobs worker processes (0: 2). Needs pip install 'voltscale[cluster]'; the workers must see the "
                   "cache, platform data and tools at the same paths. Embedded backend only")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True, help="output folder")
@click.option("--backend", type=click.Choice(["embedded", "orfs"]), default="embedded", show_default=True,
              help="embedded: Yosys + OpenSTA; orfs: OpenROAD-flow-scripts place and route in $FLOW_HOME")
@click.option("--flow-home", type=click.Path(file_okay=False, path_type=Path), default=None, help="ORFS flow/ folder (default: $FLOW_HOME)")
@click.option("--core-utilization", default=40.0, show_default=True, help="ORFS CORE_UTILIZATION (%)")
@click.option("--place-density", default=0.60, show_default=True, help="ORFS PLACE_DENSITY")
@click.option("--orfs-var", "orfs_vars", multiple=True, metavar="KEY=VALUE", help="extra ORFS config.mk variable (repeatable)")
@click.pass_context
def characterize_command(ctx, platform_name, kinds, verilog, top, clock, register_io, mac, targets, corners, clock_period_ns,
                         activity, jobs, timeout_s, scheduler, out_dir, backend, flow_home, core_utilization, place_density, orfs_vars):
    """Synthesize at each delay target, then time and power each netlist with OpenSTA.

    Writes OUT/characterization.csv, OUT/manifest.json, OUT/targets.csv (missed targets) and
    OUT/runs/<variant>/ (scripts and logs). With --backend orfs, each target is an ORFS run
    (FLOW_VARIANT D<ps>, clock = target), re-timed post-route at --corner (default: every
    corner) with --clock-period-ns and --activity for power; OUT/ holds designs/, orfs/ and the tables.
    """
    from eda.core.platforms import load_platform
    from eda.designs.registry import Variant, mac_design, user_design
    from eda.flow.sta import StaSettings

    target_list = parse_targets(targets) if targets is not None else None  # bad targets fail before any lookup
    if verilog:
        if kinds:
            raise click.UsageError("use either --kind or --verilog, not both")
        if not top:
            raise click.UsageError("--verilog needs --top NAME")
        designs = [user_design(list(verilog), top, clock=clock, register_io=register_io)]
    else:
        designs = [mac_design(replace(mac, kind=k)) for k in (kinds or MAC_KINDS)]
    platform = load_platform(platform_name, ctx.obj["platforms_dir"] if ctx.obj else None)
    if target_list is None:
        target_list = default_targets(platform)
        click.echo(f"targets (from {platform.config_path if platform.targets_ps else 'the built-in default'}): "
                   f"{target_list[0]}..{target_list[-1]} ps, {len(target_list)} targets", err=True)
    settings = StaSettings(clock_period_ns=clock_period_ns, input_activity=activity, clock_port=clock if verilog else "clk")
    variants = [Variant(d, t) for d in designs for t in target_list]
    if backend == "orfs":
        if scheduler:
            raise click.UsageError("--scheduler runs the embedded backend only; drop it for --backend orfs")
        table = _characterize_orfs(variants, platform, out_dir, settings, list(corners) or None, flow_home, jobs, timeout_s,
                                   core_utilization, place_density, orfs_vars, cache_dir_from(ctx))
        write_target_check(table, out_dir, platform.nominal_corner)
        click.echo(f"wrote {Path(out_dir) / 'characterization.csv'} ({len(table)} rows from ORFS)")
        return
    from eda.flow.characterize import characterize as run_characterize, write_outputs

    if scheduler:
        from eda.core.executors import make_executor

        with make_executor(jobs, scheduler) as executor:
            result = run_characterize(variants, platform, settings, cache_dir_from(ctx), corners=list(corners) or None,
                                      jobs=jobs, timeout_s=timeout_s, executor=executor)
    else:
        result = run_characterize(variants, platform, settings, cache_dir_from(ctx), corners=list(corners) or None,
                                  jobs=jobs, timeout_s=timeout_s)
    csv_path = write_outputs(result, out_dir, platform, settings, sys.argv)
    write_target_check(result.table, out_dir, platform.nominal_corner)
    cached = sum(e["cached"] for e in result.runs)
    click.echo(f"wrote {csv_path} ({len(result.table)} rows; {cached} of {len(result.runs)} runs from cache)")


def parse_orfs_vars(items) -> dict[str, str]:
    extra = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--orfs-var")
        extra[key.strip()] = value
    return extra


def _characterize_orfs(variants, platform, out_dir, settings, corners, flow_home, jobs, timeout_s, core_utilization,
                       place_density, orfs_vars, cache_dir):
    """The ORFS backend with the command's analysis settings: the post-route re-timing uses the
    same corners, power clock and input activity as the embedded backend would."""
    from eda.backends.orfs.characterize import characterize_with_orfs
    from eda.backends.orfs.design import OrfsSettings

    orfs_settings = OrfsSettings(core_utilization_pct=core_utilization, place_density=place_density,
                                 extra_variables=parse_orfs_vars(orfs_vars))
    return characterize_with_orfs(variants, platform, out_dir, orfs_settings, flow_home=flow_home, parallel=jobs,
                                  timeout_s=timeout_s, corners=corners, sta_settings=settings, cache_dir=cache_dir)
