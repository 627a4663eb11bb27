"""The reference workload: a CNN on Fashion-MNIST whose layers fill a 256 x 256 weight-stationary array.

Layer (K x N weight matrix, tiles of 256 x 256):
  conv1 1->256, 16x16 kernel, stride 4, pad 6: 28x28 -> 7x7   K = 256,  N = 256, 1 tile
  conv2 256->256, 3x3, stride 2:               7x7 -> 3x3     K = 2304, N = 256, 9 tiles
  conv3 256->256, 3x3:                          3x3 -> 1x1     K = 2304, N = 256, 9 tiles
  fc1   256->256                                               K = 256,  N = 256, 1 tile
  fc2   256->10                                                K = 256,  N = 10,  1 tile
with ReLU after every layer but the last. The 16x16 patch stem exists so that the first layer,
with one input channel, still fills all 256 rows (K = 16 x 16); 20 of the 21 tile loads are full,
95.4% of MAC positions carry a weight over the loads (eda/method/utilization.py).

The trained network is committed as int8 codes, per-layer scales and float biases
(`reference/fashion_cnn.npz`, with `fashion_cnn.json` saying how it was made); `eda train`
regenerates it bit for bit (fixed seed, deterministic algorithms, one thread).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from eda.core.errors import EdaError
from eda.nn.data import ImageSet, load_fashion_mnist
from eda.nn.network import MappedNetwork, mapped_network
from eda.core.paths import shown_path

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
REFERENCE_NAME = "fashion_cnn"
ARCHITECTURE = "fashion-cnn-v1"  # bump when the layer structure changes (invalidates caches)
DEFAULT_EPOCHS = 4
DEFAULT_SEED = 0
BATCH = 128
MAX_LR = 2e-3


class FashionCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 256, 16, stride=4, padding=6)
        self.conv2 = nn.Conv2d(256, 256, 3, stride=2)
        self.conv3 = nn.Conv2d(256, 256, 3)
        self.fc1 = nn.Linear(256, 256)
        self.fc2 = nn.Linear(256, 10)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        hidden = torch.relu(self.conv1(images))
        hidden = torch.relu(self.conv2(hidden))
        hidden = torch.flatten(torch.relu(self.conv3(hidden)), 1)
        return self.fc2(torch.relu(self.fc1(hidden)))


def accuracy(model: nn.Module, data: ImageSet, batch: int = 2000) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(data), batch):
            logits = model(torch.from_numpy(data.images[start:start + batch]))
            correct += int((logits.argmax(1).numpy() == data.labels[start:start + batch]).sum())
    return correct / len(data)


def train_reference(seed: int = DEFAULT_SEED, epochs: int = DEFAULT_EPOCHS, progress=print) -> tuple[FashionCNN, dict]:
    """Deterministic training (AdamW, one-cycle schedule) on the 60,000 training images."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same numbers on any machine size
    try:
        train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
        images, labels = torch.from_numpy(train.images), torch.from_numpy(train.labels)
        model = FashionCNN()
        optimizer = torch.optim.AdamW(model.parameters(), lr=MAX_LR, weight_decay=1e-4)
        steps = epochs * ((len(train) + BATCH - 1) // BATCH)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=MAX_LR, total_steps=steps, pct_start=0.15)
        order_rng = torch.Generator().manual_seed(seed)
        start = time.monotonic()
        for epoch in range(epochs):
            model.train()
            order = torch.randperm(len(train), generator=order_rng)
            for first in range(0, len(train), BATCH):
                batch = order[first:first + BATCH]
                loss = F.cross_entropy(model(images[batch]), labels[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
            progress(f"epoch {epoch + 1}/{epochs}: test accuracy {accuracy(model, test):.4f}")
        meta = {"architecture": ARCHITECTURE, "seed": seed, "epochs": epochs, "batch": BATCH, "max_lr": MAX_LR,
                "train_seconds": round(time.monotonic() - start, 1), "float_test_accuracy": accuracy(model, test),
                "torch": torch.__version__, "command": f"eda train --seed {seed} --epochs {epochs}"}
        return model, meta
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(False)


def save_reference(model: FashionCNN, meta: dict, folder: Path = REFERENCE_DIR) -> Path:
    """int8 codes + scales + float biases (what the accelerator holds), and the meta JSON."""
    from eda.core.files import atomic_write_bytes, atomic_write_text
    import io

    network = mapped_network(model, "trained FashionCNN")
    arrays = {}
    for op in network.layers:
        arrays[f"{op.name}.codes"] = network.weight_codes[op.name]
        arrays[f"{op.name}.scale"] = np.float64(network.weight_scales[op.name])
        arrays[f"{op.name}.bias"] = op.module.bias.detach().numpy().astype(np.float32)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{REFERENCE_NAME}.npz"
    atomic_write_bytes(path, buffer.getvalue())
    meta = dict(meta, int8_test_accuracy=accuracy(model, load_fashion_mnist("test")))
    atomic_write_text(folder / f"{REFERENCE_NAME}.json", json.dumps(meta, indent=1) + "\n")
    return path


def load_reference(folder: Path = REFERENCE_DIR) -> MappedNetwork:
    path = folder / f"{REFERENCE_NAME}.npz"
    if not path.is_file():
        raise EdaError(f"{path} is missing: regenerate the reference network with `eda train`")
    arrays = np.load(path)
    model = FashionCNN()
    with torch.no_grad():
        for name in ("conv1", "conv2", "conv3", "fc1", "fc2"):
            layer = getattr(model, name)
            layer.weight.copy_(torch.from_numpy(arrays[f"{name}.codes"].astype(np.float32) * float(arrays[f"{name}.scale"])))
            layer.bias.copy_(torch.from_numpy(arrays[f"{name}.bias"]))
    meta = json.loads((folder / f"{REFERENCE_NAME}.json").read_text())
    return mapped_network(model, shown_path(path), meta)
