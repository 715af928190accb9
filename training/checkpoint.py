"""Checkpoints: atomic writes, ``weights_only`` loads, and clear errors on bad files.

A checkpoint is a plain dict of tensors and built-in types, so it loads with
``torch.load(weights_only=True)``: config, schema, weights, optimiser state,
progress counters and metrics travel together.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edge.errors import CheckpointError
from edge.io import atomic_write_with
from edge.schemas import LabelSchema

FORMAT = "edgeparse-checkpoint"
VERSION = 1


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> None:
    """Write ``payload`` to ``path`` atomically (temp file, fsync, rename)."""
    atomic_write_with(path, lambda handle: torch.save({"format": FORMAT, "version": VERSION, **payload}, handle))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and validate a checkpoint; raises ``CheckpointError`` on any problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, OSError) as exc:
        raise CheckpointError(
            f"{path}: unreadable or truncated checkpoint ({type(exc).__name__}: {str(exc)[:200]}). "
            "Use an earlier checkpoint or retrain."
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an edgeparse checkpoint (missing format marker)")
    for key in ("model_name", "num_classes", "schema", "state_dict"):
        if key not in payload:
            raise CheckpointError(f"{path}: checkpoint lacks {key!r}")
    check_finite(payload["state_dict"], path)
    return payload


def check_finite(state_dict: dict[str, torch.Tensor], where: str | Path) -> None:
    """Refuse weights containing NaN or inf: they would deploy as garbage."""
    for name, tensor in state_dict.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"{where}: tensor {name!r} contains NaN or inf values")


def schema_of(payload: dict[str, Any]) -> LabelSchema:
    return LabelSchema.from_dict(payload["schema"])


def build_model_from_checkpoint(payload: dict[str, Any]) -> nn.Module:
    """Recreate the registered model described by a checkpoint and load its weights."""
    from training.models import create_model

    overrides = {k: v for k, v in payload.get("model_overrides", {}).items() if k != "backbone_weights"}
    model = create_model(payload["model_name"], num_classes=payload["num_classes"], **overrides)
    missing, unexpected = model.load_state_dict(payload["state_dict"], strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint weights do not fit model {payload['model_name']!r}: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    return model

