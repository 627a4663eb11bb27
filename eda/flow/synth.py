"""Synthesis with Yosys and ABC at a given delay target, onto one liberty file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jinja2

from eda.core.paths import RTL_DIR
from eda.core.errors import EdaError
from eda.core.liberty import PreparedLiberty
from eda.parsers.yosys import parse_stat_json, log_warnings
from eda.core.platforms import Platform
from eda.core.runner import find_tool, run_tool
from eda.core.step import State, Step

# ABC's default `abc -D` script gave the same netlist for every target on this
# library (see DESIGN.md section 3); mapping with -D and then sizing with
# upsize/dnsize under the same target yields a real area/delay ladder.
ABC_SCRIPT = "strash; dch; map -D {target_ps}; buffer -p; upsize -D {target_ps}; dnsize -D {target_ps}; stime -p"

YOSYS_SCRIPT = """\
# voltscale synthesis: {top} at a {target_ps} ps target on {liberty_name}
read_verilog -defer {sources}
hierarchy -check -top {top}
synth -top {top} -flatten
dfflibmap -liberty {liberty}
techmap -map latch_map.v
opt_clean
abc -liberty {liberty} -constr abc.constr -D {target_ps} -script abc.script
hilomap -singleton -hicell {tie_hi_cell} {tie_hi_port} -locell {tie_lo_cell} {tie_lo_port}
setundef -zero
{split_nets}opt_clean -purge
tee -q -o stat.json stat -json
write_verilog -noattr -noexpr -nohex -nodec netlist.v
"""


def render_latch_map(platform: Platform) -> str:
    template = jinja2.Template((RTL_DIR / "latch_map.v.j2").read_text(), undefined=jinja2.StrictUndefined)
    d_pin, enable_pin, q_pin = platform.latch_pins
    return template.render(cell=platform.latch_cell, d_pin=d_pin, enable_pin=enable_pin, q_pin=q_pin)


# A flattened hierarchy (an array tile) leaves alias assigns with concatenations on the left,
# `assign {a[21], a[19:17]} = ...`, which OpenSTA 2.0.17's Verilog reader rejects; splitting the
# nets to single bits lets opt_clean merge the aliases away. Off for single MACs, whose netlists
# (and the per-bit tracing in bit_errors.py) keep their bus names.
SPLIT_NETS = "splitnets\n"


def synthesis_scripts(top: str, sources: list[Path], target_ps: int, liberty: PreparedLiberty, platform: Platform,
                      split_nets: bool = False) -> dict[str, str]:
    """Every file the Yosys run reads besides the RTL and liberty; also hashed for the cache key."""
    return {
        "synth.ys": YOSYS_SCRIPT.format(
            split_nets=SPLIT_NETS if split_nets else "",
            top=top,
            target_ps=target_ps,
            liberty_name=liberty.source.name,
            liberty=liberty.path,
            sources=" ".join(str(s) for s in sources),
            tie_hi_cell=platform.tie_hi[0],
            tie_hi_port=platform.tie_hi[1],
            tie_lo_cell=platform.tie_lo[0],
            tie_lo_port=platform.tie_lo[1],
        ),
        "abc.script": ABC_SCRIPT.format(target_ps=target_ps) + "\n",
        "latch_map.v": render_latch_map(platform),
        # Driver and load for ABC's delay model, as ORFS's abc.constr (load in fF).
        # Without them the area/delay ladder has a third of the Pareto points.
        "abc.constr": f"set_driving_cell {platform.driver}\nset_load {platform.output_load_ff}\n",
    }


class Synthesize(Step):
    id = "synth"
    inputs = ("verilog",)
    outputs = ("netlist",)

    def __init__(self, top: str, target_ps: int, liberty: PreparedLiberty, platform: Platform, timeout_s: float,
                 split_nets: bool = False):
        if not isinstance(target_ps, int) or target_ps <= 0:
            raise EdaError(f"synthesis delay target must be a positive integer in ps, got {target_ps!r}")
        self.top, self.target_ps, self.liberty, self.platform, self.timeout_s = top, target_ps, liberty, platform, timeout_s
        self.split_nets = split_nets

    def run(self, state: State, step_dir: Path):
        sources = state.views["verilog"]
        sources = list(sources) if isinstance(sources, (tuple, list)) else [sources]
        # Relative paths keep a finished run folder valid after it is moved into the cache.
        relative = [Path(os.path.relpath(Path(s).resolve(), step_dir.resolve())) for s in sources]
        for name, text in synthesis_scripts(self.top, relative, self.target_ps, self.liberty, self.platform, self.split_nets).items():
            (step_dir / name).write_text(text)
        run_tool([find_tool("yosys", "YOSYS_EXE"), "-q", "-l", "yosys.log", "synth.ys"], cwd=step_dir, name="yosys-run", timeout_s=self.timeout_s)
        stats = parse_stat_json((step_dir / "stat.json").read_text(), self.top)
        if stats.unmapped():
            raise EdaError(
                f"synthesis of {self.top} left cells unmapped to {self.liberty.source.name}: {', '.join(stats.unmapped())}. "
                f"The platform config {self.platform.config_path} may lack a mapping (latch cell?). Log: {step_dir / 'yosys.log'}"
            )
        seq_um2, comb_um2 = stats.area_um2(self.liberty.cells)
        warnings = log_warnings((step_dir / "yosys.log").read_text(errors="replace"))
        metrics = {
            "synth__target_ps": self.target_ps,
            "synth__cells": stats.cells,
            "synth__area_um2": round(seq_um2 + comb_um2, 4),
            "synth__area_sequential_um2": round(seq_um2, 4),
            "synth__area_combinational_um2": round(comb_um2, 4),
            "synth__warnings": len(warnings),
        }
        (step_dir / "cell_counts.json").write_text(json.dumps(stats.cell_counts, indent=1, sort_keys=True))
        return {"netlist": step_dir / "netlist.v"}, metrics
