"""Accuracy under timing errors on the whole test set, and the minimum supply of every design.

A point (design, budget, supply) is evaluated on every test image with `repeats` independent
injection passes (eda.nn.faults); each image's loss is paired with the error-free pass on the same
image: d_i = clean_correct_i - mean_r(injected_correct_i,r). The point's loss is mean(d) with a
95% confidence interval mean(d) +- 1.96 sd(d)/sqrt(n). Repeats are added (up to `max_repeats`)
while the interval's half width is above `target_half_width`.

Vmin rule (stated in the report): a supply passes when the one-sided 95% upper bound of the loss,
mean(d) + 1.645 sd(d)/sqrt(n), is at most `max_loss`. Vmin is found by bisection over the swept
supplies, assuming the loss does not fall as the supply is lowered (error probabilities only grow):
the highest supply is checked first, then the boundary between the lowest passing and the highest
failing supply is bisected, so a design costs about log2(#supplies) + 1 points, not #supplies.
Every image is evaluated: where a layer's failures would exceed the injection's memory caps the
images go through in smaller batches. Two exceptions, both failing points: a pass run with a
stop loss (the largest loss bound of the run) stops once the two-sided 99.9% lower bound of the
loss is above it after at least MIN_IMAGES images (clearly_fails; `images` of the point says how
many), and a point where a single image needs more patches than the caps is recorded as collapsed
(accuracy not simulated, loss taken as total).
Every evaluated point is cached by the hash of its inputs and the code that computes it.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from eda.nn.faults import FaultModel, TooManyFailures, injected_logits, stream
from eda.nn.network import MappedNetwork

Z_TWO_SIDED = 1.959964
Z_ONE_SIDED = 1.644854
CODE_FILES = ("faults.py", "vmin.py", "network.py", "accuracy.py")
FORMAT = "vmin-3"
MIN_IMAGES = 20      # a pass is stopped as clearly failing only after this many images
BATCH = 2500         # images per injected forward pass, fewer where a layer's failures would exceed the caps
Z_STOP = 3.290527    # two-sided 99.9%: the early-stop rule (clearly_fails)


def code_version() -> str:
    """Hash of the code that computes a point: a change to it invalidates cached points."""
    digest = hashlib.sha256(FORMAT.encode())
    for name in CODE_FILES:
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class Workload:
    network: MappedNetwork
    images: torch.Tensor
    labels: np.ndarray
    clean_correct: np.ndarray = field(init=False)

    def __post_init__(self):
        self.clean_correct = predictions(self.network, self.images) == self.labels

    @property
    def clean_accuracy(self) -> float:
        return float(self.clean_correct.mean())


def predictions(network: MappedNetwork, images: torch.Tensor, batch: int = 2500) -> np.ndarray:
    return torch.cat([network.forward(images[i:i + batch]) for i in range(0, len(images), batch)]).argmax(1).numpy()


@dataclass(frozen=True)
class PointStats:
    vdd: float
    accuracy: float          # clean accuracy of the whole test set minus the paired loss
    loss: float              # paired: clean - injected
    loss_ci_low: float
    loss_ci_high: float
    loss_upper_bound: float  # one-sided 95%
    repeats: int
    images: int
    failures_per_pass: float
    passes: bool


def paired_stats(clean: np.ndarray, correct_sum: np.ndarray, repeats: int, max_loss: float) -> dict:
    """Paired loss on the evaluated images. The interval's half width is at least 3/n (the rule of
    three: with no image changed, n images bound the loss at 3/n with 95% confidence), so a point
    evaluated on few images cannot pass on a zero standard deviation."""
    diff = clean[:len(correct_sum)].astype(float) - correct_sum / repeats
    n = len(diff)
    se = diff.std(ddof=1) / np.sqrt(n) if n > 1 else np.inf
    loss = float(diff.mean())
    floor = 3.0 / n
    accuracy = float(clean.mean()) - loss  # on the whole test set, from the paired loss
    return {"accuracy": accuracy, "accuracy_on_images": float((correct_sum / repeats).mean()), "loss": loss,
            "loss_ci_low": loss - max(Z_TWO_SIDED * se, floor), "loss_ci_high": loss + max(Z_TWO_SIDED * se, floor),
            "loss_upper_bound": loss + max(Z_ONE_SIDED * se, floor),
            "passes": bool(loss + max(Z_ONE_SIDED * se, floor) <= max_loss)}


def run_passes(workload: Workload, faults: FaultModel, seed: int, design: str, budget: str, vdd: float,
               repeats: range, images: int | None = None, stop_loss: float | None = None) -> tuple[np.ndarray, int, float]:
    """Per-image count of correct passes over `repeats` on the first `images` images (all by default),
    images used, failures per pass.

    Images go through in batches of BATCH; a batch whose failures in one layer exceed the injection's
    caps (memory) is split until they fit, so that every image is evaluated whatever the error rate;
    only a single image over the caps raises TooManyFailures (the point has collapsed). With
    `stop_loss`, the pass stops after the first batch that shows the point failing beyond doubt
    (clearly_fails): the remaining images cannot make it pass, and at such rates they are the
    expensive part."""
    images = images or len(workload.labels)
    correct = np.zeros(images, dtype=np.int64)
    failures = 0
    for repeat in repeats:
        start, batch = 0, BATCH
        while start < images:
            stop = min(start + batch, images)

            def streams(layer, kind, repeat=repeat, chunk=(start, stop - start)):
                return stream(seed, design, budget, vdd, repeat, layer, kind, chunk=chunk)

            try:
                logits, counts = injected_logits(workload.network, workload.images[start:stop], faults, streams)
            except TooManyFailures as too_many:
                if stop - start == 1:
                    raise
                batch = max(1, min((stop - start) // 2, too_many.images_that_fit()))
                continue
            correct[start:stop] += logits.argmax(1).numpy() == workload.labels[start:stop]
            failures += sum(counts.values())
            start = stop
            if stop_loss is not None and stop < images and clearly_fails(workload.clean_correct, correct[:stop], stop_loss):
                images, correct = stop, correct[:stop]
    return correct, images, failures / max(len(repeats), 1)


def clearly_fails(clean: np.ndarray, correct: np.ndarray, stop_loss: float) -> bool:
    """After one pass over the first len(correct) images (at least MIN_IMAGES): is the two-sided 99.9%
    lower bound of the paired loss above stop_loss? Checked after every batch, a few dozen looks at
    most, so a point that would pass is stopped by chance far less often than 1 in 100."""
    n = len(correct)
    if n < MIN_IMAGES:
        return False
    diff = clean[:n].astype(float) - correct
    return float(diff.mean() - Z_STOP * diff.std(ddof=1) / np.sqrt(n)) > stop_loss


def collapsed_point(vdd: float, too_many: TooManyFailures, images: int) -> PointStats:
    """Failures beyond the caps on a single image: every output is corrupted many times over.
    failures_per_pass: the overflowing layer's count for that image, times the images of the set."""
    return PointStats(vdd, float("nan"), 1.0, 1.0, 1.0, 1.0, 0, too_many.images, too_many.failures * images, False)


