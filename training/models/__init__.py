"""Segmentation models: ``create_model(name, num_classes, **overrides)`` and ``list_models(pattern)``.

The names below are resolved on first access (PEP 562) so that importing a command module of this
package (``edgeparse --help`` builds every subparser) needs no torch. The model modules that
register entrypoints are imported explicitly by ``registry`` when a registry is first queried.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "create_model": "training.models.registry",
    "list_models": "training.models.registry",
    "model_overrides": "training.models.registry",
    "create_backbone": "training.models.registry",
    "list_backbones": "training.models.registry",
    "SegOutputs": "training.models.seg_model",
    "SegModel": "training.models.seg_model",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'training.models' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
