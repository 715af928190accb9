"""EHANet (Luo et al., Applied Sciences 2020): the student, per docs/design.md#student (the ``FaceParseNet18/34`` code).

backbone c2..c5 → ``EHANetNeck`` (SCAM + SGCB top-down) → q2 → ``BoundaryAwareHead`` (boundary
branch from c2/c3, seg1, edge, seg2). Every resize is bilinear with ``align_corners=False``
(the original uses True; see ``layers.resize``).

The ResNet variants keep the paper's widths (neck 256, boundary 128). The mobile variants keep the
structure (full SGCB) but narrow it to fit the edge budget (ehanet_mbv2 <= 0.7 GMAC at 256²; the
student must reach 150 FPS in OpenVINO INT8 on 2 cores). Measured with ``edgeparse model info``,
11 classes, 256², deploy graph: neck 64/96/128 -> 0.42/0.47/0.53 GMAC; the boundary width costs
< 0.01 GMAC, so it stays at half the paper's (64). The backbone alone is 0.36 GMAC.
"""
from __future__ import annotations

from typing import Any

from training.models.backbones.weights import WeightsArg
from training.models.heads import BoundaryAwareHead
from training.models.necks import EHANetNeck
from training.models.registry import create_backbone, register_model
from training.models.seg_model import SegModel

RESNET_NECK_CHANNELS = 256
RESNET_EDGE_CHANNELS = 128
MOBILE_NECK_CHANNELS = 96
MOBILE_EDGE_CHANNELS = 64


def _create_ehanet(
    backbone_name: str,
    num_classes: int,
    *,
    sgcb: str,
    neck_channels: int,
    edge_channels: int,
    backbone_kwargs: dict[str, Any],
) -> SegModel:
    backbone = create_backbone(backbone_name, **backbone_kwargs)
    info = backbone.feature_info
    neck = EHANetNeck([stage["channels"] for stage in info], neck_channels, sgcb)
    head = BoundaryAwareHead(
        info[0]["channels"], info[1]["channels"], neck.out_channels, edge_channels, num_classes
    )
    return SegModel(backbone, neck, head, num_classes)


@register_model
def ehanet_r18(
    num_classes: int,
    *,
    sgcb: str = "full",
    neck_channels: int = RESNET_NECK_CHANNELS,
    edge_channels: int = RESNET_EDGE_CHANNELS,
    output_stride: int = 32,
    backbone_weights: WeightsArg = None,
) -> SegModel:
    """EHANet on ResNet-18. ``sgcb="conv1x1"`` is the code's ``EHANet18`` ablation."""
    return _create_ehanet(
        "resnet18", num_classes, sgcb=sgcb, neck_channels=neck_channels, edge_channels=edge_channels,
        backbone_kwargs={"output_stride": output_stride, "weights": backbone_weights},
    )


@register_model
def ehanet_r34(
    num_classes: int,
    *,
    sgcb: str = "full",
    neck_channels: int = RESNET_NECK_CHANNELS,
    edge_channels: int = RESNET_EDGE_CHANNELS,
    output_stride: int = 32,
    backbone_weights: WeightsArg = None,
) -> SegModel:
    """EHANet on ResNet-34 (the README's 78.19 mIoU model)."""
    return _create_ehanet(
        "resnet34", num_classes, sgcb=sgcb, neck_channels=neck_channels, edge_channels=edge_channels,
        backbone_kwargs={"output_stride": output_stride, "weights": backbone_weights},
    )


@register_model
def ehanet_mbv2(
    num_classes: int,
    *,
    sgcb: str = "full",
    neck_channels: int = MOBILE_NECK_CHANNELS,
    edge_channels: int = MOBILE_EDGE_CHANNELS,
    backbone_weights: WeightsArg = None,
) -> SegModel:
    """EHANet on MobileNetV2 1.0, narrow neck: the default edge student."""
    return _create_ehanet(
        "mobilenet_v2", num_classes, sgcb=sgcb, neck_channels=neck_channels, edge_channels=edge_channels,
        backbone_kwargs={"weights": backbone_weights},
    )


@register_model
def ehanet_effl0(
    num_classes: int,
    *,
    sgcb: str = "full",
    neck_channels: int = MOBILE_NECK_CHANNELS,
    edge_channels: int = MOBILE_EDGE_CHANNELS,
    backbone_weights: WeightsArg = None,
) -> SegModel:
    """EHANet on EfficientNet-Lite0, narrow neck."""
    return _create_ehanet(
        "efficientnet_lite0", num_classes, sgcb=sgcb, neck_channels=neck_channels,
        edge_channels=edge_channels,
        backbone_kwargs={"weights": backbone_weights},
    )
