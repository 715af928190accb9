"""Both teachers honour the training-side model contract at any input size, 473² included.

eval ``forward(x)`` is one logits tensor at the input size (the upsampled final logits of
``forward_train``); ``forward_train`` gives every head at c2's resolution (1/4) and the penultimate
features; ``forward_features`` gives those features alone; every parameter gets a gradient.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from training.models import SegOutputs, create_model
from training.models.teachers.agrnet import AGRNetOutputs

NUM_CLASSES = 5
FULL = ["bass_r101", "agrnet_r101"]
# The reduced variants run in the default suite; the full ResNet-101 ones (several seconds a test on
# 2 CPU cores) with the slow tests, plus one small-size training step each below.
TEACHERS = ["bass_r18", "agrnet_r18", *(pytest.param(name, marks=pytest.mark.slow) for name in FULL)]
FEATURE_WIDTH = {"bass_r18": 64, "agrnet_r18": 64, "bass_r101": 256, "agrnet_r101": 256}


@pytest.fixture(scope="module", params=TEACHERS)
def teacher(request) -> tuple[str, torch.nn.Module]:
    torch.manual_seed(0)
    return request.param, create_model(request.param, num_classes=NUM_CLASSES).eval()


def _image(h: int, w: int, n: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, h, w, generator=torch.Generator().manual_seed(1))


def test_eval_forward_is_one_tensor_at_any_input_size(teacher):
    _, model = teacher
    x = _image(70, 90)  # not a multiple of the output stride: the decoders resize
    with torch.no_grad():
        out, train_out = model(x), model.forward_train(x)
    assert isinstance(out, torch.Tensor) and out.shape == (1, NUM_CLASSES, 70, 90)
    upsampled = F.interpolate(train_out.logits, size=(70, 90), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out, upsampled)


def test_forward_train_heads_share_the_quarter_resolution_grid(teacher):
    name, model = teacher
    with torch.no_grad():
        out = model.forward_train(_image(64, 96, n=2))
    assert isinstance(out, SegOutputs)
    assert out.logits.shape == out.aux_logits.shape == (2, NUM_CLASSES, 16, 24)
    assert out.edge_logits.shape == (2, 2, 16, 24)
    assert out.features.shape == (2, FEATURE_WIDTH[name], 16, 24)
    if name.startswith("agrnet"):
        assert isinstance(out, AGRNetOutputs)
        assert out.vertices.shape == (2, 4 * NUM_CLASSES, FEATURE_WIDTH[name])
        assert out.raw_logits is out.aux_logits


def test_forward_features_are_the_training_features(teacher):
    _, model = teacher
    x = _image(64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_features(x), model.forward_train(x).features)


def _train_step_missing_grads(model: torch.nn.Module, x: torch.Tensor) -> list[str]:
    """One training-mode forward/backward; the names of parameters left without a gradient."""
    model.train()
    try:
        out = model.forward_train(x)
        loss = out.logits.mean() + out.aux_logits.mean() + out.edge_logits.mean()
        model.zero_grad()
        loss.backward()
    finally:
        model.eval()
    return [n for n, p in model.named_parameters() if p.grad is None]


def test_backward_in_training_mode_reaches_every_parameter(teacher):
    _, model = teacher
    missing = _train_step_missing_grads(model, _image(64, 64, n=2))
    assert not missing, f"parameters without gradient: {missing[:5]}"


@pytest.mark.parametrize("name", FULL)
def test_full_teacher_trains_at_a_small_size(name):
    """The ResNet-101 teachers in the default suite: one training step at 64², batch 2."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=NUM_CLASSES)
    missing = _train_step_missing_grads(model, _image(64, 64, n=2))
    assert not missing, f"parameters without gradient: {missing[:5]}"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bass_r101", "agrnet_r101"])
def test_forward_and_backward_at_473_with_batch_one(name):
    """The papers' 473² on CPU, batch 1 (BN frozen: one image cannot batch-normalise the 1×1 PSP bin).

    Measured on 2 shared CPU cores: about 30 s for BASS and 65 s for AGRNet.
    """
    torch.manual_seed(0)
    model = create_model(name, num_classes=11).eval()
    x = _image(473, 473)
    out = model.forward_train(x)
    assert out.logits.shape == (1, 11, 119, 119)
    (out.logits.mean() + out.aux_logits.mean() + out.edge_logits.mean()).backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    with torch.no_grad():
        assert model(x).shape == (1, 11, 473, 473)
