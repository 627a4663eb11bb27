"""Dynamic bit-width (input-dependent precision): the escalation policy, its threshold search, the
energy arithmetic and the accuracy interval. Pure numpy on numbers measured elsewhere: logits of the
network at each precision (eda.nn.bitwidth), power of each MAC width (the characterization).

Policy. The precisions are w_0 < w_1 < ... < w_{L-1} (e.g. 4, 6, 8). Every image runs at w_0; an
image whose classifier margin at w_l (top-1 logit minus top-2 logit) is below the threshold t_l runs
again at w_{l+1}; its answer is that of the last precision it ran at. An escalated image pays for
every run, the failed low-precision attempts included.

Threshold search (on held-apart images, never the test set). Among all threshold vectors, the one of
the lowest energy per inference whose accuracy loss against static w_{L-1} is within the bound:
    correct(policy) >= correct(static w_{L-1}) - floor(max_loss * N).
Energy is sum_l runs_l * E_l (E_l: energy per MAC operation at w_l), so for two precisions this is the
smallest escalation rate. Ties go to the higher accuracy, then to fewer escalations. Candidate
thresholds of a stage are the midpoints between consecutive distinct margins of the selection images,
plus -inf (never escalate) and +inf (always); every other threshold gives the same decisions on
those images. The last stage is swept exactly for each choice of the earlier ones (sorted margins,
cumulative correct counts: the fewest escalations that meet the bound are the cheapest); the earlier
stages are enumerated over all their candidates (all of them for three precisions), thinned to evenly
spaced ones when their product would exceed MAX_OUTER_COMBINATIONS (four or more precisions).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from eda.core.errors import EdaError

WILSON_Z = 1.959963984540054  # two-sided 95%
MAX_OUTER_COMBINATIONS = 20_000
_LOSS_EPSILON = 1e-9  # max_loss * N in floating point: 0.29 * 100 = 28.999999999999996


def wilson_interval(correct: int, total: int, z: float = WILSON_Z) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion correct / total (95% by default)."""
    if total <= 0 or not 0 <= correct <= total:
        raise EdaError(f"a proportion needs 0 <= correct <= total and total > 0, got {correct} of {total}")
    p = correct / total
    z2 = z * z
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / (1 + z2 / total)
    # At 0 or all correct the bound is exactly 0 or 1 (rounding would leave 1 - 1e-16).
    low = 0.0 if correct == 0 else max(0.0, centre - half)
    high = 1.0 if correct == total else min(1.0, centre + half)
    return low, high


