"""Quantized checkpoints: weights_only-loadable, and they rebuild the exact INT8 graph."""
from __future__ import annotations

import pytest
import torch

from edge.errors import CheckpointError
from edge.schemas import get_schema
from quantize import checkpoint as qcheckpoint
from quantize.ptq import ptq
from training.checkpoint import save_checkpoint

from .conftest import NUM_CLASSES, SIZE, make_tiny


def _source_payload(model) -> dict:
    return {"model_name": "tiny", "model_overrides": {}, "num_classes": NUM_CLASSES,
            "schema": get_schema("lapa").to_dict(), "config": {}, "state_dict": model.state_dict()}


def test_round_trip_rebuilds_the_same_int8_graph(calib, make_cfg, tmp_path, monkeypatch):
    model = make_tiny()
    cfg = make_cfg(observer="histogram")
    quantized = ptq(model, calib, cfg, float_layers=("head",))
    path = tmp_path / "model_int8.pt"
    qcheckpoint.save_quantized(quantized, cfg, _source_payload(model), path, metrics={"miou": 0.5})
    raw = torch.load(path, weights_only=True)
    assert raw["quantization"]["float_layers"] == ["head"] and raw["quantization"]["method"] == "ptq"
    # "tiny" is not a registered model: rebuild it the way the registry would.
    monkeypatch.setattr(qcheckpoint, "build_model_from_checkpoint",
                        lambda payload: _load(make_tiny(seed=1), payload["state_dict"]))
    restored = qcheckpoint.load_quantized(path)
    x = torch.randn(1, 3, SIZE, SIZE)
    assert torch.equal(restored(x), quantized(x))
    assert restored.float_layers == ("head",) and restored.family == "tensorrt"


def _load(model, state):
    model.load_state_dict(state)
    return model.eval()


def test_a_plain_fp32_checkpoint_is_not_a_quantized_one(tmp_path):
    path = tmp_path / "fp32.pt"
    save_checkpoint(_source_payload(make_tiny()), path)
    with pytest.raises(CheckpointError, match="not a quantized checkpoint"):
        qcheckpoint.load_quantized(path)
