"""BASS (Liu et al., AAAI 2020; docs/design.md#bass): the boundary-attention semantic segmentation teacher.

BASS released no code and says it follows CE2P, so CE2P's layout is the reference:

* trunk: ResNet-101, deep stem, layer4 dilated (d = 2): output stride 16;
* S, semantic branch: PSP on c5 (bins 1, 2, 3, 6) and CE2P's decoder with c2 → ``aux_logits``
  (seg1, trained by L_s) and 256-ch semantic features;
* B, boundary-aware branch: CE2P's edge module on c2, c3, c4 → ``edge_logits`` (L_b) and
  3 × 256 = 768-ch boundary features;
* BS, boundary-attention semantic branch: fuse(S, B) → 1×1 → 256 → Dropout2d(0.1) → ``logits``
  (seg2, trained by the boundary-weighted L_bs; the test-time output).

Its boundary GT is CE2P's (docs/design.md#boundary-ground-truth), chosen by the recipe's ``data.boundary: ce2p``.
``bass_r101`` has 66.72 M parameters (11 classes) and costs 76.4 GMAC at 473².
"""
from __future__ import annotations

import torch
from torch import nn

from edge.errors import ConfigError
from training.models.backbones.resnet import OUTPUT_STRIDE_PLANS, ResNet
from training.models.backbones.weights import WeightsArg
from training.models.layers import ConvBNReLU
from training.models.registry import register_model
from training.models.seg_model import SegOutputs
from training.models.teachers.parts import (
    CE2PEdgeModule,
    LowLevelFusion,
    PyramidPooling,
    TeacherModel,
    build_trunk,
)

FUSIONS = ("concat", "sum", "product")  # the paper's c (best), p and m variants
BASS_WIDTH = 256  # CE2P's decoder and edge width; PSP is twice as wide
PROXY_WIDTH = 64  # bass_r18's width, for CPU proxies
OUTPUT_STRIDE = 16  # dilated conv5 only


class SemanticDecoder(nn.Module):
    """CE2P's decoder: [context ⊕ c2] (304 ch) → [1×1 → width, BN-ReLU] × 2 → 1×1 → classes.

    docs/design.md#bass: the paper only describes PSP feeding the classifier; we include CE2P's
    low-level (c2) decoder because BASS states that it follows CE2P.
    """

    def __init__(self, context_channels: int, low_channels: int, width: int, num_classes: int):
        super().__init__()
        self.fusion = LowLevelFusion(context_channels, low_channels, width)
        self.refine = nn.Sequential(ConvBNReLU(self.fusion.out_channels, width, 1), ConvBNReLU(width, width, 1))
        self.classifier = nn.Conv2d(width, num_classes, 1)
        self.out_channels = width

    def forward(self, context: torch.Tensor, low: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.refine(self.fusion(context, low))
        return features, self.classifier(features)


class BoundaryAttentionHead(nn.Module):
    """The BS branch: fuse S's and B's last features, 1×1 → width (BN-ReLU), Dropout2d(0.1), 1×1 → classes.

    ``concat`` (the paper's best, CE2P's fusion) stacks 256 + 768 channels. ``sum`` and
    ``product`` need equal widths, and the paper does not say how it matched them: following
    docs/design.md#bass the boundary features get a 1×1 projection (768 → 256, BN-ReLU) first.
    """

    def __init__(self, semantic_channels: int, boundary_channels: int, width: int, num_classes: int,
                 fusion: str):
        super().__init__()
        self.fusion = fusion
        self.project = None if fusion == "concat" else ConvBNReLU(boundary_channels, semantic_channels, 1)
        fused_channels = semantic_channels + boundary_channels if fusion == "concat" else semantic_channels
        self.fuse = ConvBNReLU(fused_channels, width, 1)
        self.dropout = nn.Dropout2d(0.1)
        self.classifier = nn.Conv2d(width, num_classes, 1)

    def forward(self, semantic: torch.Tensor, boundary: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(features, logits)``: the fused features (penultimate, for KD) and seg2."""
        if self.project is None:
            fused = torch.cat([semantic, boundary], dim=1)
        elif self.fusion == "sum":
            fused = semantic + self.project(boundary)
        else:
            fused = semantic * self.project(boundary)
        features = self.fuse(fused)
        return features, self.classifier(self.dropout(features))

    def extra_repr(self) -> str:
        return f"fusion={self.fusion}"


class BASS(TeacherModel):
    """``forward_train`` gives ``SegOutputs(logits=seg2, aux_logits=seg1, edge_logits, features)``."""

    def __init__(self, backbone: ResNet, num_classes: int, width: int, fusion: str):
        super().__init__()
        channels = [stage["channels"] for stage in backbone.feature_info]
        self.num_classes = num_classes
        self.backbone = backbone
        self.psp = PyramidPooling(channels[3], 2 * width)
        self.decoder = SemanticDecoder(self.psp.out_channels, channels[0], width, num_classes)
        self.boundary = CE2PEdgeModule(channels[:3], width)
        self.head = BoundaryAttentionHead(self.decoder.out_channels, self.boundary.out_channels, width,
                                          num_classes, fusion)

    def _outputs(self, x: torch.Tensor) -> SegOutputs:
        c2, c3, c4, c5 = self.backbone(x)
        semantic, seg1 = self.decoder(self.psp(c5), c2)
        edge_logits, boundary = self.boundary([c2, c3, c4])
        features, seg2 = self.head(semantic, boundary)
        return SegOutputs(logits=seg2, aux_logits=seg1, edge_logits=edge_logits, features=features)


def _create_bass(model_name: str, kind: str, num_classes: int, *, fusion: str, width: int,
                 deep_stem: bool, weights: WeightsArg) -> BASS:
    if fusion not in FUSIONS:
        raise ConfigError(f"{model_name}: fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}")
    if not isinstance(width, int) or width < 1:
        raise ConfigError(f"{model_name}: width must be a positive integer, got {width!r}")
    trunk = build_trunk(model_name, kind, OUTPUT_STRIDE_PLANS[OUTPUT_STRIDE], deep_stem, weights)
    return BASS(trunk, num_classes, width, fusion)


@register_model
def bass_r101(num_classes: int, *, fusion: str = "concat", deep_stem: bool = True,
              backbone_weights: WeightsArg = None) -> BASS:
    """BASS as in docs/design.md#bass: ResNet-101 deep stem at OS 16; ``fusion`` concat | sum | product."""
    return _create_bass("bass_r101", "resnet101", num_classes, fusion=fusion, width=BASS_WIDTH,
                        deep_stem=deep_stem, weights=backbone_weights)


@register_model
def bass_r18(num_classes: int, *, fusion: str = "concat", width: int = PROXY_WIDTH, deep_stem: bool = True,
             backbone_weights: WeightsArg = None) -> BASS:
    """Reduced BASS for CPU proxies: ResNet-18 trunk, heads ``width`` wide (256 in the paper)."""
    return _create_bass("bass_r18", "resnet18", num_classes, fusion=fusion, width=width,
                        deep_stem=deep_stem, weights=backbone_weights)
