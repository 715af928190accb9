"""MobileNetV2 (width 1.0) with torchvision's parameter names (``features.N...``).

The ImageNet classifier and the final 320→1280 1×1 conv (``features.18``) are left out: the
segmentation neck reads the 320-channel stride-32 map directly, which saves 0.4 M parameters
and keeps the student light.
"""
from __future__ import annotations

import torch
from torch import nn

from training.models.backbones.weights import WeightsArg, load_backbone_weights
from training.models.layers import ConvBNReLU
from training.models.registry import register_backbone

# (expand ratio t, output channels c, repeats n, first stride s), torchvision's table for width 1.0
INVERTED_RESIDUAL_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
# indices in ``features`` whose outputs are the stride 4, 8, 16 and 32 taps
FEATURE_TAPS = (3, 6, 13, 17)


class InvertedResidual(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = in_ch * expand_ratio
        self.use_res_connect = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU(in_ch, hidden, 1, activation=nn.ReLU6))
        layers += [
            ConvBNReLU(hidden, hidden, 3, stride, groups=hidden, activation=nn.ReLU6),
            nn.Conv2d(hidden, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 trunk returning the maps at strides 4, 8, 16 and 32 (24, 32, 96, 320 ch)."""

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = [ConvBNReLU(3, 32, 3, 2, activation=nn.ReLU6)]
        in_ch = 32
        for t, c, n, s in INVERTED_RESIDUAL_SETTING:
            for i in range(n):
                layers.append(InvertedResidual(in_ch, c, s if i == 0 else 1, t))
                in_ch = c
        self.features = nn.Sequential(*layers)
        self.feature_info = [
            {"channels": self._out_channels(i), "stride": s}
            for i, s in zip(FEATURE_TAPS, (4, 8, 16, 32), strict=True)
        ]
        self._init_weights()

    def _out_channels(self, index: int) -> int:
        block = self.features[index]
        return block.conv[-1].num_features

    def _init_weights(self) -> None:
        """torchvision's initialisation for MobileNetV2."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in FEATURE_TAPS:
                features.append(x)
        return features


@register_backbone
def mobilenet_v2(*, weights: WeightsArg = None) -> MobileNetV2:
    """MobileNetV2 1.0; ``weights="packaged"`` loads torchvision's ImageNet file from its pip package."""
    model = MobileNetV2()
    if weights is not None:
        load_backbone_weights(model, weights, "mobilenet_v2")
    return model
