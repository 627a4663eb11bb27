"""The tool runs of the voltage model: an FO4 inverter stage timed by OpenSTA at each liberty corner,
and the MAC characterization at every corner for the prediction check.

The fit and the check themselves are eda/method/voltage_model.py; the files eda/outputs/voltage_model.py;
`eda voltage-model` is eda/cli/voltage_model.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from eda.core.errors import EdaError
from eda.core.liberty import PreparedLiberty, prepare_corner_liberty
from eda.core.platforms import Platform
from eda.core.runner import run_tool
from eda.core.script_words import tcl_word, verilog_identifier
from eda.designs.registry import Variant
from eda.flow.characterize import characterize, time_unit_ns
from eda.flow.sta import StaSettings, liberty_word, sta_executable
from eda.method.voltage_model import AlphaPowerFit, fit_alpha_power, voltage_groups

# The chain: every stage drives the next one and FO4_EXTRA_LOADS more inverters (fanout 4). The
# first stages set a realistic input slew and the last drives only dummies, so only the middle
# stages are measured; with both input edges each of them counts once rising and once falling,
# as the ngspice FO4 deck averages tplh and tphl (eda/spice/fo4_deck.py).
FO4_STAGES = 8
FO4_EXTRA_LOADS = 3
MEASURED_STAGES = range(3, FO4_STAGES - 1)  # 1-based stage numbers

FO4_SCRIPT = """\
# voltscale FO4 stage: {inverter} on {liberty_name}
read_liberty {liberty}
read_verilog fo4_chain.v
link_design fo4_chain
set_driving_cell -lib_cell {inverter} -pin {out_pin} [get_ports a]
set_load 0 [get_ports y]
puts "@@ rise"
report_checks -unconstrained -rise_from [get_ports a] -to [get_ports y] -digits 6
puts "@@ fall"
report_checks -unconstrained -fall_from [get_ports a] -to [get_ports y] -digits 6
puts "@@ end"
"""

# A path line of report_checks: "  0.012345   0.045678 ^ s3/ZN (cell)".
_PATH_LINE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+(-?\d+(?:\.\d+)?)\s+([\^v])\s+s(\d+)/(\S+)\s+\(", re.M)


@dataclass(frozen=True)
class Fo4Measurement:
    corner: str
    process: str
    vdd: float
    temp_c: float
    fo4_ps: float
    rise_ps: float   # mean over the measured stages of the output-rising stage delays
    fall_ps: float
    log_path: Path


def fo4_chain_verilog(cell: str, in_pin: str, out_pin: str) -> str:
    """Structural Verilog of the FO4 chain a -> s1 -> ... -> sN -> y."""
    names = [verilog_identifier(x, what) for x, what in ((cell, "inverter cell"), (in_pin, "inverter input"), (out_pin, "inverter output"))]
    cell, in_pin, out_pin = names
    lines = ["module fo4_chain (a, y);", "  input a;", "  output y;"]
    nets = ["a"] + [f"n{i}" for i in range(1, FO4_STAGES)] + ["y"]
    lines += [f"  wire {net};" for net in nets[1:-1]]
    for stage in range(1, FO4_STAGES + 1):
        lines.append(f"  {cell} s{stage} (.{in_pin}({nets[stage - 1]}), .{out_pin}({nets[stage]}));")
        extra = FO4_EXTRA_LOADS + (1 if stage == FO4_STAGES else 0)
        lines += [f"  {cell} s{stage}_load{j} (.{in_pin}({nets[stage]}), .{out_pin}());" for j in range(extra)]
    return "\n".join(lines + ["endmodule", ""])


def parse_fo4_log(text: str, out_pin: str, source: Path | str) -> tuple[list[float], list[float]]:
    """(output-rising, output-falling) stage delays of the measured stages, in liberty time units."""
    rising, falling = [], []
    for section in ("rise", "fall"):
        match = re.search(rf"^@@ {section}\n(.*?)^@@ ", text, re.S | re.M)
        if match is None:
            raise EdaError(f"{source}: no '@@ {section}' section; OpenSTA stopped early (see the log)")
        stages = {int(m.group(4)): (float(m.group(1)), m.group(3)) for m in _PATH_LINE.finditer(match.group(1))
                  if m.group(5) == out_pin}
        missing = [s for s in MEASURED_STAGES if s not in stages]
        if missing:
            raise EdaError(f"{source}: section '{section}' has no path line for stage(s) {', '.join(map(str, missing))} "
                           f"(pin s<n>/{out_pin}); expected OpenSTA's report_checks through the whole chain")
        for stage in MEASURED_STAGES:
            delay, edge = stages[stage]
            (rising if edge == "^" else falling).append(delay)
    return rising, falling


def measure_fo4(platform: Platform, corner: str, liberty: PreparedLiberty, work_dir: Path, timeout_s: float = 300.0) -> Fo4Measurement:
    """The FO4 delay (ps) of the platform's inverter at one corner, from OpenSTA's NLDM tables."""
    if platform.inverter is None:
        raise EdaError(f"{platform.config_path}: [cells] sets no inverter; expected inverter = [cell, input pin, output pin] "
                       "for the FO4 stage")
    cell, in_pin, out_pin = platform.inverter
    if cell not in liberty.cells:
        raise EdaError(f"{platform.config_path}: [cells] inverter {cell!r} is not a cell of {liberty.source}")
    step_dir = work_dir / f"fo4-{corner}"
    step_dir.mkdir(parents=True, exist_ok=True)
    (step_dir / "fo4_chain.v").write_text(fo4_chain_verilog(cell, in_pin, out_pin))
    (step_dir / "fo4.tcl").write_text(FO4_SCRIPT.format(inverter=tcl_word(cell), out_pin=tcl_word(out_pin),
                                                        liberty_name=liberty.source.name, liberty=liberty_word(liberty.path, step_dir)))
    run = run_tool([sta_executable(), "-no_init", "-exit", "fo4.tcl"], cwd=step_dir, name="sta", timeout_s=timeout_s)
    rising, falling = parse_fo4_log(run.log_text(), out_pin, run.log_path)
    to_ps = time_unit_ns(liberty) * 1e3
    rise_ps, fall_ps = to_ps * sum(rising) / len(rising), to_ps * sum(falling) / len(falling)
    c = platform.corners[corner]
    return Fo4Measurement(corner, c.process, c.vdd, c.temp_c, (rise_ps + fall_ps) / 2, rise_ps, fall_ps, run.log_path)


def measure_corners(platform: Platform, cache_dir: Path, work_dir: Path) -> pd.DataFrame:
    """The FO4 stage at every corner of the platform: one row per corner."""
    rows = []
    for name, corner in platform.corners.items():
        liberty = prepare_corner_liberty(corner.libs, platform.dont_use, cache_dir)
        m = measure_fo4(platform, name, liberty, work_dir)
        rows.append({"corner": name, "process": m.process, "vdd": m.vdd, "temp_c": m.temp_c, "fo4_ps": round(m.fo4_ps, 4),
                     "fo4_rise_ps": round(m.rise_ps, 4), "fo4_fall_ps": round(m.fall_ps, 4),
                     "liberty": ", ".join(p.name for p in corner.libs), "sta_log": str(m.log_path)})
    return pd.DataFrame(rows)


def fit_groups(measured: pd.DataFrame, alpha: float | None = None) -> dict[tuple[str, float], AlphaPowerFit]:
    """The alpha-power law for every group of corners with one process and temperature."""
    return {(str(g["process"].iloc[0]), float(g["temp_c"].iloc[0])): fit_alpha_power(g["vdd"], g["fo4_ps"], alpha)
            for g in voltage_groups(measured)}


def characterize_voltage_corners(platform: Platform, designs: list, targets: list[int], cache_dir: Path, *, jobs: int = 0,
                                 timeout_s: float = 600.0, progress: bool = False) -> pd.DataFrame:
    """Every design at every target, timed at every corner that shares process and temperature
    with another at a different supply; with the corners' process added."""
    corners = pd.DataFrame([{"corner": c.name, "process": c.process, "vdd": c.vdd, "temp_c": c.temp_c}
                            for c in platform.corners.values()])
    wanted = [name for group in voltage_groups(corners) for name in group["corner"]]
    if not wanted:
        raise EdaError(f"platform {platform.name}: no two corners share process and temperature at different supplies "
                       f"({', '.join(f'{c.name}: {c.process} {c.temp_c:g} C {c.vdd:g} V' for c in platform.corners.values())}); "
                       "nothing to check a voltage model against")
    variants = [Variant(design, target) for design in designs for target in targets]
    result = characterize(variants, platform, StaSettings(), cache_dir, corners=wanted, jobs=jobs, timeout_s=timeout_s,
                          progress=progress)
    process = {c.name: c.process for c in platform.corners.values()}
    table = result.table[result.table["corner"].isin(wanted)].copy()
    table.insert(table.columns.get_loc("corner") + 1, "process", table["corner"].map(process))
    return table
