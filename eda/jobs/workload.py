"""The workload half of the method job: the network and its data, utilization, sensitivity maps
(Alg. 1 with per-layer scaling), and the minimum supply of every design by accuracy on the test set.

The reference workload is the Fashion-MNIST CNN (eda/nn/fashion.py, committed int8 weights); a
user's own model and data replace it through `[workload]` in the configuration (or `eda run
--model net.py:Net --weights net.pt --data test.npz`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from eda.core.errors import EdaError
from eda.method.mapping import StrategyMap, map_all_strategies
from eda.method.sensitivity import weight_sensitivity
from eda.method.utilization import LayerShape, utilization_table
from eda.nn.data import ImageSet, load_data, load_fashion_mnist
from eda.nn.faults import ACC_BITS, FaultModel, LayerFaults, activation_scales, bit_cdf
from eda.nn.network import MappedNetwork, load_user_model, mapped_network

CALIBRATION_IMAGES = 2000
IMPORTANCE_REPEATS = 3


@dataclass
class LoadedWorkload:
    network: MappedNetwork
    test: ImageSet
    calibration: ImageSet   # gradients, activation scales and layer importance


def load_workload(model: str, weights: str, data: str, images: int) -> LoadedWorkload:
    if model:
        network = mapped_network(load_user_model(model, Path(weights) if weights else None), model)
        if not data:
            raise EdaError("a user model (workload.model) needs its test data (workload.data: .npz or image folder)")
        test = load_data(Path(data))
        calibration = test.head(min(len(test), CALIBRATION_IMAGES // 4))
    else:
        from eda.nn.fashion import load_reference

        network = load_reference()
        test = load_data(Path(data)) if data else load_fashion_mnist("test")
        calibration = load_fashion_mnist("train").head(CALIBRATION_IMAGES)
    if images:
        test = test.head(images)
    _check_input_shape(network, test)
    return LoadedWorkload(network, test, calibration)


def _check_input_shape(network: MappedNetwork, data: ImageSet) -> None:
    try:
        logits = network.forward(torch.from_numpy(data.images[:2]))
    except RuntimeError as exc:
        raise EdaError(f"{data.source}: images of shape {data.images.shape[1:]} do not fit the network "
                       f"{network.meta.get('source')}: {exc}") from None
    if logits.dim() != 2:
        raise EdaError(f"the network's output has shape {tuple(logits.shape)}; a classifier's (N, classes) is needed")
    if data.labels.max() >= logits.shape[1] or data.labels.min() < 0:
        raise EdaError(f"{data.source}: labels {data.labels.min()}..{data.labels.max()} outside the network's "
                       f"{logits.shape[1]} classes")


def layer_shapes(network: MappedNetwork, sample: torch.Tensor) -> list[LayerShape]:
    shapes = []
    outputs = {}

    def keep(name, module, inputs, out):
        outputs[name] = out
        return out

    network.forward(sample[:1], keep)
    for op in network.layers:
        weight = op.module.weight
        positions = int(np.prod(outputs[op.name].shape[2:])) if outputs[op.name].dim() == 4 else 1
        shapes.append(LayerShape(op.name, int(np.prod(weight.shape[1:])), int(weight.shape[0]), positions))
    return shapes


def utilization(workload: LoadedWorkload, rows: int, cols: int) -> pd.DataFrame:
    return utilization_table(layer_shapes(workload.network, torch.from_numpy(workload.test.images)), rows, cols,
                             len(workload.test))


def _loss(network: MappedNetwork, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    hidden = images
    for op in network.operations:  # with gradients (MappedNetwork.forward runs without)
        hidden = op.module(hidden)
    return F.cross_entropy(hidden, labels)


def weight_gradients(network: MappedNetwork, data: ImageSet) -> dict[str, np.ndarray]:
    for op in network.layers:
        op.module.weight.requires_grad_(True)
        op.module.weight.grad = None
    _loss(network, torch.from_numpy(data.images), torch.from_numpy(data.labels)).backward()
    grads = {op.name: op.module.weight.grad.detach().double().numpy().copy() for op in network.layers}
    for op in network.layers:
        op.module.weight.requires_grad_(False)
    return grads


def layer_importance(network: MappedNetwork, data: ImageSet, ber: float, seed: int) -> dict[str, float]:
    """Loss increase when the layer's weight codes see bit flips at `ber` (each bit independently):
    the per-layer constant of the paper's section IV-C, measured by injection."""
    images, labels = torch.from_numpy(data.images), torch.from_numpy(data.labels)
    with torch.no_grad():
        clean = float(_loss(network, images, labels))
    importance = {}
    for index, op in enumerate(network.layers):
        codes = network.weight_codes[op.name]
        original = op.module.weight.detach().clone()
        increases = []
        for repeat in range(IMPORTANCE_REPEATS):
            rng = np.random.default_rng([seed, index, repeat])
            flips = (rng.random(codes.shape + (8,)) < ber) @ (1 << np.arange(8))
            flipped = ((codes.astype(np.int16) & 0xFF) ^ flips).astype(np.uint8).view(np.int8)
            with torch.no_grad():
                op.module.weight.copy_(torch.from_numpy(flipped.astype(np.float32) * network.weight_scales[op.name]))
                increases.append(float(_loss(network, images, labels)) - clean)
        with torch.no_grad():
            op.module.weight.copy_(original)
        importance[op.name] = max(float(np.mean(increases)), 1e-12)
    return importance


