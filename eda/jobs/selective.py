"""`eda selective`: selective bit protection (Rathore et al., GLSVLSI 2023) on a finished `eda run`.

1. The TPU MAC of the run's Table II (its size at the table budget) as timing-simulated by the run
   (`eda dta` on the workload's operands, reproduced from the cache or rebuilt, and checked against the
   committed errors/measured/measured_bit_error_probability.csv): per partial-sum bit and cycle, whether
   it is late at each supply, and beyond the Razor shadow window.
2. The effect of one inverted partial-sum bit on the network, bit by bit (eda/nn/selective.py), on
   held-apart training images; the expected damage of each bit at a supply = P(late) x effect.
3. At every supply of the sweep, the fewest most-damaging bits whose protection meets the accuracy
   bound on the held-apart images (eda/method/selective.py); the target supply is the one of the
   lowest energy per inference (replays counted as `replay_scope` says), the bit set its set.
4. The selective MAC with that set (rtl/mac_selective.v.j2): iverilog against numpy (no error: the tpu
   golden model; flips and replays: the protected bits recover), and characterized with the run's
   STA settings at the TPU's delay target, beside none and all 24 bits protected.
5. The sweep on the test images: accuracy (paired loss and its 95% interval, eda/nn/vmin.py), replay
   fraction and energy per inference at every supply; Vmin by the run's rule; savings against the TPU
   at nominal and the run's Table II designs.
"""

from __future__ import annotations

import json
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
from eda.designs.selective import SelectiveMac, bits_text, check_protected_bits, render_selective_mac, selective_design
from eda.flow.sta import StaSettings
from eda.method.selective import (REPLAY_SCOPES, bit_table, choose_target, damage_scores, energy_per_inference_j,
                                  interpolated_power, lateness, protection_rates, rank_bits, replay_fraction,
                                  smallest_passing_prefix)
from eda.outputs.selective import SelectiveResult, write_selective_outputs

ACC_BITS = 24
CALIBRATION_IMAGES = 500  # the first training images: activation scales, as `eda run`
SELECTION_IMAGES = 2000  # the last training images: flip effects and the bit choice (never the test set)
DEFAULT_TEST_IMAGES = 10_000
PROBE_FLIPS = 2000  # expected injected flips per bit when measuring a bit's effect
# The run's accuracy settings (voltscale.toml [accuracy]): repeats while the interval is wide.
MIN_REPEATS, MAX_REPEATS, HALF_WIDTH, SEED = 2, 4, 0.005, 1
VERIFY_VECTORS = 2000
PAPER = {"array": "256x256", "clock_ghz": 0.7, "network": "MobileNetV2 on ImageNet", "nominal_vdd": 0.9, "scaled_vdd": 0.5,
         "energy_saving": 0.794, "accuracy_loss": 0.0029, "latency_overhead": 0.00001}


@dataclass(frozen=True)
class SelectiveSettings:
    report: Path = Path("reports/sky130hd")
    max_loss: float = 0.01
    test_images: int = DEFAULT_TEST_IMAGES
    selection_images: int = SELECTION_IMAGES
    replay_scope: str = "mac"
    protected: tuple[int, ...] | None = None  # given: no search, this set at every supply
    target_vdd: float = 0.0  # 0: the supply of the lowest energy per inference
    probe_flips: int = PROBE_FLIPS
    seed: int = SEED
    verify_vectors: int = VERIFY_VECTORS
    jobs: int = 1
    timeout_s: float = 600.0


# ----------------------------------------------------------------------------------------------
# the run's files


@dataclass
class RunInputs:
    report: Path
    platform: str
    corner: str
    nominal_vdd: float
    sta: StaSettings
    table2: pd.DataFrame
    characterization: pd.DataFrame
    tpu_size: pd.Series  # the TPU's Pareto size at the table budget (mac_sizes row)
    clock_ns: float
    cycles_per_inference: float
    macs: int
    busy_macs: int
    array: tuple[int, int]
    measured_bits: pd.DataFrame  # the committed measured table, tpu rows of that size
    dta_meta: dict
    vmin_rule: str
    table_max_loss: float
    files: list[Path]


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise EdaError(f"{path} is missing: `eda selective` reads the outputs of a finished `eda run` (--report)")
    try:
        return pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise EdaError(f"{path}: not a readable table: {exc}") from None


def _read_json(path: Path):
    if not path.is_file():
        raise EdaError(f"{path} is missing: `eda selective` reads the outputs of a finished `eda run` (--report)")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EdaError(f"{path} is not valid JSON ({exc})") from None


