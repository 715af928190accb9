"""Fixtures for distillation tests: tiny teacher checkpoints written on the fly (no downloads)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edge.schemas import get_schema
from training.checkpoint import save_checkpoint
from training.models import create_model

# A 64² student run that takes a few seconds on CPU.
_TINY = [
    "model.name=ehanet_mbv2", "model.overrides={}", "data.size=64", "data.synthetic_train=8",
    "data.synthetic_val=2", "data.workers=0", "train.epochs=1", "train.batch_size=4",
    "train.checkpoint_interval=1", "train.log_interval=1", "optim.warmup_iters=2",
]


def _save_model_checkpoint(model: torch.nn.Module, name: str, schema: dict, path: Path) -> Path:
    save_checkpoint({"model_name": name, "model_overrides": {}, "num_classes": len(schema["class_names"]),
                     "schema": schema, "state_dict": model.state_dict()}, path)
    return path


@pytest.fixture
def tiny_overrides() -> list[str]:
    """Recipe overrides for a 64², two-step student run."""
    return list(_TINY)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread: on the shared 2-core CI machine, more threads oversubscribe the cores and
    make a 64² forward pass 20-50x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def make_teacher(tmp_path):
    """``make_teacher(model_name, schema_name, seed) -> Path`` of a random-weight teacher checkpoint."""

    def make(name: str = "ehanet_mbv2", schema: str = "lapa", seed: int = 0) -> Path:
        torch.manual_seed(seed)
        labels = get_schema(schema)
        model = create_model(name, num_classes=labels.num_classes)
        return _save_model_checkpoint(model, name, labels.to_dict(), tmp_path / f"{name}_{schema}_{seed}.pt")

    return make