@dataclass
class SensitivityResult:
    per_weight: dict[str, np.ndarray]       # scaled, per weight
    importance: dict[str, float]
    maps: dict[str, StrategyMap]


def sensitivity(workload: LoadedWorkload, rows: int, cols: int, ber: float, seed: int) -> SensitivityResult:
    """Alg. 1 per weight, each layer scaled so that its total is its measured importance."""
    network = workload.network
    gradients = weight_gradients(network, workload.calibration)
    importance = layer_importance(network, workload.calibration, ber, seed)
    scaled = {}
    for op in network.layers:
        raw = weight_sensitivity(gradients[op.name], network.weight_codes[op.name], network.weight_scales[op.name], ber)
        total = raw.sum()
        scaled[op.name] = raw / total * importance[op.name] if total > 0 else raw
    return SensitivityResult(scaled, importance, map_all_strategies(scaled, rows, cols))


# ------------------------------------------------------------------------------------------ errors


PROTECTED_GROUPS = {"tpu": (), "thundervolt": ("accumulator",), "proposed": ("product",)}


def failure_split(bit_table: pd.DataFrame | None, kind: str, vdd: float, razor_bits: int, product_bits: int = 16
                  ) -> tuple[float, np.ndarray]:
    """(fraction of a MAC's failures that are unrecovered, weights over the 24 partial-sum bits of those).

    From the kind's per-bit table at `vdd`: P(any protected bit late) and P(any unprotected bit late).
    proposed protects the upper `razor_bits` product bits; thundervolt every partial-sum bit; tpu none.
    An unprotected product bit corrupts the same bit of the sum."""
    weights = np.zeros(ACC_BITS)
    if bit_table is None or bit_table.empty:
        return (1.0, _default_bits()) if kind == "tpu" else (0.0, _default_bits())
    at = bit_table[np.isclose(bit_table["vdd"], vdd, atol=1e-6)]
    protected_any, unprotected_none = 1.0, 1.0
    protected_none = 1.0
    for row in at.itertuples():
        if row.group not in ("accumulator", "product"):
            continue
        is_protected = (kind == "thundervolt" and row.group == "accumulator") or \
                       (kind == "proposed" and row.group == "product" and row.bit >= product_bits - razor_bits)
        if is_protected:
            protected_none *= 1 - row.p_error
        else:
            unprotected_none *= 1 - row.p_error
            if row.bit < ACC_BITS:
                weights[int(row.bit)] += row.p_error
    protected_any = 1 - protected_none
    unprotected_any = 1 - unprotected_none
    if protected_any + unprotected_any <= 0:
        return (1.0 if kind == "tpu" else 0.0), _default_bits()
    fraction = unprotected_any / (protected_any + unprotected_any)
    return fraction, weights if weights.sum() > 0 else _default_bits()


def _default_bits() -> np.ndarray:
    weights = np.zeros(ACC_BITS)
    weights[16:] = 1.0  # the end of the carry chain
    return weights


def fault_model(network: MappedNetwork, kind: str, mac_p: np.ndarray, strategy_map: StrategyMap, unrecovered: float,
                flip_bits: np.ndarray, scales: dict[str, float], column_orders: dict[str, np.ndarray]) -> FaultModel:
    from eda.nn.accuracy import weight_error_probabilities

    shapes = network.layer_shapes()
    recovered_map = mac_p * (1 - unrecovered)
    dropped = weight_error_probabilities(recovered_map, strategy_map.permutation, shapes, shift_rows=(kind == "thundervolt"))
    flipped = weight_error_probabilities(mac_p * unrecovered, strategy_map.permutation, shapes)
    layers = {name: LayerFaults(dropped[name], flipped[name], column_orders[name], scales[name]) for name in shapes}
    return FaultModel(layers, bit_cdf(flip_bits))


