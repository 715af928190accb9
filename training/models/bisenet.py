"""BiSeNet (Yu et al., ECCV 2018) on ResNet-18: the face parser most users pick today, as a peer reference.

* spatial path: three conv-BN-ReLU with stride 2 (7×7 64, 3×3 64, 3×3 128) → 1/8, 128 channels;
* context path: ResNet-18; an attention refinement module (ARM) on its 1/16 and 1/32 maps; a global
  average tail (``mean``, then 1×1 conv-BN-ReLU) added to the 1/32 branch; each branch upsampled and
  refined by a 3×3 conv-BN-ReLU, 128 channels, ending at 1/8;
* feature fusion module (FFM): concat(spatial, context) → 1×1 conv-BN-ReLU (256) → channel attention
  (mean → 1×1 → ReLU → 1×1 → sigmoid), ``x + x·attention``;
* head: 3×3 conv-BN-ReLU (256) → 1×1 classifier at 1/8, resized to the input.

The two auxiliary heads (on the 1/16 and 1/32 context features, as in the paper's joint loss) run in
``forward_train`` only; the exported ``forward`` has one output. As in the widely used implementations
(ycszen's TorchSeg, zllrunning's face-parsing.PyTorch), each ARM starts with a 3×3 conv-BN-ReLU to 128
channels. Graph hygiene: bilinear resizes with ``align_corners=False``, global pooling as ``mean``,
static shapes. No ImageNet ResNet-18 weights ship with the project, so it is built with random weights
(``backbone_weights`` takes a torchvision state_dict file): here it serves as a speed reference.

Top-level modules are the profile's parts: ``spatial_path``, ``backbone`` (the context path's ResNet-18),
``neck`` (ARMs, global tail, refinement, FFM) and ``head``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from training.models.backbones.weights import WeightsArg
from training.models.layers import ConvBNReLU, global_mean_pool, resize_to
from training.models.registry import create_backbone, register_model
from training.models.seg_model import SegOutputs, check_input_multiple

SPATIAL_CHANNELS = (64, 64, 128)
CONTEXT_CHANNELS = 128
FUSED_CHANNELS = 256
FFM_REDUCTION = 4
AUX_HIDDEN = 64


@dataclass
class BiSeNetOutputs(SegOutputs):
    """``aux_logits`` is the 1/16 auxiliary head; ``aux32_logits`` the 1/32 one; no edge head."""

    aux32_logits: torch.Tensor | None = None


class SpatialPath(nn.Sequential):
    def __init__(self):
        first, second, third = SPATIAL_CHANNELS
        super().__init__(ConvBNReLU(3, first, 7, 2), ConvBNReLU(first, second, 3, 2), ConvBNReLU(second, third, 3, 2))
        self.out_channels = third


class AttentionRefinement(nn.Module):
    """3×3 conv-BN-ReLU, then ``x · sigmoid(BN(1×1(mean(x))))``."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = ConvBNReLU(in_channels, out_channels, 3)
        self.attention = ConvBNReLU(out_channels, out_channels, 1, activation=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return x * torch.sigmoid(self.attention(global_mean_pool(x)))


class FeatureFusion(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.project = ConvBNReLU(in_channels, out_channels, 1)
        hidden = out_channels // FFM_REDUCTION
        self.attention = nn.Sequential(nn.Conv2d(out_channels, hidden, 1, bias=False), nn.ReLU(inplace=True),
                                       nn.Conv2d(hidden, out_channels, 1, bias=False), nn.Sigmoid())

    def forward(self, spatial: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = self.project(torch.cat([spatial, context], dim=1))
        return x + x * self.attention(global_mean_pool(x))


class BiSeNetNeck(nn.Module):
    """Context path on c4 (1/16) and c5 (1/32), fused with the spatial path at 1/8."""

    def __init__(self, spatial_channels: int, c4_channels: int, c5_channels: int):
        super().__init__()
        self.arm16 = AttentionRefinement(c4_channels, CONTEXT_CHANNELS)
        self.arm32 = AttentionRefinement(c5_channels, CONTEXT_CHANNELS)
        self.global_tail = ConvBNReLU(c5_channels, CONTEXT_CHANNELS, 1)
        self.refine16 = ConvBNReLU(CONTEXT_CHANNELS, CONTEXT_CHANNELS, 3)
        self.refine32 = ConvBNReLU(CONTEXT_CHANNELS, CONTEXT_CHANNELS, 3)
        self.ffm = FeatureFusion(spatial_channels + CONTEXT_CHANNELS, FUSED_CHANNELS)
        self.out_channels = FUSED_CHANNELS

    def outputs(self, spatial: torch.Tensor, c4: torch.Tensor, c5: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(fused 1/8, context 1/16, context 1/32): the last two feed the auxiliary heads."""
        context32 = self.arm32(c5) + self.global_tail(global_mean_pool(c5))
        context32 = self.refine32(resize_to(context32, c4))
        context16 = self.refine16(resize_to(self.arm16(c4) + context32, spatial))
        return self.ffm(spatial, context16), context16, context32

    def forward(self, spatial: torch.Tensor, c4: torch.Tensor, c5: torch.Tensor) -> torch.Tensor:
        return self.outputs(spatial, c4, c5)[0]


class BiSeNetOutput(nn.Sequential):
    """3×3 conv-BN-ReLU → 1×1 classifier (the main head and each auxiliary head)."""

    def __init__(self, in_channels: int, hidden: int, num_classes: int):
        super().__init__(ConvBNReLU(in_channels, hidden, 3), nn.Conv2d(hidden, num_classes, 1))


class BiSeNet(nn.Module):
    """``forward``: one logits tensor at the input size; ``forward_train``: ``BiSeNetOutputs`` (1/8, 1/16, 1/32)."""

    def __init__(self, num_classes: int, backbone_weights: WeightsArg = None):
        super().__init__()
        self.num_classes = num_classes
        self.spatial_path = SpatialPath()
        self.backbone = create_backbone("resnet18", weights=backbone_weights)
        stages = self.backbone.feature_info
        self.neck = BiSeNetNeck(self.spatial_path.out_channels, stages[2]["channels"], stages[3]["channels"])
        self.head = BiSeNetOutput(FUSED_CHANNELS, FUSED_CHANNELS, num_classes)
        self.aux16 = BiSeNetOutput(CONTEXT_CHANNELS, AUX_HIDDEN, num_classes)
        self.aux32 = BiSeNetOutput(CONTEXT_CHANNELS, AUX_HIDDEN, num_classes)
        self.input_multiple = stages[3]["stride"]

    def check_input_shape(self, x: torch.Tensor) -> None:
        check_input_multiple(x, self.input_multiple)

    def _neck(self, x: torch.Tensor, outputs: bool) -> tuple[torch.Tensor, ...] | torch.Tensor:
        self.check_input_shape(x)
        _, _, c4, c5 = self.backbone(x)
        spatial = self.spatial_path(x)
        return self.neck.outputs(spatial, c4, c5) if outputs else self.neck(spatial, c4, c5)

    def forward_train(self, x: torch.Tensor) -> BiSeNetOutputs:
        fused, context16, context32 = self._neck(x, outputs=True)
        return BiSeNetOutputs(logits=self.head(fused), aux_logits=self.aux16(context16), edge_logits=None,
                              features=fused, aux32_logits=self.aux32(context32))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._neck(x, outputs=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return resize_to(self.head(self._neck(x, outputs=False)), x)


@register_model
def bisenet_r18(num_classes: int, *, backbone_weights: WeightsArg = None) -> BiSeNet:
    """BiSeNet with a ResNet-18 context path (random weights unless ``backbone_weights`` is given)."""
    return BiSeNet(num_classes, backbone_weights)
