"""The FO4 Monte Carlo deck: pure text out, no I/O.

Circuit (all sky130_fd_sc_hd__inv_1, tt corner with local mismatch, 25 C):

    vin (ramp) -> shape1 -> s1 -> shape2 -> a -> dut -> y -> load1..load4
                            s1 -> 3 dummies    a -> 3 dummies

Each shaping inverter drives a fan-out of four too, so the DUT's input edge is the edge
it would see inside a chain of FO4 stages, not the ideal ramp. Measured (tt, no
mismatch): with one shaping stage the FO4 delay is 3% low at 1.8 V and 6% low at 1.0 V;
a third stage changes it by under 0.1%. The loads' outputs are left open, the usual FO4
set-up (loading each with four more inverters adds 1-3% and doubles the run time).
FO4 delay = mean of the DUT's rising and falling propagation delays, a to y, at VDD/2.

Monte Carlo: `.lib ... tt_mm` turns on the models' per-device mismatch (AGAUSS in each
transistor's delvto); a `.control` loop sets the seed once, then per sample `reset`
(which redraws every device's mismatch), `tran`, `meas`, and one SAMPLE_MARK line.
`setseed` makes a run reproducible; `rndseed` does not.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from eda.spice.models import Sky130Models

INVERTER = "sky130_fd_sc_hd__inv_1"
MISMATCH_SECTION = "tt_mm"
FANOUT = 4
SHAPING_STAGES = 2
SAMPLE_MARK = "FO4SAMPLE"  # one line per sample: FO4SAMPLE <index> <tplh_s> <tphl_s>
BEGIN_MARK = "FO4BEGIN"  # printed before each sample, so a failure can be pinned on one
# sky130 1.8 V devices. The inv_1's HVT pfet (|Vth| ~0.87 V) is deep in subthreshold below
# 0.9 V: FO4 is ~9 ns at 0.8 V, ~39 ns at 0.7 V, ~0.23 us at 0.6 V, and at 0.5 V the
# output did not cross VDD/2 within the window (4 us).
VDD_RANGE_V = (0.6, 1.95)

# Nominal FO4 delay (ps) of inv_1, tt, 25 C, measured here (DESIGN.md section 4; below 0.9 V
# from 2-sample runs of this deck). Used only
# to size the simulation window; the measured delay never depends on it as long as the
# edges land inside the window, which the generous factors below make sure of.
_KNOWN_FO4_PS = {0.6: 234e3, 0.7: 38.8e3, 0.8: 8.8e3, 0.9: 2180.0, 1.0: 802.0, 1.2: 262.0, 1.4: 147.0, 1.6: 104.0, 1.8: 83.0}

# Window in units of the estimated delay. The input ramp is as slow as one FO4 delay; each
# output edge gets 30 estimated delays to settle, which also covers a sample 10x slower
# than the estimate (the mismatch tail at low voltage is a few sigma, far less).
RAMP_DELAYS = 1.0
LEAD_DELAYS = 5.0
HOLD_DELAYS = 30.0
# ngspice never steps further than tstep unless told, so the step bound (tmax) is set
# explicitly: the edges are resolved by its truncation-error control and the source's
# breakpoints, while the flat stretches between them cost few points.
TMAX_DELAYS = 0.05  # 0.2 moved single edges by 1 ps (of 94) at 1.8 V; 0.05 by under 0.05 ps
TSTEP_DELAYS = 0.02


def estimated_fo4_ps(vdd_v: float) -> float:
    """Nominal FO4 delay, interpolated in log(delay) on the measured points, extrapolated beyond."""
    vdds = np.array(sorted(_KNOWN_FO4_PS))
    logs = np.log([_KNOWN_FO4_PS[v] for v in vdds])
    if vdd_v < vdds[0]:
        slope = (logs[1] - logs[0]) / (vdds[1] - vdds[0])
        return float(math.exp(logs[0] + slope * (vdd_v - vdds[0])))
    if vdd_v > vdds[-1]:
        return float(math.exp(logs[-1]))  # the delay only falls above 1.8 V; an upper bound is fine
    return float(math.exp(np.interp(vdd_v, vdds, logs)))


def ngspice_seed(seed: int, vdd_v: float) -> int:
    """The `setseed` value for one voltage: fixed by (seed, vdd) alone.

    So any voltage can be rerun by itself, or in its own process, and draw the same samples.
    """
    digest = hashlib.sha256(f"voltscale-fo4:{int(seed)}:{vdd_mv(vdd_v)}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 1) + 1


def vdd_mv(vdd_v: float) -> int:
    return int(round(vdd_v * 1000))


@dataclass(frozen=True)
class Fo4Window:
    """Input pulse and transient settings, in seconds."""

    ramp_s: float
    rise_at_s: float
    width_s: float
    stop_s: float
    tstep_s: float
    tmax_s: float

    @classmethod
    def for_vdd(cls, vdd_v: float) -> "Fo4Window":
        delay_s = estimated_fo4_ps(vdd_v) * 1e-12
        ramp, lead, hold = RAMP_DELAYS * delay_s, LEAD_DELAYS * delay_s, HOLD_DELAYS * delay_s
        return cls(ramp_s=ramp, rise_at_s=lead, width_s=hold, stop_s=lead + 2 * (ramp + hold),
                   tstep_s=TSTEP_DELAYS * delay_s, tmax_s=TMAX_DELAYS * delay_s)


def spiceinit_text() -> str:
    """The .spiceinit ngspice reads from its working folder, before it parses the deck."""
    return (
        "* written by voltscale (eda/spice/fo4_deck.py)\n"
        "* the sky130 models' own recommendation (sky130_fd_pr/combined_models/spinit)\n"
        "set ngbehavior=hsa\n"
        "set ng_nomodcheck\n"
        "* Debian's ngspice runs 2 OpenMP threads per process; parallel runs then thrash (50x slower)\n"
        "set num_threads=1\n"
        "* no ' Reference value' progress on stderr: it interleaves with, and can split, the sample lines\n"
        "set norefvalue\n"
    )


def _inv(name: str, inp: str, out: str) -> str:
    # sky130_fd_sc_hd__inv_1 ports: A VGND VNB VPB VPWR Y
    return f"X{name} {inp} vgnd vgnd vpwr vpwr {out} {INVERTER}"


def _shaping_stages() -> list[str]:
    """in -> shape1 -> s1 -> shape2 -> a, each stage loaded by its successor and three dummies."""
    lines, node_in = [], "in"
    for stage in range(1, SHAPING_STAGES + 1):
        node_out = "a" if stage == SHAPING_STAGES else f"s{stage}"
        lines.append(_inv(f"shape{stage}", node_in, node_out))
        lines += [_inv(f"dummy{stage}_{i}", node_out, f"dummy{stage}_{i}_y") for i in range(1, FANOUT)]
        node_in = node_out
    return lines


def fo4_deck(vdd_v: float, samples: int, seed: int, models: Sky130Models, temp_c: float = 25.0) -> str:
    """The ngspice deck for `samples` Monte Carlo samples of the FO4 delay at `vdd_v`.

    `seed` is the setseed value (see `ngspice_seed`). Prints one SAMPLE_MARK line per sample.
    """
    if not VDD_RANGE_V[0] <= vdd_v <= VDD_RANGE_V[1]:
        raise ValueError(f"vdd {vdd_v} V is outside {VDD_RANGE_V[0]}-{VDD_RANGE_V[1]} V")
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    w = Fo4Window.for_vdd(vdd_v)
    half = vdd_v / 2
    pulse = f"PULSE(0 {vdd_v:g} {w.rise_at_s:.4g} {w.ramp_s:.4g} {w.ramp_s:.4g} {w.width_s:.4g} {2 * w.stop_s:.4g})"
    lines = [
        f"* FO4 delay of {INVERTER}, {MISMATCH_SECTION}, {vdd_v:g} V, {temp_c:g} C, {samples} samples, setseed {seed}",
        "* written by voltscale (eda/spice/fo4_deck.py); run: ngspice -b fo4.sp (from this folder, for .spiceinit)",
        f'.lib "{models.lib_path}" {MISMATCH_SECTION}',
        f'.include "{models.cell_netlist(INVERTER)}"',
        f".temp {temp_c:g}",
        ".options noinit",  # no initial-solution table per sample in the log
        f"Vpwr vpwr 0 {vdd_v:g}",
        "Vgnd vgnd 0 0",
        f"Vin in 0 {pulse}",
        *_shaping_stages(),
        _inv("dut", "a", "y"),
        *(_inv(f"load{i}", "y", f"load{i}_y") for i in range(1, FANOUT + 1)),
        ".control",
        f"setseed {seed}",
        "let sample = 0",
        f"while sample < {samples}",
        f"  echo {BEGIN_MARK} $&sample",
        "  reset",
        f"  tran {w.tstep_s:.4g} {w.stop_s:.4g} 0 {w.tmax_s:.4g}",
        # Input rises first: a falls, y rises (tplh); then a rises, y falls (tphl).
        f"  meas tran tplh trig v(a) val={half:g} fall=1 targ v(y) val={half:g} rise=1",
        f"  meas tran tphl trig v(a) val={half:g} rise=1 targ v(y) val={half:g} fall=1",
        f"  echo {SAMPLE_MARK} $&sample $&tplh $&tphl",
        "  destroy all",  # drop the finished plot, or 500 of them pile up in memory
        "  let sample = sample + 1",
        "end",
        "quit",
        ".endc",
        ".end",
    ]
    return "\n".join(lines) + "\n"