def echo(message: str) -> None:
    click.echo(message, err=True)


@dataclass(frozen=True)
class DesignCase:
    design: str           # tpu, thundervolt, proposed-uniform, proposed-column, ...
    kind: str
    strategy: str         # placement of the weights (mapping strategy)
    budget: str
    size_map: np.ndarray  # (M, N) size index of every MAC


@dataclass(frozen=True)
class AccuracySettings:
    vdds: list[float]
    max_losses: tuple[float, ...]   # the first decides Table II
    seed: int
    min_repeats: int
    max_repeats: int
    target_half_width: float


def minimum_supplies(workload: LoadedWorkload, cases: list[DesignCase], maps: dict[str, StrategyMap],
                     error_tables: dict[str, pd.DataFrame], bit_tables: dict[str, pd.DataFrame | None],
                     razor_bits: int, settings: AccuracySettings, cache_dir: Path | None, jobs: int = 1,
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every evaluated point (accuracy.csv) and the Vmin of every case at every loss threshold (vmin.csv).

    The cases' searches are independent (every point's draws are keyed by the point), so with jobs > 1
    they run in that many worker processes (spawned: torch does not survive a fork once its threads
    started), one torch thread each; the tables are assembled in case order, identical for any jobs."""
    from eda.nn.accuracy import column_row_orders
    from eda.nn.vmin import Workload, case_key

    network = workload.network
    run = Workload(network, torch.from_numpy(workload.test.images), workload.test.labels)
    scales = activation_scales(network, torch.from_numpy(workload.calibration.images[:500]))
    orders = {strategy: column_row_orders(smap.permutation, network.layer_shapes()) for strategy, smap in maps.items()}
    workers = min(jobs if jobs > 0 else (os.cpu_count() or 1), len(cases))
    echo(f"accuracy: {len(cases)} designs on {len(workload.test)} test images (clean {run.clean_accuracy:.4f}), "
         f"Vmin by bisection over {len(settings.vdds)} supplies, {workers} worker process(es)")
    # What the network and the images are, by content (not by where they were read from).
    data_id = case_key({"images": len(workload.test)}, [workload.test.images, np.asarray(workload.test.labels)])
    context = _SearchContext(run, scales, orders, maps, error_tables, bit_tables, razor_bits, settings, cache_dir,
                             network.digest(), data_id)
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=torch.set_num_threads,
                                 initargs=(1,)) as pool:
            results = list(pool.map(_case_vmins, cases, [context] * len(cases)))
    else:
        results = [_case_vmins(case, context) for case in cases]
    points = [point for case_points, _ in results for point in case_points]
    frame = pd.DataFrame(points).sort_values(["design", "budget", "vdd"], ascending=[True, True, False])
    return frame.reset_index(drop=True), pd.DataFrame([row for _, row in results])


@dataclass(frozen=True)
class _SearchContext:
    """What one case's Vmin search reads (sent to a worker process whole)."""
    run: object                          # eda.nn.vmin.Workload
    scales: dict[str, float]
    orders: dict[str, dict]
    maps: dict[str, StrategyMap]
    error_tables: dict[str, pd.DataFrame]
    bit_tables: dict[str, pd.DataFrame | None]
    razor_bits: int
    settings: AccuracySettings
    cache_dir: Path | None
    network_id: str
    data_id: str


