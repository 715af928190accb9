"""EHANet's neck (docs/design.md#student): stage attention (SCAM), two top-down passes and SGCBs."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from edge.errors import ConfigError
from training.models.layers import ConvBNReLU, SEGate, resize_to

SE_REDUCTION = 8
# SGCB dilations for p2 (1/4), p3 (1/8) and p4 (1/16): larger where the resolution is higher.
SGCB_DILATIONS = ((7, 9, 13), (3, 6, 9), (1, 2, 4))
SGCB_KINDS = ("full", "conv1x1")


class StageAttention(nn.Module):
    """SCAM unit: 1×1 projection C→W (BN, ReLU) gated by an SE computed from the projection itself."""

    def __init__(self, in_channels: int, width: int):
        super().__init__()
        self.project = ConvBNReLU(in_channels, width, 1)
        self.gate = SEGate(width, width // SE_REDUCTION)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate(self.project(x))


class SemanticGapBlock(nn.Module):
    """SGCB(d1, d2, d3): reduce W→W/4, three asymmetric dilated branches, concat with the reduction.

    Each branch: (3×1, dilation (d, 1)) → ReLU → (1×3, dilation (1, d)) → BN → ReLU, all bias-free.
    The output is ``cat[b1, b2, b3, r]`` (W channels) with no fusion conv, as in EHANet's code.
    """

    def __init__(self, width: int, dilations: Sequence[int]):
        super().__init__()
        if width % 4:
            raise ConfigError(f"SGCB width must be divisible by 4, got {width}")
        quarter = width // 4
        self.reduce = nn.Conv2d(width, quarter, 1, bias=False)
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(quarter, quarter, (3, 1), padding=(d, 0), dilation=(d, 1), bias=False),
                nn.ReLU(inplace=True),
                ConvBNReLU(quarter, quarter, (1, 3), dilation=(1, d)),
            )
            for d in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduced = self.reduce(x)
        return torch.cat([branch(reduced) for branch in self.branches] + [reduced], dim=1)


def _gap_block(kind: str, width: int, dilations: Sequence[int]) -> nn.Module:
    if kind == "full":
        return SemanticGapBlock(width, dilations)
    # The ``EHANet18`` ablation of the original code: each SGCB replaced by 1×1 conv + BN + ReLU.
    return ConvBNReLU(width, width, 1)


class EHANetNeck(nn.Module):
    """c2..c5 → q2 (``width`` channels at c2's resolution).

    p5 = A5(c5); p_i = Up(p_{i+1}) + A_i(c_i) for i = 4, 3, 2 (A = ``StageAttention``);
    q4 = G4(p4); q3 = Up(q4) + G3(p3); q2 = Up(q3) + G2(p2) (G = SGCB, or 1×1 in the ablation).
    """

    def __init__(self, in_channels: Sequence[int], width: int, sgcb: str = "full"):
        super().__init__()
        if len(in_channels) != 4:
            raise ConfigError(f"EHANetNeck needs 4 backbone stages (c2..c5), got {len(in_channels)}")
        if sgcb not in SGCB_KINDS:
            raise ConfigError(f"sgcb must be one of {', '.join(SGCB_KINDS)}; got {sgcb!r}")
        if width < SE_REDUCTION or width % SE_REDUCTION:
            raise ConfigError(f"neck_channels must be a positive multiple of {SE_REDUCTION}, got {width}")
        self.out_channels = width
        self.stage_attention = nn.ModuleList(StageAttention(c, width) for c in in_channels)
        self.gap_compensation = nn.ModuleList(_gap_block(sgcb, width, d) for d in SGCB_DILATIONS)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        attention = self.stage_attention
        p = attention[3](features[3])
        pyramid = [p]  # p5, p4, p3, p2
        for i in (2, 1, 0):
            p = resize_to(p, features[i]) + attention[i](features[i])
            pyramid.append(p)
        p4, p3, p2 = pyramid[1:]
        q = self.gap_compensation[2](p4)
        q = resize_to(q, p3) + self.gap_compensation[1](p3)
        return resize_to(q, p2) + self.gap_compensation[0](p2)
