"""LeNet-5-like CNN sized for 8x8 single-channel images (scikit-learn digits).

conv1 1->6 3x3 (pad 1) -> ReLU -> maxpool 2 -> conv2 6->16 3x3 (pad 1) -> ReLU -> maxpool 2
-> flatten 16*2*2 = 64 -> fc1 64->120 -> ReLU -> fc2 120->84 -> ReLU -> fc3 84->10.
The layer structure of LeNet-5 (two convs, three fully connected layers), with 3x3 kernels
and padding because the input is 8x8 instead of 32x32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# The layers whose weights are multiplied in the MAC array, in execution order.
MAPPED_LAYERS = ("conv1", "conv2", "fc1", "fc2", "fc3")
ARCHITECTURE = "lenet5-digits-v1"  # bump when the layer structure changes (invalidates caches)


class LeNetDigits(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=3, padding=1)
        self.fc1 = nn.Linear(16 * 2 * 2, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)
        self.pool = nn.MaxPool2d(2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (N, 1, 8, 8) -> logits (N, 10)."""
        return self.forward_from("conv1", self.conv1(images))

    def activation_after(self, layer: str, preactivation: torch.Tensor) -> torch.Tensor:
        """The channel-wise operations between `layer` and the next weight layer (ReLU, pool, flatten)."""
        if layer == "conv1":
            return self.pool(torch.relu(preactivation))
        if layer == "conv2":
            return torch.flatten(self.pool(torch.relu(preactivation)), 1)
        if layer in ("fc1", "fc2"):
            return torch.relu(preactivation)
        raise ValueError(f"no weight layer follows {layer!r}")

    def forward_from(self, layer: str, preactivation: torch.Tensor) -> torch.Tensor:
        """The rest of the network after `layer`'s linear operation (its output incl. bias) -> logits.

        Lets the bit-flip study change one layer's output and rerun only what follows.
        """
        hidden = preactivation
        remaining = MAPPED_LAYERS[MAPPED_LAYERS.index(layer):]
        for current, following in zip(remaining, remaining[1:]):
            hidden = getattr(self, following)(self.activation_after(current, hidden))
        return hidden

    def input_of(self, layer: str, images: torch.Tensor) -> torch.Tensor:
        """The activation tensor that `layer`'s weights multiply, for these images."""
        hidden = images
        for earlier in MAPPED_LAYERS[:MAPPED_LAYERS.index(layer)]:
            hidden = self.activation_after(earlier, getattr(self, earlier)(hidden))
        return hidden

    def next_preactivation_change(self, layer: str, index: int, old: torch.Tensor, new: torch.Tensor):
        """(next layer, change of its pre-activation) when output channel `index` of `layer` goes old -> new.

        old/new: (B, *channel shape) pre-activations of that one channel. Between two weight
        layers there are only channel-wise operations (ReLU, 2x2 max-pool, flatten), so one changed
        channel reaches the next layer as one changed input channel, and the next layer is linear:
        its pre-activation moves by its weights for that channel applied to the change. Lets the
        bit-flip study skip most of the next layer's multiplications.
        """
        stage = MAPPED_LAYERS.index(layer)
        if stage == len(MAPPED_LAYERS) - 1:
            raise ValueError(f"{layer} is the last layer; its output is the logits")
        following = MAPPED_LAYERS[stage + 1]
        weight = getattr(self, following).weight
        if layer == "conv1":  # ReLU, pool, then conv2's 3x3 kernels for input channel `index`
            moved = self.pool(torch.relu(new)) - self.pool(torch.relu(old))
            conv = self.conv2
            change = F.conv2d(moved.unsqueeze(1), weight[:, index:index + 1], None, conv.stride, conv.padding,
                              conv.dilation)
        elif layer == "conv2":  # ReLU, pool, flatten: channel `index` is fc1 inputs width*index ..
            moved = (self.pool(torch.relu(new)) - self.pool(torch.relu(old))).flatten(1)
            width = moved.shape[1]
            change = moved @ weight[:, index * width:(index + 1) * width].T
        else:  # ReLU, then the next fully connected layer's column `index`
            change = (torch.relu(new) - torch.relu(old)).unsqueeze(1) * weight[:, index]
        return following, change

    def mapped_weights(self) -> dict[str, torch.Tensor]:
        """The weight tensors of MAPPED_LAYERS (biases are added in the accumulators, not the MACs)."""
        return {name: getattr(self, name).weight for name in MAPPED_LAYERS}