def _case_vmins(case: DesignCase, context: _SearchContext) -> tuple[list[dict], dict]:
    """One case's evaluated points (in evaluation order) and its vmin.csv row."""
    from eda.nn.vmin import case_key, search_vmin

    run, settings, table = context.run, context.settings, context.error_tables[case.kind]
    network = run.network
    points: dict[float, dict] = {}

    def evaluate(vdd, threshold):
        p_by_size = table[np.isclose(table["vdd"], vdd, atol=1e-6)].sort_values("size_index")["p_error"].to_numpy()
        mac_p = p_by_size[case.size_map]
        unrecovered, bits = failure_split(context.bit_tables.get(case.kind), case.kind, vdd, context.razor_bits)
        key = case_key({"design": case.design, "kind": case.kind, "strategy": case.strategy, "budget": case.budget,
                        "unrecovered": unrecovered, "network": context.network_id, "data": context.data_id},
                       [mac_p, bits, context.maps[case.strategy].permutation.row_source])
        started = time.monotonic()
        stats, point = _evaluate_point(run, lambda: fault_model(network, case.kind, mac_p, context.maps[case.strategy],
                                                                unrecovered, bits, context.scales,
                                                                context.orders[case.strategy]),
                                       design=case.design, budget=case.budget, vdd=vdd, seed=settings.seed, case_key=key,
                                       max_loss=threshold, min_repeats=settings.min_repeats,
                                       max_repeats=settings.max_repeats, target_half_width=settings.target_half_width,
                                       cache_dir=context.cache_dir, stop_loss=max(settings.max_losses))
        seconds = time.monotonic() - started
        if seconds > 1.0:  # evaluated now, not read from the cache: say what the time went to
            echo(f"    {case.design}/{case.budget} at {vdd:.2f} V: loss {stats.loss:+.2%} "
                 f"[{stats.loss_ci_low:+.2%}, {stats.loss_ci_high:+.2%}] on {stats.images} images x {stats.repeats} "
                 f"passes, {stats.failures_per_pass:.3g} failures per pass, {seconds:.0f} s")
        points[vdd] = {
            "design": case.design, "kind": case.kind, "strategy": case.strategy, "budget": case.budget,
            "vdd": vdd, "mean_mac_p_error": float(mac_p.mean()), "max_mac_p_error": float(mac_p.max()),
            "unrecovered_fraction": unrecovered, "accuracy_mean": stats.accuracy,  # whole set: clean - paired loss
            "clean_accuracy": run.clean_accuracy, "loss": stats.loss, "loss_ci_low": stats.loss_ci_low,
            "loss_ci_high": stats.loss_ci_high, "loss_upper_bound": stats.loss_upper_bound,
            "repeats": stats.repeats, "images": stats.images, "failures_per_pass": stats.failures_per_pass,
            "point_key": point}
        return stats, point

    row = {"design": case.design, "budget": case.budget, "clean_accuracy": run.clean_accuracy}
    for threshold in settings.max_losses:
        vmin, _ = search_vmin(settings.vdds, lambda vdd, threshold=threshold: evaluate(vdd, threshold))
        at = points.get(vmin) if np.isfinite(vmin) else None
        suffix = "" if threshold == settings.max_losses[0] else f"_loss{threshold:g}"
        row.update({f"vmin_v{suffix}": vmin, f"max_loss{suffix}": threshold,
                    f"accuracy_at_vmin{suffix}": at["accuracy_mean"] if at else np.nan,
                    f"loss_upper_bound_at_vmin{suffix}": at["loss_upper_bound"] if at else np.nan})
    echo(f"  {case.design}/{case.budget}: Vmin {row['vmin_v']:g} V")
    return list(points.values()), row


COLLAPSED_SUFFIX = ".collapsed.json"


def _evaluate_point(run, faults, *, design: str, budget: str, vdd: float, seed: int, case_key: str, max_loss: float,
                    min_repeats: int, max_repeats: int, target_half_width: float, cache_dir: Path | None,
                    stop_loss: float | None):
    """eda.nn.vmin.evaluate_point, with the fault model built only when the point is not cached
    (faults: () -> FaultModel), and collapsed points cached too.

    A collapsed point (failures beyond the injection's caps on a single image) has no
    correct-count vector, so evaluate_point keeps nothing of it and every run used to redo the
    batch splits that find it collapsed (most of a cached run's accuracy time). Its stats are kept here
    as <key>.collapsed.json beside the cached points, under the same key."""
    import json

    from eda.nn.vmin import PointStats, evaluate_point, point_key

    key = point_key(case_key, vdd, max_repeats, seed, min_repeats=min_repeats, half_width=target_half_width,
                    stop_loss=stop_loss)
    folder = Path(cache_dir) / "accuracy-points" if cache_dir is not None else None
    collapsed = folder / f"{key}{COLLAPSED_SUFFIX}" if folder is not None else None
    if collapsed is not None and collapsed.is_file():
        try:
            fields = json.loads(collapsed.read_text())
            stats = PointStats(**{**fields, "vdd": vdd})
            if not stats.passes and stats.repeats == 0:
                return stats, key
        except (OSError, ValueError, TypeError):
            pass
    cached = folder is not None and (folder / f"{key}.npz").is_file()
    stats, point = evaluate_point(run, None if cached else faults(), design=design, budget=budget, vdd=vdd, seed=seed,
                                  case_key=case_key, max_loss=max_loss, min_repeats=min_repeats, max_repeats=max_repeats,
                                  target_half_width=target_half_width, cache_dir=cache_dir, stop_loss=stop_loss)
    if collapsed is not None and not cached and stats.repeats == 0 and not stats.passes:
        from dataclasses import asdict

        from eda.core.files import atomic_write_text

        atomic_write_text(collapsed, json.dumps(asdict(stats)))
    return stats, point


