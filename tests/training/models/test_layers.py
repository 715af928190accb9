"""Layer semantics and graph hygiene of the shared building blocks."""
from __future__ import annotations

import io
import math
import re
import tokenize
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import training.models
from training.models.layers import (
    ConvBNReLU,
    SamePad2d,
    SEGate,
    ZeroPadMaxPool2d,
    global_mean_pool,
    resize_to,
)

MODELS_DIR = Path(training.models.__file__).parent


@pytest.mark.parametrize("size", [(8, 8), (9, 7), (32, 17)])
def test_zero_pad_maxpool_equals_torchvision_maxpool_on_post_relu_input(size):
    x = torch.relu(torch.randn(2, 4, *size, generator=torch.Generator().manual_seed(0)))
    torch.testing.assert_close(ZeroPadMaxPool2d(3, 2, 1)(x), nn.MaxPool2d(3, 2, 1)(x), rtol=0, atol=0)


def test_zero_pad_maxpool_differs_on_negative_input_which_is_why_it_follows_a_relu():
    x = -torch.ones(1, 1, 4, 4)
    assert not torch.equal(ZeroPadMaxPool2d(3, 2, 1)(x), nn.MaxPool2d(3, 2, 1)(x))


def _tf_same_reference(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TF "SAME" padding computed from the actual input size (what TensorFlow does at run time)."""
    pads = []
    for n in (x.shape[-1], x.shape[-2]):
        total = max((math.ceil(n / stride) - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


@pytest.mark.parametrize("kernel, stride", [(3, 2), (5, 2), (3, 1), (5, 1)])
@pytest.mark.parametrize("size", [8, 16, 30])
def test_same_pad_matches_tensorflow_same_on_even_inputs(kernel, stride, size):
    x = torch.randn(1, 2, size, size)
    torch.testing.assert_close(SamePad2d(kernel, stride)(x), _tf_same_reference(x, kernel, stride))


def test_resize_to_is_bilinear_without_align_corners():
    x = torch.randn(1, 3, 5, 7)
    ref = torch.empty(1, 1, 11, 13)
    expected = F.interpolate(x, size=(11, 13), mode="bilinear", align_corners=False)
    torch.testing.assert_close(resize_to(x, ref), expected)
    torch.testing.assert_close(resize_to(x, (11, 13)), expected)


def test_global_mean_pool_equals_adaptive_average_pool_to_one():
    x = torch.randn(2, 3, 5, 6)
    torch.testing.assert_close(global_mean_pool(x), nn.AdaptiveAvgPool2d(1)(x))


def test_se_gate_scales_each_channel_by_a_sigmoid_of_its_mean():
    gate = SEGate(8, 2)
    x = torch.randn(1, 8, 4, 4)
    scale = torch.sigmoid(gate.expand(torch.relu(gate.reduce(x.mean((2, 3), keepdim=True)))))
    torch.testing.assert_close(gate(x), x * scale)
    assert all(conv.bias is None for conv in (gate.reduce, gate.expand))


def test_conv_bn_relu_uses_torchvision_parameter_names_and_same_padding():
    block = ConvBNReLU(4, 6, (1, 3), dilation=(1, 5))
    assert set(block.state_dict()) >= {"0.weight", "1.weight", "1.bias", "1.running_mean"}
    assert block(torch.randn(1, 4, 9, 9)).shape == (1, 6, 9, 9)
    assert len(ConvBNReLU(4, 6, activation=None)) == 2


FORBIDDEN_SOURCE = {
    r"align_corners\s*=\s*True": "align_corners=True resize",
    r"AdaptiveAvgPool|adaptive_avg_pool": "adaptive pooling",
    r"grid_sample": "grid_sample",
}


def _code_without_comments_or_strings(path: Path) -> str:
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    return " ".join(t.string for t in tokens if t.type not in (tokenize.COMMENT, tokenize.STRING))


@pytest.mark.parametrize("pattern", sorted(FORBIDDEN_SOURCE))
def test_model_sources_avoid_unhygienic_ops(pattern):
    offenders = [
        str(path.relative_to(MODELS_DIR))
        for path in MODELS_DIR.rglob("*.py")
        if re.search(pattern, _code_without_comments_or_strings(path))
    ]
    assert not offenders, f"{FORBIDDEN_SOURCE[pattern]} in {offenders}"
