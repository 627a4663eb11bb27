"""One comparison of every system of a finished run at one accuracy-loss constraint: pure table arithmetic.

Systems and the basis of their energy numbers (never mixed in one saving):

- Table II (tpu, thundervolt, proposed-*): the 256x256 array at each design's clock, vectorless power at the
  nominal supply x (Vmin / Vnom)^2 (the paper's rule), energy per inference = that power x cycles per inference x
  clock. Vmin at the comparison's max_loss (one-sided 95% bound of the paired loss). Savings against the tpu row.
- Selective bit protection (Rathore et al. 2023): the same basis (the run's 256x256 array, Table II's power at
  nominal x (V/Vnom)^2, x (1 + replay fraction) per MAC); its Vmin recomputed from selective.csv with the same rule;
  saving against the same tpu row of Table II.
- AutoApprox (approximate multipliers) and dynamic bit-width: one MAC synthesized at a 6000 ps target, power at a
  10 ns clock, energy per MAC operation = power x 10 ns, x the network's MACs per inference. Savings only against
  the exact baseline of the same study (all-exact multipliers; static 8-bit).
- Combinations (ours): those MACs at a lowered supply where their shorter delay leaves slack at the exact MAC's
  clock: the lowest V (on a `step` grid) with delay x r(V) <= exact delay, r(V) = FO4 mu(V) / mu(Vnom)
  (eda/method/scaling.py), energy x (V/Vnom)^2 (leakage, ~1e-6 of the power there, neglected). No negative slack,
  so no timing error: the accuracy is the one measured at nominal.
"""

from __future__ import annotations

import math

import pandas as pd

from eda.core.errors import EdaError
from eda.method.bitwidth import wilson_interval
from eda.method.scaling import fo4_delay_ratio
from eda.method.table2 import PAPER_QUOTED_SAVINGS, PAPER_TABLE2, minimum_voltages

COLUMNS = ["system", "seed_paper", "role", "vdd_v", "area_per_mac_um2", "chip_area_mm2", "area_scope", "power_w",
           "power_scope", "energy_per_inference_uj", "accuracy", "accuracy_ci_low", "accuracy_ci_high",
           "loss_vs_own_baseline", "loss_upper_bound", "own_baseline", "meets_max_loss", "constraint",
           "saving_vs_tpu", "baseline", "energy_basis", "seed_headline", "source", "assumptions"]

SHIN = "Shin et al., JETCAS 2019"
RATHORE = "Rathore et al., GLSVLSI 2023"
AUTOAPPROX = "AutoApprox, DATE 2022"
BITWIDTH = "Dynamic bit-width reconfiguration"
OURS = "none (combination, ours)"

TABLE2_BASIS = ("256x256 array at the design's clock; vectorless power at Vnom x (Vmin/Vnom)^2 (Table II rule); "
                "energy = power x cycles/inference x clock")
LEAKAGE_NOTE = "leakage neglected (~1e-6 of the MAC power at 1.8 V)"


def _paper_headlines() -> dict[str, str]:
    paper = PAPER_TABLE2.set_index("design")
    tpu_w = float(paper.loc["tpu [5]", "power_scaled_w"])

    def saving(name: str) -> str:
        row = paper.loc[name]
        return (f"{SHIN} Table II (65 nm, ResNet-18/ImageNet, loss <= 3%): {row['power_scaled_w']:g} W at Vmin "
                f"{row['vmin_v']:g} V of {row['nominal_vdd']:g} V, {1 - row['power_scaled_w'] / tpu_w:.1%} below the TPU")

    return {
        "tpu": f"{SHIN} Table II: TPU [5] {paper.loc['tpu [5]', 'power_scaled_w']:g} W at {paper.loc['tpu [5]', 'vmin_v']:g} V "
               "(the baseline, no voltage scaling)",
        "thundervolt": saving("thundervolt [10]") + " (Thundervolt's own paper is not among the seeds)",
        "proposed-column": saving("proposed column-wise"),
        "proposed-column2to1": saving("proposed column-wise 2to1"),
        "proposed-column4to1": saving("proposed column-wise 4to1") + f"; quoted: {PAPER_QUOTED_SAVINGS['tpu']:.1%} energy "
                               f"saving vs TPU, 34% vs Thundervolt",
        "proposed-uniform": f"{SHIN}: no such row (uniform sizing is our ablation)",
        "selective": f"{RATHORE}: 79.4% less inference energy, 0.9 V -> 0.5 V, 0.29% accuracy loss, 0.001% latency "
                     "overhead (256x256 at 0.7 GHz, MobileNetV2/ImageNet)",
        "approx": f"{AUTOAPPROX}: end-to-end power -3.2% and area -5.2% with no ImageNet top-1/top-5 loss (sub-10 nm)",
        "bitwidth": f"{BITWIDTH}: 50% energy reduction vs a static bit-width, < 1% accuracy loss (a real chip's energy data)",
    }


