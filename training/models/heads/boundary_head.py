"""EHANet's boundary branch and classifiers (docs/design.md#student)."""
from __future__ import annotations

import torch
from torch import nn

from training.models.layers import ConvBNReLU, resize_to
from training.models.seg_model import SegOutputs

EDGE_CLASSES = 2  # the boundary is a 2-class softmax, not a sigmoid


def _separable_projection(in_channels: int, out_channels: int) -> nn.Sequential:
    """Depthwise 3×3 → BN → ReLU → 1×1 → BN (no ReLU after the last BN)."""
    return nn.Sequential(
        ConvBNReLU(in_channels, in_channels, 3, groups=in_channels),
        ConvBNReLU(in_channels, out_channels, 1, activation=None),
    )


class BoundaryBranch(nn.Module):
    """Edge features from c2 (1/4) and c3 (1/8): two separable projections, c3's upsampled, concatenated."""

    def __init__(self, fine_channels: int, coarse_channels: int, width: int):
        super().__init__()
        self.fine = _separable_projection(fine_channels, width)
        self.coarse = _separable_projection(coarse_channels, width)
        self.out_channels = 2 * width

    def forward(self, fine: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        fine = self.fine(fine)
        return torch.cat([fine, resize_to(self.coarse(coarse), fine)], dim=1)


class BoundaryAwareHead(nn.Module):
    """seg1 = 1×1(q2); edge = 3×3(edge_fea) → 2; seg2 = 1×1(cat[q2, edge_fea]) (the final logits)."""

    def __init__(self, fine_channels: int, coarse_channels: int, context_channels: int, edge_width: int,
                 num_classes: int):
        super().__init__()
        self.boundary = BoundaryBranch(fine_channels, coarse_channels, edge_width)
        edge_channels = self.boundary.out_channels
        self.edge_classifier = nn.Conv2d(edge_channels, EDGE_CLASSES, 3, padding=1)
        self.aux_classifier = nn.Conv2d(context_channels, num_classes, 1)
        self.classifier = nn.Conv2d(context_channels + edge_channels, num_classes, 1)

    def _final(self, context: torch.Tensor, edge_features: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.cat([context, edge_features], dim=1))

    def forward(self, features: list[torch.Tensor], context: torch.Tensor) -> torch.Tensor:
        """Final logits only (seg2 at 1/4): the deploy path, without the auxiliary outputs. A call (not a
        method) so the exported ops sit in the ``head`` scope that ``edgeparse bench --profile`` groups by."""
        return self._final(context, self.boundary(features[0], features[1]))

    def outputs(self, features: list[torch.Tensor], context: torch.Tensor) -> SegOutputs:
        """Every head output, for training."""
        edge_features = self.boundary(features[0], features[1])
        return SegOutputs(
            logits=self._final(context, edge_features),
            aux_logits=self.aux_classifier(context),
            edge_logits=self.edge_classifier(edge_features),
            features=context,
        )
