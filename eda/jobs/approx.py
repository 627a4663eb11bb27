"""`eda approx`: the AutoApprox comparison on our flow.

1. Simulate every multiplier level exhaustively in iverilog (65,536 pairs); a generated level must
   match its bit-level numpy model, or the run stops (the table is what the network then runs on).
2. Error statistics of each table (eda.method.approx).
3. Characterize each level's MAC with yosys + OpenSTA at the delay targets (cached runs).
4. Top-1 accuracy of the integer reference network with each level in every layer (test set).
5. Greedy per-layer assignment under the loss bound, measured on held-out training images (so the
   choice is not fitted to the test set), then its test accuracy and chip area/power.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from eda.core.errors import EdaError
from eda.designs.approx import Multiplier, approx_design, describe, multiplier_lut
from eda.designs.registry import Variant
from eda.flow.sta import StaSettings
from eda.method.approx import chip_cost, error_table, greedy_assignment
from eda.outputs.approx import ApproxResult, write_approx_outputs

EXACT = "exact"
CALIBRATION_IMAGES = 500  # activation scales, as eda/jobs/workload.py takes them
SELECTION_IMAGES = 2000  # the last training images: the greedy's accuracy measurements
ARRAY_ROWS = ARRAY_COLS = 256
STA_SETTINGS = StaSettings()  # `eda characterize`'s defaults: 10 ns clock, activity 0.2


@dataclass(frozen=True)
class ApproxSettings:
    platform: str
    targets: tuple[int, ...]
    assign_target_ps: int
    max_loss: float
    test_images: int = 0  # 0: all 10,000
    selection_images: int = SELECTION_IMAGES
    jobs: int = 0
    timeout_s: float = 600.0


def simulate_all(multipliers: list[Multiplier], work_dir: Path, echo: Callable[[str], None]) -> dict[str, np.ndarray]:
    from eda.verify.mult_sim import simulate_products

    products = {}
    for multiplier in multipliers:
        table = simulate_products(multiplier, work_dir / "sim" / multiplier.level)
        if multiplier.generated:
            model = multiplier_lut(multiplier)
            wrong = int((model != table).sum())
            if wrong:
                raise EdaError(f"multiplier {multiplier.level}: iverilog and the numpy model differ on {wrong} of "
                               f"65,536 operand pairs (simulation in {work_dir / 'sim' / multiplier.level})")
        products[multiplier.level] = table
        echo(f"simulated {multiplier.level}: 65,536 pairs" + (" (= numpy model)" if multiplier.generated else ""))
    return products


def characterize_levels(multipliers: list[Multiplier], settings: ApproxSettings, platforms_dir, cache_dir: Path) -> pd.DataFrame:
    from eda.core.platforms import load_platform
    from eda.flow.characterize import characterize
    platform = load_platform(settings.platform, platforms_dir)
    variants = [Variant(approx_design(m), t) for m in multipliers for t in settings.targets]
    result = characterize(variants, platform, STA_SETTINGS, cache_dir, jobs=settings.jobs, timeout_s=settings.timeout_s)
    table = result.table.copy()
    table.insert(0, "level", table["kind"].str.removeprefix("approx-"))
    return table[table["corner"] == platform.nominal_corner].reset_index(drop=True)


def macs_per_layer(network) -> dict[str, int]:
    """One array per layer, at most ARRAY_ROWS x ARRAY_COLS: K rows of weights by F filter columns."""
    return {name: min(int(np.prod(shape[1:])), ARRAY_ROWS) * min(int(shape[0]), ARRAY_COLS)
            for name, shape in network.layer_shapes().items()}


class CachedAccuracy:
    """Accuracy of an assignment on fixed images, each assignment measured once."""

    def __init__(self, net, images: np.ndarray, labels: np.ndarray, products: dict[str, np.ndarray]):
        self.net, self.images, self.labels, self.products = net, images, labels, products
        self.seen: dict[tuple, float] = {}

    def __call__(self, assignment: dict[str, str]) -> float:
        from eda.nn.lut_inference import int8_accuracy

        key = tuple(sorted(assignment.items()))
        if key not in self.seen:
            luts = {layer: None if level == EXACT else self.products[level] for layer, level in assignment.items()}
            self.seen[key] = int8_accuracy(self.net, self.images, self.labels, luts)
        return self.seen[key]


def run_approx(multipliers: list[Multiplier], settings: ApproxSettings, out_dir: Path, platforms_dir, cache_dir: Path,
               command: list[str], echo: Callable[[str], None] = print) -> dict[str, Path]:
    from eda.nn.data import load_fashion_mnist
    from eda.nn.fashion import load_reference
    from eda.nn.lut_inference import int8_network

    start = time.monotonic()
    levels = [m.level for m in multipliers]
    if EXACT not in levels:
        raise EdaError("the level list must include `exact`: the baseline of every comparison")
    if len(set(levels)) != len(levels):
        raise EdaError(f"multiplier levels repeat: {', '.join(levels)}")
    if settings.assign_target_ps not in settings.targets:
        raise EdaError(f"the assignment's target {settings.assign_target_ps} ps is not among the delay targets "
                       f"{', '.join(map(str, settings.targets))}")
    out_dir = Path(out_dir)
    products = simulate_all(multipliers, out_dir, echo)
    errors = error_table(products)

    characterization = characterize_levels(multipliers, settings, platforms_dir, cache_dir)
    at_target = characterization[characterization["target_ps"] == settings.assign_target_ps]
    costs = at_target[["level", "area_um2", "delay_ns", "power_w"]].reset_index(drop=True)

    network = load_reference()
    train = load_fashion_mnist("train")
    test = load_fashion_mnist("test")
    if settings.test_images:
        test = test.head(settings.test_images)
    if not 0 < settings.selection_images <= len(train) - CALIBRATION_IMAGES:
        raise EdaError(f"selection images must be 1..{len(train) - CALIBRATION_IMAGES}, got {settings.selection_images}")
    net = int8_network(network, train.images[:CALIBRATION_IMAGES])
    test_accuracy = CachedAccuracy(net, test.images, test.labels, products)
    per_level = {}
    for level in levels:
        per_level[level] = test_accuracy({layer: level for layer in network.layer_names})
        echo(f"accuracy with {level} in every layer: {per_level[level]:.4f} ({len(test)} test images)")

    selection = CachedAccuracy(net, train.images[-settings.selection_images:], train.labels[-settings.selection_images:],
                               products)
    macs = macs_per_layer(network)
    layer_order = sorted(network.layer_names, key=lambda name: -macs[name])  # stable: network order on ties
    by_error = errors.sort_values("mean_abs_error", ascending=False, kind="stable")["level"].tolist()
    assignment = greedy_assignment(layer_order, by_error, EXACT, selection, settings.max_loss)
    ordered = {name: assignment.levels[name] for name in network.layer_names}
    assigned_test = test_accuracy(ordered)
    exact_test = per_level[EXACT]
    echo(f"assignment {ordered}: selection accuracy {assignment.accuracy:.4f} (all-exact {assignment.baseline_accuracy:.4f}), "
         f"test {assigned_test:.4f} (all-exact {exact_test:.4f})")

    chosen = chip_cost(ordered, macs, costs)
    baseline = chip_cost({name: EXACT for name in network.layer_names}, macs, costs)
    chosen.loc[chosen["layer"] == "total", "level"] = "assignment"
    exact_total = baseline[baseline["layer"] == "total"].assign(layer="total all-exact", level=EXACT)
    assignment_table = pd.concat([chosen, exact_total], ignore_index=True)
    total, exact_row = chosen.iloc[-1], exact_total.iloc[0]

    level_table = errors.merge(costs, on="level", how="left")
    level_table.insert(1, "description", [describe(m) for m in multipliers])
    level_table["target_ps"] = settings.assign_target_ps
    level_table["test_accuracy"] = level_table["level"].map(per_level)
    trials = pd.DataFrame([vars(t) for t in assignment.trials], columns=["layer", "level", "accuracy", "accepted"])
    summary = {
        "platform": settings.platform, "corner": str(characterization["corner"].iloc[0]),
        "targets_ps": list(settings.targets), "target_ps": settings.assign_target_ps, "clock_period_ns": STA_SETTINGS.clock_period_ns,
        "input_activity": STA_SETTINGS.input_activity, "network": network.meta.get("source"), "test_images": len(test),
        "selection_images": settings.selection_images, "selection_source": "Fashion-MNIST training images (the last ones)",
        "calibration_images": CALIBRATION_IMAGES, "max_loss": settings.max_loss,
        "selection_baseline": assignment.baseline_accuracy, "selection_accuracy": assignment.accuracy,
        "test_exact_accuracy": exact_test, "test_assignment_accuracy": assigned_test, "assignment": ordered,
        "array_rows": ARRAY_ROWS, "array_cols": ARRAY_COLS,
        "area_saving": 1 - total["area_um2"] / exact_row["area_um2"], "power_saving": 1 - total["power_w"] / exact_row["power_w"],
    }
    result = ApproxResult(level_table, characterization, assignment_table, trials, products, summary)
    return write_approx_outputs(result, out_dir, command, time.monotonic() - start)