HEADLINES = _paper_headlines()


def _row(*parts: dict, **values) -> dict:
    """A row with every column (NaN where not given); later parts and the keywords override earlier ones."""
    row = dict.fromkeys(COLUMNS, float("nan"))
    for part in parts:
        row.update(part)
    row.update(values)
    return row


def lowest_slack_supply(delay_ns: float, reference_delay_ns: float, fo4: pd.DataFrame, nominal_vdd: float,
                        step: float = 0.01) -> tuple[float, float]:
    """(V, r(V)): the lowest supply on a `step` grid from nominal down to the FO4 table's lowest with
    delay x r(V) <= reference delay (r from the FO4 table, log-interpolated between its points). Nominal
    when there is no slack at all (delay >= reference)."""
    if not (math.isfinite(delay_ns) and math.isfinite(reference_delay_ns) and delay_ns > 0):
        raise EdaError(f"a delay must be a positive number, got {delay_ns!r} against {reference_delay_ns!r}")
    best = (nominal_vdd, 1.0)
    lowest = float(fo4["vdd"].min())
    k = 1
    while True:
        vdd = round(nominal_vdd - k * step, 6)
        if vdd < lowest - 1e-9:
            return best
        ratio = fo4_delay_ratio(fo4, vdd, nominal_vdd)
        if delay_ns * ratio > reference_delay_ns + 1e-12:
            return best  # r(V) grows as V falls: every lower supply fails too
        best = (vdd, ratio)
        k += 1


def _interval_from_loss(clean: float, loss_low: float, loss_high: float) -> tuple[float, float]:
    return clean - loss_high, clean - loss_low


def table2_rows(table: pd.DataFrame, sweep: pd.DataFrame, budget: str, max_loss: float, table_source: str) -> list[dict]:
    """One row per Table II design at its Vmin for max_loss (table: Table II recomputed at that threshold)."""
    for column in ("design", "vmin_v", "power_scaled_w", "energy_per_inference_uj", "area_mm2", "macs"):
        if column not in table.columns:
            raise EdaError(f"the recomputed Table II lacks the column {column}")
    tpu = table[table["design"] == "tpu"]
    if tpu.empty:
        raise EdaError("Table II has no tpu row: the baseline of every saving on its basis")
    tpu_energy = float(tpu["energy_per_inference_uj"].iloc[0])
    rows = []
    for r in table.itertuples(index=False):
        point = sweep[(sweep["design"] == r.design) & (sweep["budget"] == budget) & ((sweep["vdd"] - r.vmin_v).abs() < 1e-6)]
        if point.empty:
            accuracy = low = high = loss = bound = float("nan")
            clean = float("nan")
        else:
            p = point.iloc[0]
            clean, accuracy = float(p["clean_accuracy"]), float(p["accuracy_mean"])
            loss = clean - accuracy
            bound = float(p["loss_upper_bound"]) if "loss_upper_bound" in point.columns else float("nan")
            low, high = (_interval_from_loss(clean, float(p["loss_ci_low"]), float(p["loss_ci_high"]))
                         if {"loss_ci_low", "loss_ci_high"} <= set(point.columns) else (float("nan"),) * 2)
        rows.append(_row(
            system=r.design, seed_paper=SHIN, role="baseline (TPU)" if r.design == "tpu" else "seed-paper system",
            vdd_v=r.vmin_v, area_per_mac_um2=r.area_mm2 * 1e6 / r.macs, chip_area_mm2=r.area_mm2,
            area_scope="256x256 MACs (+ switching overhead), synthesis area",
            power_w=r.power_scaled_w, power_scope="256x256 array at Vmin (vectorless, V^2 rule)",
            energy_per_inference_uj=r.energy_per_inference_uj, accuracy=accuracy, accuracy_ci_low=low, accuracy_ci_high=high,
            loss_vs_own_baseline=loss, loss_upper_bound=bound, own_baseline=f"the same network clean (int8, {clean:.4f})",
            meets_max_loss=bool(bound <= max_loss + 1e-12) if math.isfinite(bound) else False,
            constraint=f"Vmin: one-sided 95% bound of the paired loss <= {max_loss:g} at and above it (budget {budget})",
            saving_vs_tpu=1.0 - r.energy_per_inference_uj / tpu_energy, baseline="tpu of Table II at its Vmin (same max_loss)",
            energy_basis=TABLE2_BASIS, seed_headline=HEADLINES.get(r.design, f"{SHIN}: no such row"),
            source=f"{table_source} (beside compare.csv; Table II recomputed at max_loss) row design={r.design}; accuracy/accuracy.csv row design={r.design},budget={budget},vdd={r.vmin_v:g}",
            assumptions=""))
    return rows


