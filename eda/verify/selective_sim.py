"""Cycle-accurate check of the selective-protection MAC (rtl/mac_selective.v.j2) in iverilog against numpy.

Stimulus: the columns of eda/verify/mac_sim.py (a_in, w_in, w_load, psum_in) plus
  err_request  the array's replay line from elsewhere (another MAC's error) in that cycle;
  flip         a mask of partial-sum bits latched wrong at that cycle's edge: the testbench inverts
               them in the main flops 0.5 ns after the edge, as a late bit leaves them, while the
               Razor shadow flop (clocked at the edge in zero-delay simulation) keeps the right value.
The MAC's own err_out is ORed into its err_in by the testbench (the array's OR of all flags).

Golden model (`golden_selective`), edge k with the registers before it:
  replay = err_request[k] or err_out after edge k-1;
  no replay: psum = psum_in[k] + a_reg * w_reg (24-bit wrap), shadow = psum; a_reg, w_reg load;
  replay:    a_reg, w_reg and the plain bits hold; the protected bits take the shadow; shadow holds;
  then psum ^= flip[k]; err_out = any protected bit differs from its shadow.
With no flip and no request this is the tpu golden model (eda.verify.mac_sim.golden_mac) exactly.

`replayed_stream` builds what an array controller does: after a cycle whose flip touches a protected
bit, one extra (ignored) cycle is inserted; dropping the flagged cycles from the outputs must give the
error-free tpu outputs of the original stream, with only the unprotected part of each flip left.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from eda.core.errors import EdaError
from eda.core.runner import run_tool
from eda.designs.mac import template_environment
from eda.designs.selective import MODULE, SelectiveMac, bits_mask, render_selective_mac, selective_ports
from eda.verify.mac_sim import (COMPILE_TIMEOUT_S, SIM_TIMEOUT_S, OutputComparison, signed_range, compare_outputs,
                                golden_mac, random_vectors, read_outputs, write_hex)

TESTBENCH_TEMPLATE = "tb_mac_selective.v.j2"
TESTBENCH_TOP = "tb_mac_selective"
SIM_OUTPUT_FILE = "outputs.txt"
STIMULUS_COLUMNS = ("a_in", "w_in", "w_load", "psum_in", "err_request", "flip")


def selective_vectors(vectors: pd.DataFrame, err_request=None, flip=None) -> pd.DataFrame:
    """mac_sim vectors (a_in, w_in, w_load, psum_in) with the replay requests and flip masks added (default none)."""
    n = len(vectors)
    out = vectors[["a_in", "w_in", "w_load", "psum_in"]].reset_index(drop=True).copy()
    out["err_request"] = np.zeros(n, dtype=bool) if err_request is None else np.asarray(err_request, dtype=bool)
    out["flip"] = np.zeros(n, dtype=np.int64) if flip is None else np.asarray(flip, dtype=np.int64)
    return out


def _arrays(mac: SelectiveMac, vectors: pd.DataFrame) -> dict[str, np.ndarray]:
    missing = [c for c in STIMULUS_COLUMNS if c not in vectors.columns]
    if missing:
        raise EdaError(f"selective MAC stimulus lacks column(s) {', '.join(missing)} (build it with selective_vectors)")
    if len(vectors) == 0:
        raise EdaError("stimulus vectors are empty")
    p = mac.params
    arrays = {}
    for name, bits in (("a_in", p.a_bits), ("w_in", p.w_bits), ("psum_in", p.acc_bits)):
        values = vectors[name].to_numpy(dtype=np.int64)
        low, high = signed_range(bits)
        if ((values < low) | (values > high)).any():
            raise EdaError(f"{name} outside the signed {bits}-bit range [{low}, {high}]")
        arrays[name] = values
    arrays["w_load"] = vectors["w_load"].to_numpy(dtype=bool)
    arrays["err_request"] = vectors["err_request"].to_numpy(dtype=bool)
    flip = vectors["flip"].to_numpy(dtype=np.int64)
    if ((flip < 0) | (flip >= 1 << p.acc_bits)).any():
        raise EdaError(f"flip masks must be {p.acc_bits}-bit patterns (0 .. 2^{p.acc_bits} - 1)")
    arrays["flip"] = flip
    return arrays


def golden_selective(mac: SelectiveMac, vectors: pd.DataFrame) -> pd.DataFrame:
    """Expected outputs per cycle (module docstring), unsigned, <NA> where not yet defined."""
    s = _arrays(mac, vectors)
    p = mac.params
    mask = (1 << p.acc_bits) - 1
    protected = bits_mask(mac.protected_bits)
    plain = mask & ~protected
    n = len(vectors)
    out = {name: np.zeros(n, dtype=np.int64) for name in ("w_out", "a_out", "psum_out", "err_out")}
    known = {name: np.zeros(n, dtype=bool) for name in out}
    a_reg = w_reg = psum = shadow = 0
    a_known = w_known = plain_known = protected_known = shadow_known = False
    error, error_known = 0, not mac.protected_bits
    for k in range(n):
        replay = bool(s["err_request"][k]) or (error_known and error == 1)
        if not replay:
            value = (s["psum_in"][k] + a_reg * w_reg) & mask
            value_known = a_known and w_known
            psum = shadow = value
            plain_known = protected_known = shadow_known = value_known
            if s["w_load"][k]:
                w_reg, w_known = s["w_in"][k], True
            a_reg, a_known = s["a_in"][k], True
        else:
            psum = (psum & plain) | (shadow & protected)
            protected_known = shadow_known
        psum ^= int(s["flip"][k])
        if mac.protected_bits:
            error = int(((psum ^ shadow) & protected) != 0)
            error_known = protected_known and shadow_known
        out["w_out"][k], known["w_out"][k] = w_reg & ((1 << p.w_bits) - 1), w_known
        out["a_out"][k], known["a_out"][k] = a_reg & ((1 << p.a_bits) - 1), a_known
        out["psum_out"][k], known["psum_out"][k] = psum, plain_known and protected_known
        out["err_out"][k], known["err_out"][k] = error, error_known
    return pd.DataFrame({name: pd.arrays.IntegerArray(out[name], ~known[name]) for name in out})


def simulate_selective(mac: SelectiveMac, vectors: pd.DataFrame, workdir: Path) -> pd.DataFrame:
    """Run the rendered MAC on `vectors` in iverilog; outputs per cycle (unsigned, <NA> for X)."""
    s = _arrays(mac, vectors)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ports = selective_ports(mac)
    stimulus_ports = [port for port in ports if port.name in ("w_load", "w_in", "a_in", "psum_in")]
    output_ports = [port for port in ports if port.direction == "output"]
    mac_file = f"{MODULE}.v"
    (workdir / mac_file).write_text(render_selective_mac(mac))
    plain, protected = mac.plain_bits, mac.protected_bits
    testbench = template_environment().get_template(TESTBENCH_TEMPLATE).render(
        module=MODULE, n_cycles=len(vectors), ports=ports, stimulus_ports=stimulus_ports, output_ports=output_ports,
        plain_width=len(plain), razor_width=len(protected), output_file=SIM_OUTPUT_FILE)
    (workdir / "tb_mac_selective.v").write_text(testbench)
    for port in stimulus_ports:
        write_hex(workdir / f"{port.name}.hex", s[port.name], port.bits)
    write_hex(workdir / "err_request.hex", s["err_request"], 1)
    if plain:
        write_hex(workdir / "flip_plain.hex", _packed(s["flip"], plain), len(plain))
    if protected:
        write_hex(workdir / "flip_razor.hex", _packed(s["flip"], protected), len(protected))
    compiled = f"{TESTBENCH_TOP}.vvp"
    run_tool(["iverilog", "-g2005", "-s", TESTBENCH_TOP, "-o", compiled, "tb_mac_selective.v", mac_file],
             cwd=workdir, name="iverilog", timeout_s=COMPILE_TIMEOUT_S)
    run_tool(["vvp", "-n", compiled], cwd=workdir, name="vvp", timeout_s=SIM_TIMEOUT_S)
    return read_outputs(workdir / SIM_OUTPUT_FILE, output_ports, len(vectors))


def _packed(flip: np.ndarray, bits: tuple[int, ...]) -> np.ndarray:
    """The flip masks on the register's own bit order (bit i of the result = partial-sum bit bits[i])."""
    packed = np.zeros(len(flip), dtype=np.int64)
    for i, bit in enumerate(bits):
        packed |= ((flip >> bit) & 1) << i
    return packed


