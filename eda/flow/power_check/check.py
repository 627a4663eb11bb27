"""The check itself: run OpenSTA, recompute internal power from its data, compare.

`check_internal_power` writes and runs the OpenSTA script (`sta_io`), reads back its
power reports and per-pin data, resolves every instance's pin states
(`instance_states`), recomputes internal power from the liberty tables (`compute`) and
returns both numbers, in total and per instance.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from eda.core.errors import EdaError
from eda.core.runner import ToolRun
from eda.flow.power_check.compute import internal_power_by_instance
from eda.flow.power_check.instance_states import build_instance_states
from eda.flow.power_check.liberty_model import LibraryPowerModel, read_internal_power_model
from eda.flow.power_check.sta_io import read_sta_outputs, run_sta, write_sta_script


@dataclass(frozen=True)
class InternalPowerCheck:
    """Our internal power next to OpenSTA's, in total and per instance."""

    internal_power_ours_w: float
    internal_power_sta_w: float
    total_power_sta_w: float
    per_instance: pd.DataFrame  # instance, cell, internal_power_ours_w, internal_power_sta_w
    work_dir: Path
    sta_run: ToolRun

    @property
    def relative_difference(self) -> float:
        """(ours - OpenSTA) / OpenSTA; inf when OpenSTA reports zero and ours does not."""
        if self.internal_power_sta_w == 0.0:
            return 0.0 if self.internal_power_ours_w == 0.0 else math.inf
        return (self.internal_power_ours_w - self.internal_power_sta_w) / self.internal_power_sta_w


def check_internal_power(
    netlist: Path | str,
    liberty: Path | str,
    *,
    top: str,
    clock_period_ns: float,
    input_activity: float,
    work_dir: Path | str,
    clock_port: str = "clk",
    library_model: LibraryPowerModel | None = None,
    timeout_s: float = 600.0,
) -> InternalPowerCheck:
    """Run OpenSTA on `netlist` with `liberty`; return its internal power and ours.

    `library_model` may be passed to reuse a parsed model (it must describe the same
    cell tables as `liberty`); otherwise the cells the netlist uses are read from
    `liberty`.  The Tcl script, OpenSTA's log and reports stay in `work_dir`.
    """
    netlist, liberty, work_dir = Path(netlist).resolve(), Path(liberty).resolve(), Path(work_dir).resolve()
    if not netlist.is_file():
        raise EdaError(f"netlist {netlist} does not exist")
    if liberty.suffix == ".gz":
        raise EdaError(f"OpenSTA 2.0.17 cannot read compressed liberty {liberty}; decompress it first")
    if clock_period_ns <= 0 or input_activity < 0:
        raise EdaError(f"clock period must be > 0 and activity >= 0 (got {clock_period_ns} ns, {input_activity})")
    work_dir.mkdir(parents=True, exist_ok=True)
    clock_period_s = clock_period_ns * 1e-9
    script = write_sta_script(
        work_dir,
        netlist=netlist,
        liberty=liberty,
        top=top,
        clock_port=clock_port,
        clock_period_s=clock_period_s,
        input_activity=input_activity,
    )
    run = run_sta(script, work_dir, timeout_s=timeout_s)
    sta_outputs = read_sta_outputs(work_dir, run)

    if library_model is None:
        library_model = read_internal_power_model(liberty, set(sta_outputs.pin_data.instance_cells.values()))
    states = build_instance_states(
        sta_outputs.pin_data,
        sta_outputs.activity_trace,
        library_model,
        clock_period_s=clock_period_s,
        input_activity=input_activity,
    )
    ours = internal_power_by_instance(library_model, states)
    per_instance = ours.merge(sta_outputs.instance_power[["instance", "internal_power_sta_w"]], on="instance", how="left")
    if per_instance["internal_power_sta_w"].isna().any():
        missing = per_instance.loc[per_instance["internal_power_sta_w"].isna(), "instance"].head(5).tolist()
        raise EdaError(f"instances missing from OpenSTA's report_power -instances: {missing} (see {run.log_path})")
    sta_total = sta_outputs.design_power["Total"]
    return InternalPowerCheck(
        internal_power_ours_w=float(per_instance["internal_power_ours_w"].sum()),
        internal_power_sta_w=sta_total.internal_w,
        total_power_sta_w=sta_total.total_w,
        per_instance=per_instance,
        work_dir=work_dir,
        sta_run=run,
    )


def describe(check: InternalPowerCheck) -> str:
    """One line for logs: both totals and their relative difference."""
    return (
        f"internal power ours {check.internal_power_ours_w:.4e} W, OpenSTA {check.internal_power_sta_w:.4e} W "
        f"({check.relative_difference:+.2%}); OpenSTA total {check.total_power_sta_w:.4e} W; "
        f"rerun: {shlex.join(check.sta_run.command)} in {check.work_dir}"
    )
