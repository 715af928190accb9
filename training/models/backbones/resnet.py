"""ResNet-18/34/50/101 backbones with torchvision parameter names, dilation and a deep stem.

Parameter names follow torchvision (``conv1``, ``bn1``, ``layerN.M.conv1``, ``downsample.0``...),
so a torchvision ``resnet*.pth`` state_dict loads strictly once its ``fc.*`` keys are dropped.
``deep_stem=True`` gives the CE2P/AGRNet stem (three 3×3 convs: 64, 64, 128) whose parameters
are named ``conv1/bn1``, ``conv2/bn2``, ``conv3/bn3`` as in those codebases.
"""
from __future__ import annotations

import torch
from torch import nn

from edge.errors import ConfigError
from training.models.backbones.weights import WeightsArg, load_backbone_weights
from training.models.layers import ZeroPadMaxPool2d
from training.models.registry import register_backbone

# output stride -> (stride, dilation) of layer1..layer4. Dilated layers use the same dilation
# in every block (CE2P/PSPNet convention); OS 8 is the standard recipe: layer3 d=2, layer4 d=4.
OUTPUT_STRIDE_PLANS: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {
    32: ((1, 2, 2, 2), (1, 1, 1, 1)),
    16: ((1, 2, 2, 1), (1, 1, 1, 2)),
    8: ((1, 2, 1, 1), (1, 1, 2, 4)),
}


def _conv3x3(in_ch: int, out_ch: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, stride, padding=dilation, dilation=dilation, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_ch: int, planes: int, stride: int, dilation: int, downsample: nn.Module | None):
        super().__init__()
        self.conv1 = _conv3x3(in_ch, planes, stride, dilation)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes, 1, dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """torchvision's ResNet v1.5 bottleneck: the stride sits on the 3×3 conv."""

    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int, dilation: int, downsample: nn.Module | None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride, dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet trunk returning ``[c2, c3, c4, c5]`` (the outputs of layer1..layer4).

    ``strides``/``dilations`` set each layer's stride and dilation (see ``OUTPUT_STRIDE_PLANS``);
    an explicit pair reproduces other recipes, e.g. AGRNet's code ((1, 2, 1, 1), (1, 1, 1, 2)).
    """

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: tuple[int, int, int, int],
        *,
        strides: tuple[int, ...] = (1, 2, 2, 2),
        dilations: tuple[int, ...] = (1, 1, 1, 1),
        deep_stem: bool = False,
    ):
        super().__init__()
        self.deep_stem = deep_stem
        self._build_stem(deep_stem)
        self.in_channels = 128 if deep_stem else 64
        self.feature_info: list[dict[str, int]] = []
        reduction = 4  # stem conv (2) × max-pool (2)
        stages = zip((64, 128, 256, 512), layers, strides, dilations, strict=True)
        for index, (planes, blocks, stride, dilation) in enumerate(stages):
            setattr(self, f"layer{index + 1}", self._make_layer(block, planes, blocks, stride, dilation))
            reduction *= stride
            self.feature_info.append({"channels": planes * block.expansion, "stride": reduction})
        self._init_weights()

    def _build_stem(self, deep_stem: bool) -> None:
        if deep_stem:
            self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.conv2 = nn.Conv2d(64, 64, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(64)
            self.conv3 = nn.Conv2d(64, 128, 3, 1, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(128)
        else:
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        # Same result as torchvision's MaxPool2d(3, 2, 1) on post-ReLU input, without -inf padding.
        self.maxpool = ZeroPadMaxPool2d(3, 2, 1)

    def _make_layer(self, block, planes: int, blocks: int, stride: int, dilation: int) -> nn.Sequential:
        downsample = None
        out_channels = planes * block.expansion
        if stride != 1 or self.in_channels != out_channels:
            downsample = nn.Sequential(
                nn.Conv2d(self.in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )
        stage = [block(self.in_channels, planes, stride, dilation, downsample)]
        self.in_channels = out_channels
        stage += [block(out_channels, planes, 1, dilation, None) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def _init_weights(self) -> None:
        """torchvision's initialisation: He (fan-out) convs, BN at identity."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        if self.deep_stem:
            x = self.relu(self.bn2(self.conv2(x)))
            x = self.relu(self.bn3(self.conv3(x)))
        return self.maxpool(x)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.forward_stem(x)
        features = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            features.append(x)
        return features


def _create_resnet(
    kind: str,
    block,
    layers: tuple[int, int, int, int],
    output_stride: int,
    deep_stem: bool,
    weights: WeightsArg,
) -> ResNet:
    if output_stride not in OUTPUT_STRIDE_PLANS:
        raise ConfigError(
            f"{kind}: output_stride must be one of {sorted(OUTPUT_STRIDE_PLANS)}, got {output_stride}"
        )
    strides, dilations = OUTPUT_STRIDE_PLANS[output_stride]
    model = ResNet(block, layers, strides=strides, dilations=dilations, deep_stem=deep_stem)
    if weights is not None:
        load_backbone_weights(model, weights, kind)
    return model


@register_backbone
def resnet18(*, output_stride: int = 32, deep_stem: bool = False, weights: WeightsArg = None) -> ResNet:
    return _create_resnet("resnet18", BasicBlock, (2, 2, 2, 2), output_stride, deep_stem, weights)


@register_backbone
def resnet34(*, output_stride: int = 32, deep_stem: bool = False, weights: WeightsArg = None) -> ResNet:
    return _create_resnet("resnet34", BasicBlock, (3, 4, 6, 3), output_stride, deep_stem, weights)


@register_backbone
def resnet50(*, output_stride: int = 32, deep_stem: bool = False, weights: WeightsArg = None) -> ResNet:
    return _create_resnet("resnet50", Bottleneck, (3, 4, 6, 3), output_stride, deep_stem, weights)


@register_backbone
def resnet101(*, output_stride: int = 32, deep_stem: bool = False, weights: WeightsArg = None) -> ResNet:
    return _create_resnet("resnet101", Bottleneck, (3, 4, 23, 3), output_stride, deep_stem, weights)