def point_key(case_key: str, vdd: float, repeats: int, seed: int, *, min_repeats: int, half_width: float,
              stop_loss: float | None) -> str:
    digest = hashlib.sha256()
    for part in (code_version(), case_key, round(vdd, 6), repeats, seed, min_repeats, round(half_width, 9),
                 None if stop_loss is None else round(stop_loss, 9)):
        digest.update(repr(part).encode())
    return digest.hexdigest()[:24]


def evaluate_point(workload: Workload, faults: FaultModel, *, design: str, budget: str, vdd: float, seed: int,
                   case_key: str, max_loss: float, min_repeats: int, max_repeats: int, target_half_width: float,
                   cache_dir: Path | None, stop_loss: float | None = None) -> tuple[PointStats, str]:
    """One point on every test image (or, with stop_loss, until it clearly fails: run_passes), with
    passes added from min_repeats up to max_repeats while the loss interval is wider than
    +-target_half_width. A point stopped early keeps its single pass: more cannot change its verdict."""
    key = point_key(case_key, vdd, max_repeats, seed, min_repeats=min_repeats, half_width=target_half_width,
                    stop_loss=stop_loss)
    cached = Path(cache_dir) / "accuracy-points" / f"{key}.npz" if cache_dir is not None else None
    if cached is not None and cached.is_file():
        data = np.load(cached)
        correct, repeats, failures = data["correct"], int(data["repeats"]), float(data["failures"])
    else:
        try:
            correct, images, failures = run_passes(workload, faults, seed, design, budget, vdd, range(1),
                                                   stop_loss=stop_loss)
        except TooManyFailures as too_many:
            return collapsed_point(vdd, too_many, len(workload.labels)), key
        repeats = 1
        while images == len(workload.labels) and repeats < max_repeats:
            if repeats >= min_repeats:
                stats = paired_stats(workload.clean_correct, correct, repeats, max_loss)
                if (stats["loss_ci_high"] - stats["loss_ci_low"]) / 2 <= target_half_width:
                    break
            try:
                more, _, more_failures = run_passes(workload, faults, seed, design, budget, vdd,
                                                    range(repeats, repeats + 1), images=images)
            except TooManyFailures:
                break
            correct, repeats = correct + more, repeats + 1
            failures = (failures * (repeats - 1) + more_failures) / repeats
        if cached is not None:
            from eda.core.files import atomic_write_bytes  # noqa: PLC0415  (nn writes only its cache)

            buffer = io.BytesIO()
            np.savez(buffer, correct=correct, repeats=repeats, failures=failures)
            cached.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(cached, buffer.getvalue())
    stats = paired_stats(workload.clean_correct, correct, repeats, max_loss)
    return PointStats(vdd, stats["accuracy"], stats["loss"], stats["loss_ci_low"], stats["loss_ci_high"],
                      stats["loss_upper_bound"], repeats, len(correct), failures, stats["passes"]), key


def search_vmin(vdds: list[float], evaluate) -> tuple[float, list]:
    """Lowest passing supply by bisection over `vdds` (any order); evaluate(vdd) -> (PointStats, key).
    Returns (vmin or NaN, [(stats, key), ...] in evaluation order)."""
    grid = sorted(set(vdds), reverse=True)
    done = {}

    def passes(index: int) -> bool:
        if index not in done:
            done[index] = evaluate(grid[index])
        return done[index][0].passes

    if not passes(0):
        return float("nan"), list(done.values())
    good, bad = 0, len(grid)          # grid[good] passes; grid[bad] fails (len(grid): below the sweep)
    while bad - good > 1:
        middle = (good + bad) // 2
        if passes(middle):
            good = middle
        else:
            bad = middle
    return grid[good], list(done.values())


def case_key(parts: dict, arrays: list[np.ndarray]) -> str:
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:24]


def points_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows).sort_values(["design", "budget", "vdd"], ascending=[True, True, False]).reset_index(drop=True)