@dataclass(frozen=True)
class ReplayedStream:
    vectors: pd.DataFrame  # the physical cycles: the stream with one inserted cycle after each protected flip
    logical_index: np.ndarray  # per physical cycle, the stream row it computes (-1: an inserted replay cycle)
    protected_flips: int  # cycles whose flip touched a protected bit (each costs one replay)


def replayed_stream(mac: SelectiveMac, vectors: pd.DataFrame) -> ReplayedStream:
    """What the array controller presents: after each cycle whose flip touches a protected bit, one
    extra cycle (its inputs ignored: a copy of the next row, without flip or request)."""
    s = _arrays(mac, vectors)
    if s["err_request"].any():
        raise EdaError("replayed_stream takes a stream without replay requests: the replays come from the flips")
    protected = bits_mask(mac.protected_bits)
    rows, index = [], []
    n = len(vectors)
    for k in range(n):
        rows.append(k)
        index.append(k)
        if int(s["flip"][k]) & protected:
            rows.append(min(k + 1, n - 1))
            index.append(-1)
    physical = vectors.iloc[rows].reset_index(drop=True).copy()
    inserted = np.asarray(index) < 0
    physical.loc[inserted, "flip"] = 0
    physical.loc[inserted, "w_load"] = False  # the weight register holds anyway; keep the stream's own loads
    return ReplayedStream(physical, np.asarray(index), int(((s["flip"] & protected) != 0).sum()))


