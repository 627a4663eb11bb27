"""Writing `eda selective`: selective.csv (the voltage sweep of the selective MAC, and the points of the
unprotected and fully protected references), selective_bits.csv (per partial-sum bit: lateness per
supply, flip effect, damage, protected or not), selective_search.csv (the bit choice at every supply),
selective.md and manifest.json."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from eda.core.files import atomic_write_text, make_dir

FILES = ("selective.csv", "selective_bits.csv", "selective_search.csv", "selective.md", "manifest.json")


@dataclass
class SelectiveResult:
    sweep: pd.DataFrame        # one row per (design, supply) evaluated on the test images
    bits: pd.DataFrame         # one row per partial-sum bit
    search: pd.DataFrame       # one row per supply of the bit choice
    macs: pd.DataFrame         # characterized MACs (run's tpu and thundervolt, selective sets)
    comparison: pd.DataFrame   # the run's Table II designs against the selective MAC
    summary: dict
    manifest: dict


def _pct(value, digits: int = 1) -> str:
    return "n/a" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.{digits}%}"


def _num(value, fmt: str) -> str:
    return "n/a" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, fmt)


def _sweep_lines(sweep: pd.DataFrame, design: str) -> list[str]:
    lines = ["| supply (V) | P(any bit late) | p_flip | replay / MAC op | replay, array | accuracy [95%] | loss bound | "
             "passes | images x repeats | energy / inference, MAC replay (uJ) | energy, array replay (uJ) | "
             "saving vs tpu @nominal (MAC / array) |",
             "|---:|---:|---:|---:|---:|---|---:|---|---:|---:|---:|---:|"]
    for r in sweep[sweep["design"] == design].itertuples(index=False):
        accuracy = ("collapsed" if not math.isfinite(r.accuracy) else
                    f"{r.accuracy:.2%} [{r.accuracy_ci_low:.2%}, {r.accuracy_ci_high:.2%}]")
        lines.append(f"| {r.vdd:.2f} | {r.p_late_any:.3g} | {r.p_flip:.3g} | {r.replay_per_mac:.3g} | {r.replay_array:.3g} | "
                     f"{accuracy} | {r.loss_upper_bound:.2%} | {'yes' if r.passes else 'no'} | {r.images} x {r.repeats} | "
                     f"{r.energy_per_inference_uj_mac:.1f} | {r.energy_per_inference_uj_array:.1f} | "
                     f"{_pct(r.saving_vs_tpu_nominal_mac)} / {_pct(r.saving_vs_tpu_nominal_array)} |")
    return lines


def _caps_note(sweep: pd.DataFrame) -> str:
    """What the injection's caps did to the points with unrecovered errors."""
    erring = sweep[sweep["p_flip"] > 0]
    measured = erring[erring["accuracy"].notna() & (erring["images"] > 0)]
    stopped = measured[measured["images"] < int(sweep["images"].max())]
    note = ("- Every point with unrecovered errors (p_flip > 0) is injected on all test images (eda/nn/vmin.py splits a "
            "batch of images until a layer's flips fit the injection's memory cap), except: a point whose loss is above "
            "the bound beyond doubt (two-sided 99.9% lower bound, after at least 20 images) stops there, and a point where "
            f"one image alone overflows the cap is 'collapsed' and fails. Of the {len(erring)} points with p_flip > 0, "
            f"{len(stopped)} stopped early as clearly failing and {len(erring) - len(measured)} collapsed.")
    return note


