"""Time the error-injecting inference of eda/nn/accuracy.py and print the accuracies it measures.

One torch thread. For each semantics and uniform failure probability p on every MAC of a
256 x 256 conventional mapping: top-1 mean +- std over the repeats and the wall time of one
inference of the whole test split (360 images, ~13 M multiplications). Then one sweep of all
the probabilities at once (the draws are shared by the maps of a sweep, so it costs less per
inference than the maps one by one).

    .venv/bin/python bench/bench_accuracy.py [--repeats 10] [--seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from eda.method.mapping import map_sensitivities
from eda.nn.accuracy import accuracy_sweep, accuracy_under_errors, prepare_network
from eda.nn.train import train_reference

PROBABILITIES = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="independent inferences of the test split per point")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as cache:
        net = prepare_network(train_reference(seed=0, out_dir=cache))
    scores = {name: np.abs(layer.codes.astype(float)) for name, layer in net.quantized.items()}
    permutation = map_sensitivities(scores, 256, 256, "conventional").permutation
    multiplications = 0
    for name, shape in net.layer_shapes.items():
        module = getattr(net.network, name)
        positions = module(net.network.input_of(name, net.images[:1])).shape[-2:].numel() \
            if isinstance(module, torch.nn.Conv2d) else 1
        multiplications += len(net.labels) * positions * int(np.prod(shape))
    print(f"test split: {len(net.labels)} images, {multiplications / 1e6:.1f} M multiplications per inference, "
          f"clean int8 top-1 {accuracy_under_errors(net, {}, repeats=1).clean_accuracy:.4f}")
    print(f"{'semantics':<14}{'p':>8}  {'top-1 mean':>10} {'std':>7}  {'ms / inference':>15} {'CPU ms':>7}")
    for semantics in ("drop_product", "psum_error"):
        for p in PROBABILITIES:
            probabilities = {name: np.full(shape, p) for name, shape in net.layer_shapes.items()}
            cpu = time.process_time()
            result = accuracy_under_errors(net, probabilities, semantics, repeats=args.repeats, seed=args.seed,
                                           permutation=permutation)
            cpu = (time.process_time() - cpu) / args.repeats
            print(f"{semantics:<14}{p:>8.0e}  {result.mean_accuracy:>10.4f} {result.std:>7.4f}  "
                  f"{result.seconds_per_inference * 1e3:>15.1f} {cpu * 1e3:>7.1f}")
    for design in ("proposed", "tpu"):
        start, cpu = time.perf_counter(), time.process_time()
        table = accuracy_sweep(net, {p: np.full((256, 256), p) for p in PROBABILITIES}, permutation, design,
                               repeats=args.repeats, seed=args.seed)
        inferences = len(PROBABILITIES) * args.repeats
        cpu = (time.process_time() - cpu) / inferences
        print(f"sweep of {len(PROBABILITIES)} maps, {design}: {table.attrs['seconds_per_inference'] * 1e3:.1f} ms "
              f"per inference, CPU {cpu * 1e3:.1f} ms ({time.perf_counter() - start:.1f} s for {inferences})")


if __name__ == "__main__":
    main()