def selective_row(selective: pd.DataFrame, mac_area_um2: float, macs: int, clean: float, max_loss: float,
                  tpu_energy_uj: float, nominal_vdd: float) -> dict:
    """The selective-protection design at its Vmin for max_loss, from selective.csv (rows design=selective)."""
    points = selective[selective["design"] == "selective"].copy()
    if points.empty:
        raise EdaError("selective/selective.csv has no rows with design=selective")
    points["budget"] = "selective"
    points["accuracy_mean"] = points["accuracy"]
    vmin = float(minimum_voltages(points, max_loss)["vmin_v"].iloc[0])
    if not math.isfinite(vmin):
        return _row(system="selective bit protection", seed_paper=RATHORE, role="seed-paper system", meets_max_loss=False,
                    constraint=f"no supply passes loss bound <= {max_loss:g}", seed_headline=HEADLINES["selective"],
                    source="selective/selective.csv rows design=selective", baseline="tpu of Table II at its Vmin (same max_loss)",
                    energy_basis=TABLE2_BASIS)
    p = points[(points["vdd"] - vmin).abs() < 1e-6].iloc[0]
    power_w = float(p["power_nominal_w"]) * (vmin / nominal_vdd) ** 2
    return _row(
        system=f"selective bit protection (bits {p['protected_bits']})", seed_paper=RATHORE, role="seed-paper system",
        vdd_v=vmin, area_per_mac_um2=mac_area_um2, chip_area_mm2=mac_area_um2 * macs / 1e6,
        area_scope="256x256 MACs, synthesis area", power_w=power_w,
        power_scope="256x256 array at Vmin (vectorless, V^2 rule; replays not included)",
        energy_per_inference_uj=float(p["energy_per_inference_uj_mac"]), accuracy=float(p["accuracy"]),
        accuracy_ci_low=float(p["accuracy_ci_low"]), accuracy_ci_high=float(p["accuracy_ci_high"]),
        loss_vs_own_baseline=float(p["loss"]), loss_upper_bound=float(p["loss_upper_bound"]),
        own_baseline=f"the same network clean (int8, {clean:.4f})", meets_max_loss=True,
        constraint=f"Vmin: one-sided 95% bound of the paired loss <= {max_loss:g} at and above it",
        saving_vs_tpu=1.0 - float(p["energy_per_inference_uj_mac"]) / tpu_energy_uj,
        baseline="tpu of Table II at its Vmin (same max_loss)",
        energy_basis=TABLE2_BASIS + " x (1 + replay fraction per MAC op) (the seed paper's per-PE replay accounting)",
        seed_headline=HEADLINES["selective"],
        source=f"selective/selective.csv row design=selective,vdd={vmin:g}; selective/manifest.json mac_characterization",
        assumptions=f"replay per MAC {float(p['replay_per_mac']):.4g}; with one replay line for the array: "
                    f"{float(p['energy_per_inference_uj_array']):.1f} uJ; selective.csv's own saving against the tpu at "
                    f"{nominal_vdd:g} V: {float(p['saving_vs_tpu_nominal_mac']):.1%} (here against the tpu at its Table II "
                    "Vmin; the selective sweep's own unprotected tpu reaches a lower Vmin with its measured per-bit errors)")


