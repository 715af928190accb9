"""Parameter and MAC counts with the convention of docs/design.md#complexity.

* Parameters: conv/linear weights and biases plus BN affine terms (``spec``); ``trainable``
  counts every parameter with ``requires_grad`` (the two agree for models built from those layers).
* MACs: Conv1d, Conv2d and Linear only (one multiply-accumulate per weight use), for one image, in eval
  mode. ``graph="deploy"`` runs ``forward`` (what is exported: no auxiliary or edge classifier);
  ``graph="train"`` runs ``forward_train`` and so counts every conv, which is the reference
  counts' convention (for EHANet the two differ by the seg1 and edge classifiers, ~0.04 GMAC at 256²).
  FLOPs ≈ 2 × MACs. Matmuls between activations (AGRNet's graph projection) are not counted.

Counting runs on the meta device, so it allocates nothing and takes milliseconds even at 1024².
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn
from torch.func import functional_call

from edge.errors import ConfigError

_CONV_MODULES = (nn.Conv1d, nn.Conv2d)
_COUNTED_PARAM_MODULES = (*_CONV_MODULES, nn.Linear, nn.BatchNorm2d)
OTHER = "(other)"
GRAPHS = {"deploy": "forward", "train": "forward_train"}


@dataclass(frozen=True)
class ParamCount:
    spec: int  # conv/linear weights+biases and BN affine (docs/design.md#complexity)
    trainable: int  # every parameter with requires_grad
    by_module: dict[str, int] = field(default_factory=dict)  # ``spec`` per top-level child

    @property
    def millions(self) -> float:
        return self.spec / 1e6


@dataclass(frozen=True)
class MacCount:
    total: int
    input_size: tuple[int, int]
    graph: str
    by_module: dict[str, int] = field(default_factory=dict)  # per top-level child

    @property
    def gmacs(self) -> float:
        return self.total / 1e9


def _top_level(name: str) -> str:
    return name.split(".", 1)[0] if name else OTHER


def count_params(model: nn.Module) -> ParamCount:
    by_module: Counter[str] = Counter()
    for name, module in model.named_modules():
        if isinstance(module, _COUNTED_PARAM_MODULES):
            by_module[_top_level(name)] += sum(p.numel() for p in module.parameters(recurse=False))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return ParamCount(spec=sum(by_module.values()), trainable=trainable, by_module=dict(by_module))


def _layer_macs(module: nn.Module, output: torch.Tensor) -> int:
    per_image = output.numel() // output.shape[0]
    if isinstance(module, _CONV_MODULES):
        return per_image * (module.in_channels // module.groups) * math.prod(module.kernel_size)
    return per_image * module.in_features  # nn.Linear


class _MethodCall(nn.Module):
    """Lets ``functional_call`` (which calls ``forward``) run another method such as ``forward_train``."""

    def __init__(self, model: nn.Module, method: str):
        super().__init__()
        self.model = model
        self.method = method

    def forward(self, x: torch.Tensor):
        return getattr(self.model, self.method)(x)


def count_macs(
    model: nn.Module,
    size: int | tuple[int, int],
    in_channels: int = 3,
    graph: Literal["deploy", "train"] = "deploy",
) -> MacCount:
    """MACs of ``model`` in eval mode on one ``size`` image (Conv1d, Conv2d and Linear only)."""
    if graph not in GRAPHS:
        raise ConfigError(f"graph must be one of {', '.join(GRAPHS)}, got {graph!r}")
    height, width = (size, size) if isinstance(size, int) else size
    by_module: Counter[str] = Counter()

    def hook_for(name: str):
        def hook(module: nn.Module, _inputs, output: torch.Tensor) -> None:
            by_module[_top_level(name)] += _layer_macs(module, output)
        return hook

    handles = [
        module.register_forward_hook(hook_for(name))
        for name, module in model.named_modules()
        if isinstance(module, (*_CONV_MODULES, nn.Linear))
    ]
    meta_state = {
        f"model.{k}": torch.empty_like(v, device="meta") for k, v in model.state_dict(keep_vars=True).items()
    }
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            image = torch.empty(1, in_channels, height, width, device="meta")
            functional_call(_MethodCall(model, GRAPHS[graph]), meta_state, (image,), strict=True)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return MacCount(sum(by_module.values()), (height, width), graph, dict(by_module))
