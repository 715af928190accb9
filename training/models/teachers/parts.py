"""Parts shared by BASS and AGRNet: the ResNet trunk, pyramid pooling, CE2P's edge module and
low-level fusion, and the teacher base class.

Both teachers descend from CE2P (BASS says so; AGRNet's code reuses CE2P's modules), whose
normalisation is In-Place ABN (BN + leaky-ReLU 0.01). We use plain BN + ReLU everywhere
(``ConvBNReLU``) so that torchvision-layout ImageNet weights and the project's shared layers
apply unchanged; the 0.01 negative slope is a negligible difference for a teacher trained here.
"""
from __future__ import annotations

import abc
import logging
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from edge.errors import InputError
from training.models.backbones.resnet import BasicBlock, Bottleneck, ResNet
from training.models.backbones.weights import WeightsArg, load_backbone_weights
from training.models.layers import ConvBNReLU, global_mean_pool, resize_to
from training.models.seg_model import SegOutputs

log = logging.getLogger(__name__)

# torchvision-layout trunks the teachers use: kind -> (block, blocks per stage)
TRUNKS: dict[str, tuple[type[BasicBlock | Bottleneck], tuple[int, int, int, int]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),  # reduced-width CPU proxies only
    "resnet101": (Bottleneck, (3, 4, 23, 3)),
}
PSP_BINS = (1, 2, 3, 6)
LOW_LEVEL_CHANNELS = 48  # CE2P's reduction of layer1 before the decoder concatenation
EDGE_CLASSES = 2  # boundary as a 2-way softmax, as in CE2P and AGRNet's code


def build_trunk(
    model_name: str,
    kind: str,
    plan: tuple[tuple[int, ...], tuple[int, ...]],
    deep_stem: bool,
    weights: WeightsArg,
) -> ResNet:
    """A ResNet trunk with per-layer ``plan = (strides, dilations)``, initialised from ``weights``.

    ``weights`` is a local torchvision-layout file (never downloaded). The teachers default to the
    CE2P/AGRNet deep stem, which needs a deep-stem checkpoint (``conv1..3``, 128-ch stem); a plain
    torchvision file (7×7 ``conv1``) fits ``deep_stem=False``. A mismatch raises ``CheckpointError``
    naming the keys. Without weights the trunk starts from random values, which we say loudly:
    Both papers initialise from ImageNet (docs/design.md#teachers).
    """
    block, layers = TRUNKS[kind]
    strides, dilations = plan
    trunk = ResNet(block, layers, strides=strides, dilations=dilations, deep_stem=deep_stem)
    if weights is None:
        log.warning(
            "%s: no backbone_weights given, so the %s backbone starts from random weights and "
            "training trains it from scratch (the papers start from ImageNet). Pass --backbone-weights "
            "PATH (model.overrides.backbone_weights) to initialise it from a local file; ignore "
            "this if a full teacher checkpoint is loaded next.", model_name, kind,
        )
    else:
        load_backbone_weights(trunk, weights, kind)
    return trunk