def selective_markdown(result: SelectiveResult, runtime_s: float) -> str:
    s = result.summary
    vmin = s["vmin"]["selective"]
    at = s["at_vmin"]
    scope = s["replay_scope"]
    paper = s["paper"]
    macs = result.macs
    mac_lines = ["| MAC | protected bits | target (ps) | area (um2) | of it sequential | delay (ns) | power @10 ns (mW) | "
                 f"power @{s['clock_ns']} ns (mW) | area vs tpu | power vs tpu |",
                 "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in macs.itertuples(index=False):
        mac_lines.append(f"| {r.mac} | {r.protected_bits} | {r.target_ps} | {r.area_um2:.0f} | {r.area_sequential_um2:.0f} | "
                         f"{r.delay_ns:.3f} | {r.power_w * 1e3:.3f} | {r.power_at_clock_w * 1e3:.3f} | "
                         f"{r.area_overhead_vs_tpu:+.1%} | {r.power_overhead_vs_tpu:+.1%} |")
    search_lines = ["| supply (V) | bits late (candidates) | checks | protected | p_flip | replay / MAC op | "
                    "energy / inference, MAC replay (uJ) | array replay (uJ) |",
                    "|---:|---:|---:|---|---:|---:|---:|---:|"]
    for r in result.search.itertuples(index=False):
        row = r._asdict()
        if row.get("feasible"):
            search_lines.append(f"| {r.vdd:.2f} | {r.candidates} | {r.evaluated} | {int(row['protected_count'])}: {row['protected_bits']} | "
                                f"{row['p_flip']:.3g} | {row['replay_per_mac']:.3g} | {row['energy_per_inference_uj_mac']:.1f} | "
                                f"{row['energy_per_inference_uj_array']:.1f} |")
        else:
            search_lines.append(f"| {r.vdd:.2f} | {r.candidates} | {r.evaluated} | none meets the bound | | | | |")
    bit_columns = [c for c in result.bits.columns if c.startswith("p_late_")]
    shown = [c for c in bit_columns if (result.bits[c] > 0).any()][:8] or bit_columns[:4]
    bit_lines = ["| bit | " + " | ".join(c.removeprefix("p_late_").replace("v", " V") for c in shown)
                 + " | CE increase / flip | answers lost / flip | damage rank | 2^b rank | protected |",
                 "|---:|" + "---:|" * len(shown) + "---:|---:|---:|---:|---|"]
    for row in result.bits.to_dict(orient="records"):
        rank = "" if not math.isfinite(row["damage_rank"]) else f"{int(row['damage_rank'])}"
        proxy = "" if not math.isfinite(row["proxy_2b_rank"]) else f"{int(row['proxy_2b_rank'])}"
        bit_lines.append(f"| {row['bit']} | " + " | ".join(f"{row[c]:.3g}" for c in shown)
                         + f" | {row['ce_increase_per_flip']:.3g} | {row['correct_lost_per_flip']:.3g} | {rank} | {proxy} | "
                         f"{'yes' if row['protected'] else ''} |")
    comparison_lines = ["| design (run's Table II) | power @Vnom (W) | Vmin in Table II (V) | energy / inference there (uJ) | "
                        f"Vmin at {s['max_loss']:.1%} (V) | energy there (uJ) | selective's saving, MAC replay | array replay |",
                        "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result.comparison.itertuples(index=False):
        row = r._asdict()
        comparison_lines.append(
            f"| {r.design} | {r.power_nominal_w:.1f} | {r.vmin_table_v:.2f} | {r.energy_per_inference_table_uj:.1f} | "
            f"{_num(r.vmin_at_max_loss_v, '.2f')} | {_num(r.energy_per_inference_at_max_loss_uj, '.1f')} | "
            f"{_pct(row.get('selective_saving_mac_vs_at_max_loss'))} ({_pct(row.get('selective_saving_mac_vs_table'))} vs Table II) | "
            f"{_pct(row.get('selective_saving_array_vs_at_max_loss'))} ({_pct(row.get('selective_saving_array_vs_table'))}) |")
    others = {d: v for d, v in s["vmin"].items() if d != "selective"}
    if at is not None:
        headline = (f"Vmin of the selective MAC: **{vmin:.2f} V** (accuracy {at['accuracy']:.2%} "
                    f"[{at['accuracy_ci_low']:.2%}, {at['accuracy_ci_high']:.2%}], loss {at['loss']:+.2%}, one-sided bound "
                    f"{at['loss_upper_bound']:.2%} <= {s['max_loss']:.2%}); there a MAC operation needs a replay with probability "
                    f"{at['replay_per_mac']:.3g} and the array (one shared replay line, {s['busy_macs']} busy MACs) replays "
                    f"{at['replay_array']:.1%} of its cycles. Energy per inference {at['energy_per_inference_uj_mac']:.1f} uJ "
                    f"counting each MAC's replays ({_pct(at['saving_vs_tpu_nominal_mac'])} below the tpu at "
                    f"{s['nominal_vdd']:g} V, {s['energy_tpu_nominal_uj']:.1f} uJ), {at['energy_per_inference_uj_array']:.1f} uJ "
                    f"with the array's stalls ({_pct(at['saving_vs_tpu_nominal_array'])}).")
        ours = (f"| ours (sky130hd, Fashion-MNIST CNN, {s['test_images']} test images) | 256x256, "
                f"{1e3 / s['clock_ns']:.0f} MHz | {s['nominal_vdd']:g} V -> {vmin:.2f} V | "
                f"{_pct(at['saving_vs_tpu_nominal_mac'])} (per-MAC replay) / {_pct(at['saving_vs_tpu_nominal_array'])} "
                f"(array stall) | {at['loss']:.2%} | {at['replay_per_mac']:.3%} per MAC / {at['replay_array']:.1%} array |")
    else:
        headline = f"The selective MAC does not meet the {s['max_loss']:.2%} bound even at {s['nominal_vdd']:g} V."
        ours = "| ours | | no supply passes | | | |"
    text = [
        "# Selective bit protection (Rathore et al., GLSVLSI 2023)\n",
        f"The TPU MAC of the run's Table II (size {s['tpu_size_index']}, {s['target_ps']} ps target, clock {s['clock_ns']} ns) with "
        f"Razor flops on the partial-sum bits **{s['protected_text']}** ({len(s['protected_bits'])} of 24) and plain flops on the "
        f"others (`rtl/mac_selective.v.j2`). A protected bit that is late but within the Razor window "
        f"({s['razor_window_fraction']:g} of the period after the edge) is detected and its shadow value restored in a replay "
        f"cycle (every MAC holds for one cycle); a late unprotected bit, or a protected one later than the window, is an "
        f"unrecovered error: one bit of the 24-bit partial sum inverted (eda/nn/faults.py, the tpu's error semantics).\n",
        headline + "\n",
        f"Vmin under the same rule: tpu without protection {_num(others.get('tpu (no protection)'), '.2f')} V, all 24 bits "
        f"protected {_num(others.get('all 24 bits protected'), '.2f')} V (same measured errors, same images).\n",
        "## Beside the seed paper\n",
        "| | array | supply | energy saving | accuracy loss | latency overhead |",
        "|---|---|---|---:|---:|---:|",
        f"| seed paper (65 nm-class, {paper['network']}) | {paper['array']}, {paper['clock_ghz'] * 1e3:.0f} MHz | "
        f"{paper['nominal_vdd']} V -> {paper['scaled_vdd']} V | {paper['energy_saving']:.1%} | {paper['accuracy_loss']:.2%} | "
        f"{paper['latency_overhead']:.3%} |",
        ours, "",
        "The seed paper's latency overhead of 0.001% on a 256x256 array can only be a per-processing-element count: with one "
        "replay line for the array, any of its MACs' errors stalls all of them, and the array's replay fraction is "
        "1 - (1 - r)^busy MACs. Both are listed; the bit choice used the "
        f"**{scope}** accounting (`--replay-scope`).\n",
        f"## The sweep ({s['test_images']} test images)\n",
        f"Accuracy = clean ({s['clean_accuracy']:.2%}, Wilson 95% [{s['clean_accuracy_wilson95'][0]:.2%}, "
        f"{s['clean_accuracy_wilson95'][1]:.2%}]) minus the paired loss, with the paired loss's 95% interval; "
        f"{s['repeats']['min']} to {s['repeats']['max']} injected passes per point (fewer images where a point "
        "failed beyond doubt early; 'collapsed': one image overflows the injection's caps); where no multiplication fails (p_flip = 0) the clean pass "
        "is the answer and no injection runs (the loss interval is then the rule of three, 3/images). A supply passes when the one-sided 95% bound of the "
        f"loss is <= {s['max_loss']:.2%}; Vmin is the lowest supply at and above which every supply passes "
        "(the run's rule). Energy per inference = power at nominal x (V/Vnom)^2 x cycles per inference "
        f"({s['cycles_per_inference']:.1f}) x clock x (1 + replay fraction), every replay cycle at full power; power is the "
        "vectorless power at nominal (Table II's `power @Vnom`), the selective MAC's from its own synthesis.\n",
        *_sweep_lines(result.sweep, "selective"), "",
        "The references on the same images and errors (bisection over the supplies, as `eda run`):\n",
        *[line for design in ("tpu (no protection)", "all 24 bits protected") for line in
          ([f"**{design}**\n"] + _sweep_lines(result.sweep, design) + [""])],
        "## Against the run's Table II\n",
        f"Energy per inference of each design at its Vmin (vectorless power, (V/Vnom)^2): Table II's Vmin is at "
        f"{s['table_max_loss']:.1%} loss; recomputed at {s['max_loss']:.1%} from the run's accuracy.csv (exact only where its "
        "bisection evaluated the supplies around it). Savings of the selective MAC at its Vmin against each. Note the "
        "models differ: Table II's errors come from eqs. 7-9 (tpu: flips; thundervolt and proposed: dropped products, no "
        "Razor window), the selective MAC's from the measured per-cycle lateness.\n",
        *comparison_lines, "",
        "## The MACs (synthesized at the tpu's target, nominal corner)\n",
        "Power at a 10 ns clock with the data inputs toggling 0.2 (the run's STA settings), and scaled to the array's clock "
        "(dynamic part x 10 ns / clock). The selective MACs' err_in (the array's replay line) is held at activity 0 in the "
        "power analysis: replays are rare, and their cycles are counted in the energy above. Every selective MAC has the "
        "hold multiplexers of the replay on all its registers, so 'none' is the cost of replay alone.\n",
        *mac_lines, "",
        f"## How the bits were chosen{' (given by --protected)' if s['search'].startswith('given') else ''}\n",
        f"Per-cycle lateness of the tpu's 24 partial-sum bits from the run's timing simulation (eda dta, 10,000 cycles of the "
        f"workload's operands; reproduced from cache key {result.manifest['inputs']['dta']['cache_key']} and checked equal to "
        f"errors/measured/measured_bit_error_probability.csv): the joint events give P(some unprotected bit late) directly, "
        f"where the per-bit marginals would need an independence assumption (the bits of one carry chain are late together).\n",
        f"Effect of a flip: bit b alone inverted in multiplications at {s['probe']['rate_per_multiplication']:.3g} each "
        f"(~{s['probe']['expected_flips']} flips) on {s['selection_images']} held-apart training images (the last ones; the "
        "first 500 give the activation scales); the increase of the cross-entropy per injected flip. Damage of bit b at a "
        "supply = P(b late) x effect; bits never late there are not candidates. At each supply the fewest most damaging bits "
        f"whose protection meets the {s['max_loss']:.2%} bound on the held-apart images (bisection over how many, assuming "
        "the loss does not grow as bits are protected). Energy per inference of each supply's set with its power "
        "interpolated by the number of protected bits between the synthesized MACs with none and all 24; "
        + ("here the set was given (`--protected`) and no search ran.\n" if s["search"].startswith("given") else
           f"the set used is that of {s['search']} ({_num(s['target_vdd'], '.2f')} V, **{scope}** replay accounting).\n"),
        *search_lines, "",
        f"Per bit (lateness at the supplies where some bit is late; damage and ranks at {_num(s['ranks_vdd'], '.2f')} V; "
        "'2^b rank': the ranking if the effect were the proxy 2^b):\n",
        *bit_lines, "",
        "## Checks and limits\n",
        "- RTL: iverilog against numpy for the chosen set, none and all 24 bits: without errors the MAC equals the tpu golden "
        "model (eda/verify/mac_sim.py) cycle for cycle; with late bits injected (main flop inverted after the edge, shadow "
        "right) and replay requests it equals its golden model, and replaying the flagged cycles gives back the tpu's "
        "outputs with only the unprotected inversions left: "
        + "; ".join(f"{c['protected_bits']}: {c['protected_flips_recovered']} protected flips recovered in {c['cycles']} cycles"
                    for c in s["checks"]) + ".",
        "- The lateness is the tpu netlist's: the selective MAC's hold/restore multiplexer in front of every partial-sum flop "
        "lengthens its paths (its STA delay is in the MAC table), which the measured settle times do not include.",
        _caps_note(result.sweep),
        "- Razor's short-path (hold) constraint is not fixed (no hold buffering), as for the run's other Razor MACs; a "
        "detected bit beyond the window is counted as both a replay and an error.",
        "- The array's replay line (an OR of every MAC's flag, within a cycle) is not synthesized; nor are the replay "
        "controller and the input buffers that re-present the held data.",
        f"- Energy counts the MAC array only, at the stated input activity (vectorless), like Table II's `power @Vnom`; "
        f"runtime of this job: {runtime_s / 60:.1f} min.",
        "",
    ]
    return "\n".join(text)


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item"):
        return _json_safe(value.item())
    return value


def write_selective_outputs(result: SelectiveResult, out_dir: Path, command: list[str], runtime_s: float) -> dict[str, Path]:
    out_dir = make_dir(Path(out_dir))
    paths = {name: out_dir / name for name in FILES}
    atomic_write_text(paths["selective.csv"], result.sweep.to_csv(index=False))
    atomic_write_text(paths["selective_bits.csv"], result.bits.to_csv(index=False))
    atomic_write_text(paths["selective_search.csv"], result.search.to_csv(index=False))
    atomic_write_text(paths["selective.md"], selective_markdown(result, runtime_s))
    manifest = {"command": command, "runtime_s": round(runtime_s, 1), **result.summary, **result.manifest,
                "mac_characterization": result.macs.to_dict(orient="records"), "comparison": result.comparison.to_dict(orient="records"),
                "files": sorted(name for name in paths if name != "manifest.json")}
    atomic_write_text(paths["manifest.json"], json.dumps(_json_safe(manifest), indent=1, default=str) + "\n")
    return paths
