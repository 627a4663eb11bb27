"""Time the FO4 Monte Carlo: one voltage point with 500 samples, and the cost per sample.

One ngspice process runs all samples of a voltage; its start (reading the sky130 models)
is a fixed cost, so the per-sample figure is the difference between an N-sample and a
2-sample run, divided by N - 2. Wall time depends on what else the machine runs; the
ngspice CPU time (user + system of the child processes) much less.

    .venv/bin/python bench/bench_fo4.py [--vdd 1.8] [--samples 500] [--quick]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from eda.spice.table import characterize_fo4


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(label: str, vdd: float, samples: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="bench-fo4-") as tmp:
        cpu0, start = children_cpu_s(), time.perf_counter()
        result = characterize_fo4([vdd], samples=samples, seed=1, jobs=1, work_dir=Path(tmp))
        wall, cpu = time.perf_counter() - start, children_cpu_s() - cpu0
    row = result.table.iloc[0]
    print(f"{label:<34} {wall:8.2f} s wall {cpu:8.2f} s ngspice CPU   "
          f"(FO4 {row.fo4_mean_ps:.2f} ps, sigma {row.fo4_sigma_ps:.2f} ps)")
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vdd", type=float, default=1.8, help="supply voltage (V)")
    parser.add_argument("--samples", type=int, default=500, help="Monte Carlo samples of the timed point")
    parser.add_argument("--quick", action="store_true", help="50 samples instead")
    args = parser.parse_args()
    samples = 50 if args.quick else args.samples
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} cores, load average {load:.1f}, vdd {args.vdd:g} V")

    base_wall, base_cpu = timed("one point, 2 samples (start-up)", args.vdd, 2)
    wall, cpu = timed(f"one point, {samples} samples", args.vdd, samples)
    print(f"{'  per sample':<34} {(wall - base_wall) / (samples - 2):8.3f} s wall "
          f"{(cpu - base_cpu) / (samples - 2):8.3f} s ngspice CPU")
    print(f"{'  default table (19 x 500), est.':<34} {19 * (base_cpu + 498 * (cpu - base_cpu) / (samples - 2)) / 60:8.1f} min "
          f"of one core")


if __name__ == "__main__":
    main()