def mac_operands(workload: LoadedWorkload, n_operations: int, array_rows: int, layer: str | None = None,
                 filter_index: int = 0, k: int | None = None, *, shapes: list[LayerShape] | None = None,
                 scales: dict[str, float] | None = None) -> tuple[pd.DataFrame, str, dict]:
    """Per-cycle (a_code, w_code, psum_in) of one typical MAC of the workload, for gate-level power.

    The layer with the most multiplications; the weight row whose zero-activation fraction is the
    median of the layer's rows; psum_in = the exact integer partial sum of the rows above it in its
    tile. Activations are int8 codes with s_a = max |input| / 127 over the calibration images.
    shapes, scales: the workload's layer_shapes and activation scales, when the caller has them already."""
    network = workload.network
    shapes = shapes or layer_shapes(network, torch.from_numpy(workload.test.images))
    chosen = layer or max(shapes, key=lambda s: s.k_rows * s.filters * s.positions).name
    op = next(o for o in network.layers if o.name == chosen)
    scale = (scales or _calibration_scales(workload))[chosen]
    positions = next(s.positions for s in shapes if s.name == chosen)
    images = min(len(workload.test), -(-n_operations // positions))
    inputs = network.layer_inputs(torch.from_numpy(workload.test.images[:images]))[chosen]
    codes = torch.clamp(torch.round(inputs / scale), -127, 127)
    if isinstance(op.module, torch.nn.Conv2d):
        columns = F.unfold(codes, op.module.kernel_size, padding=op.module.padding, stride=op.module.stride)
    else:
        columns = codes[:, :, None]
    columns = columns.numpy().astype(np.int64)                            # (images, K, positions)
    weights = network.weight_codes[chosen].reshape(op.module.weight.shape[0], -1).T.astype(np.int64)  # K x F
    if k is None:
        zero_fraction = (columns == 0).mean(axis=(0, 2))
        k = int(np.argmin(np.abs(zero_fraction - np.median(zero_fraction))))
    tile_start = (k // array_rows) * array_rows
    psum = np.einsum("nkl,k->nl", columns[:, tile_start:k, :], weights[tile_start:k, filter_index])
    count = min(n_operations, columns.shape[0] * columns.shape[2])
    frame = pd.DataFrame({"a_code": columns[:, k, :].reshape(-1)[:count],
                          "w_code": np.full(count, weights[k, filter_index], dtype=np.int64),
                          "psum_in": psum.reshape(-1)[:count]})
    label = f"{chosen} row {k} filter {filter_index} of {network.meta.get('source')}"
    meta = {"layer": chosen, "k": k, "filter": filter_index, "images": images, "array_row": k - tile_start,
            "weight_code": int(weights[k, filter_index]), "zero_activation_fraction": float((frame["a_code"] == 0).mean())}
    return frame, label, meta


def _calibration_scales(workload: LoadedWorkload) -> dict[str, float]:
    return activation_scales(workload.network, torch.from_numpy(workload.calibration.images[:500]))


def mixed_operands(workload: LoadedWorkload, n_operations: int, array_rows: int, macs: int = 16,
                   seed: int = 0) -> tuple[pd.DataFrame, str]:
    """The operand streams of `macs` MACs of the busiest layer (random weight rows and filters, fixed
    seed), one after the other: what the timing simulation of one MAC size should see, weights changing
    between streams as they do between tile loads."""
    network = workload.network
    shapes = layer_shapes(network, torch.from_numpy(workload.test.images))
    layer = max(shapes, key=lambda s: s.k_rows * s.filters * s.positions)
    scales = _calibration_scales(workload)  # once, not once per MAC (500 calibration images each time)
    rng = np.random.default_rng(seed)
    per_mac = -(-n_operations // macs)
    frames = []
    for filt, k in zip(rng.choice(layer.filters, size=macs, replace=layer.filters < macs),
                       rng.choice(layer.k_rows, size=macs, replace=layer.k_rows < macs)):
        frame, _, _ = mac_operands(workload, per_mac, array_rows, layer.name, int(filt), int(k), shapes=shapes, scales=scales)
        frames.append(frame)
    mixed = pd.concat(frames, ignore_index=True).head(n_operations)
    return mixed, f"{macs} MACs of {layer.name} ({network.meta.get('source')}), {per_mac} operations each"