def adaptive_bins(size: int, bins: int) -> list[tuple[int, int]]:
    """AdaptiveAvgPool's bin ``i``: rows ``floor(i·size/bins)`` to ``ceil((i+1)·size/bins)``."""
    return [((i * size) // bins, -(-((i + 1) * size) // bins)) for i in range(bins)]


def _bin_matrix(size: int, bins: int, like: torch.Tensor) -> torch.Tensor:
    """(bins, size) matrix whose row ``i`` averages bin ``i`` of one axis."""
    matrix = torch.zeros(bins, size, dtype=like.dtype, device=like.device)
    for i, (start, stop) in enumerate(adaptive_bins(size, bins)):
        matrix[i, start:stop] = 1.0 / (stop - start)
    return matrix


def bin_average_pool(x: torch.Tensor, bins: int) -> torch.Tensor:
    """``AdaptiveAvgPool2d(bins)`` exactly, without the adaptive op (graph hygiene).

    One bin is a global mean; bins that tile the map are a fixed ``avg_pool2d``; otherwise the
    (overlapping) adaptive bins are two averaging matmuls over rows and columns. At 473² the
    teachers' maps are 30² (OS 16) and 60² (OS 8), which every PSP bin tiles.
    """
    height, width = x.shape[-2:]
    if bins == 1:
        return global_mean_pool(x)
    if height % bins == 0 and width % bins == 0:
        return F.avg_pool2d(x, kernel_size=(height // bins, width // bins))
    rows, cols = _bin_matrix(height, bins, x), _bin_matrix(width, bins, x)
    return rows @ x @ cols.T


class PyramidPooling(nn.Module):
    """PSP as in CE2P/AGRNet: per bin pool → 1×1 → BN-ReLU → upsample; concat with the input → 3×3.

    The 1-bin branch batch-normalises one value per image, so training needs >= 2 images a batch.
    """

    def __init__(self, in_channels: int, out_channels: int, bins: Sequence[int] = PSP_BINS):
        super().__init__()
        self.bins = tuple(bins)
        self.stages = nn.ModuleList(ConvBNReLU(in_channels, out_channels, 1) for _ in self.bins)
        self.bottleneck = ConvBNReLU(in_channels + len(self.bins) * out_channels, out_channels, 3)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        priors = [resize_to(stage(bin_average_pool(x, b)), x) for b, stage in zip(self.bins, self.stages)]
        return self.bottleneck(torch.cat([*priors, x], dim=1))


class CE2PEdgeModule(nn.Module):
    """CE2P's edge module (docs/design.md#teachers): layer1..3 → 1×1 → width each; a SHARED 3×3 width→2
    on each level; the three maps upsampled to layer1's size, concatenated (6 ch), 1×1 → 2.

    Returns ``(edge_logits, edge_features)``; the features (3·width ch at 1/4) feed BASS's fusion.
    """

    def __init__(self, in_channels: Sequence[int], width: int):
        super().__init__()
        self.projections = nn.ModuleList(ConvBNReLU(c, width, 1) for c in in_channels)
        self.edge_classifier = nn.Conv2d(width, EDGE_CLASSES, 3, padding=1)
        self.fuse = nn.Conv2d(EDGE_CLASSES * len(in_channels), EDGE_CLASSES, 1)
        self.out_channels = width * len(in_channels)

    def forward(self, features: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        fine = features[0]
        projected = [proj(f) for proj, f in zip(self.projections, features, strict=True)]
        edges = [self.edge_classifier(p) for p in projected]
        edges = [edges[0], *(resize_to(e, fine) for e in edges[1:])]
        projected = [projected[0], *(resize_to(p, fine) for p in projected[1:])]
        return self.fuse(torch.cat(edges, dim=1)), torch.cat(projected, dim=1)


class LowLevelFusion(nn.Module):
    """CE2P decoder input: context 1×1 → width, upsampled to layer1; layer1 1×1 → 48; concatenated."""

    def __init__(self, context_channels: int, low_channels: int, width: int):
        super().__init__()
        self.context = ConvBNReLU(context_channels, width, 1)
        self.low = ConvBNReLU(low_channels, LOW_LEVEL_CHANNELS, 1)
        self.out_channels = width + LOW_LEVEL_CHANNELS

    def forward(self, context: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        return torch.cat([resize_to(self.context(context), low), self.low(low)], dim=1)


def check_images(x: torch.Tensor, training: bool) -> None:
    if x.ndim != 4 or x.shape[1] != 3:
        raise InputError(f"expected an (N, 3, H, W) image batch, got shape {tuple(x.shape)}")
    if training and x.shape[0] < 2:
        raise InputError(
            f"a teacher in training mode needs at least 2 images per batch (got {x.shape[0]}): its "
            "1×1 pyramid-pooling bin is batch-normalised over the batch. Raise train.batch_size, or "
            "call model.eval() for a forward pass with BN statistics frozen"
        )


class TeacherModel(nn.Module, abc.ABC):
    """Base of the teachers: subclasses implement ``_outputs`` (all heads at 1/4 resolution)."""

    num_classes: int

    @abc.abstractmethod
    def _outputs(self, x: torch.Tensor) -> SegOutputs:
        """Every head of the model on a checked image batch."""

    def forward_train(self, x: torch.Tensor) -> SegOutputs:
        check_images(x, self.training)
        return self._outputs(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (before the final classifier), for distillation."""
        return self.forward_train(x).features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Final logits at the input size (the heads of a teacher are cheap next to its trunk)."""
        return resize_to(self.forward_train(x).logits, x)
