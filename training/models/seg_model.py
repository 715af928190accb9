"""``SegModel``: backbone → neck → head, with the deploy/export contract of the project.

* ``forward(x)`` returns ONE tensor, the final logits resized to the input size: what is
  exported and deployed.
* ``forward_train(x)`` returns ``SegOutputs`` at 1/4 resolution for the losses.
* ``forward_features(x)`` returns the neck's output (the penultimate features, for KD).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from edge.errors import InputError
from training.models.layers import resize_to


@dataclass
class SegOutputs:
    """Training outputs of a segmentation model, all at the head's resolution (1/4)."""

    logits: torch.Tensor  # final prediction (EHANet seg2), (N, C, h, w)
    aux_logits: torch.Tensor | None  # auxiliary prediction (EHANet seg1), (N, C, h, w)
    edge_logits: torch.Tensor | None  # 2-class boundary logits, (N, 2, h, w)
    features: torch.Tensor  # penultimate features for distillation (EHANet q2), (N, F, h, w)


def check_input_multiple(x: torch.Tensor, multiple: int) -> None:
    """An (N, 3, H, W) batch whose H and W tile every stride-``multiple`` map exactly."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise InputError(f"expected an (N, 3, H, W) image batch, got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if h % multiple or w % multiple:
        padded = (-(-h // multiple) * multiple, -(-w // multiple) * multiple)
        raise InputError(
            f"input size {h}x{w} is not a multiple of {multiple}; pad or resize it to {padded[0]}x{padded[1]}"
        )


class SegModel(nn.Module):
    """Wires a backbone, a neck and a head.

    The backbone maps an image to a feature list described by its ``feature_info``; the neck maps
    that list to one context map; the head's ``__call__(features, context)`` gives only the final
    logits (nothing else is traced on export, and its ops keep the ``head`` scope) and its
    ``outputs(features, context)`` every training output as ``SegOutputs``.
    """

    def __init__(self, backbone: nn.Module, neck: nn.Module, head: nn.Module, num_classes: int):
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.head = head
        self.num_classes = num_classes
        # Every stride-s map must tile the input exactly: the top-down sums, the fixed TF-SAME
        # pads of the mobile backbones and static export all rely on it.
        self.input_multiple = max(info["stride"] for info in backbone.feature_info)

    def check_input_shape(self, x: torch.Tensor) -> None:
        check_input_multiple(x, self.input_multiple)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input_shape(x)
        return self.neck(self.backbone(x))

    def forward_train(self, x: torch.Tensor) -> SegOutputs:
        self.check_input_shape(x)
        features = self.backbone(x)
        return self.head.outputs(features, self.neck(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input_shape(x)
        features = self.backbone(x)
        return resize_to(self.head(features, self.neck(features)), x)
