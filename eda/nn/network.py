"""Any chain of Conv2d / Linear / ReLU / pooling / flatten layers as the accelerator runs it.

A network (the reference CNN or a user's `nn.Module`, or an ONNX file converted to one) is traced
with torch.fx into a straight chain of operations; Conv2d and Linear layers are the ones the MAC
array computes (their weights are quantized to int8 per layer, symmetric, scale max|w| / 127);
everything else runs outside the array. Any other operation, or a branch, is an error naming it.
"""

from __future__ import annotations

import hashlib

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from eda.core.errors import EdaError

QMAX = 127
ARRAY_LAYERS = (nn.Conv2d, nn.Linear)
OUTSIDE_LAYERS = (nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.Flatten, nn.Identity, nn.Dropout)
OUTSIDE_FUNCTIONS = {torch.relu: nn.ReLU(), torch.flatten: nn.Flatten(), torch.nn.functional.relu: nn.ReLU()}


@dataclass(frozen=True)
class Operation:
    name: str            # the module's qualified name in the user's network (or the function's)
    module: nn.Module

    @property
    def on_array(self) -> bool:
        return isinstance(self.module, ARRAY_LAYERS)


@dataclass
class MappedNetwork:
    """A traced chain whose array layers hold int8 weights (dequantized in `module.weight`)."""
    operations: list[Operation]
    weight_codes: dict[str, np.ndarray]    # int8 codes per array layer, shaped like the weight
    weight_scales: dict[str, float]
    meta: dict

    @property
    def layers(self) -> list[Operation]:
        return [op for op in self.operations if op.on_array]

    @property
    def layer_names(self) -> list[str]:
        return [op.name for op in self.layers]

    def digest(self) -> str:
        """Content hash of the whole network (each module's structure, parameters and buffers), for
        cache keys: its source path would tie cached results to where the checkout lives."""
        hasher = hashlib.sha256()
        for op in self.operations:
            hasher.update(f"{op.name}\0{op.module!r}".encode())
            for name, tensor in sorted(op.module.state_dict().items()):
                hasher.update(name.encode())
                hasher.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return hasher.hexdigest()[:24]

    def layer_shapes(self) -> dict[str, tuple[int, ...]]:
        return {op.name: tuple(op.module.weight.shape) for op in self.layers}

    @torch.no_grad()
    def forward(self, images: torch.Tensor, patch: Callable | None = None) -> torch.Tensor:
        """Logits; `patch(name, module, inputs, outputs)` may return changed outputs of an array layer."""
        hidden = images
        for op in self.operations:
            out = op.module(hidden)
            if patch is not None and op.on_array:
                out = patch(op.name, op.module, hidden, out)
            hidden = out
        return hidden

    def layer_inputs(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The activation each array layer multiplies (error-free), for these images."""
        captured = {}

        def keep(name, module, inputs, outputs):
            captured[name] = inputs
            return outputs

        self.forward(images, keep)
        return captured


def trace_chain(model: nn.Module, source: str) -> list[Operation]:
    """The model's operations in execution order; EdaError for anything the array cannot map."""
    import torch.fx

    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception as exc:  # fx raises many types for untraceable code
        raise EdaError(f"{source}: cannot trace the network with torch.fx ({exc}); use plain nn.Sequential-style "
                       "forward code of Conv2d/Linear/ReLU/pooling/flatten") from None
    modules = dict(model.named_modules())
    operations, previous = [], None
    for node in graph.nodes:
        if node.op in ("placeholder", "output"):
            continue
        inputs = [arg for arg in node.all_input_nodes]
        if len(inputs) != 1 or (previous is not None and inputs[0] is not previous):
            raise EdaError(f"{source}: operation {node.name!r} is not part of a straight chain (branches and "
                           "residual connections cannot be mapped to the array)")
        if node.op == "call_module":
            module = modules[node.target]
            if not isinstance(module, ARRAY_LAYERS + OUTSIDE_LAYERS):
                raise EdaError(f"{source}: layer {node.target!r} is a {type(module).__name__}; supported: Conv2d, "
                               "Linear (on the array), ReLU, MaxPool2d, AvgPool2d, Flatten, Dropout")
            if isinstance(module, nn.Conv2d) and (module.groups != 1 or module.dilation != (1, 1)):
                raise EdaError(f"{source}: Conv2d {node.target!r} uses groups/dilation, which the mapping does not model")
            operations.append(Operation(str(node.target), module))
        elif node.op == "call_function" and node.target in OUTSIDE_FUNCTIONS:
            module = OUTSIDE_FUNCTIONS[node.target]
            if node.target is torch.flatten:
                module = nn.Flatten(*(node.args[1:2] or (1,)))
            operations.append(Operation(node.name, module))
        else:
            raise EdaError(f"{source}: operation {node.name!r} ({node.op} {getattr(node.target, '__name__', node.target)}) "
                           "is not supported; supported: Conv2d, Linear, ReLU, MaxPool2d, AvgPool2d, Flatten")
        previous = node
    if not any(op.on_array for op in operations):
        raise EdaError(f"{source}: the network has no Conv2d or Linear layer to map to the array")
    return operations


def quantize_codes(weight: torch.Tensor) -> tuple[np.ndarray, float]:
    """Per-layer symmetric int8: codes in -127..127 and the scale max|w| / 127."""
    values = weight.detach().cpu().numpy().astype(np.float64)
    peak = float(np.abs(values).max())
    scale = peak / QMAX if peak > 0 else 1.0
    return np.clip(np.round(values / scale), -QMAX, QMAX).astype(np.int8), scale


def mapped_network(model: nn.Module, source: str, meta: dict | None = None) -> MappedNetwork:
    """Trace, quantize every array layer's weights to int8, and load the dequantized values back."""
    model = model.eval()
    operations = trace_chain(model, source)
    codes, scales = {}, {}
    for op in operations:
        if op.on_array:
            codes[op.name], scales[op.name] = quantize_codes(op.module.weight)
            with torch.no_grad():
                op.module.weight.copy_(torch.from_numpy(codes[op.name].astype(np.float32) * scales[op.name]))
    return MappedNetwork(operations, codes, scales, dict(meta or {}, source=source))


def load_user_model(spec: str, weights: Path | None) -> nn.Module:
    """`path/to/net.py:ClassName` (+ a state_dict file) or `model.onnx` (Conv/Gemm/Relu/pool/Flatten).

    The Python file is executed as the user's own code (it defines the network), as `torch.load` of a
    full model would; weights are read with `weights_only=True`."""
    if spec.endswith(".onnx"):
        return _load_onnx(Path(spec))
    path_text, _, class_name = spec.rpartition(":")
    path = Path(path_text)
    if not path_text or not class_name or path.suffix != ".py":
        raise EdaError(f"--model {spec!r}: expected path/to/net.py:ClassName or a .onnx file")
    if not path.is_file():
        raise EdaError(f"--model: {path} does not exist")
    module_name = f"voltscale_user_model_{abs(hash(path.resolve()))}"
    loader = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(loader)
    try:
        sys.modules[module_name] = module
        loader.loader.exec_module(module)
    except Exception as exc:
        raise EdaError(f"--model: running {path} failed: {type(exc).__name__}: {exc}") from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise EdaError(f"--model: {path} defines no nn.Module class {class_name!r}")
    try:
        model = cls()
    except TypeError as exc:
        raise EdaError(f"--model: {class_name}() needs no constructor arguments ({exc})") from None
    if weights is None:
        raise EdaError("--model needs --weights (a state_dict saved with torch.save(model.state_dict(), path))")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except FileNotFoundError:
        raise EdaError(f"--weights: {weights} does not exist") from None
    except Exception as exc:
        raise EdaError(f"--weights {weights}: cannot load into {class_name}: {exc}") from None
    return model


def _load_onnx(path: Path) -> nn.Module:
    """A chain of ONNX Conv / Gemm / Relu / MaxPool / AveragePool / Flatten nodes as an nn.Sequential.

    Written here because onnx2torch imports torchvision, which cannot be installed beside the
    project's CPU torch build; only the operations the array mapping supports are needed."""
    if not path.is_file():
        raise EdaError(f"--model: {path} does not exist")
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise EdaError("an ONNX model needs the package onnx (pip install onnx)") from None
    try:
        graph = onnx.load(str(path)).graph
    except Exception as exc:
        raise EdaError(f"--model {path}: not a readable ONNX file: {exc}") from None
    initializers = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
    layers = []
    for node in graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        layers.append(_onnx_layer(node, attrs, initializers, path))
    return nn.Sequential(*layers)


def _onnx_layer(node, attrs: dict, initializers: dict, path: Path) -> nn.Module:
    params = [initializers[name] for name in node.input[1:] if name in initializers]
    if node.op_type == "Conv":
        weight = params[0]
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
        if pads[:2] != pads[2:] or attrs.get("group", 1) != 1:
            raise EdaError(f"{path}: Conv {node.name!r} has asymmetric padding or groups")
        layer = nn.Conv2d(weight.shape[1], weight.shape[0], tuple(weight.shape[2:]), stride=tuple(attrs.get("strides", [1, 1])),
                          padding=tuple(pads[:2]), bias=len(params) > 1)
    elif node.op_type == "Gemm":
        weight = params[0] if attrs.get("transB", 0) else params[0].T
        layer = nn.Linear(weight.shape[1], weight.shape[0], bias=len(params) > 1)
    elif node.op_type == "Relu":
        return nn.ReLU()
    elif node.op_type in ("MaxPool", "AveragePool"):
        cls = nn.MaxPool2d if node.op_type == "MaxPool" else nn.AvgPool2d
        return cls(tuple(attrs["kernel_shape"]), stride=tuple(attrs.get("strides", attrs["kernel_shape"])))
    elif node.op_type == "Flatten":
        return nn.Flatten(int(attrs.get("axis", 1)))
    else:
        raise EdaError(f"{path}: ONNX operation {node.op_type} ({node.name!r}) is not supported; supported: Conv, Gemm, "
                       "Relu, MaxPool, AveragePool, Flatten")
    with torch.no_grad():
        layer.weight.copy_(weight.reshape(layer.weight.shape))
        if len(params) > 1:
            layer.bias.copy_(params[1])
    return layer
