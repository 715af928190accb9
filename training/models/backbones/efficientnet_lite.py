"""EfficientNet-Lite0 with the lukemelas/EfficientNet-PyTorch parameter layout.

Lite variants drop squeeze-excitation, use ReLU6 and keep TF's "SAME" padding and BN eps 1e-3.
The stride-2 convs get a fixed asymmetric zero pad (``SamePad2d``) instead of a pad computed
from the input shape, so the exported graph is static; input sizes must be multiples of 32.
The ImageNet head (``_conv_head``/``_bn1``/``_fc``) is left out: the neck reads the 320-channel
stride-32 map.
"""
from __future__ import annotations

import torch
from torch import nn

from training.models.backbones.weights import WeightsArg, load_backbone_weights
from training.models.layers import SamePad2d
from training.models.registry import register_backbone

BN_EPS = 1e-3
BN_MOMENTUM = 0.01  # TF's decay 0.99
# (repeats, kernel, first stride, expand ratio, output channels): EfficientNet-B0 = Lite0 stages
STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STEM_CHANNELS = 32
# indices in ``_blocks`` whose outputs are the stride 4, 8, 16 and 32 taps (last block of a stage)
FEATURE_TAPS = (2, 4, 10, 15)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def _same_conv(
    in_ch: int, out_ch: int, kernel: int, stride: int, groups: int = 1
) -> tuple[nn.Module, nn.Conv2d]:
    """A bias-free conv with TF-SAME padding: symmetric for stride 1, an explicit pad for stride 2."""
    if stride == 1:
        return nn.Identity(), nn.Conv2d(in_ch, out_ch, kernel, 1, kernel // 2, groups=groups, bias=False)
    return SamePad2d(kernel, stride), nn.Conv2d(in_ch, out_ch, kernel, stride, 0, groups=groups, bias=False)


class MBConvBlock(nn.Module):
    """Inverted residual without SE: expand 1×1 → depthwise k×k → project 1×1 (+ identity)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = in_ch * expand_ratio
        self.has_expansion = expand_ratio != 1
        if self.has_expansion:
            self._expand_conv = nn.Conv2d(in_ch, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
        self._depthwise_pad, self._depthwise_conv = _same_conv(hidden, hidden, kernel, stride, groups=hidden)
        self._bn1 = _bn(hidden)
        self._project_conv = nn.Conv2d(hidden, out_ch, 1, bias=False)
        self._bn2 = _bn(out_ch)
        self._relu = nn.ReLU6(inplace=True)
        self.use_skip = stride == 1 and in_ch == out_ch

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        if self.has_expansion:
            x = self._relu(self._bn0(self._expand_conv(x)))
        x = self._relu(self._bn1(self._depthwise_conv(self._depthwise_pad(x))))
        x = self._bn2(self._project_conv(x))
        return x + inputs if self.use_skip else x


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0 trunk returning the maps at strides 4, 8, 16, 32 (24, 40, 112, 320 ch)."""

    def __init__(self):
        super().__init__()
        self._stem_pad, self._conv_stem = _same_conv(3, STEM_CHANNELS, 3, 2)
        self._bn0 = _bn(STEM_CHANNELS)
        self._relu = nn.ReLU6(inplace=True)
        blocks, in_ch = [], STEM_CHANNELS
        for repeats, kernel, stride, expand, out_ch in STAGES:
            for i in range(repeats):
                blocks.append(MBConvBlock(in_ch, out_ch, kernel, stride if i == 0 else 1, expand))
                in_ch = out_ch
        self._blocks = nn.ModuleList(blocks)
        self.feature_info = [
            {"channels": self._blocks[i]._bn2.num_features, "stride": s}
            for i, s in zip(FEATURE_TAPS, (4, 8, 16, 32), strict=True)
        ]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self._relu(self._bn0(self._conv_stem(self._stem_pad(x))))
        features = []
        for index, block in enumerate(self._blocks):
            x = block(x)
            if index in FEATURE_TAPS:
                features.append(x)
        return features


@register_backbone
def efficientnet_lite0(*, weights: WeightsArg = None) -> EfficientNetLite:
    """EfficientNet-Lite0; ``weights="packaged"`` loads the ImageNet file from its pip package."""
    model = EfficientNetLite()
    if weights is not None:
        load_backbone_weights(model, weights, "efficientnet_lite0")
    return model
