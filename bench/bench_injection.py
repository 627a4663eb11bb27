"""Cost of one accuracy point (eda/nn/faults.py) as a ratio to plain int8 inference, measured in one run.

The reference Fashion-MNIST CNN on the 10,000 test images, one torch thread, in batches of 2500
images as eda/nn/vmin.py runs a pass (same streams, keyed per design/budget/vdd/repeat/layer).
Every MAC of a 256 x 256 conventional mapping gets the same timing-error probability p, so that
about p of all products fail:

- drop: Thundervolt's semantics (p through the row shift of TE-Drop: a failing product dropped);
- flip: tpu's semantics (every failure flips one partial-sum bit, uniform over bits 16..23).

For each point: the failures of one pass, the largest count of one layer in one 2500-image batch
(what the caps MAX_FAILURES / MAX_FLIPS limit; beyond them vmin.py splits the batch), the
wall time of the pass and its ratio to plain int8 inference of the same images, and the peak
resident memory above the process's level before the point. The caps are lifted here so that every
point runs all its images; a point whose pass would take longer than --budget seconds stops after
the batches done by then, and its time is extrapolated linearly to all images (marked *).

    EDA_PLATFORMS_DIR=../shared/platforms .venv/bin/python bench/bench_injection.py [--rates 1e-4,1e-3,1e-2]
        [--semantics drop,flip] [--budget 120] [--images 10000]

About 25 minutes on 2 cores, most of it one 2500-image batch of flips at 1e-2 (2.3e8 flips).
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np
import torch

import eda.nn.faults as faults
from eda.method.mapping import map_sensitivities
from eda.nn.accuracy import column_row_orders, weight_error_probabilities
from eda.nn.data import load_fashion_mnist
from eda.nn.fashion import load_reference
from eda.nn.faults import FaultModel, LayerFaults, activation_scales, bit_cdf, injected_logits, stream

BATCH = 2500
ROWS = COLS = 256


class PeakRss:
    """Peak resident set size of this process while in the block, sampled every 5 ms."""

    def __init__(self):
        self.peak = self.base = self._rss()
        self._stop = threading.Event()

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def clean_pass(network, images: torch.Tensor) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    predictions = [network.forward(images[i:i + BATCH]).argmax(1) for i in range(0, len(images), BATCH)]
    return time.perf_counter() - start, torch.cat(predictions).numpy()


def injected_pass(network, images: torch.Tensor, model: FaultModel, design: str, budget_s: float):
    """(seconds, images done, failures, largest per-layer count of one batch, predictions)."""
    failures, largest, predictions = 0, 0, []
    start = time.perf_counter()
    for first in range(0, len(images), BATCH):
        chunk = first // BATCH

        def streams(layer, kind, chunk=chunk):
            return stream(0, design, "bench", 1.0, chunk, layer, kind)

        logits, counts = injected_logits(network, images[first:first + BATCH], model, streams)
        predictions.append(logits.argmax(1))
        failures += sum(counts.values())
        largest = max([largest, *counts.values()])
        if time.perf_counter() - start > budget_s:
            break
    return time.perf_counter() - start, sum(len(p) for p in predictions), failures, largest, torch.cat(predictions).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="1e-4,1e-3,1e-2", help="per-MAC error probabilities")
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--budget", type=float, default=120.0, help="seconds per point before extrapolating")
    parser.add_argument("--semantics", default="drop,flip")
    args = parser.parse_args()
    torch.set_num_threads(1)
    caps = faults.MAX_FAILURES, faults.MAX_FLIPS
    faults.MAX_FAILURES = faults.MAX_FLIPS = 1 << 62   # every image of every point

    network = load_reference()
    test = load_fashion_mnist("test").head(args.images)
    images = torch.from_numpy(test.images)
    calibration = torch.from_numpy(load_fashion_mnist("train").head(2000).images)
    scales = activation_scales(network, calibration)
    shapes = network.layer_shapes()
    permutation = map_sensitivities({n: np.ones(s) for n, s in shapes.items()}, ROWS, COLS).permutation
    orders = column_row_orders(permutation, shapes)
    flip_bits = np.zeros(faults.ACC_BITS)
    flip_bits[16:24] = 1
    products = 0
    outputs = {}
    network.forward(images[:1], lambda name, module, inputs, out: outputs.setdefault(name, out))
    for name, shape in shapes.items():
        products += int(np.prod(shape)) * int(np.prod(outputs[name].shape[2:]))
    products *= len(images)

    clean_s, clean_pred = min((clean_pass(network, images) for _ in range(2)), key=lambda r: r[0])
    clean_top1 = float((clean_pred == test.labels).mean())
    print(f"reference CNN, {len(images)} test images, {products / 1e9:.1f} G products per pass, torch threads "
          f"{torch.get_num_threads()}, batches of {BATCH}; plain int8 inference {clean_s:.2f} s, top-1 {clean_top1:.4f}")
    print(f"caps: MAX_FAILURES {caps[0]:,} dropped / MAX_FLIPS {caps[1]:,} flips per layer and batch (lifted here)")
    header = (f"{'semantics':<9} {'p':>7} {'failed':>9} {'failures':>11} {'max/layer':>10} {'images':>7} "
              f"{'pass s':>8} {'ratio':>7} {'top-1':>7} {'peak MB':>8}")
    print(header)
    print("-" * len(header))
    for semantics in args.semantics.split(","):
        for rate in (float(r) for r in args.rates.split(",")):
            mac_map = np.full((ROWS, COLS), rate)
            zero = {n: np.zeros(s) for n, s in shapes.items()}
            if semantics == "drop":
                dropped, flipped = weight_error_probabilities(mac_map, permutation, shapes, shift_rows=True), zero
            else:
                dropped, flipped = zero, weight_error_probabilities(mac_map, permutation, shapes)
            model = FaultModel({n: LayerFaults(dropped[n], flipped[n], orders[n], scales[n]) for n in shapes},
                               bit_cdf(flip_bits))
            with PeakRss() as rss:
                seconds, done, failures, largest, pred = injected_pass(network, images, model, semantics, args.budget)
            scale = len(images) / done
            ratio = seconds / (clean_s * done / len(images))
            top1 = float((pred == test.labels[:done]).mean())
            mark = "*" if done < len(images) else " "
            print(f"{semantics:<9} {rate:>7.0e} {failures * scale / products:>9.2e} {failures * scale:>11.3e} "
                  f"{largest:>10.3e} {done:>7d} {seconds * scale:>7.2f}{mark} {ratio:>7.2f} {top1:>7.4f} "
                  f"{(rss.peak - rss.base) / 2**20:>8.0f}", flush=True)
    print("* stopped after the batches done within --budget; time extrapolated to all images")


if __name__ == "__main__":
    main()
