"""Time the error-probability table: 13 sizes x 19 voltages x 10,000 process samples (eqs. 7-9).

Sizes are the first 13 Pareto-optimal proposed MACs of the committed sky130hd
characterization; voltages are those of the committed FO4 table. Prints the vectorized
time next to a plain Python loop over (size, voltage) on the same inputs, measured in
this run, and checks that both give the same table.

    .venv/bin/python bench/bench_errtable.py
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from eda.core.paths import REPO_ROOT
from eda.method.errmodel import standard_normal_samples, timing_error_probability_with_variation
from eda.method.errtable import ErrorModelSettings, default_clock_ns, error_probability_table, mac_sizes, stage_statistics
from eda.spice.table import load_fo4_table
from eda.spice.table import platform_fo4_table

SIZES, SAMPLES, REPEATS = 13, 10_000, 5


def main() -> None:
    characterization = pd.read_csv(REPO_ROOT / "reports" / "sky130hd" / "characterization.csv")
    sizes = mac_sizes(characterization, "proposed", "tt_025C_1v80").head(SIZES)
    fo4 = load_fo4_table(platform_fo4_table("sky130hd"))
    settings = ErrorModelSettings(process_samples=SAMPLES)
    clock = default_clock_ns(sizes)
    print(f"{len(sizes)} sizes x {len(fo4)} voltages x {SAMPLES} process samples")

    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        table = error_probability_table(sizes, fo4, 1.8, clock, settings=settings)
        best = min(best, time.perf_counter() - start)
    print(f"{'vectorized table (best of %d)' % REPEATS:<40} {best * 1e3:9.1f} ms")

    stages = stage_statistics(fo4, None)
    normal = standard_normal_samples(SAMPLES, settings.seed)
    d_inv = float(fo4.loc[np.isclose(fo4["vdd"], 1.8), "fo4_mean_ps"].iloc[0]) / 1e3
    start = time.perf_counter()
    looped = [timing_error_probability_with_variation(delay, d_inv, mean, sigma, clock, normal)
              for delay in sizes["delay_ns"] for mean, sigma in zip(stages["fo4_mean_ns"], stages["fo4_sigma_ns"])]
    loop_s = time.perf_counter() - start
    print(f"{'loop over (size, voltage)':<40} {loop_s * 1e3:9.1f} ms")
    print(f"{'  loop / vectorized':<40} {loop_s / best:9.2f}")
    assert np.allclose(np.array(looped), table["p_error"].to_numpy(), rtol=1e-12, atol=0), "the two computations differ"


if __name__ == "__main__":
    main()