def _wilson(accuracy: float, images: int) -> tuple[float, float]:
    return wilson_interval(int(round(accuracy * images)), images)


def approx_rows(approx: pd.DataFrame, assignment_table: pd.DataFrame, macs_per_layer: dict[str, int], fo4: pd.DataFrame,
                nominal_vdd: float, clock_ns: float, images: int, assignment_accuracy: float, chosen_at: float,
                max_loss: float, step: float = 0.01) -> list[dict]:
    """The all-exact baseline, the per-layer assignment and the assignment at its slack supplies (one per layer).

    assignment_table: approx_assignment.csv (layer, level, macs, area_um2, power_w; rows 'total ...' for the chips)."""
    layers = assignment_table[~assignment_table["layer"].astype(str).str.startswith("total")]
    assignment = dict(zip(layers["layer"].astype(str), layers["level"].astype(str)))
    totals = assignment_table.set_index("layer")
    for name in ("total", "total all-exact"):
        if name not in totals.index:
            raise EdaError(f"approx/approx_assignment.csv has no row layer={name!r}")
    levels = approx.set_index("level")
    missing = [lv for lv in ["exact", *assignment.values()] if lv not in levels.index]
    if missing:
        raise EdaError(f"approx/approx.csv has no row for level(s) {', '.join(sorted(set(missing)))}")
    missing = [layer for layer in assignment if layer not in macs_per_layer]
    if missing:
        raise EdaError(f"bitwidth/manifest.json macs_per_layer lacks layer(s) {', '.join(missing)}")
    exact = levels.loc["exact"]
    total_macs = sum(macs_per_layer[layer] for layer in assignment)
    e_exact = total_macs * float(exact["power_w"]) * clock_ns * 1e-9 * 1e6
    e_assign = sum(macs_per_layer[l] * float(levels.loc[lv, "power_w"]) for l, lv in assignment.items()) * clock_ns * 1e-3
    e_scaled, supplies = 0.0, {}
    for layer, level in assignment.items():
        vdd, _ = lowest_slack_supply(float(levels.loc[level, "delay_ns"]), float(exact["delay_ns"]), fo4, nominal_vdd, step)
        supplies[layer] = vdd
        e_scaled += macs_per_layer[layer] * float(levels.loc[level, "power_w"]) * clock_ns * 1e-3 * (vdd / nominal_vdd) ** 2
    exact_acc = float(exact["test_accuracy"])
    assign_acc = float(assignment_accuracy)
    chip = {name: (float(totals.loc[name, "area_um2"]) / 1e6, float(totals.loc[name, "area_um2"]) / float(totals.loc[name, "macs"]))
            for name in ("total", "total all-exact")}
    basis = (f"one MAC at the 6000 ps target, power at a {clock_ns:g} ns clock, energy/op = power x {clock_ns:g} ns, "
             f"x {total_macs:,} MACs/inference (per layer)")
    base = dict(seed_paper=AUTOAPPROX, area_scope="chip: one 256x256 (fc2: 256x10) array per layer, 5 arrays; per MAC = chip / MACs",
                power_scope="one MAC at the 10 ns clock (mean over the network's MAC operations)",
                own_baseline=f"all-exact multipliers ({exact_acc:.4f})", baseline="all-exact MACs of the same study at 1.8 V",
                energy_basis=basis)
    lo, hi = _wilson(exact_acc, images)
    rows = [_row(base, system="approx: all-exact multipliers", role="baseline (exact)", vdd_v=nominal_vdd,
                 area_per_mac_um2=chip["total all-exact"][1], chip_area_mm2=chip["total all-exact"][0],
                 power_w=float(exact["power_w"]), power_scope="one MAC at the 10 ns clock",
                 energy_per_inference_uj=e_exact, accuracy=exact_acc, accuracy_ci_low=lo, accuracy_ci_high=hi,
                 loss_vs_own_baseline=0.0, meets_max_loss=True, constraint="baseline", saving_vs_tpu=0.0,
                 seed_headline=HEADLINES["approx"], source="approx/approx.csv row level=exact; approx/approx_assignment.csv "
                                                           "row layer=total all-exact; bitwidth/manifest.json macs_per_layer")]
    lo, hi = _wilson(assign_acc, images)
    loss = exact_acc - assign_acc
    text = ", ".join(f"{l}={lv}" for l, lv in assignment.items())
    common = dict(area_per_mac_um2=chip["total"][1], chip_area_mm2=chip["total"][0], accuracy=assign_acc, accuracy_ci_low=lo, accuracy_ci_high=hi,
                  loss_vs_own_baseline=loss, meets_max_loss=bool(loss <= max_loss + 1e-12),
                  constraint=f"assignment chosen at loss <= {chosen_at:g} on 2000 held-apart training images; "
                             f"test loss is a point estimate")
    rows.append(_row(base, common, system="approx: per-layer assignment", role="seed-paper system", vdd_v=nominal_vdd,
                     power_w=e_assign / total_macs / (clock_ns * 1e-3), energy_per_inference_uj=e_assign,
                     saving_vs_tpu=1.0 - e_assign / e_exact, seed_headline=HEADLINES["approx"],
                     source=f"approx/approx_assignment.csv rows {text}; approx/approx.csv rows level=<those>; "
                            "approx/manifest.json test_assignment_accuracy; bitwidth/manifest.json macs_per_layer"))
    vtext = ", ".join(f"{l} {v:.2f} V" for l, v in supplies.items())
    rows.append(_row(base, common, system="combination: approx assignment + voltage scaling", role="combination (ours)",
                     vdd_v=min(supplies.values()), power_w=e_scaled / total_macs / (clock_ns * 1e-3),
                     energy_per_inference_uj=e_scaled, saving_vs_tpu=1.0 - e_scaled / e_exact, seed_headline=HEADLINES["approx"]
                     .split(":")[0] + " + voltage scaling: not shown in any seed paper",
                     source="as the assignment row; fo4.csv (r(V)); approx/approx.csv delay_ns of each level and of level=exact",
                     assumptions=f"one supply per layer's array: {vtext} (vdd_v = the lowest); V = lowest on a {step:g} V grid "
                                 f"with delay x FO4 r(V) <= exact delay {float(exact['delay_ns']):g} ns (zero negative slack, so "
                                 f"no timing error: the nominal accuracy holds); energy x (V/{nominal_vdd:g})^2, {LEAKAGE_NOTE}"))
    return rows


