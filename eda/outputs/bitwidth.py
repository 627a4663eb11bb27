"""Writing `eda bitwidth`: bitwidth.csv (one row per policy on the test images, then the same on the
held-apart images the thresholds were chosen on), bitwidth_macs.csv (per MAC width: characterization,
energy per operation, iverilog check, static accuracy), bitwidth.md and manifest.json."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from eda.core.files import atomic_write_text, make_dir


@dataclass
class BitwidthResult:
    policies: pd.DataFrame  # test images: static b-bit rows, then the dynamic policy (eda.method.bitwidth.policy_row)
    selection: pd.DataFrame  # the same rows on the held-apart training images
    macs: pd.DataFrame  # one row per width: characterization + energy_per_op_j + verification + static accuracy
    summary: dict  # settings and results the markdown and the manifest state
    manifest: dict  # inputs with sha256, tools, packages, runs


def _threshold_words(thresholds: list, widths: list[int]) -> str:
    parts = []
    for (low, high), value in zip(zip(widths, widths[1:]), thresholds):
        value = float(value)
        rule = ("never" if value == -math.inf else "always" if value == math.inf else f"when the margin is below {value:.4g}")
        parts.append(f"{low} -> {high} bits {rule}")
    return "; ".join(parts)


def _policy_table(frame: pd.DataFrame, widths: list[int], top: int, within: int) -> list[str]:
    shares = " / ".join(f"{w}" for w in widths)
    extra = within != top  # the cheapest static width within the bound, when it is not the top one
    lines = [f"| policy | accuracy [95% interval] | loss vs static {top}-bit | images at {shares} bits | "
             f"energy / inference (uJ) | saving vs static {top}-bit |" + (f" saving vs static {within}-bit |" if extra else ""),
             "|---|---|---|---|---|---|" + ("---|" if extra else "")]
    for row in frame.itertuples(index=False):
        row = row._asdict()
        share = " / ".join(f"{row[f'share_{w}b']:.1%}" for w in widths)
        lines.append(f"| {row['policy']} | {row['accuracy']:.2%} [{row['accuracy_ci_low']:.2%}, {row['accuracy_ci_high']:.2%}] "
                     f"| {row['loss_vs_static_top']:+.2%} | {share} | {row['energy_per_inference_j'] * 1e6:.2f} "
                     f"| {row['saving_vs_static_top']:.1%} |"
                     + (f" {row['saving_vs_static_within_bound']:.1%} |" if extra else ""))
    return lines


def bitwidth_markdown(result: BitwidthResult) -> str:
    s = result.summary
    widths, top, within = s["widths"], max(s["widths"]), s["static_within_bound"]
    search = s["search"]
    mac_lines = ["| MAC | area (um2) | delay (ns) | power (mW) | energy / op (pJ) | iverilog vs numpy | static test accuracy |",
                 "|---|---|---|---|---|---|---|"]
    for row in result.macs.itertuples(index=False):
        mac_lines.append(f"| {row.kind} (acc {row.acc_bits}) | {row.area_um2:.0f} | {row.delay_ns:.3f} | {row.power_w * 1e3:.3f} "
                         f"| {row.energy_per_op_j * 1e12:.2f} | {row.mismatches} mismatches in {row.verified_cycles} cycles "
                         f"(all {row.verified_operand_pairs} pairs) | {row.static_test_accuracy:.2%} |")
    paper = s["paper"]
    dynamic = result.policies.iloc[-1]
    paper_row = (f"| seed paper (reported: its own networks and chip energy data) | - | "
                 f"< {paper['max_accuracy_loss']:.0%} | - | - |" + (" - |" if within != top else "")
                 + f" {paper['energy_saving_vs_static']:.0%} (vs the static bit-width) |")
    if within == top:
        versus = f"static {top}-bit is also the cheapest static width whose loss on the held-apart images is within the bound"
    else:
        versus = (f"{dynamic['saving_vs_static_within_bound']:.1%} less than static {within}-bit, the cheapest static width "
                  f"whose loss on the held-apart images is within the {s['max_loss']:.2%} bound")
    text = [
        "# Dynamic bit-width: input-dependent precision\n",
        f"The TPU MAC at {', '.join(f'{w}x{w}' for w in widths)} operand bits (accumulator {s['acc_bits']} bits), each "
        f"synthesized on {s['platform']} at the {s['target_ps']} ps target and timed at {s['corner']}; power at a "
        f"{s['clock_period_ns']} ns clock with every data input toggling {s['input_activity']} times per cycle, so the "
        f"energy of one MAC operation is power x {s['clock_period_ns']} ns. Each MAC was simulated in iverilog against "
        f"the numpy golden model on every operand pair, its corner cases and {s['verify']['vectors']} random cycles.\n",
        *mac_lines, "",
        f"## Policies on {s['test_images']} test images\n",
        f"The reference network ({s['network']}, {s['macs_per_inference']:,} MACs per inference) at each precision. "
        f"Dynamic policy: every image at {widths[0]} bits first; escalated to the next precision when the margin "
        f"(top-1 logit minus top-2 logit) is below the threshold: {_threshold_words(s['thresholds'], widths)}. "
        f"Energy per inference = MACs x sum over precisions of (share of images run there x energy per op); an escalated "
        f"image pays for its failed attempts too. Interval: Wilson score, 95%.\n",
        *_policy_table(result.policies, widths, top, within), paper_row, "",
        f"The dynamic policy: {dynamic['accuracy']:.2%} against {result.policies.iloc[len(widths) - 1]['accuracy']:.2%} "
        f"for static {top}-bit, at {dynamic['saving_vs_static_top']:.1%} less energy than static {top}-bit; {versus} "
        f"(the seed paper's comparison: the static bit-width one would otherwise have to pick). The seed paper reports 50% less energy than a static bit-width at "
        f"under 1% accuracy loss, with its chip's energy data and its own networks.\n",
        f"## Where the thresholds come from: {s['selection_images']} held-apart training images\n",
        f"{s['selection_source']}; the activation scales come from the first {s['calibration_images']} training images. "
        f"Among all thresholds (candidates: the midpoints between consecutive distinct margins of these images, and "
        f"never/always), the ones of the lowest energy per inference whose accuracy is at most {s['max_loss']:.2%} below "
        f"static {top}-bit on these images: at least {search['required_correct']} of {s['selection_images']} correct "
        f"(static {top}-bit: {search['baseline_correct']}). The last stage is swept exactly for each choice of the earlier "
        f"ones; {search['combinations']} threshold combinations, {'exhaustive' if search['exhaustive'] else 'earlier stages thinned'}.\n",
        *_policy_table(result.selection, widths, top, within), "",
        "## Scheme and limits\n",
        f"- Reduced precision without retraining: {s['requantization']}. One int8 model serves every precision (a "
        "shift, no second copy of the weights and no recalibration), which is what switching per image at run time "
        "allows; at 8 bits the network is exactly the project's int8 inference.",
        "- Each precision is its own MAC (a separately synthesized b x b multiplier with the same accumulator), not one "
        "reconfigurable MAC with gated low bits; the energy leaves out memory traffic, control, the reconfiguration and "
        "the margin computation (ten logits), and uses the stated input activity rather than the workload's operands.",
        "",
    ]
    return "\n".join(text)


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_bitwidth_outputs(result: BitwidthResult, out_dir: Path, command: list[str], runtime_s: float) -> dict[str, Path]:
    out_dir = make_dir(Path(out_dir))
    paths = {name: out_dir / name for name in ("bitwidth.csv", "bitwidth_macs.csv", "bitwidth.md", "manifest.json")}
    atomic_write_text(paths["bitwidth.csv"], pd.concat([result.policies, result.selection], ignore_index=True).to_csv(index=False))
    atomic_write_text(paths["bitwidth_macs.csv"], result.macs.to_csv(index=False))
    atomic_write_text(paths["bitwidth.md"], bitwidth_markdown(result))
    manifest = {"command": command, "runtime_s": round(runtime_s, 1), **result.summary, **result.manifest,
                "files": sorted(name for name in paths if name != "manifest.json")}
    atomic_write_text(paths["manifest.json"], json.dumps(_json_safe(manifest), indent=1, default=str) + "\n")
    return paths
