"""Tiny deterministic fixtures for the quantization tests.

``TinySegNet`` has every pattern the EHANet student feeds the quantizer (conv+BN+ReLU, an SE
gate with a sigmoid and a mul, a residual add, a concat, a bias conv head and a bilinear
resize back to the input size) at 32² with 4 classes, so PT2E runs in about a second.
"""
from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from quantize.config import QatCfg, QuantCfg

SIZE = 32
NUM_CLASSES = 4


def conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class TinySegNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = conv_bn_relu(3, 8)
        self.body = conv_bn_relu(8, 8)
        self.gate = nn.Conv2d(8, 8, 1, bias=False)
        self.fuse = conv_bn_relu(16, 8)
        self.head = nn.Conv2d(8, NUM_CLASSES, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem = self.stem(x)
        body = self.body(stem) + stem
        body = body * torch.sigmoid(self.gate(body.mean((2, 3), keepdim=True)))
        fused = self.fuse(torch.cat([stem, body], 1))
        return F.interpolate(self.head(fused), size=x.shape[-2:], mode="bilinear", align_corners=False)


class MatmulNet(TinySegNet):
    """Adds a pixel self-affinity (matmul of two activations): no quantizer pattern covers it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.stem(x)
        n, c, h, w = feats.shape
        flat = feats.reshape(n, c, h * w)
        mixed = torch.matmul(flat, flat.transpose(1, 2)).softmax(-1)
        return self.head(torch.matmul(mixed, flat).reshape(n, c, h, w))


def make_tiny(seed: int = 0) -> TinySegNet:
    torch.manual_seed(seed)
    model = TinySegNet()
    with torch.no_grad():  # non-trivial BN statistics, so folding is exercised
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
    return model.eval()


@pytest.fixture
def tiny_model() -> TinySegNet:
    return make_tiny()


@pytest.fixture
def calib() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.randn(2, 3, SIZE, SIZE, generator=generator) for _ in range(2)]


@pytest.fixture
def make_cfg() -> Callable[..., QuantCfg]:
    def make(**kwargs) -> QuantCfg:
        qat = kwargs.pop("qat", QatCfg(iters=4, batch_size=2, freeze_bn_after=2, disable_observers_after=3))
        return QuantCfg(input_size=SIZE, calib_images=4, calib_batch_size=2, qat=qat, **kwargs)

    return make


@pytest.fixture(scope="module")
def ptq_tensorrt():
    """One PTQ'd tiny model (tensorrt family), shared by a module's tests."""
    from quantize.ptq import ptq

    generator = torch.Generator().manual_seed(1)
    calib = [torch.randn(2, 3, SIZE, SIZE, generator=generator) for _ in range(2)]
    return ptq(make_tiny(), calib, QuantCfg(input_size=SIZE, calib_images=4))


@pytest.fixture(scope="module")
def qdq_onnx(ptq_tensorrt, tmp_path_factory):
    """The symmetric QDQ ONNX export of ``ptq_tensorrt``."""
    from quantize.export_qdq import export_qdq_onnx

    return export_qdq_onnx(ptq_tensorrt, SIZE, tmp_path_factory.mktemp("qdq") / "tiny_int8_qdq.onnx")
