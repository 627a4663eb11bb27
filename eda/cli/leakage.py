"""`eda leakage`: the leakage law (leakage current against supply) from ngspice."""

from __future__ import annotations

import time
from pathlib import Path

import click


from eda.cli.fo4 import VDDS_HELP, parse_vdds
from eda.outputs.leakage import write_leakage_outputs
from eda.spice.leakage import CHECK_CELL, LAW_CELL, default_leakage_path, run_leakage


@click.command("leakage")
@click.option("--platform", "platform_name", default="sky130hd", show_default=True, help="platform config name")
@click.option("--vdd", "vdd_text", default=None,
              help=f"supply voltages: {VDDS_HELP} (default: every voltage of the platform's FO4 table)")
@click.option("--nominal-vdd", default=None, type=click.FloatRange(0, 10, min_open=True), help="supply the ratios are relative to (default: the nominal corner's)")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="table to write (default: the platform's leakage_table, e.g. platforms/sky130hd/leakage_tt_025C.csv); "
                   "its manifest goes beside it")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="keep the ngspice deck and log here (default: a temporary folder)")
@click.option("--no-check-cell", is_flag=True, help=f"only {LAW_CELL}, without the {CHECK_CELL} cross-check")
def leakage_command(platform_name, vdd_text, nominal_vdd, out_path, work_dir, no_check_cell):
    """Leakage current of sky130_fd_sc_hd__inv_1 (and nand2_1) per supply voltage: tt, 25 C, ngspice DC.

    Table II scales leakage power with P(V) = P(Vnom) x (V/Vnom) x I(V)/I(Vnom) from this table.
    """
    from eda.core.platforms import platform_config
    from eda.spice.table import load_fo4_table, platform_fo4_table

    raw, _ = platform_config(platform_name)
    if nominal_vdd is None:
        nominal_vdd = float(raw["corners"][raw["nominal_corner"]]["vdd"])
    vdds = parse_vdds(vdd_text) if vdd_text else list(load_fo4_table(platform_fo4_table(platform_name))["vdd"])
    out_path = out_path or default_leakage_path(platform_name)
    cells = (LAW_CELL,) if no_check_cell else (LAW_CELL, CHECK_CELL)
    start = time.monotonic()
    result = run_leakage(vdds, work_dir, cells=cells, nominal_vdd=nominal_vdd)
    command = ["eda", "leakage", "--platform", platform_name, "--nominal-vdd", f"{nominal_vdd:g}"]
    command += ["--vdd", vdd_text] if vdd_text else []
    command += ["--no-check-cell"] if no_check_cell else []
    explicit_out = click.get_current_context().params.get("out_path") is not None
    command += ["--out", str(out_path)] if explicit_out else []
    paths = write_leakage_outputs(result, out_path, command, time.monotonic() - start)
    click.echo(f"wrote {paths['table']} ({len(result.table)} supplies) and {paths['manifest']}")
    for row in result.table.sort_values("vdd", ascending=False).itertuples():
        click.echo(f"  {row.vdd:.2f} V: {row.leakage_a * 1e12:8.4f} pA  ratio {row.leakage_ratio:.4f}")
