"""Approximate multipliers in iverilog: every operand pair once (the product table the network
runs on), and the MAC that wraps a multiplier against the tpu golden model with the table's
products in place of a * w.

The exhaustive run is one testbench looping over all 65,536 (a, b) patterns (rtl/tb_mult_exhaustive.v.j2),
a in the outer loop, writing one hex product per line; the table is read back as (256, 256) int64
signed products indexed [a & 255, b & 255], the layout of eda.designs.approx.multiplier_lut.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from eda.core.errors import EdaError
from eda.core.runner import run_tool
from eda.designs.approx import BITS, PAIRS, Multiplier, multiplier_sources, render_approx_mac
from eda.designs.mac import MacParams, mac_ports, template_environment
from eda.verify.mac_sim import (COMPILE_TIMEOUT_S, SIM_OUTPUT_FILE, SIM_TIMEOUT_S, TESTBENCH_FILE, TESTBENCH_TEMPLATE,
                                TESTBENCH_TOP, CLOCK_PORTS, golden_mac, read_outputs, stimulus_arrays, to_signed, write_hex)

PRODUCTS_FILE = "products.txt"
MULT_TESTBENCH = "tb_mult.v"


def _write_sources(workdir: Path, sources: dict[str, str]) -> list[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    for name, text in sources.items():
        (workdir / name).write_text(text)
    return list(sources)


def simulate_products(multiplier: Multiplier, workdir: Path) -> np.ndarray:
    """(256, 256) int64: the simulated product of every signed operand pair, [a & 255, b & 255]."""
    workdir = Path(workdir)
    files = _write_sources(workdir, multiplier_sources(multiplier))
    testbench = template_environment().get_template("tb_mult_exhaustive.v.j2").render(
        module=multiplier.module, bits=BITS, output_file=PRODUCTS_FILE)
    (workdir / MULT_TESTBENCH).write_text(testbench)
    run_tool(["iverilog", "-g2005", "-s", "tb_mult", "-o", "tb_mult.vvp", MULT_TESTBENCH, *files],
             cwd=workdir, name="iverilog", timeout_s=COMPILE_TIMEOUT_S)
    run_tool(["vvp", "-n", "tb_mult.vvp"], cwd=workdir, name="vvp", timeout_s=SIM_TIMEOUT_S)
    return read_products(workdir / PRODUCTS_FILE, multiplier.level)


def read_products(path: Path, label: str) -> np.ndarray:
    tokens = path.read_text().split() if path.is_file() else []
    if len(tokens) != PAIRS:
        raise EdaError(f"{path}: expected {PAIRS} products of multiplier {label}, found {len(tokens)}; see vvp.log beside it")
    unknown = [k for k, t in enumerate(tokens) if not all(ch in "0123456789abcdef" for ch in t)]
    if unknown:
        k = unknown[0]
        raise EdaError(f"multiplier {label} drives X/Z for {len(unknown)} operand pairs, the first a={k >> BITS:#04x} "
                       f"b={k & 0xff:#04x} ({tokens[k]}): its output is not a function of a and b alone")
    values = np.array([int(t, 16) for t in tokens], dtype=np.int64)
    return to_signed(values, 2 * BITS).reshape(1 << BITS, 1 << BITS)


def golden_approx_mac(params: MacParams, vectors: pd.DataFrame, products: np.ndarray) -> pd.DataFrame:
    """The tpu golden model with products[a, w] in place of a * w: psum_out[k] = psum_in[k] + p(a[k-1], w[k-1])."""
    expected = golden_mac(params, vectors)
    known = expected["psum_out"].notna().to_numpy()
    a_reg = expected["a_out"].to_numpy(dtype=np.int64, na_value=0)
    w_reg = expected["w_out"].to_numpy(dtype=np.int64, na_value=0)
    exact = to_signed(a_reg, BITS) * to_signed(w_reg, BITS)
    # The product added at edge k is that of the registers after edge k-1 (latency 1, mac_sim).
    correction = np.zeros(len(vectors), dtype=np.int64)
    correction[1:] = (products[a_reg, w_reg] - exact)[:-1]
    mask = (1 << params.acc_bits) - 1
    psum = (expected["psum_out"].to_numpy(dtype=np.int64, na_value=0) + correction) & mask
    expected["psum_out"] = pd.arrays.IntegerArray(np.where(known, psum, 0), ~known)
    return expected


def simulate_approx_mac(multiplier: Multiplier, vectors: pd.DataFrame, workdir: Path,
                        params: MacParams = MacParams("tpu")) -> pd.DataFrame:
    """Run the MAC wrapping `multiplier` on stimulus vectors (eda.verify.mac_sim's testbench and format)."""
    stimulus = stimulus_arrays(params, vectors)
    workdir = Path(workdir)
    files = _write_sources(workdir, {**multiplier_sources(multiplier),
                                     f"{multiplier.mac_module}.v": render_approx_mac(multiplier, params)})
    ports = mac_ports(params)
    stimulus_ports = [p for p in ports if p.direction == "input" and p.name not in CLOCK_PORTS]
    output_ports = [p for p in ports if p.direction == "output"]
    testbench = template_environment().get_template(TESTBENCH_TEMPLATE).render(
        module=multiplier.mac_module, n_cycles=len(vectors), ports=ports, stimulus_ports=stimulus_ports,
        output_ports=output_ports, has_shadow_clock=False, force_razor_error=False, output_file=SIM_OUTPUT_FILE)
    (workdir / TESTBENCH_FILE).write_text(testbench)
    for port in stimulus_ports:
        write_hex(workdir / f"{port.name}.hex", stimulus[port.name], port.bits)
    run_tool(["iverilog", "-g2005", "-s", TESTBENCH_TOP, "-o", "tb_mac.vvp", TESTBENCH_FILE, *files],
             cwd=workdir, name="iverilog", timeout_s=COMPILE_TIMEOUT_S)
    run_tool(["vvp", "-n", "tb_mac.vvp"], cwd=workdir, name="vvp", timeout_s=SIM_TIMEOUT_S)
    return read_outputs(workdir / SIM_OUTPUT_FILE, output_ports, len(vectors))