def read_run(report: Path) -> RunInputs:
    """What the job needs of the run: Table II, its inputs, the TPU's size, clock and measured bits."""
    from eda.method.errtable import mac_sizes

    report = Path(report)
    table2 = _read_csv(report / "table2.csv")
    specs = _read_json(report / "table2_inputs.json")
    manifest = _read_json(report / "manifest.json")
    method = _read_json(report / "method_manifest.json")
    characterization = _read_csv(report / "characterization.csv")
    measured_path = report / "errors" / "measured" / "measured_bit_error_probability.csv"
    measured = _read_csv(measured_path)
    dta_meta = _read_json(report / "errors" / "measured" / "fitted_p.json")
    utilization = _read_csv(report / "workload" / "utilization.csv")
    settings = method.get("settings", {})
    tpu_spec = next((s for s in specs if s.get("design") == "tpu"), None)
    if tpu_spec is None or "tpu" not in set(table2["design"]):
        raise EdaError(f"{report}: Table II has no tpu row; `eda selective` protects the bits of the run's TPU MAC")
    counts = {int(k): int(v) for k, v in tpu_spec["size_counts"].items()}
    if len(counts) != 1:
        raise EdaError(f"{report}: the tpu design uses {len(counts)} MAC sizes; one (a uniform array) is expected")
    size_index = next(iter(counts))
    corner = settings.get("nominal_corner") or manifest["platform"].get("nominal_corner")
    sizes = mac_sizes(characterization, "tpu", corner, source=str(report / "characterization.csv"))
    if size_index not in set(sizes["size_index"]):
        raise EdaError(f"{report}: the tpu size index {size_index} of table2_inputs.json is not among its sizes")
    tpu_size = sizes[sizes["size_index"] == size_index].iloc[0]
    bits = measured[(measured["kind"] == "tpu") & (measured["size_index"] == size_index)]
    if bits.empty:
        raise EdaError(f"{measured_path}: no tpu rows of size {size_index}; run `eda run` with errors.measure = true")
    if int(bits["target_ps"].iloc[0]) != int(tpu_size["target_ps"]):
        raise EdaError(f"{measured_path}: tpu size {size_index} is at {bits['target_ps'].iloc[0]} ps there but at "
                       f"{tpu_size['target_ps']} ps in characterization.csv: the tables come from different runs")
    rows, cols = (int(v) for v in str(settings.get("array", "256x256")).split("x"))
    total = utilization[utilization["layer"] == "total"]
    busy_fraction = float(total["position_utilization"].iloc[0]) if not total.empty else float(settings.get("utilization", 1.0))
    sta = StaSettings(**{k: v for k, v in manifest.get("sta_settings", {}).items() if k in StaSettings.__dataclass_fields__})
    tpu_row = table2[table2["design"] == "tpu"].iloc[0]
    return RunInputs(report, str(manifest["platform"].get("name", "sky130hd")), corner, float(tpu_row["nominal_vdd"]), sta, table2,
                     characterization, tpu_size, float(tpu_spec["clock_ns"]), float(tpu_spec["cycles_per_inference"]),
                     int(tpu_row["macs"]), int(round(busy_fraction * rows * cols)), (rows, cols), bits, dta_meta,
                     str(settings.get("vmin_rule", "")), float(settings.get("max_loss", float("nan"))),
                     [report / "table2.csv", report / "table2_inputs.json", report / "characterization.csv", measured_path,
                      report / "errors" / "measured" / "fitted_p.json", report / "workload" / "utilization.csv",
                      report / "accuracy" / "accuracy.csv", report / "method_manifest.json", report / "manifest.json"])


# ----------------------------------------------------------------------------------------------
# 1. lateness of the TPU's partial-sum bits


@dataclass
class Lateness:
    required_ns: np.ndarray  # [24 bits, cycles]: settle + setup at nominal, the latest data pin of each bit
    scales: pd.DataFrame  # vdd, delay_scale (the sweep, highest first)
    cache_key: str
    cached: bool
    check_max_difference: float  # largest |p_late| difference with the committed table