def bitwidth_rows(policies: pd.DataFrame, macs: pd.DataFrame, macs_per_inference: int, fo4: pd.DataFrame,
                  nominal_vdd: float, clock_ns: float, max_loss: float, chosen_at: float, step: float = 0.01) -> list[dict]:
    """Static 8-bit (baseline), the dynamic policy, and the dynamic policy with each precision's MAC at its slack supply."""
    test = policies[policies["images_from"].astype(str).str.contains("test")]
    by_policy = test.set_index("policy")
    for name in ("static 8-bit",):
        if name not in by_policy.index:
            raise EdaError(f"bitwidth/bitwidth.csv has no test-set row policy={name!r}")
    dynamic_names = [p for p in by_policy.index if str(p).startswith("dynamic")]
    if not dynamic_names:
        raise EdaError("bitwidth/bitwidth.csv has no test-set row with a dynamic policy")
    mac = macs.set_index("width")
    widths = sorted(int(w) for w in mac.index)
    top = max(widths)
    e_op = {w: float(mac.loc[w, "power_w"]) * clock_ns * 1e-9 for w in widths}
    static = by_policy.loc["static 8-bit"]
    e_static = float(static["energy_per_inference_j"]) * 1e6
    basis = (f"one MAC per precision at the 6000 ps target, power at a {clock_ns:g} ns clock, energy/op = power x "
             f"{clock_ns:g} ns, x {macs_per_inference:,} MACs/inference x runs per precision")
    base = dict(seed_paper=BITWIDTH, area_scope="per MAC, synthesis area", baseline="static 8-bit of the same study at 1.8 V",
                own_baseline=f"static 8-bit ({float(static['accuracy']):.4f})", energy_basis=basis,
                seed_headline=HEADLINES["bitwidth"])
    rows = [_row(base, system="bit-width: static 8-bit", role="baseline (exact)", vdd_v=nominal_vdd,
                 area_per_mac_um2=float(mac.loc[top, "area_um2"]), power_w=float(mac.loc[top, "power_w"]),
                 power_scope="one MAC at the 10 ns clock", energy_per_inference_uj=e_static,
                 accuracy=float(static["accuracy"]), accuracy_ci_low=float(static["accuracy_ci_low"]),
                 accuracy_ci_high=float(static["accuracy_ci_high"]), loss_vs_own_baseline=0.0, meets_max_loss=True,
                 constraint="baseline", saving_vs_tpu=0.0, source="bitwidth/bitwidth.csv row policy=static 8-bit (test)")]
    name = dynamic_names[0]
    d = by_policy.loc[name]
    runs = {w: float(d[f"runs_{w}b"]) for w in widths}
    used = [w for w in widths if runs[w] > 0]
    e_dyn = float(d["energy_per_inference_j"]) * 1e6
    supplies = {w: lowest_slack_supply(float(mac.loc[w, "delay_ns"]), float(mac.loc[top, "delay_ns"]), fo4, nominal_vdd, step)[0]
                for w in widths}
    e_scaled = macs_per_inference * sum(runs[w] * e_op[w] * (supplies[w] / nominal_vdd) ** 2 for w in widths) * 1e6
    loss = float(d["loss_vs_static_top"])
    common = dict(area_per_mac_um2=sum(float(mac.loc[w, "area_um2"]) for w in used),
                  area_scope=f"the MACs the policy uses ({' + '.join(f'{w}x{w}' for w in used)}), synthesis area",
                  power_scope="one MAC operation's mean power at the 10 ns clock",
                  accuracy=float(d["accuracy"]), accuracy_ci_low=float(d["accuracy_ci_low"]),
                  accuracy_ci_high=float(d["accuracy_ci_high"]), loss_vs_own_baseline=loss,
                  meets_max_loss=bool(loss <= max_loss + 1e-12),
                  constraint=f"thresholds chosen at loss <= {chosen_at:g} on 2000 held-apart training images; "
                             "test loss is a point estimate")
    rows.append(_row(base, common, system=f"bit-width: {name}", role="seed-paper system", vdd_v=nominal_vdd,
                     power_w=e_dyn * 1e-6 / macs_per_inference / (clock_ns * 1e-9), energy_per_inference_uj=e_dyn,
                     saving_vs_tpu=1.0 - e_dyn / e_static, source=f"bitwidth/bitwidth.csv row policy={name} (test)"))
    vtext = ", ".join(f"{w}x{w} {supplies[w]:.2f} V" for w in widths)
    rows.append(_row(base | {"seed_headline": f"{BITWIDTH} + voltage scaling: not shown in any seed paper"}, common,
                     system=f"combination: {name} + voltage scaling", role="combination (ours)",
                     vdd_v=min(supplies[w] for w in used),
                     power_w=e_scaled * 1e-6 / macs_per_inference / (clock_ns * 1e-9), energy_per_inference_uj=e_scaled,
                     saving_vs_tpu=1.0 - e_scaled / e_static,
                     source=f"bitwidth/bitwidth.csv row policy={name} (test) runs_*b; bitwidth/bitwidth_macs.csv power_w, "
                            "delay_ns per width; fo4.csv (r(V))",
                     assumptions=f"one supply per precision's MAC: {vtext} (vdd_v = the lowest used); V = lowest on a {step:g} V "
                                 f"grid with delay x FO4 r(V) <= the {top}x{top} MAC's delay {float(mac.loc[top, 'delay_ns']):g} ns "
                                 f"(zero negative slack: no timing error, the nominal accuracy holds); energy x "
                                 f"(V/{nominal_vdd:g})^2, {LEAKAGE_NOTE}"))
    return rows


def comparison(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)
