"""`eda bitwidth`: input-dependent dynamic bit-width (the seed paper "Dynamic Bit-width
Reconfiguration for Energy-Efficient Deep Learning Hardware") on our flow.

1. Each TPU MAC width (b x b operands, default 4, 6, 8; the accumulator stays 24 bits) simulated in
   iverilog against the numpy golden model: every operand pair, the corner cases and random
   vectors (eda.verify.mac_sim); a mismatch stops the run.
2. Each width characterized with yosys + OpenSTA at one delay target (cached runs,
   eda.flow.characterize); energy per MAC operation = power x the power analysis' clock period.
3. The int8 reference network at each width (eda.nn.bitwidth: int8 scales, the low bits rounded
   off), on held-apart training images (the last ones) and on the test set.
4. The escalation thresholds chosen on the held-apart images (eda.method.bitwidth), applied to the
   test set and compared with every static width: accuracy with its Wilson interval, share of images
   per width, energy per inference (failed attempts included).
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from eda.core.errors import EdaError
from eda.core.files import sha256_file, sha256_text
from eda.designs.mac import MacParams, render_mac
from eda.designs.registry import Variant, mac_design
from eda.flow.sta import StaSettings
from eda.method.bitwidth import (classifier_margins, energy_per_op_j, policy_row, run_policy, search_thresholds,
                                 static_outcome)
from eda.outputs.bitwidth import BitwidthResult, write_bitwidth_outputs

DEFAULT_WIDTHS = (4, 6, 8)
TOP_WIDTH = 8  # the network's own precision: the baseline of every comparison
MIN_WIDTH = 2
# The delay target `eda approx` compares its levels at (the largest of its default targets).
DEFAULT_TARGET_PS = 6000
ACC_BITS = 24  # the project's accumulator, kept at every width (see docs/bitwidth.md)
CALIBRATION_IMAGES = 500  # the first training images: activation scales, as eda approx
SELECTION_IMAGES = 2000  # the last training images: the threshold search
VERIFY_VECTORS = 10_000
VERIFY_SEED = 0
STA_SETTINGS = StaSettings()  # `eda characterize`'s defaults: 10 ns clock, input activity 0.2
PAPER_ENERGY_SAVING = 0.50  # the seed paper's abstract: 50% less energy than a static bit-width ...
PAPER_MAX_LOSS = 0.01  # ... with less than 1% accuracy loss


@dataclass(frozen=True)
class BitwidthSettings:
    platform: str = "sky130hd"
    widths: tuple[int, ...] = DEFAULT_WIDTHS
    max_loss: float = 0.01
    target_ps: int = DEFAULT_TARGET_PS
    acc_bits: int = ACC_BITS
    test_images: int = 0  # 0: all 10,000
    selection_images: int = SELECTION_IMAGES
    calibration_images: int = CALIBRATION_IMAGES
    verify_vectors: int = VERIFY_VECTORS
    seed: int = VERIFY_SEED
    jobs: int = 0
    timeout_s: float = 600.0


def check_widths(widths) -> tuple[int, ...]:
    """Distinct whole bit counts in MIN_WIDTH..8, at least two, 8 among them; returned ascending."""
    widths = tuple(widths)
    bad = [w for w in widths if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or not MIN_WIDTH <= w <= TOP_WIDTH]
    if bad:
        raise EdaError(f"operand widths must be whole numbers of bits in {MIN_WIDTH}..{TOP_WIDTH} (the network is int8); "
                       f"got {', '.join(map(repr, bad))}")
    if len(set(widths)) != len(widths):
        raise EdaError(f"operand widths repeat: {', '.join(map(str, widths))}")
    if len(widths) < 2 or TOP_WIDTH not in widths:
        raise EdaError(f"give at least two widths including {TOP_WIDTH} (the int8 baseline every policy is compared "
                       f"with), e.g. 4,6,8; got {', '.join(map(str, widths)) or 'none'}")
    return tuple(sorted(int(w) for w in widths))


def width_params(bits: int, acc_bits: int = ACC_BITS) -> MacParams:
    return MacParams("tpu", bits, bits, acc_bits)


def width_label(bits: int) -> str:
    return f"tpu-{bits}x{bits}"


def exhaustive_vectors(params: MacParams, seed: int) -> pd.DataFrame:
    """Every (a, w) operand pair once, the weight loaded in the same cycle (product a*w reaches psum_out
    one edge later), with random partial sums."""
    from eda.verify.mac_sim import build_vectors

    a_values = np.arange(-(1 << (params.a_bits - 1)), 1 << (params.a_bits - 1))
    w_values = np.arange(-(1 << (params.w_bits - 1)), 1 << (params.w_bits - 1))
    a, w = (grid.ravel() for grid in np.meshgrid(a_values, w_values, indexing="ij"))
    rng = np.random.default_rng(seed)
    low, high = -(1 << (params.acc_bits - 1)), (1 << (params.acc_bits - 1)) - 1
    return build_vectors(a, w, np.ones(len(a), dtype=bool), rng.integers(low, high, size=len(a), endpoint=True))


def verify_width(params: MacParams, vectors: int, seed: int, workdir: Path) -> dict:
    """Simulate the MAC (iverilog) on the corner cases, `vectors` random cycles and every operand
    pair; compare every cycle with the numpy golden model. EdaError on any mismatch."""
    from eda.verify.mac_sim import compare_outputs, golden_mac, random_vectors, simulate_mac

    stimulus = pd.concat([random_vectors(params, vectors, seed), exhaustive_vectors(params, seed)], ignore_index=True)
    result = compare_outputs(golden_mac(params, stimulus), simulate_mac(params, stimulus, workdir))
    if not result.passed:
        raise EdaError(f"the {params.a_bits}x{params.w_bits} MAC does not match its numpy golden model in iverilog "
                       f"({workdir}): {result.summary()}")
    return {"width": params.a_bits, "verified_cycles": result.cycles_compared,
            "verified_operand_pairs": 1 << (params.a_bits + params.w_bits), "mismatches": result.mismatch_count}


def verify_widths(widths: tuple[int, ...], settings: BitwidthSettings, echo: Callable[[str], None]) -> pd.DataFrame:
    rows = []
    with tempfile.TemporaryDirectory(prefix="voltscale-bitwidth-") as tmp:
        for bits in widths:
            row = verify_width(width_params(bits, settings.acc_bits), settings.verify_vectors, settings.seed,
                               Path(tmp) / width_label(bits))
            echo(f"{width_label(bits)}: iverilog = numpy golden model on {row['verified_cycles']} cycles "
                 f"(all {row['verified_operand_pairs']} operand pairs)")
            rows.append(row)
    return pd.DataFrame(rows)


def characterize_widths(widths: tuple[int, ...], settings: BitwidthSettings, platforms_dir, cache_dir: Path):
    """(nominal-corner rows, one per width, with a `width` column; the Characterization)."""
    from eda.core.platforms import load_platform
    from eda.flow.characterize import characterize

    platform = load_platform(settings.platform, platforms_dir)
    variants = [Variant(replace(mac_design(width_params(bits, settings.acc_bits)), kind=width_label(bits)), settings.target_ps)
                for bits in widths]
    result = characterize(variants, platform, STA_SETTINGS, cache_dir, jobs=settings.jobs, timeout_s=settings.timeout_s)
    table = result.table[result.table["corner"] == platform.nominal_corner].reset_index(drop=True)
    table.insert(0, "width", [int(kind.split("x")[-1]) for kind in table["kind"]])
    return table, result, platform


def _input_files(platform, characterization) -> dict:
    from eda.nn.data import fashion_mnist_dir
    from eda.nn.fashion import REFERENCE_DIR, REFERENCE_NAME

    data_dir = fashion_mnist_dir()
    files = {"network": [REFERENCE_DIR / f"{REFERENCE_NAME}.npz", REFERENCE_DIR / f"{REFERENCE_NAME}.json"],
             "fashion_mnist": [data_dir / f"{prefix}-{kind}-idx{dims}-ubyte.gz" for prefix in ("train", "t10k")
                               for kind, dims in (("images", 3), ("labels", 1))],
             "platform_config": [platform.config_path]}
    inputs = {group: [{"path": str(path), "sha256": sha256_file(path)} for path in paths] for group, paths in files.items()}
    inputs["liberty"] = [{"corner": corner, "path": str(lib.source), "sha256": sha256_file(lib.source), "prepared_key": lib.key}
                         for corner, lib in sorted(characterization.liberties.items())]
    return inputs


def run_bitwidth(settings: BitwidthSettings, out_dir: Path, platforms_dir, cache_dir: Path, command: list[str],
                 echo: Callable[[str], None] = print) -> dict[str, Path]:
    from eda.flow.versions import package_versions, tool_versions
    from eda.nn.bitwidth import bitwidth_logits, macs_per_inference
    from eda.nn.data import load_fashion_mnist
    from eda.nn.fashion import load_reference
    from eda.nn.lut_inference import int8_network

    start = time.monotonic()
    widths = check_widths(settings.widths)
    if not (math.isfinite(settings.max_loss) and 0 <= settings.max_loss < 1):
        raise EdaError(f"--max-loss must be in [0, 1), got {settings.max_loss}")
    if settings.target_ps <= 0:
        raise EdaError(f"the delay target must be positive, got {settings.target_ps} ps")
    largest = max(widths)
    if settings.acc_bits < 2 * largest:
        raise EdaError(f"acc_bits ({settings.acc_bits}) must hold the {2 * largest}-bit product of the {largest}x{largest} MAC")
    train = load_fashion_mnist("train")
    test = load_fashion_mnist("test")
    if settings.test_images:
        if settings.test_images > len(test):
            raise EdaError(f"--images {settings.test_images}: the test set has {len(test)} images")
        test = test.head(settings.test_images)
    spare = len(train) - settings.calibration_images
    if not 0 < settings.selection_images <= spare:
        raise EdaError(f"selection images must be 1..{spare} (the training images after the {settings.calibration_images} "
                       f"calibration ones), got {settings.selection_images}")
    out_dir = Path(out_dir)

    verification = verify_widths(widths, settings, echo)
    characterization, charz, platform = characterize_widths(widths, settings, platforms_dir, cache_dir)
    characterization["energy_per_op_j"] = [energy_per_op_j(p, c) for p, c in
                                           zip(characterization["power_w"], characterization["power_clock_ns"])]
    energy = characterization.set_index("width").loc[list(widths), "energy_per_op_j"].to_numpy()
    for row in characterization.itertuples():
        echo(f"{row.kind} at {settings.target_ps} ps: {row.area_um2:.0f} um2, {row.delay_ns:.3f} ns, "
             f"{row.power_w * 1e3:.3f} mW, {row.energy_per_op_j * 1e12:.2f} pJ per operation")

    network = load_reference()
    net = int8_network(network, train.images[:settings.calibration_images])
    macs_by_layer = macs_per_inference(net, test.images.shape[1:])
    macs = sum(macs_by_layer.values())
    selection_images = train.images[-settings.selection_images:]
    selection_labels = train.labels[-settings.selection_images:]
    selection_logits = {b: bitwidth_logits(net, selection_images, b) for b in widths}
    test_logits = {b: bitwidth_logits(net, test.images, b) for b in widths}

    def stack(logits: dict[int, np.ndarray], labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        margins = np.stack([classifier_margins(logits[b]) for b in widths])
        correct = np.stack([logits[b].argmax(1) == labels for b in widths])
        return margins, correct

    selection_margins, selection_correct = stack(selection_logits, selection_labels)
    test_margins, test_correct = stack(test_logits, test.labels)
    search = search_thresholds(selection_margins, selection_correct, energy, settings.max_loss)
    echo(f"thresholds {search.thresholds} on {settings.selection_images} held-apart training images: accuracy "
         f"{search.outcome.accuracy:.4f} (static {largest}-bit {search.baseline_correct / settings.selection_images:.4f}), "
         f"{search.relative_energy:.3f} of static {largest}-bit energy")

    top = len(widths) - 1
    rows, selection_rows = [], []
    for margins, correct, target in ((test_margins, test_correct, rows), (selection_margins, selection_correct, selection_rows)):
        baseline = static_outcome(margins, correct, top)
        baseline_energy = float(macs * energy[top])
        for level, bits in enumerate(widths):
            target.append(policy_row(f"static {bits}-bit", widths, static_outcome(margins, correct, level), macs, energy,
                                     baseline, baseline_energy))
        dynamic = run_policy(margins, correct, search.thresholds)
        target.append(policy_row(f"dynamic {'->'.join(map(str, widths))}", widths, dynamic, macs, energy, baseline,
                                 baseline_energy))
    # The seed paper's comparison: the cheapest static width that meets the bound on the held-apart images.
    within = [bits for bits, row in zip(widths, selection_rows) if row["correct"] >= search.required_correct]
    static_choice = min(within, key=lambda bits: energy[widths.index(bits)])
    choice_energy = rows[widths.index(static_choice)]["energy_per_inference_j"]
    for row in rows + selection_rows:
        row["saving_vs_static_within_bound"] = 1 - row["energy_per_inference_j"] / choice_energy
    table = pd.DataFrame(rows)
    table.insert(1, "images_from", f"Fashion-MNIST test ({len(test)})")
    selection_table = pd.DataFrame(selection_rows)
    selection_table.insert(1, "images_from", f"held-apart training ({settings.selection_images})")
    dyn = table.iloc[-1]
    echo(f"test: dynamic accuracy {dyn['accuracy']:.4f} [{dyn['accuracy_ci_low']:.4f}, {dyn['accuracy_ci_high']:.4f}], "
         f"{dyn['energy_per_inference_j'] * 1e6:.2f} uJ per inference, {dyn['saving_vs_static_top']:.1%} below static {largest}-bit")

    macs_table = characterization.merge(verification, on="width")
    static_accuracy = {bits: row["accuracy"] for bits, row in zip(widths, rows)}
    macs_table["static_test_accuracy"] = macs_table["width"].map(static_accuracy)
    macs_table.insert(1, "acc_bits", settings.acc_bits)
    rtl = {width_label(b): sha256_text(render_mac(width_params(b, settings.acc_bits))) for b in widths}
    tools = {**charz.tools.versions, **tool_versions("iverilog")}
    summary = {
        "platform": settings.platform, "corner": platform.nominal_corner, "target_ps": settings.target_ps,
        "clock_period_ns": STA_SETTINGS.clock_period_ns, "input_activity": STA_SETTINGS.input_activity,
        "widths": list(widths), "acc_bits": settings.acc_bits, "max_loss": settings.max_loss,
        "network": network.meta.get("source"), "macs_per_inference": macs, "macs_per_layer": macs_by_layer,
        "test_images": len(test), "selection_images": settings.selection_images,
        "selection_source": "Fashion-MNIST training images (the last ones; never the test set)",
        "calibration_images": settings.calibration_images, "calibration_source": "Fashion-MNIST training images (the first ones)",
        "static_within_bound": static_choice,
        "thresholds": [t if math.isfinite(t) else str(t) for t in search.thresholds], "margin": "top-1 logit minus top-2 logit",
        "search": {"objective": "lowest energy per inference with selection loss <= max_loss",
                   "baseline_correct": search.baseline_correct, "required_correct": search.required_correct,
                   "selection_accuracy": search.outcome.accuracy, "combinations": search.combinations,
                   "exhaustive": search.exhaustive, "relative_energy": search.relative_energy},
        "requantization": "int8 scales kept, (8-b) low bits rounded off: weights floor(w8/2^(8-b)+1/2), activations "
                          "round(x/(s_a 2^(8-b))), both clipped to +-(2^(b-1)-1)",
        "verify": {"vectors": settings.verify_vectors, "seed": settings.seed},
        "paper": {"energy_saving_vs_static": PAPER_ENERGY_SAVING, "max_accuracy_loss": PAPER_MAX_LOSS},
    }
    manifest = {
        "settings": asdict(settings), "inputs": {**_input_files(platform, charz), "rtl_sha256": rtl},
        "tools": tools, "packages": package_versions("voltscale", "numpy", "pandas", "torch"), "sta_settings": asdict(STA_SETTINGS),
        "runs": [{"variant": e["variant"], "cache_key": e["cache_key"], "cached": e["cached"]} for e in charz.runs],
    }
    result = BitwidthResult(table, selection_table, macs_table, summary, manifest)
    return write_bitwidth_outputs(result, out_dir, command, time.monotonic() - start)
