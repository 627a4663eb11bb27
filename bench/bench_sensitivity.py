"""Time the sensitivity pipeline: training, gradients, Alg. 1, 256 x 256 maps, Fig. 2 check.

Cold = a fresh cache (the reference network is trained); cached = loaded. Prints wall seconds
per stage, one torch thread, plus the numbers the report quotes (accuracies, variances, rho).

    .venv/bin/python bench/bench_sensitivity.py [--draws 256] [--no-check]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from eda.method.mapping import STRATEGIES, map_sensitivities
from eda.nn.maps import filter_check, per_weight_sensitivity, sensitivity_study
from eda.method.sensitivity import expected_noise


def seconds(start: float) -> str:
    return f"{time.perf_counter() - start:8.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=256, help="Monte Carlo draws per filter in the Fig. 2 check")
    parser.add_argument("--no-check", action="store_true", help="skip the Fig. 2 injection check")
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        study = sensitivity_study(cache_dir=cache)
        print(f"{'study, cold (train + int8 + gradients + Fisher)':<52}{seconds(start)}")
        start = time.perf_counter()
        study = sensitivity_study(cache_dir=cache)
        print(f"{'study, cached network':<52}{seconds(start)}")
    for kind in ("float", "int8"):
        acc = study.accuracy[kind]
        print(f"  {kind:<6} train acc {acc['train_accuracy']:.4f}  test acc {acc['test_accuracy']:.4f}  "
              f"test loss {acc['test_loss']:.4f}")

    start = time.perf_counter()
    for _ in range(10):
        expected_noise(1e-2)
    print(f"{'Alg. 1 eps table (256 x 256), per call':<52}{(time.perf_counter() - start) / 10:8.4f} s")

    for method in ("taylor", "curvature"):
        sensitivities = per_weight_sensitivity(study, 1e-2, method)
        variances = []
        for strategy in STRATEGIES:
            start = time.perf_counter()
            result = map_sensitivities(sensitivities, 256, 256, strategy)
            print(f"{f'map 256 x 256, {method}, {strategy}':<52}{seconds(start)}   variance {result.variance:.4e}")
            variances.append(result.variance)
        print("  ratio to conventional: " + ", ".join(f"{v / variances[0]:.2f}" for v in variances))

    rng = np.random.default_rng(0)
    big = {"conv": rng.random((512, 256, 3, 3))}  # a ResNet-18 CONV-like layer: 9 x 2 loads
    start = time.perf_counter()
    map_sensitivities(big, 256, 256, "column4to1")
    print(f"{'map 256 x 256, 512x256x3x3 layer (18 loads), 4to1':<52}{seconds(start)}")

    if not args.no_check:
        start = time.perf_counter()
        check = filter_check(study, draws=args.draws)
        print(f"{f'Fig. 2 check, 22 filters x {args.draws} draws':<52}{seconds(start)}")
        print(check.rhos.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