def tpu_lateness(run: RunInputs, cache_dir: Path, workload, platforms_dir) -> Lateness:
    """The run's timing simulation of the TPU size (cached under its key, else rebuilt in seconds)."""
    from eda.core.platforms import load_platform
    from eda.flow.characterize import prepare_corners
    from eda.jobs import workload as wl
    from eda.jobs.dta import netlist_of, run_dta
    from eda.jobs.power import operand_vectors
    from eda.designs.mac import MacParams
    from eda.method.measured_errors import delay_scales, register_bits
    from eda.parsers.netlist import register_output_nets
    from eda.spice.table import load_fo4_table, platform_fo4_table

    meta = run.dta_meta
    cycles, warmup, mode = int(meta["cycles"]), int(meta["warmup_cycles"]), str(meta["mode"])
    if not str(meta.get("operands", "")).startswith("16 MACs of"):
        raise EdaError(f"{run.report}: the measured tables were simulated on {meta.get('operands')!r}; `eda selective` "
                       "reproduces the run's workload operands (errors.measure with the reference workload)")
    platform = load_platform(run.platform, platforms_dir)
    params = MacParams("tpu")
    rows = run.array[0]
    operands, _ = wl.mixed_operands(workload, cycles + 100, rows)
    operands = operands.head(cycles + warmup + 1).reset_index(drop=True)
    vectors = operand_vectors(params, operands)
    liberty = prepare_corners(platform, [run.corner], cache_dir)[run.corner]
    size = run.tpu_size
    settings = replace(run.sta, clock_period_ns=float(size["power_clock_ns"]), input_activity=float(size["input_activity"]))
    try:
        netlist = netlist_of(size, run.report / "characterization.csv", cache_dir)
    except EdaError:  # a clone without the run folders: synthesize the same variant again (deterministic)
        from eda.designs.registry import Variant, mac_design
        from eda.flow.characterize import characterize

        again = characterize([Variant(mac_design(params), int(size["target_ps"]))], platform, run.sta, cache_dir,
                             jobs=1, progress=False)
        netlist = Path(again.runs[0]["cache_dir"]) / "01-synth" / "netlist.v"
    dta = run_dta(netlist, params, vectors, liberty, platform, settings, cache_dir, warmup_cycles=warmup, mode=mode)
    bits = register_bits(dta.endpoints, register_output_nets(dta.run_dir / "00-netlist" / "netlist.v"), params)
    accumulator = bits["group"].to_numpy() == "accumulator"
    required = np.full((ACC_BITS, dta.required_ns.shape[1]), -np.inf)
    for row in np.flatnonzero(accumulator):
        bit = int(bits["bit"].iloc[row])
        required[bit] = np.maximum(required[bit], dta.required_ns[row])
    if sorted(set(bits.loc[accumulator, "bit"])) != list(range(ACC_BITS)):
        raise EdaError(f"the timing simulation {dta.run_dir} does not cover the {ACC_BITS} partial-sum bits")
    fo4_path = run.report.parent.parent / str(meta.get("fo4", "")) if meta.get("fo4") else None
    fo4 = load_fo4_table(fo4_path if fo4_path is not None and fo4_path.is_file() else platform_fo4_table(platform.name))
    vdds = sorted({round(float(v), 6) for v in run.measured_bits["vdd"] if v <= run.nominal_vdd + 1e-9}, reverse=True)
    scales = delay_scales(fo4, vdds, run.nominal_vdd)
    # The committed per-bit table must be what this simulation gives (same run, same operands).
    clock = float(run.measured_bits["clock_ns"].iloc[0])
    ours = bit_table(required, scales, clock, run.sta.shadow_delay_fraction)
    committed = run.measured_bits[run.measured_bits["group"] == "accumulator"][["vdd", "bit", "p_late"]]
    merged = ours.assign(vdd=ours["vdd"].round(6)).merge(committed.assign(vdd=committed["vdd"].round(6)), on=["vdd", "bit"],
                                                         suffixes=("", "_committed"))
    difference = float((merged["p_late"] - merged["p_late_committed"]).abs().max()) if len(merged) else float("nan")
    if not len(merged) or difference > 1e-9:
        raise EdaError(f"the timing simulation of the tpu size {int(size['size_index'])} ({dta.run_dir}) does not reproduce "
                       f"{run.report / 'errors/measured/measured_bit_error_probability.csv'} (largest p_late difference "
                       f"{difference:g}): rerun `eda run` so that the report and the cache agree")
    if abs(clock - run.clock_ns) > 1e-9:
        raise EdaError(f"the measured table's clock {clock} ns differs from Table II's tpu clock {run.clock_ns} ns")
    return Lateness(required, scales, dta.cache_key, dta.cached, difference)


# ----------------------------------------------------------------------------------------------
# accuracy points


class Points:
    """Accuracy points of one image set (eda/nn/vmin.py evaluate_point, cached by content)."""

    def __init__(self, network, images: np.ndarray, labels: np.ndarray, orders, scales, settings: SelectiveSettings,
                 cache_dir: Path, label: str):
        import torch

        from eda.nn.vmin import Workload, case_key

        self.network, self.orders, self.scales, self.settings = network, orders, scales, settings
        self.cache_dir, self.label = cache_dir, label
        self.run = Workload(network, torch.from_numpy(images), np.asarray(labels))
        self.base = {"network": network.digest(), "data": case_key({"images": len(images)}, [images, np.asarray(labels)]),
                     "orders": case_key({}, [orders[name] for name in sorted(orders)])}
        self.evaluated = 0

    @property
    def clean_accuracy(self) -> float:
        return self.run.clean_accuracy

    def evaluate(self, design: str, vdd: float, p_flip: float, weights: np.ndarray, max_loss: float):
        """(PointStats, point key); no injection needed when nothing fails (the clean pass, paired loss 0)."""
        from eda.nn.selective import selective_faults
        from eda.nn.vmin import PointStats, case_key, evaluate_point, paired_stats

        if p_flip <= 0:
            clean = self.run.clean_correct
            stats = paired_stats(clean, clean.astype(np.int64) * MIN_REPEATS, MIN_REPEATS, max_loss)
            return PointStats(vdd, stats["accuracy"], stats["loss"], stats["loss_ci_low"], stats["loss_ci_high"],
                              stats["loss_upper_bound"], MIN_REPEATS, len(clean), 0.0, stats["passes"]), ""
        faults = selective_faults(self.network, p_flip, weights, self.orders, self.scales)
        key = case_key({**self.base, "design": design, "p_flip": p_flip, "semantics": "selective-psum-flip"},
                       [np.asarray(weights, dtype=np.float64)])
        self.evaluated += 1
        return evaluate_point(self.run, faults, design=design, budget=self.label, vdd=vdd, seed=self.settings.seed,
                              case_key=key, max_loss=max_loss, min_repeats=MIN_REPEATS, max_repeats=MAX_REPEATS,
                              target_half_width=HALF_WIDTH, cache_dir=self.cache_dir, stop_loss=max_loss)