def recovered_outputs(outputs: pd.DataFrame, stream: ReplayedStream) -> pd.DataFrame:
    """Per stream row, the outputs of the last physical cycle that computed it (the replay cycle after
    a flagged one): the flagged cycles' outputs are dropped."""
    keep = []
    for cycle, row in enumerate(stream.logical_index):
        if row >= 0:
            keep.append(cycle)
        else:
            keep[-1] = cycle  # the replay cycle's outputs replace the flagged cycle's
    return outputs.iloc[keep].reset_index(drop=True)


@dataclass(frozen=True)
class SelectiveCheck:
    clean_vs_tpu: OutputComparison  # no flip, no request: the simulation against the tpu golden model
    clean_vs_model: OutputComparison  # the same against golden_selective (err_out included)
    errors_vs_model: OutputComparison  # flips and requests: simulation against golden_selective, every cycle
    recovered_vs_tpu: OutputComparison  # replayed stream, flagged cycles dropped, against tpu ^ unprotected flips
    protected_flips: int
    unprotected_flips: int
    requests: int

    @property
    def passed(self) -> bool:
        return all(c.passed for c in (self.clean_vs_tpu, self.clean_vs_model, self.errors_vs_model, self.recovered_vs_tpu))

    def summary(self) -> str:
        return "; ".join(f"{name}: {c.summary()}" for name, c in (
            ("clean vs tpu golden", self.clean_vs_tpu), ("clean vs selective golden", self.clean_vs_model),
            ("errors vs selective golden", self.errors_vs_model), ("recovered vs tpu golden", self.recovered_vs_tpu)))


def random_flips(mac: SelectiveMac, n: int, start: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Flip masks: from row `start` on, a fraction `rate` of the rows invert one or two random partial-sum bits."""
    flip = np.zeros(n, dtype=np.int64)
    rows = np.flatnonzero(rng.random(n) < rate)
    rows = rows[rows >= start]
    for row in rows:
        count = int(rng.integers(1, 3))
        for bit in rng.choice(mac.params.acc_bits, size=count, replace=False):
            flip[row] |= 1 << int(bit)
    return flip


def verify_selective(mac: SelectiveMac, n: int = 2000, seed: int = 0, *, workdir: Path, flip_rate: float = 0.05,
                     request_rate: float = 0.02) -> SelectiveCheck:
    """The four comparisons of SelectiveCheck on the corner cases plus `n` random cycles."""
    if not 0 <= flip_rate <= 1 or not 0 <= request_rate <= 1:
        raise EdaError(f"flip_rate and request_rate must be in [0, 1], got {flip_rate}, {request_rate}")
    workdir = Path(workdir)
    tpu = mac.params
    base = random_vectors(tpu, n, seed)
    corners = len(base) - n
    clean = selective_vectors(base)
    clean_sim = simulate_selective(mac, clean, workdir / "clean")
    tpu_expected = golden_mac(tpu, base)
    clean_vs_tpu = compare_outputs(tpu_expected, clean_sim[tpu_expected.columns])
    clean_vs_model = compare_outputs(golden_selective(mac, clean), clean_sim)

    rng = np.random.default_rng([seed, 1])
    flips = random_flips(mac, len(base), corners + 2, flip_rate, rng)
    requests = np.zeros(len(base), dtype=bool)
    requests[corners + 2:] = rng.random(len(base) - corners - 2) < request_rate
    errors = selective_vectors(base, requests, flips)
    errors_vs_model = compare_outputs(golden_selective(mac, errors), simulate_selective(mac, errors, workdir / "errors"))

    stream = replayed_stream(mac, selective_vectors(base, None, flips))
    replayed = recovered_outputs(simulate_selective(mac, stream.vectors, workdir / "replayed"), stream)
    unprotected = flips & ~bits_mask(mac.protected_bits)
    expected = tpu_expected.copy()
    expected["psum_out"] = pd.arrays.IntegerArray(
        tpu_expected["psum_out"].to_numpy(dtype=np.int64, na_value=0) ^ unprotected, tpu_expected["psum_out"].isna().to_numpy())
    recovered_vs_tpu = compare_outputs(expected, replayed[expected.columns])
    return SelectiveCheck(clean_vs_tpu, clean_vs_model, errors_vs_model, recovered_vs_tpu, stream.protected_flips,
                          int((unprotected != 0).sum()), int(requests.sum()))
