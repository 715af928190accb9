"""Checkpoints: atomic writes, ``weights_only`` loads, and clear errors on bad files.

A checkpoint is a plain dict of tensors and built-in types, so it loads with
``torch.load(weights_only=True)``: config, schema, weights, optimiser state,
progress counters and metrics travel together, with the sha256 of all of it
(``content_sha256``, over the values, not the file's bytes), which ``load_checkpoint``
verifies: a flipped bit or a bad copy is refused instead of deployed. A checkpoint saved
before edgeparse recorded one loads with a warning (its integrity cannot be checked).
"""
from __future__ import annotations

import hashlib
import logging
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
CHECKSUM_KEY = "content_sha256"

log = logging.getLogger(__name__)


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> None:
    """Write ``payload`` and its checksum to ``path`` atomically (temp file, fsync, rename)."""
    body = {"format": FORMAT, "version": VERSION, **{k: v for k, v in payload.items() if k != CHECKSUM_KEY}}
    body[CHECKSUM_KEY] = content_sha256(body)
    atomic_write_with(path, lambda handle: torch.save(body, handle))


def content_sha256(payload: dict[str, Any]) -> str:
    """sha256 of a checkpoint's values: every tensor's dtype, shape and bytes, every other value's type and
    repr, in order. The same before ``torch.save`` and after ``torch.load``."""
    digest = hashlib.sha256()
    _digest(digest, payload)
    return digest.hexdigest()


def _digest(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"tensor {tensor.dtype} {list(tensor.shape)};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(value, dict):
        digest.update(f"dict {len(value)};".encode())
        for key, item in value.items():
            _digest(digest, key)
            _digest(digest, item)
    elif isinstance(value, (list, tuple)):  # torch.load may return a list as a tuple: one spelling
        digest.update(f"list {len(value)};".encode())
        for item in value:
            _digest(digest, item)
    else:
        digest.update(f"{type(value).__name__} {value!r};".encode())


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and validate a checkpoint; raises ``CheckpointError`` on any problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if not magic.startswith((b"PK\x03\x04", b"\x80")):  # torch.save's zip archive, or its older raw pickle
        what = "is empty" if not magic else f"is not a PyTorch checkpoint (it starts with {magic!r}, not a zip archive)"
        raise CheckpointError(f"{path} {what}; give a .pt written by edgeparse train")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, OSError, IndexError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: unreadable or truncated checkpoint ({type(exc).__name__}: {str(exc)[:200]}). "
            "Use an earlier checkpoint or retrain."
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an edgeparse checkpoint (missing format marker)")
    _verify_checksum(payload, path)
    for key in ("model_name", "num_classes", "schema", "state_dict"):
        if key not in payload:
            raise CheckpointError(f"{path}: checkpoint lacks {key!r}")
    check_finite(payload["state_dict"], path)
    return payload


def _verify_checksum(payload: dict[str, Any], path: Path) -> None:
    """Refuse a checkpoint whose values are not those it was saved with (the checksum leaves the payload)."""
    recorded = payload.pop(CHECKSUM_KEY, None)
    if recorded is None:
        log.warning("%s carries no checksum (saved before edgeparse recorded one): its integrity cannot be "
                    "checked; saving it again (e.g. `edgeparse model release`) adds one", path)
    elif content_sha256(payload) != recorded:
        raise CheckpointError(f"{path}: its contents differ from the checksum recorded when it was saved "
                              f"(a flipped bit, a bad copy or an edit); copy it again, or use an earlier one")


def check_finite(state_dict: dict[str, torch.Tensor], where: str | Path) -> None:
    """Refuse weights containing NaN or inf: they would deploy as garbage."""
    for name, tensor in state_dict.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"{where}: tensor {name!r} contains NaN or inf values")


def schema_of(payload: dict[str, Any]) -> LabelSchema:
    return LabelSchema.from_dict(payload["schema"])


def build_model_from_checkpoint(payload: dict[str, Any], source: str | Path = "checkpoint") -> nn.Module:
    """Recreate the registered model described by a checkpoint (``source`` names it in errors) and load
    its weights; ``CheckpointError`` when they do not fit."""
    from training.models import create_model

    overrides = {k: v for k, v in payload.get("model_overrides", {}).items() if k != "backbone_weights"}
    name, classes = payload["model_name"], payload["num_classes"]
    model = create_model(name, num_classes=classes, **overrides)
    try:
        missing, unexpected = model.load_state_dict(payload["state_dict"], strict=False)
    except RuntimeError as exc:  # tensors of other shapes: another model width or class count
        first = next((line.strip() for line in str(exc).splitlines() if "size mismatch" in line), str(exc))
        raise CheckpointError(f"{source}: its weights do not fit {name!r} with {classes} classes ({first}); it was "
                              "written for another model or class count: give the checkpoint its training run "
                              "wrote") from None
    if missing or unexpected:
        raise CheckpointError(
            f"{source}: its weights do not fit model {name!r}: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    return model