# ----------------------------------------------------------------------------------------------
# characterization


def characterize_sets(sets: list[tuple[int, ...]], run: RunInputs, platforms_dir, cache_dir: Path, settings: SelectiveSettings):
    """Nominal-corner rows of the selective MAC for each protected set at the TPU's target (err_in held
    still in the power analysis: replays are rare, and their cycles are counted in the energy)."""
    from eda.core.platforms import load_platform
    from eda.designs.registry import Variant
    from eda.flow.characterize import characterize

    platform = load_platform(run.platform, platforms_dir)
    target = int(run.tpu_size["target_ps"])
    variants = [Variant(replace(selective_design(SelectiveMac(bits)), static_inputs=frozenset({"err_in"})), target)
                for bits in dict.fromkeys(sets)]
    result = characterize(variants, platform, run.sta, cache_dir, jobs=settings.jobs, timeout_s=settings.timeout_s,
                          progress=False)
    table = result.table[result.table["corner"] == run.corner].reset_index(drop=True)
    return table, result


def mac_power_w(row: pd.Series, clock_ns: float) -> float:
    from eda.method.table2 import mac_power_at_clock_w

    return mac_power_at_clock_w(row, clock_ns)


# ----------------------------------------------------------------------------------------------


def _check(settings: SelectiveSettings) -> None:
    if not (math.isfinite(settings.max_loss) and 0 <= settings.max_loss < 1):
        raise EdaError(f"--max-loss must be in [0, 1), got {settings.max_loss}")
    if settings.replay_scope not in REPLAY_SCOPES:
        raise EdaError(f"--replay-scope must be one of {', '.join(REPLAY_SCOPES)}, got {settings.replay_scope!r}")
    if settings.test_images < 1 or settings.selection_images < 1:
        raise EdaError("--images and --selection-images must be at least 1")
    if settings.probe_flips < 1:
        raise EdaError(f"the probe must inject at least one flip, got {settings.probe_flips}")
    if settings.protected is not None:
        check_protected_bits(settings.protected, ACC_BITS)


