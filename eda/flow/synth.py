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
from eda.core.script_words import LIBERTY_COPY, verilog_identifier, yosys_word
from eda.core.step import State, Step

# ABC's default `abc -D` script gave the same netlist for every target on this
# library (see DESIGN.md section 3); mapping with -D and then sizing with
# upsize/dnsize under the same target yields a real area/delay ladder.
ABC_SCRIPT = "strash; dch; map -D {target_ps}; buffer -p; upsize -D {target_ps}; dnsize -D {target_ps}; stime -p"

YOSYS_SCRIPT = """\
# voltscale synthesis: {top} at a {target_ps} ps target on {liberty_name}
read_verilog -defer {sources}
hierarchy -check -top {top}
{keep_modules}synth -top {top} -flatten
dfflibmap -liberty {liberty}
techmap -map latch_map.v
opt_clean
{module_abc}abc -liberty {liberty} -constr abc.constr -D {target_ps} -script abc.script{top_selection}
{flatten_modules}{user_rtl_ports}hilomap -singleton -hicell {tie_hi_cell} {tie_hi_port} -locell {tie_lo_cell} {tie_lo_port}
setundef -zero
{split_nets}opt_clean -purge
tee -q -o stat.json stat -json
write_verilog {simple_lhs}-noattr -noexpr -nohex -nodec netlist.v
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

# A user's RTL (Design.user_rtl) may tie outputs to a constant, to an input or to another output
# (`assign {y, z} = {r, r}`); splitnets leaves port wires whole, so write_verilog would still put a
# concatenation on the left of such an assign. -simple-lhs writes one assign per port slice, which
# OpenSTA 2.0.17 reads. The port bits are also written as yosys sees them before the tie cells
# (constants still "0"/"1"), so that a design whose every output is constant is named as such.
# Off for our own designs, whose scripts (hashed into cache keys) stay as they were.
SIMPLE_LHS = "-simple-lhs "
PORT_BITS_FILE = "port_bits.json"
USER_RTL_PORTS = f"write_json {PORT_BITS_FILE}\n"

# A module with its own delay target (Design.module_targets, e.g. the proposed MAC's accumulate
# adder at half the MAC's target, as the paper designs it): ABC sees one target for all logic and,
# where the multiplier cannot meet it, recovers area on every other path up to the multiplier's
# delay. So that module is kept apart through synthesis, mapped by its own ABC run, and flattened
# into the top afterwards.
KEEP_MODULE = "setattr -mod -set keep_hierarchy 1 {module}\n"
MODULE_ABC = "abc -liberty {liberty} -constr abc.constr -D {target_ps} -script abc-{module}.script {module}\n"
FLATTEN_MODULE = "setattr -mod -unset keep_hierarchy {module}\n"
FLATTEN_KEPT = "flatten\nhierarchy -top {top}\n"


def module_target_ps(target_ps: int, fraction: float) -> int:
    return max(1, int(round(target_ps * fraction)))


def synthesis_scripts(top: str, sources: list[Path], target_ps: int, liberty: PreparedLiberty, platform: Platform,
                      split_nets: bool = False, module_targets: tuple[tuple[str, float], ...] = (),
                      user_rtl: bool = False) -> dict[str, str]:
    """Every file the Yosys run reads besides the RTL and liberty; also hashed for the cache key.

    user_rtl: a user's design (SIMPLE_LHS, USER_RTL_PORTS).

    module_targets: (module, fraction of target_ps) pairs synthesized at their own delay target."""
    modules = [(module, module_target_ps(target_ps, fraction)) for module, fraction in module_targets]
    # Paths quoted only when not plain, so the scripts (and cache keys) of plain paths stay as they were.
    top = verilog_identifier(top, "top module")
    liberty_path = yosys_word(liberty.path, LIBERTY_COPY)
    scripts = {
        "synth.ys": YOSYS_SCRIPT.format(
            keep_modules="".join(KEEP_MODULE.format(module=m) for m, _ in modules),
            module_abc="".join(MODULE_ABC.format(liberty=liberty_path, target_ps=t, module=m) for m, t in modules),
            top_selection=f" {top}" if modules else "",
            flatten_modules=("".join(FLATTEN_MODULE.format(module=m) for m, _ in modules) + FLATTEN_KEPT.format(top=top)
                             if modules else ""),
            split_nets=SPLIT_NETS if split_nets else "",
            user_rtl_ports=USER_RTL_PORTS if user_rtl else "",
            simple_lhs=SIMPLE_LHS if user_rtl else "",
            top=top,
            target_ps=target_ps,
            liberty_name=liberty.source.name,
            liberty=liberty_path,
            sources=" ".join(yosys_word(s, "Verilog file") for s in sources),
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
    for module, module_ps in modules:
        scripts[f"abc-{module}.script"] = ABC_SCRIPT.format(target_ps=module_ps) + "\n"
    return scripts


def check_outputs_not_all_constant(port_bits_json: Path, top: str) -> None:
    """A design whose every output bit is a constant after synthesis has nothing to time: say so
    (OpenSTA would only report that no register-to-register path exists)."""
    try:
        module = json.loads(port_bits_json.read_text())["modules"][top]
    except (OSError, ValueError, KeyError) as exc:
        raise EdaError(f"{port_bits_json}: no port list of module {top} from yosys ({exc})") from None
    outputs = {name: port["bits"] for name, port in module["ports"].items() if port["direction"] == "output"}
    # write_json gives a constant bit as a string ("0", "1", "x", "z") and a net as an integer.
    if all(isinstance(bit, str) for bits in outputs.values() for bit in bits):
        shown = sorted(outputs.items())[:8]
        listed = ", ".join(f"{name}={''.join(reversed(bits))}" for name, bits in shown) or "none"
        listed += ", ..." if len(outputs) > len(shown) else ""
        raise EdaError(f"after synthesis every output of module {top} is a constant ({listed}): there is no logic to "
                       "time or power. Check that the outputs are driven by logic that depends on the inputs")


class Synthesize(Step):
    id = "synth"
    inputs = ("verilog",)
    outputs = ("netlist",)

    def __init__(self, top: str, target_ps: int, liberty: PreparedLiberty, platform: Platform, timeout_s: float,
                 split_nets: bool = False, module_targets: tuple[tuple[str, float], ...] = (), user_rtl: bool = False):
        if not isinstance(target_ps, int) or target_ps <= 0:
            raise EdaError(f"synthesis delay target must be a positive integer in ps, got {target_ps!r}")
        self.top, self.target_ps, self.liberty, self.platform, self.timeout_s = top, target_ps, liberty, platform, timeout_s
        self.split_nets, self.module_targets, self.user_rtl = split_nets, module_targets, user_rtl

    def run(self, state: State, step_dir: Path):
        sources = state.views["verilog"]
        sources = list(sources) if isinstance(sources, (tuple, list)) else [sources]
        # Relative paths keep a finished run folder valid after it is moved into the cache.
        relative = [Path(os.path.relpath(Path(s).resolve(), step_dir.resolve())) for s in sources]
        for name, text in synthesis_scripts(self.top, relative, self.target_ps, self.liberty, self.platform, self.split_nets,
                                               self.module_targets, self.user_rtl).items():
            (step_dir / name).write_text(text)
        # Read below: a yosys that exits 0 without them failed, and the error names the missing file.
        written = ("stat.json", "netlist.v", "yosys.log", *((PORT_BITS_FILE,) if self.user_rtl else ()))
        run_tool([find_tool("yosys", "YOSYS_EXE"), "-q", "-l", "yosys.log", "synth.ys"], cwd=step_dir, name="yosys-run",
                 timeout_s=self.timeout_s, expect=written)
        if self.user_rtl:
            check_outputs_not_all_constant(step_dir / PORT_BITS_FILE, self.top)
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