def classifier_margins(logits: np.ndarray) -> np.ndarray:
    """Top-1 logit minus top-2 logit, per image (rows)."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise EdaError(f"logits must be (images, classes) with at least two classes, got shape {logits.shape}")
    if not np.isfinite(logits).all():
        raise EdaError("logits hold NaN or infinite values")
    top = np.sort(logits, axis=1)
    return top[:, -1] - top[:, -2]


def energy_per_op_j(power_w: float, clock_ns: float) -> float:
    """Energy of one MAC operation: the power measured at a clock period, times that period."""
    if not (math.isfinite(power_w) and power_w > 0) or not (math.isfinite(clock_ns) and clock_ns > 0):
        raise EdaError(f"energy per operation needs a positive power and clock period, got {power_w} W at {clock_ns} ns")
    return power_w * clock_ns * 1e-9


def inference_energy_j(run_fractions: Sequence[float], macs: int, energy_per_op: Sequence[float]) -> float:
    """Energy per inference: MACs x sum over precisions of (share of images run there x energy per op)."""
    runs = np.asarray(run_fractions, dtype=np.float64)
    energy = np.asarray(energy_per_op, dtype=np.float64)
    if runs.shape != energy.shape or runs.ndim != 1:
        raise EdaError(f"one run fraction per precision: {runs.shape} fractions for {energy.shape} energies")
    if macs <= 0 or (runs < 0).any() or (energy <= 0).any():
        raise EdaError("MACs per inference and energies must be positive, run fractions non-negative")
    return float(macs * (runs * energy).sum())


def _check_levels(margins: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    margins = np.asarray(margins, dtype=np.float64)
    correct = np.asarray(correct)
    if margins.ndim != 2 or margins.shape != correct.shape:
        raise EdaError(f"margins and correctness must both be (precisions, images); got {margins.shape} and {correct.shape}")
    if margins.shape[0] < 2:
        raise EdaError("the policy needs at least two precisions")
    if margins.shape[1] == 0:
        raise EdaError("no images")
    if not np.isfinite(margins).all():
        raise EdaError("margins hold NaN or infinite values")
    if correct.dtype != bool and not np.isin(correct, (0, 1)).all():
        raise EdaError("correctness must be 0/1 or boolean")
    return margins, correct.astype(bool)


@dataclass(frozen=True)
class PolicyOutcome:
    levels: int  # precisions of the policy
    first_level: int  # where every image starts: 0 for the dynamic policy, the width itself for a static one
    thresholds: tuple[float, ...]  # t_l: escalate from precision l when margin < t_l; () for a static policy
    final_level: np.ndarray  # per image: index of the precision that gave its answer
    correct: np.ndarray  # per image: the answer was right

    @property
    def images(self) -> int:
        return len(self.correct)

    @property
    def correct_count(self) -> int:
        return int(self.correct.sum())

    @property
    def accuracy(self) -> float:
        return self.correct_count / self.images

    @property
    def final_fractions(self) -> np.ndarray:
        """Share of images answered at each precision."""
        return np.bincount(self.final_level, minlength=self.levels) / self.images

    @property
    def run_fractions(self) -> np.ndarray:
        """Share of images that ran at each precision: an image answered at l ran at first_level..l."""
        runs = self.final_fractions[::-1].cumsum()[::-1].copy()
        runs[:self.first_level] = 0.0
        return runs


def run_policy(margins: np.ndarray, correct: np.ndarray, thresholds: Sequence[float]) -> PolicyOutcome:
    """Apply the escalation thresholds (one per precision but the last) to measured margins and
    correctness, both (precisions, images)."""
    margins, correct = _check_levels(margins, correct)
    levels = margins.shape[0]
    thresholds = tuple(float(t) for t in thresholds)
    if len(thresholds) != levels - 1 or any(math.isnan(t) for t in thresholds):
        raise EdaError(f"{levels} precisions need {levels - 1} thresholds (not NaN), got {len(thresholds)}")
    final = np.zeros(margins.shape[1], dtype=np.int64)
    for level, threshold in enumerate(thresholds):
        moving = (final == level) & (margins[level] < threshold)
        final[moving] = level + 1
    chosen = correct[final, np.arange(margins.shape[1])]
    return PolicyOutcome(levels, 0, thresholds, final, chosen)


def static_outcome(margins: np.ndarray, correct: np.ndarray, level: int) -> PolicyOutcome:
    """Every image at precision `level` only (no attempt at a lower one)."""
    margins, correct = _check_levels(margins, correct)
    levels = margins.shape[0]
    if not 0 <= level < levels:
        raise EdaError(f"precision index {level} outside 0..{levels - 1}")
    return PolicyOutcome(levels, level, (), np.full(margins.shape[1], level, dtype=np.int64), correct[level].copy())


def candidate_thresholds(values: np.ndarray) -> np.ndarray:
    """-inf, the midpoints between consecutive distinct values, +inf: every distinct split of `values`."""
    distinct = np.unique(np.asarray(values, dtype=np.float64))
    return np.concatenate([[-math.inf], (distinct[1:] + distinct[:-1]) / 2, [math.inf]])


def _thinned(candidates: np.ndarray, count: int) -> np.ndarray:
    if len(candidates) <= count:
        return candidates
    return candidates[np.unique(np.round(np.linspace(0, len(candidates) - 1, count)).astype(int))]


@dataclass(frozen=True)
class ThresholdSearch:
    outcome: PolicyOutcome  # the chosen policy on the selection images
    baseline_correct: int  # static highest precision, selection images
    required_correct: int
    max_loss: float
    combinations: int  # threshold vectors whose best last-stage cut was found
    exhaustive: bool  # False: the earlier stages' candidates were thinned
    relative_energy: float  # sum_l run_fraction_l * E_l / E_{L-1}: 1.0 is static highest precision

    @property
    def thresholds(self) -> tuple[float, ...]:
        return self.outcome.thresholds


def _last_stage(margin: np.ndarray, low: np.ndarray, high: np.ndarray, need: int) -> tuple[int, float, int] | None:
    """Fewest escalations (lowest margins first, ties together) from `low` to `high` correctness so
    that the count of correct answers reaches `need`; (escalated, threshold, correct) or None."""
    n = len(margin)
    if n == 0:
        return (0, -math.inf, 0) if need <= 0 else None
    order = np.argsort(margin, kind="stable")
    ordered = margin[order]
    reached = int(low.sum()) + np.concatenate([[0], np.cumsum(high[order].astype(np.int64) - low[order])])
    cut_allowed = np.ones(n + 1, dtype=bool)
    cut_allowed[1:n] = ordered[1:] > ordered[:-1]
    feasible = np.flatnonzero(cut_allowed & (reached >= need))
    if len(feasible) == 0:
        return None
    k = int(feasible[0])
    threshold = -math.inf if k == 0 else math.inf if k == n else float((ordered[k - 1] + ordered[k]) / 2)
    return k, threshold, int(reached[k])


def search_thresholds(margins: np.ndarray, correct: np.ndarray, energy_per_op: Sequence[float],
                      max_loss: float) -> ThresholdSearch:
    """The lowest-energy escalation thresholds whose accuracy loss against the highest precision is
    within `max_loss` on these (held-apart) images; see the module docstring for the search."""
    margins, correct = _check_levels(margins, correct)
    levels, images = margins.shape
    energy = np.asarray(energy_per_op, dtype=np.float64)
    if energy.shape != (levels,) or not (np.isfinite(energy).all() and (energy > 0).all()):
        raise EdaError(f"one positive energy per precision is needed ({levels}), got {list(energy_per_op)}")
    if not (math.isfinite(max_loss) and 0 <= max_loss < 1):
        raise EdaError(f"the accuracy-loss bound must be in [0, 1), got {max_loss}")
    baseline = int(correct[-1].sum())
    need = baseline - int(math.floor(max_loss * images + _LOSS_EPSILON))

    outer_stages = levels - 2
    per_stage = [candidate_thresholds(margins[level]) for level in range(outer_stages)]
    exhaustive = True
    if outer_stages and math.prod(len(c) for c in per_stage) > MAX_OUTER_COMBINATIONS:
        keep = max(2, int(MAX_OUTER_COMBINATIONS ** (1 / outer_stages)))
        per_stage = [_thinned(c, keep) for c in per_stage]
        exhaustive = False

    index = np.arange(images)
    best_key, best_thresholds, combinations = None, None, 0
    for outer in itertools.product(*per_stage):
        level_of = np.zeros(images, dtype=np.int64)
        runs = [images]
        for level, threshold in enumerate(outer):
            moving = (level_of == level) & (margins[level] < threshold)
            level_of[moving] = level + 1
            runs.append(int(moving.sum()))
        stopped_correct = int(correct[level_of, index][level_of < levels - 2].sum())
        reaching = level_of == levels - 2
        cut = _last_stage(margins[levels - 2][reaching], correct[levels - 2][reaching], correct[levels - 1][reaching],
                          need - stopped_correct)
        combinations += 1
        if cut is None:
            continue
        escalated, threshold, reached = cut
        cost = float(np.dot(runs + [escalated], energy))
        thresholds = tuple(float(t) for t in outer) + (threshold,)
        key = (cost, -(stopped_correct + reached), sum(runs[1:]) + escalated)
        if best_key is None or key < best_key:
            best_key, best_thresholds = key, thresholds
    if best_thresholds is None:  # cannot happen: escalating every image reproduces the baseline
        raise EdaError("no escalation thresholds meet the accuracy bound")
    outcome = run_policy(margins, correct, best_thresholds)
    if outcome.correct_count < need:
        raise EdaError("internal error: the chosen thresholds miss the accuracy bound")
    relative = float(np.dot(outcome.run_fractions, energy) / energy[-1])
    return ThresholdSearch(outcome, baseline, need, max_loss, combinations, exhaustive, relative)


def policy_row(policy: str, widths: Sequence[int], outcome: PolicyOutcome, macs: int, energy_per_op: Sequence[float],
               baseline: PolicyOutcome, baseline_energy_j: float) -> dict:
    """One line of the comparison table: accuracy with its Wilson interval, shares, energy, saving."""
    low, high = wilson_interval(outcome.correct_count, outcome.images)
    energy = inference_energy_j(outcome.run_fractions, macs, energy_per_op)
    row = {"policy": policy, "thresholds": " ".join(_threshold_text(t) for t in outcome.thresholds) or "static",
           "images": outcome.images, "correct": outcome.correct_count, "accuracy": outcome.accuracy,
           "accuracy_ci_low": low, "accuracy_ci_high": high,
           "loss_vs_static_top": baseline.accuracy - outcome.accuracy}
    for width, share in zip(widths, outcome.final_fractions):
        row[f"share_{width}b"] = float(share)
    for width, share in zip(widths, outcome.run_fractions):
        row[f"runs_{width}b"] = float(share)
    row["macs_per_inference"] = int(macs)
    row["energy_per_inference_j"] = energy
    row["saving_vs_static_top"] = 1 - energy / baseline_energy_j
    return row


def _threshold_text(value: float) -> str:
    return "-inf" if value == -math.inf else "inf" if value == math.inf else f"{value:.6g}"