def run_selective(settings: SelectiveSettings, out_dir: Path, platforms_dir, cache_dir: Path, command: list[str],
                  echo: Callable[[str], None] = print) -> dict[str, Path]:
    import torch

    from eda.flow.versions import package_versions, tool_versions
    from eda.jobs import workload as wl
    from eda.method.bitwidth import wilson_interval
    from eda.method.table2 import minimum_voltages
    from eda.nn.data import load_fashion_mnist
    from eda.nn.faults import activation_scales
    from eda.nn.selective import conventional_orders, flip_effects, macs_per_image
    from eda.nn.vmin import search_vmin
    from eda.verify.selective_sim import verify_selective

    start = time.monotonic()
    _check(settings)
    cache_dir = Path(cache_dir)
    run = read_run(Path(settings.report))
    window = run.sta.shadow_delay_fraction
    echo(f"tpu size {int(run.tpu_size['size_index'])} ({int(run.tpu_size['target_ps'])} ps, "
         f"{run.tpu_size['area_um2']:.0f} um2) of {run.report / 'table2.csv'}, clock {run.clock_ns} ns, Razor window "
         f"{window:g} P, {run.busy_macs} busy MACs of {run.macs}")

    workload = wl.load_workload("", "", "", 0)
    lateness_data = tpu_lateness(run, cache_dir, workload, platforms_dir)
    scales = lateness_data.scales
    vdds = [float(v) for v in scales["vdd"]]
    late_at = {float(v): lateness(lateness_data.required_ns, s, run.clock_ns, window) for v, s in zip(scales["vdd"], scales["delay_scale"])}
    bits_long = bit_table(lateness_data.required_ns, scales, run.clock_ns, window)
    echo(f"timing simulation of the tpu ({lateness_data.required_ns.shape[1]} cycles, "
         f"{'cached' if lateness_data.cached else 'rebuilt'} {lateness_data.cache_key}) reproduces the committed per-bit table")

    network = workload.network
    train = load_fashion_mnist("train")
    test = workload.test
    if settings.test_images > len(test):
        raise EdaError(f"--images {settings.test_images}: the test set has {len(test)} images")
    test = test.head(settings.test_images)
    if settings.selection_images > len(train) - CALIBRATION_IMAGES:
        raise EdaError(f"--selection-images must be at most {len(train) - CALIBRATION_IMAGES}")
    scales_a = activation_scales(network, torch.from_numpy(train.images[:CALIBRATION_IMAGES]))
    orders = conventional_orders(network, *run.array)
    selection_images = train.images[-settings.selection_images:]
    selection_labels = train.labels[-settings.selection_images:]
    selection = Points(network, selection_images, selection_labels, orders, scales_a, settings, cache_dir, "selection")
    testing = Points(network, test.images, test.labels, orders, scales_a, settings, cache_dir, "test")

    # 2. the effect of one flip of each bit
    torch.manual_seed(0)
    macs = macs_per_image(network, torch.from_numpy(test.images[:1]))
    rate = settings.probe_flips / (macs * settings.selection_images)
    effects = pd.DataFrame(flip_effects(network, torch.from_numpy(selection_images), selection_labels, orders, scales_a,
                                        rate, settings.seed))
    effect = effects["ce_increase_per_flip"].clip(lower=0.0).to_numpy()
    echo(f"flip effects on {settings.selection_images} held-apart images at {rate:.3g} flips per multiplication "
         f"(~{settings.probe_flips} per bit): cross-entropy per flip from {effect[0]:.2e} (bit 0) to {effect[-1]:.3g} (bit 23)")

    # 3. the bit choice
    characterization, charz = characterize_sets([(), tuple(range(ACC_BITS))], run, platforms_dir, cache_dir, settings)
    power_none = mac_power_w(characterization.iloc[0], run.clock_ns) * run.macs
    power_all = mac_power_w(characterization.iloc[1], run.clock_ns) * run.macs

    def scoped(replay: float) -> float:
        return replay_fraction(replay, settings.replay_scope, run.busy_macs)

    search_rows = []
    ranking_at = {}
    for vdd in vdds:
        late, beyond = late_at[vdd]
        damage = damage_scores(late.mean(axis=1), effect)
        ranking = rank_bits(late.mean(axis=1), effect)
        ranking_at[vdd] = (ranking, damage)
        if settings.protected is not None:
            break

        def passes(k: int, vdd=vdd, ranking=ranking) -> bool:
            rates = protection_rates(*late_at[vdd], ranking[:k])
            stats, _ = selection.evaluate("selective-search", vdd, rates.p_flip, rates.flip_weights, settings.max_loss)
            return stats.passes

        found = smallest_passing_prefix(len(ranking), passes)
        row = {"vdd": vdd, "candidates": len(ranking), "evaluated": len(found.evaluated), "feasible": found.k is not None}
        if found.k is not None:
            chosen = tuple(sorted(ranking[:found.k]))
            rates = protection_rates(late, beyond, chosen)
            power = interpolated_power(len(chosen), power_none, power_all, ACC_BITS)
            row.update({"protected_count": len(chosen), "protected_bits": bits_text(chosen), "p_flip": rates.p_flip,
                        "replay_per_mac": rates.replay, "replay_fraction": scoped(rates.replay),
                        "power_nominal_w_interpolated": power})
            for scope in REPLAY_SCOPES:
                row[f"energy_per_inference_uj_{scope}"] = 1e6 * energy_per_inference_j(
                    power, vdd, run.nominal_vdd, run.cycles_per_inference, run.clock_ns,
                    replay_fraction(rates.replay, scope, run.busy_macs))
            row["energy_per_inference_j"] = row[f"energy_per_inference_uj_{settings.replay_scope}"] * 1e-6
        search_rows.append(row)
        echo(f"  {vdd:.2f} V: " + (f"protect {row['protected_count']} bit(s) [{row['protected_bits']}], replay "
                                    f"{row['replay_per_mac']:.3g} per MAC op" if row["feasible"] else
                                    "no protected set meets the bound") + f" ({row['evaluated']} checks)")
        if not row["feasible"]:
            break  # lower supplies only have more late bits
    search = pd.DataFrame(search_rows)
    if settings.protected is not None:
        protected = check_protected_bits(settings.protected, ACC_BITS)
        target_vdd = settings.target_vdd or float("nan")
    elif settings.target_vdd:
        match = search[np.isclose(search["vdd"], settings.target_vdd)]
        if match.empty or not bool(match["feasible"].iloc[0]):
            raise EdaError(f"--target-vdd {settings.target_vdd}: not a feasible supply of the sweep "
                           f"({', '.join(f'{v:g}' for v in search.loc[search['feasible'], 'vdd'])})")
        target_vdd = float(match["vdd"].iloc[0])
        protected = tuple(sorted(ranking_at[target_vdd][0][:int(match["protected_count"].iloc[0])]))
    else:
        best = choose_target(search)
        target_vdd = float(best["vdd"])
        protected = tuple(sorted(ranking_at[target_vdd][0][:int(best["protected_count"])]))
    mac = SelectiveMac(protected)
    echo(f"protected bits {bits_text(protected)} ({len(protected)} of {ACC_BITS})"
         + (f", chosen at {target_vdd:g} V" if math.isfinite(target_vdd) else ""))

    # 4. RTL check and characterization of the chosen set
    checks = []
    with tempfile.TemporaryDirectory(prefix="voltscale-selective-") as tmp:
        for bits in dict.fromkeys([protected, (), tuple(range(ACC_BITS))]):
            check = verify_selective(SelectiveMac(bits), settings.verify_vectors, settings.seed, workdir=Path(tmp) / f"{len(bits)}")
            if not check.passed:
                raise EdaError(f"the selective MAC with bits {bits_text(bits)} fails its iverilog check: {check.summary()}")
            checks.append({"protected_bits": bits_text(bits), "cycles": check.errors_vs_model.cycles_compared,
                           "protected_flips_recovered": check.protected_flips, "unprotected_flips": check.unprotected_flips,
                           "replay_requests": check.requests})
            echo(f"iverilog = numpy for bits {bits_text(bits)}: {check.errors_vs_model.cycles_compared} cycles, "
                 f"{check.protected_flips} protected flips recovered, equal to the tpu golden model without errors")
    chosen_rows, charz_chosen = characterize_sets([protected], run, platforms_dir, cache_dir, settings)
    chosen_row = chosen_rows.iloc[0]
    power_chosen = mac_power_w(chosen_row, run.clock_ns) * run.macs
    if float(chosen_row["delay_ns"]) > run.clock_ns:
        echo(f"warning: the selective MAC's delay {chosen_row['delay_ns']:.3f} ns exceeds the clock {run.clock_ns} ns")

    # 5. the sweep on the test images
    energy_tpu_nominal = energy_per_inference_j(float(run.table2.loc[run.table2["design"] == "tpu", "power_nominal_w"].iloc[0]),
                                                run.nominal_vdd, run.nominal_vdd, run.cycles_per_inference, run.clock_ns)
    designs = {"selective": protected, "tpu (no protection)": (), "all 24 bits protected": tuple(range(ACC_BITS))}
    powers = {"selective": power_chosen, "tpu (no protection)": None, "all 24 bits protected": power_all}
    sweep_rows = []

    def point(design: str, vdd: float):
        rates = protection_rates(*late_at[vdd], designs[design])
        stats, key = testing.evaluate(design, vdd, rates.p_flip, rates.flip_weights, settings.max_loss)
        row = {"design": design, "protected_bits": bits_text(designs[design]), "vdd": vdd,
               "delay_scale": float(scales.loc[np.isclose(scales["vdd"], vdd), "delay_scale"].iloc[0]),
               "p_late_any": rates.p_late_any, "p_flip": rates.p_flip, "replay_per_mac": rates.replay,
               "replay_array": replay_fraction(rates.replay, "array", run.busy_macs),
               "accuracy": stats.accuracy, "accuracy_ci_low": testing.clean_accuracy - stats.loss_ci_high,
               "accuracy_ci_high": testing.clean_accuracy - stats.loss_ci_low, "loss": stats.loss,
               "loss_ci_low": stats.loss_ci_low, "loss_ci_high": stats.loss_ci_high, "loss_upper_bound": stats.loss_upper_bound,
               "passes": stats.passes, "repeats": stats.repeats, "images": stats.images,
               "failures_per_pass": stats.failures_per_pass, "point_key": key}
        power = powers[design] if powers[design] is not None else float(
            run.table2.loc[run.table2["design"] == "tpu", "power_nominal_w"].iloc[0])
        row["power_nominal_w"] = power
        for scope in REPLAY_SCOPES:
            replay = rates.replay if scope == "mac" else row["replay_array"]
            energy = energy_per_inference_j(power, vdd, run.nominal_vdd, run.cycles_per_inference, run.clock_ns, replay)
            row[f"energy_per_inference_uj_{scope}"] = energy * 1e6
            row[f"saving_vs_tpu_nominal_{scope}"] = 1 - energy / energy_tpu_nominal
        sweep_rows.append(row)
        return stats, key

    echo(f"sweep of {len(vdds)} supplies on {len(test)} test images (clean accuracy {testing.clean_accuracy:.4f})")
    for vdd in vdds:
        stats, _ = point("selective", vdd)
        echo(f"  selective {vdd:.2f} V: accuracy {stats.accuracy:.4f}, loss bound {stats.loss_upper_bound:.4f} "
             f"({'passes' if stats.passes else 'fails'})")
    for design in ("tpu (no protection)", "all 24 bits protected"):
        vmin_other, _ = search_vmin(vdds, lambda v, design=design: point(design, v))
        echo(f"  {design}: Vmin {vmin_other:g} V")
    sweep = pd.DataFrame(sweep_rows).sort_values(["design", "vdd"], ascending=[True, False], kind="stable").reset_index(drop=True)
    sweep.insert(1, "clean_accuracy", testing.clean_accuracy)

    def vmin_of(design: str) -> float:
        frame = sweep[sweep["design"] == design].assign(budget="-", clean_accuracy=testing.clean_accuracy)
        return float(minimum_voltages(frame.rename(columns={"accuracy": "accuracy_mean"}), settings.max_loss)["vmin_v"].iloc[0])

    vmins = {design: vmin_of(design) for design in designs}
    vmin = vmins["selective"]
    at_vmin = sweep[(sweep["design"] == "selective") & np.isclose(sweep["vdd"], vmin)].iloc[0] if math.isfinite(vmin) else None
    clean_low, clean_high = wilson_interval(int(testing.run.clean_correct.sum()), len(testing.run.clean_correct))

    # the run's Table II designs, at their Vmin there and at this threshold
    run_sweep = _read_csv(run.report / "accuracy" / "accuracy.csv")
    budget = str(json.loads((run.report / "method_manifest.json").read_text())["settings"]["table_budget"])
    vmin_here = minimum_voltages(run_sweep, settings.max_loss)
    vmin_here = vmin_here[vmin_here["budget"] == budget].set_index("design")["vmin_v"]
    comparison = []
    for row in run.table2.itertuples(index=False):
        energy_table = float(row.energy_per_inference_uj) * 1e-6
        vmin_loss = float(vmin_here.get(row.design, np.nan))
        energy_loss = (energy_per_inference_j(float(row.power_nominal_w), vmin_loss, run.nominal_vdd, float(row.cycles_per_inference),
                                              float(row.clock_ns)) if math.isfinite(vmin_loss) else float("nan"))
        comparison.append({"design": row.design, "area_mm2": float(row.area_mm2), "power_nominal_w": float(row.power_nominal_w),
                           "clock_ns": float(row.clock_ns), "vmin_table_v": float(row.vmin_v),
                           "energy_per_inference_table_uj": energy_table * 1e6, f"vmin_at_max_loss_v": vmin_loss,
                           "energy_per_inference_at_max_loss_uj": energy_loss * 1e6})
    comparison = pd.DataFrame(comparison)
    if at_vmin is not None:
        for scope in REPLAY_SCOPES:
            ours = float(at_vmin[f"energy_per_inference_uj_{scope}"])
            comparison[f"selective_saving_{scope}_vs_table"] = 1 - ours / comparison["energy_per_inference_table_uj"]
            comparison[f"selective_saving_{scope}_vs_at_max_loss"] = 1 - ours / comparison["energy_per_inference_at_max_loss_uj"]

    # per-bit table
    wide = bits_long.pivot(index="bit", columns="vdd", values="p_late")
    wide = wide[sorted(wide.columns, reverse=True)]
    wide.columns = [f"p_late_{v:.2f}v" for v in wide.columns]
    bits_frame = wide.reset_index()
    reference_vdd = target_vdd if math.isfinite(target_vdd) else (vmin if math.isfinite(vmin) else vdds[0])
    beyond_ref = bits_long[np.isclose(bits_long["vdd"], reference_vdd)].set_index("bit")["p_beyond_window"]
    reference_late = late_at[reference_vdd][0].mean(axis=1)
    ranking, damage = ranking_at.get(reference_vdd, (rank_bits(reference_late, effect), damage_scores(reference_late, effect)))
    bits_frame[f"p_beyond_window_{reference_vdd:.2f}v"] = bits_frame["bit"].map(beyond_ref)
    bits_frame = bits_frame.merge(effects, on="bit")
    bits_frame["damage_score"] = damage
    bits_frame["damage_rank"] = [ranking.index(b) + 1 if b in ranking else np.nan for b in bits_frame["bit"]]
    proxy = rank_bits(reference_late, 2.0 ** np.arange(ACC_BITS))
    bits_frame["proxy_2b_rank"] = [proxy.index(b) + 1 if b in proxy else np.nan for b in bits_frame["bit"]]
    bits_frame["protected"] = bits_frame["bit"].isin(protected)

    # MACs
    tpu_char = run.tpu_size
    thundervolt_design = run.table2[run.table2["design"] == "thundervolt"]
    specs = _read_json(run.report / "table2_inputs.json")
    mac_rows = [{"mac": "tpu (run)", "protected_bits": "none", "target_ps": int(tpu_char["target_ps"]),
                 "area_um2": float(tpu_char["area_um2"]), "area_sequential_um2": float(tpu_char["area_sequential_um2"]),
                 "delay_ns": float(tpu_char["delay_ns"]), "power_w": float(tpu_char["power_w"]),
                 "power_at_clock_w": mac_power_w(tpu_char, run.clock_ns), "razor_window_slack_ns": np.nan,
                 "run": f"{run.report / str(tpu_char['run_dir'])}"}]
    if not thundervolt_design.empty:
        tv_spec = next(s for s in specs if s["design"] == "thundervolt")
        from eda.method.errtable import mac_sizes

        tv_sizes = mac_sizes(run.characterization, "thundervolt", run.corner)
        tv = tv_sizes[tv_sizes["size_index"] == int(next(iter(tv_spec["size_counts"])))].iloc[0]
        mac_rows.append({"mac": "thundervolt (run)", "protected_bits": "0-23 (TE-Drop)", "target_ps": int(tv["target_ps"]),
                         "area_um2": float(tv["area_um2"]), "area_sequential_um2": float(tv["area_sequential_um2"]),
                         "delay_ns": float(tv["delay_ns"]), "power_w": float(tv["power_w"]),
                         "power_at_clock_w": mac_power_w(tv, float(tv_spec["clock_ns"])),
                         "razor_window_slack_ns": float(tv.get("razor_window_slack_ns", np.nan)),
                         "run": f"{run.report / str(tv['run_dir'])}"})
    all_rows = pd.concat([characterization, chosen_rows], ignore_index=True).drop_duplicates("kind")
    for row in all_rows.itertuples(index=False):
        bits = tuple(b for b in range(ACC_BITS) if (int(row.kind.split("-")[-1], 16) >> b) & 1)
        mac_rows.append({"mac": row.kind + (" (chosen)" if bits == protected else ""), "protected_bits": bits_text(bits),
                         "target_ps": int(row.target_ps), "area_um2": float(row.area_um2),
                         "area_sequential_um2": float(row.area_sequential_um2), "delay_ns": float(row.delay_ns),
                         "power_w": float(row.power_w), "power_at_clock_w": mac_power_w(pd.Series(row._asdict()), run.clock_ns),
                         "razor_window_slack_ns": float(row.razor_window_slack_ns) if row.razor_window_slack_ns is not None else np.nan,
                         "run": f"{cache_dir / 'runs' / row.cache_key}"})
    macs_table = pd.DataFrame(mac_rows)
    base_area, base_power = macs_table["area_um2"].iloc[0], macs_table["power_at_clock_w"].iloc[0]
    macs_table["area_overhead_vs_tpu"] = macs_table["area_um2"] / base_area - 1
    macs_table["power_overhead_vs_tpu"] = macs_table["power_at_clock_w"] / base_power - 1

    tools = {**charz.tools.versions, **tool_versions("iverilog")}
    inputs = {"report": [{"path": str(p), "sha256": sha256_file(p)} for p in run.files if p.is_file()],
              "network": [{"path": str(p), "sha256": sha256_file(p)} for p in _network_files()],
              "rtl_sha256": {mac.label: sha256_text(render_selective_mac(mac))},
              "dta": {"cache_key": lateness_data.cache_key, "cached": lateness_data.cached,
                      "p_late_max_difference_vs_committed": lateness_data.check_max_difference}}
    summary = {
        "platform": run.platform, "corner": run.corner, "nominal_vdd": run.nominal_vdd, "clock_ns": run.clock_ns,
        "tpu_size_index": int(run.tpu_size["size_index"]), "target_ps": int(run.tpu_size["target_ps"]),
        "razor_window_fraction": window, "macs": run.macs, "busy_macs": run.busy_macs,
        "cycles_per_inference": run.cycles_per_inference, "max_loss": settings.max_loss, "replay_scope": settings.replay_scope,
        "vmin_rule": "one-sided 95% upper bound of the paired top-1 loss <= max_loss, at and above the supply (eda/nn/vmin.py)",
        "table_max_loss": run.table_max_loss, "test_images": len(test), "selection_images": settings.selection_images,
        "calibration_images": CALIBRATION_IMAGES, "clean_accuracy": testing.clean_accuracy,
        "clean_accuracy_wilson95": [clean_low, clean_high],
        "repeats": {"min": MIN_REPEATS, "max": MAX_REPEATS, "half_width": HALF_WIDTH, "seed": settings.seed},
        "probe": {"rate_per_multiplication": rate, "expected_flips": settings.probe_flips, "macs_per_image": macs},
        "protected_bits": list(protected), "protected_text": bits_text(protected), "target_vdd": target_vdd,
        "ranks_vdd": reference_vdd,
        "search": "given by --protected" if settings.protected is not None else
                  ("at --target-vdd" if settings.target_vdd else "the supply of the lowest energy per inference"),
        "vmin": vmins, "energy_tpu_nominal_uj": energy_tpu_nominal * 1e6,
        "at_vmin": None if at_vmin is None else {k: (v.item() if hasattr(v, "item") else v) for k, v in at_vmin.items()},
        "power_nominal_w": {"tpu": float(run.table2.loc[run.table2["design"] == "tpu", "power_nominal_w"].iloc[0]),
                            "selective": power_chosen, "none": power_none, "all": power_all},
        "accuracy_points_evaluated": {"selection": selection.evaluated, "test": testing.evaluated},
        "paper": PAPER, "checks": checks,
    }
    manifest = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()},
                "inputs": inputs, "tools": tools, "packages": package_versions("voltscale", "numpy", "pandas", "torch"), "sta_settings": asdict(run.sta),
                "runs": [{"variant": e["variant"], "cache_key": e["cache_key"], "cached": e["cached"]}
                         for e in charz.runs + charz_chosen.runs]}
    result = SelectiveResult(sweep, bits_frame, search, macs_table, comparison, summary, manifest)
    paths = write_selective_outputs(result, Path(out_dir), command, time.monotonic() - start)
    return paths


def _network_files() -> list[Path]:
    from eda.nn.data import fashion_mnist_dir
    from eda.nn.fashion import REFERENCE_DIR, REFERENCE_NAME

    data_dir = fashion_mnist_dir()
    return [REFERENCE_DIR / f"{REFERENCE_NAME}.npz", REFERENCE_DIR / f"{REFERENCE_NAME}.json"] + [
        data_dir / f"{prefix}-{kind}-idx{dims}-ubyte.gz" for prefix in ("train", "t10k")
        for kind, dims in (("images", 3), ("labels", 1))]
