"""Time the heterogeneous MAC sizer: size_fast at 256 x 256 x 13 sizes, and the paper's DP (Alg. 2).

Realistic ladder: 13 sizes from 4860 to 5760 um^2 in ~50 um^2 steps (areas with two
decimals, as synthesis reports them, so the exact area grid is 0.01 um^2), error
probability falling from ~1e-2 to ~1e-6, lognormal sensitivities, iso-area budget of the
middle size. The DP is grown (x1.5 MACs) until the next run is predicted to exceed the
time limit; its cost is n_macs x grid points x K, and the grid (budget minus n x smallest
area, over the 0.01 um^2 quantum) grows with n, so time ~ n^2. That rule, fitted on the
largest finished run, gives the extrapolated time at 256 x 256.

    .venv/bin/python bench/bench_sizer.py [--quick] [--dp-limit-s 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from eda.method.sizer import iso_area_budget, size_dp, size_fast

K = 13
ISO = 6  # middle size: iso-area budget of the paper's comparison


def ladder(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    area_um2 = np.round(np.linspace(4860, 5760, K) + rng.uniform(-5, 5, K), 2)
    area_um2[0], area_um2[-1] = 4860.0, 5760.0
    p_error = np.sort(np.logspace(-2, -6, K) * np.exp(rng.normal(0, 0.2, K)))[::-1]
    return area_um2, p_error


def dp_cells(n: int, area_um2: np.ndarray, quantum_um2: float) -> float:
    """Work of the DP: MACs x grid points per stage x sizes."""
    grid = (iso_area_budget(n, area_um2[ISO]) - n * area_um2.min()) / quantum_um2 + 1
    return n * grid * K


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 fast runs and a 5 s DP limit")
    parser.add_argument("--dp-limit-s", type=float, default=60.0, help="stop growing the DP before a run would exceed this")
    parser.add_argument("--seeds", type=int, default=5, help="size_fast instances (different sensitivity maps)")
    args = parser.parse_args()
    limit = 5.0 if args.quick else args.dp_limit_s
    seeds = 3 if args.quick else args.seeds
    print(f"{os.cpu_count()} cores; {K} sizes 4860..5760 um^2, p_error ~1e-2..1e-6, iso-area budget of size {ISO}")

    # ---- size_fast at full size
    times, cores = [], []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        area_um2, p_error = ladder(rng)
        s = rng.lognormal(0.0, 1.5, (256, 256))
        start = time.perf_counter()
        r = size_fast(s, area_um2, p_error, iso_area_budget(s.size, area_um2[ISO]))
        times.append(time.perf_counter() - start)
        cores.append(r.core_macs)
        status = "optimal (gap 0)" if r.proven_optimal else f"gap {r.gap:.3g}"
        print(f"size_fast 256x256x{K}, seed {seed}: {times[-1]:6.2f} s  {status}, core {r.core_macs} MACs, "
              f"objective / LP bound - 1 = {r.objective / r.lp_bound - 1:.2e}")
    print(f"{'size_fast 256x256x13 median / max':<44} {statistics.median(times):8.2f} s / {max(times):.2f} s")

    # ---- reference DP, grown until the next run would pass the limit
    rng = np.random.default_rng(100)
    area_um2, p_error = ladder(rng)
    quantum = 0.01
    def predict(n_new: int, n_old: int, seconds_old: float) -> float:
        table = 256 << 20  # size_dp's default max_table_bytes: past it, a second (checkpoint) pass
        passes = lambda n_: 2 if dp_cells(n_, area_um2, quantum) / K > table else 1  # noqa: E731
        return seconds_old * dp_cells(n_new, area_um2, quantum) / dp_cells(n_old, area_um2, quantum) * passes(n_new) / passes(n_old)

    n, last, final = 4, None, False
    while True:
        s = rng.lognormal(0.0, 1.5, n)
        budget = iso_area_budget(n, area_um2[ISO])
        start = time.perf_counter()
        dp = size_dp(s, area_um2, p_error, budget, area_quantum_um2=quantum)
        seconds = time.perf_counter() - start
        fast = size_fast(s, area_um2, p_error, budget, area_quantum_um2=quantum)
        same = "same objective as size_fast" if fast.objective == dp.objective else "DIFFERS from size_fast"
        print(f"size_dp n={n:4d} MACs, {dp_cells(n, area_um2, quantum) / K / n:11.0f} grid points: {seconds:8.2f} s  ({same})")
        last = (n, seconds)
        if final:
            break
        nxt = max(n + 1, int(n * 1.5))
        if predict(nxt, n, seconds) > limit:
            # last step: the largest n predicted to finish within ~90 % of the limit
            fits = [m for m in range(n + 1, nxt) if predict(m, n, seconds) <= 0.9 * limit]
            if not fits:
                break
            nxt, final = fits[-1], True
        n = nxt
    n, seconds = last
    per_cell_ns = seconds / dp_cells(n, area_um2, quantum) * 1e9
    full = dp_cells(65536, area_um2, quantum)
    full_s = 2 * seconds * full / dp_cells(n, area_um2, quantum)  # checkpointed: x2
    grid_gib = full / K / 65536 * 8 / 2**30
    print(f"{'size_dp largest run within limit':<44} n={n} MACs in {seconds:.1f} s ({per_cell_ns:.2f} ns per MAC x grid point x size)")
    print(f"{'size_dp extrapolated to 256x256':<44} {full_s:.3g} s = {full_s / 86400:.3g} days "
          f"(x{full / dp_cells(n, area_um2, quantum):.3g} the work of n={n}; one DP row alone is {grid_gib:.0f} GiB)")


if __name__ == "__main__":
    main()
