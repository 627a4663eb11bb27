"""The operand stream one MAC of a weight-stationary array sees when it runs the reference network.

Dataflow (eda/method/mapping.py): a layer is the K x F matrix of its int8 weight codes (K = C*kh*kw
im2col rows, F filters); array rows take K, columns take filters, and a layer with more
than `array_rows` rows is cut into row tiles loaded one after another. The MAC at layer row
k (array row k mod M of row tile k // M) and filter column f holds weight code W[k, f] for
the whole load (weight stationary) and, cycle after cycle, multiplies the activation of
row k for one image and one output position (im2col column), images in order and the
positions of each image in row-major order. Its psum_in is the exact integer partial sum
of the rows above it in the same tile, sum_{t0 <= k' < k} x[k'] * W[k', f] (t0 the tile's
first row); the top row of a tile gets 0, because tiles are summed in the accumulators
below the array, not through it.

Integers, not floats, end to end:
* weights: eda/nn/quantize.py's codes (symmetric per-layer int8, scale max|w|/127);
* activations: the network keeps them float, so each layer's input is quantized here with
  one per-layer scale s = max|x| / 127, max over that layer's input on the training images
  (the int8-weight network's activations), codes round(x / s) clipped to [-127, 127]. After
  ReLU (and for the 0..1 input pixels) every code is in 0..127.
* The stream's activations come from the held-out test images (what the array computes at
  inference), the scale from the training images (what a deployment would calibrate on).

Results are plain numpy/pandas (columns a_code, w_code, psum_in, image, position), cached as
.npz under <cache>/nn/operands/.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from eda.core.errors import EdaError
from eda.core.files import atomic_write_bytes, sha256_text
from eda.method.mapping import weight_matrix
from eda.nn.maps import reference_dir
from eda.nn.model import ARCHITECTURE, MAPPED_LAYERS
from eda.nn.quantize import QMAX, quantize_weights, quantized_model
from eda.nn.train import DEFAULT_EPOCHS, train_reference

OPERAND_COLUMNS = ["a_code", "w_code", "psum_in", "image", "position"]
OPERANDS_FORMAT = "3"  # bump when the stream's definition changes (invalidates cached .npz files)
DEFAULT_LAYER = "conv2"
DEFAULT_ARRAY_ROWS = 256


@dataclass(frozen=True)
class OperandStream:
    frame: pd.DataFrame  # one row per cycle: a_code, w_code, psum_in (int64), image, position
    meta: dict = field(default_factory=dict)  # layer, k, filter, scales, images, ...

    @property
    def label(self) -> str:
        m = self.meta
        return (f"{m['layer']} row k={m['k']} (array row {m['array_row']}), filter {m['filter']}, "
                f"{m['images']} test images, weight code {m['weight_code']}")


def quantize_activations(values: np.ndarray, scale: float) -> np.ndarray:
    """Symmetric int8 codes of float activations with a per-layer scale (real value of one LSB)."""
    if not (np.isfinite(scale) and scale > 0):
        raise EdaError(f"activation scale must be a positive number, got {scale!r}")
    return np.clip(np.rint(np.asarray(values, dtype=np.float64) / scale), -QMAX, QMAX).astype(np.int64)


def _im2col(layer_module: torch.nn.Module, codes: np.ndarray) -> np.ndarray:
    """(N, K, L) activation codes per image, im2col row k, output position l (row-major)."""
    if isinstance(layer_module, torch.nn.Conv2d):
        # float64 holds int8 codes exactly; unfold only rearranges them.
        unfolded = F.unfold(torch.from_numpy(codes.astype(np.float64)), layer_module.kernel_size,
                            dilation=layer_module.dilation, padding=layer_module.padding, stride=layer_module.stride)
        return np.rint(unfolded.numpy()).astype(np.int64)
    return codes.reshape(codes.shape[0], -1, 1)  # fully connected: one position per image


def _cache_path(cache_dir: Path, params: dict) -> Path:
    return Path(cache_dir) / "nn" / "operands" / f"{sha256_text(json.dumps(params, sort_keys=True))[:20]}.npz"


def _load(path: Path) -> OperandStream | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            frame = pd.DataFrame({name: data[name] for name in OPERAND_COLUMNS})
            meta = json.loads(str(data["meta"]))
    except (OSError, KeyError, ValueError, json.JSONDecodeError):
        return None  # a damaged cache entry is rebuilt, not trusted
    return OperandStream(frame, meta)


def _save(path: Path, stream: OperandStream) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, meta=np.array(json.dumps(stream.meta, sort_keys=True)),
                        **{name: stream.frame[name].to_numpy() for name in OPERAND_COLUMNS})
    atomic_write_bytes(path, buffer.getvalue())


def operand_stream(layer: str = DEFAULT_LAYER, k: int | None = None, filter_index: int = 0, *,
                   n_operations: int | None = None, n_images: int | None = None, array_rows: int = DEFAULT_ARRAY_ROWS,
                   seed: int = 0, epochs: int = DEFAULT_EPOCHS, cache_dir: Path | str | None = None) -> OperandStream:
    """Per-cycle (activation code, weight code, psum_in) of the MAC holding W[k, filter_index] of `layer`.

    k defaults to a typical row: the one whose fraction of zero activations (training images)
    is the median of the layer's rows. Give either n_operations (that many cycles, from as
    many test images as needed) or n_images (all positions of that many test images).
    """
    if layer not in MAPPED_LAYERS:
        raise EdaError(f"unknown layer {layer!r}: the reference network's weight layers are {', '.join(MAPPED_LAYERS)}")
    if array_rows < 1:
        raise EdaError(f"array_rows must be >= 1, got {array_rows}")
    if (n_operations is None) == (n_images is None):
        raise EdaError("give exactly one of n_operations and n_images")
    params = {"format": OPERANDS_FORMAT, "architecture": ARCHITECTURE, "layer": layer, "k": k, "filter": filter_index,
              "n_operations": n_operations, "n_images": n_images, "array_rows": array_rows, "seed": seed, "epochs": epochs,
              "torch": torch.__version__.split("+")[0]}
    path = _cache_path(cache_dir, params) if cache_dir is not None else None
    if path is not None and path.is_file():
        cached = _load(path)
        if cached is not None:
            return cached

    reference = train_reference(seed=seed, epochs=epochs,
                                out_dir=reference_dir(cache_dir, seed, epochs) if cache_dir is not None else None)
    quantized = quantize_weights(reference.model)
    network = quantized_model(reference.model, quantized)  # activations as the int8-weight array produces them
    weights = weight_matrix(quantized[layer].codes).astype(np.int64)  # K x F
    rows, filters = weights.shape
    if k is not None and not 0 <= k < rows:
        raise EdaError(f"layer {layer} has K = {rows} rows (im2col); row k={k} is outside 0..{rows - 1}")
    if not 0 <= filter_index < filters:
        raise EdaError(f"layer {layer} has {filters} filters; filter {filter_index} is outside 0..{filters - 1}")

    data = reference.data
    with torch.no_grad():
        train_input = network.input_of(layer, data.x_train).numpy()
        peak = float(np.max(np.abs(train_input)))
        if not peak > 0:
            raise EdaError(f"the input of layer {layer} is zero on every training image; no activation scale")
        scale = peak / QMAX
        module = getattr(network, layer)
        positions = _im2col(module, quantize_activations(network.input_of(layer, data.x_test[:1]).numpy(), scale)).shape[2]
        available = len(data.y_test)
        wanted_images = n_images if n_images is not None else math.ceil(n_operations / positions)
        if not 1 <= wanted_images <= available:
            raise EdaError(f"{wanted_images} test images requested for layer {layer} ({positions} positions each), "
                           f"but the held-out split has {available}")
        test_input = network.input_of(layer, data.x_test[:wanted_images]).numpy()
    columns = _im2col(module, quantize_activations(test_input, scale))  # (N, K, L)
    k_rule = "given"
    if k is None:
        # A typical MAC: some rows see only zeros (a dead ReLU channel of the previous
        # layer: conv2 rows 27-35), others few. Take the row whose zero-activation
        # fraction on the training images is the median over the layer's rows (lowest k
        # on ties); the training images, so that the choice does not move with the
        # stream's length.
        zero_fraction = (_im2col(module, quantize_activations(train_input, scale)) == 0).mean(axis=(0, 2))
        k = int(np.argmin(np.abs(zero_fraction - np.median(zero_fraction))))
        k_rule = "median zero-activation fraction over the layer's rows (training images)"

    tile_start = (k // array_rows) * array_rows
    above = columns[:, tile_start:k, :]  # rows of the same tile above this MAC
    psum = np.einsum("nkl,k->nl", above, weights[tile_start:k, filter_index])  # int64, exact
    activations = columns[:, k, :]
    count = activations.size if n_operations is None else n_operations
    image, position = np.divmod(np.arange(count), positions)
    frame = pd.DataFrame({
        "a_code": activations.reshape(-1)[:count],
        "w_code": np.full(count, weights[k, filter_index], dtype=np.int64),
        "psum_in": psum.reshape(-1)[:count],
        "image": image.astype(np.int64),
        "position": position.astype(np.int64),
    })
    meta = {**params, "k": int(k), "k_rule": k_rule, "K": int(rows), "filters": int(filters), "array_row": int(k - tile_start),
            "row_tile": int(k // array_rows), "positions_per_image": int(positions), "images": int(wanted_images),
            "operations": int(count), "weight_code": int(weights[k, filter_index]),
            "weight_scale": float(quantized[layer].scale), "activation_scale": float(scale),
            "activation_scale_rule": "max |layer input| over the training images / 127",
            "zero_activation_fraction": float(np.mean(frame["a_code"].to_numpy() == 0)),
            "split": "test"}
    stream = OperandStream(frame, meta)
    if path is not None:
        _save(path, stream)
    return stream
