"""AGRNet (Te et al., TIP 2021; docs/design.md#agrnet): adaptive graph representation learning for face parsing.

* trunk: ResNet-101, deep stem, output stride 8; PSP on c5 (bins 1, 2, 3, 6) gives X₂;
* edge branch: CE2P's edge module on c2, c3, c4 → ``edge_logits``; E = softmax(edge)[1],
  detached before the graph step (as in the code: graph losses do not train the edge branch);
* projection: X₀ = 1×1([X₂ ↑ ⊕ c2]) (C = 256); raw parsing map Z₀ = ``aux_logits``;
  vertices X_G = the rows of X_ne = X₀ ⊙ (1 − E) at the top-K positions of each class in Z₀;
* reasoning: X̂_G = ReLU(W_G·(A·X_G − X_G)) with a learned A; reprojection P from X_G and
  X_e = X₀ ⊙ E; X_P = X̂_G·P; decode 1×1(X₀ + X_P) → BN-ReLU → 1×1 → classes (``logits``).

``agrnet_r101`` has 66.54 M parameters with 19 classes, the ≈ 66.7 M of docs/design.md#agrnet (the paper's
Table I(d) cannot describe a ResNet-101 and is ignored; the code's unused ``conv_proj``/``conv_extend``
are left out). It costs 235 GMAC at 473² (Conv only; the graph matmuls add ~0.55 GMAC). Its boundary
GT is AGRNet's (docs/design.md#boundary-ground-truth), chosen by the recipe's ``data.boundary: neighbour``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from edge.errors import ConfigError, InputError
from training.models.backbones.resnet import OUTPUT_STRIDE_PLANS, ResNet
from training.models.backbones.weights import WeightsArg
from training.models.layers import ConvBNReLU
from training.models.registry import register_model
from training.models.seg_model import SegOutputs
from training.models.teachers.parts import (
    LOW_LEVEL_CHANNELS,
    CE2PEdgeModule,
    LowLevelFusion,
    PyramidPooling,
    TeacherModel,
    build_trunk,
)

AGRNET_WIDTH = 256  # C, the vertex feature width; PSP is twice as wide
PROXY_WIDTH = 64  # agrnet_r18's width, for CPU proxies
TOP_K = 4  # vertices per class (the paper's Table I(c) best)
# docs/design.md#agrnet: a fresh teacher uses the standard OS-8 plan (layer3 d = 2, layer4 d = 4); the
# released AGRNet weights were trained with the code's plan: layer3 stride 1 but undilated, layer4 d = 2.
STANDARD_PLAN = OUTPUT_STRIDE_PLANS[8]
CODE_PLAN = ((1, 2, 1, 1), (1, 1, 1, 2))


@dataclass
class AGRNetOutputs(SegOutputs):
    """``aux_logits`` is the raw parsing map Z₀ (L_raw); ``vertices`` are X_G, (N, K·N_c, C),
    class-major (class 0's K vertices first), before the GCN: the input of L_dis."""

    vertices: torch.Tensor

    @property
    def raw_logits(self) -> torch.Tensor:
        return self.aux_logits


def select_vertices(raw_logits: torch.Tensor, features: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Adaptive pixel → vertex projection (AGRNet Eq. 3).

    ``raw_logits`` (N, N_c, P) and ``features`` (N, C, P) over P = H·W positions. For each image
    and class the ``k`` positions with the highest raw logit are taken (sorted, highest first)
    and the feature columns there become vertices. Returns ``(vertices (N, N_c·k, C), indices
    (N, N_c, k))``, class-major. The selection is not differentiable; the gathered features are.
    """
    n, num_classes, positions = raw_logits.shape
    if positions < k:
        raise InputError(f"top-{k} vertex selection needs at least {k} positions per map, got {positions}")
    indices = raw_logits.topk(k, dim=2).indices
    flat = indices.reshape(n, 1, num_classes * k).expand(-1, features.shape[1], -1)
    return features.gather(2, flat).transpose(1, 2), indices


def reprojection_matrix(vertices: torch.Tensor, edge_features: torch.Tensor,
                        edge_prob: torch.Tensor) -> torch.Tensor:
    """P (N, V, P) from vertices (N, V, C), X_e (N, C, P) and E (N, P) (AGRNet Eq. 5).

    We keep the code's behaviour over the paper's Eq. 5 (docs/design.md#agrnet): P is built from the
    pre-GCN vertices X_G, the softmax runs over the vertex axis (each pixel's column sums to 1),
    and the result is scaled by each pixel's edge probability, so column j sums to E_j.
    """
    return torch.softmax(vertices @ edge_features, dim=1) * edge_prob.unsqueeze(1)


class GraphReasoning(nn.Module):
    """Single-layer GCN with a learned adjacency (AGRNet Eq. 4, in the code's form).

    A is a Conv1d over the node axis (V → V, kernel 1, with bias) and the update is A·X − X,
    i.e. (A − I)·X: the code's sign, opposite to the paper's (I − A), which W_G absorbs. W_G is a
    bias-free Conv1d over the channels, then ReLU. Input (N, V, C); output X̂_G as (N, C, V).
    """

    def __init__(self, num_nodes: int, channels: int):
        super().__init__()
        self.adjacency = nn.Conv1d(num_nodes, num_nodes, 1)
        self.weight = nn.Conv1d(channels, channels, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, vertices: torch.Tensor) -> torch.Tensor:
        message = self.adjacency(vertices) - vertices
        return self.relu(self.weight(message.transpose(1, 2)))


class GraphProjection(nn.Module):
    """X₀ = 1×1(304 → C, with bias, no norm) on [X₂ ↑ ⊕ c2]; Z₀ = 1×1(C → 48, BN-ReLU) → 1×1(→ N_c, no bias)."""

    def __init__(self, context_channels: int, low_channels: int, width: int, num_classes: int):
        super().__init__()
        self.fusion = LowLevelFusion(context_channels, low_channels, width)
        self.state = nn.Conv2d(self.fusion.out_channels, width, 1)
        self.raw_head = nn.Sequential(
            ConvBNReLU(width, LOW_LEVEL_CHANNELS, 1), nn.Conv2d(LOW_LEVEL_CHANNELS, num_classes, 1, bias=False)
        )

    def forward(self, context: torch.Tensor, low: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(X₀, Z₀)`` at c2's resolution."""
        state = self.state(self.fusion(context, low))
        return state, self.raw_head(state)


class AGRNet(TeacherModel):
    """``forward_train`` gives ``AGRNetOutputs(logits=Y, aux_logits=Z₀, edge_logits, features, vertices)``."""

    def __init__(self, backbone: ResNet, num_classes: int, width: int, top_k: int):
        super().__init__()
        channels = [stage["channels"] for stage in backbone.feature_info]
        self.num_classes, self.top_k = num_classes, top_k
        self.backbone = backbone
        self.psp = PyramidPooling(channels[3], 2 * width)
        self.edge = CE2PEdgeModule(channels[:3], width)
        self.projection = GraphProjection(self.psp.out_channels, channels[0], width, num_classes)
        self.gcn = GraphReasoning(top_k * num_classes, width)
        self.decoder = ConvBNReLU(width, width, 1)
        self.classifier = nn.Conv2d(width, num_classes, 1)

    def _outputs(self, x: torch.Tensor) -> AGRNetOutputs:
        c2, c3, c4, c5 = self.backbone(x)
        edge_logits, _ = self.edge([c2, c3, c4])  # the edge features are unused, as in the code
        state, raw = self.projection(self.psp(c5), c2)
        n, c, h, w = state.shape
        edge_prob = torch.softmax(edge_logits.detach(), dim=1)[:, 1:]  # E (N, 1, h, w), no gradient
        flat_state = state.flatten(2)
        vertices, _ = select_vertices(raw.flatten(2), (state * (1 - edge_prob)).flatten(2), self.top_k)
        proj = reprojection_matrix(vertices, (state * edge_prob).flatten(2), edge_prob.flatten(1))
        # Eq. 6-7: X₀ + X_P, the pixel-level residual of the graph step.
        fused = (flat_state + self.gcn(vertices) @ proj).reshape(n, c, h, w)
        features = self.decoder(fused)
        return AGRNetOutputs(logits=self.classifier(features), aux_logits=raw, edge_logits=edge_logits,
                             features=features, vertices=vertices)


def _create_agrnet(model_name: str, kind: str, num_classes: int, *, width: int, top_k: int,
                   code_dilation: bool, deep_stem: bool, weights: WeightsArg) -> AGRNet:
    for name, value in (("width", width), ("top_k", top_k)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{model_name}: {name} must be a positive integer, got {value!r}")
    trunk = build_trunk(model_name, kind, CODE_PLAN if code_dilation else STANDARD_PLAN, deep_stem, weights)
    return AGRNet(trunk, num_classes, width, top_k)


@register_model
def agrnet_r101(num_classes: int, *, top_k: int = TOP_K, code_dilation: bool = False, deep_stem: bool = True,
                backbone_weights: WeightsArg = None) -> AGRNet:
    """AGRNet as in docs/design.md#agrnet at OS 8; ``code_dilation=True`` is the released weights' dilation plan."""
    return _create_agrnet("agrnet_r101", "resnet101", num_classes, width=AGRNET_WIDTH, top_k=top_k,
                          code_dilation=code_dilation, deep_stem=deep_stem, weights=backbone_weights)


@register_model
def agrnet_r18(num_classes: int, *, top_k: int = TOP_K, width: int = PROXY_WIDTH, code_dilation: bool = False,
               deep_stem: bool = True, backbone_weights: WeightsArg = None) -> AGRNet:
    """Reduced AGRNet for CPU proxies: ResNet-18 trunk, C = ``width`` (256 in the paper)."""
    return _create_agrnet("agrnet_r18", "resnet18", num_classes, width=width, top_k=top_k,
                          code_dilation=code_dilation, deep_stem=deep_stem, weights=backbone_weights)
