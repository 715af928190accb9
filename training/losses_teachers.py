"""Teacher losses: BASS's Eq. 1–4 (docs/design.md#bass) and AGRNet's Eq. 8–11 (docs/design.md#agrnet).

Both build on the shared terms of ``training.losses`` (logits are resized to the label size
first) and return their unweighted terms plus the weighted ``total``, like ``EHANetLoss``.
``build_criterion`` reaches them through ``training.losses.CRITERIA`` (``bass``, ``agrnet``).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edge.errors import ConfigError, InputError
from edge.schemas import IGNORE_INDEX
from training.config import LossCfg
from training.losses import (
    SegTrainOutputs,
    balanced_edge_loss,
    boundary_weighted_ce,
    cross_entropy,
    pixel_nll,
    raise_if_non_finite,
    resize_logits,
)

BASS_ALPHA = 10.0  # the final BASS model's α, picked on LaPa val (docs/design.md#bass)
BASS_LAMBDAS = (1.0, 1.0, 1.0)  # (λ_s, λ_b, λ_bs), BASS Eq. 1
# (λ_raw, λ_edge, λ_BA, λ_final, λ_dis): the paper's weights, not the code's (docs/design.md#agrnet)
# (final 1, dis 0.5).
AGRNET_LAMBDAS = (1.0, 1.0, 1.0, 0.5, 0.1)
AGRNET_DELTA = 1.0  # L_dis margin on L2-normalised vertices (docs/design.md#agrnet)
_FIELDS = {"bass": ("alpha", "lambdas"), "agrnet": ("lambdas", "delta")}  # the LossCfg keys each one reads


class GraphTrainOutputs(SegTrainOutputs, Protocol):
    """What ``AGRNetLoss`` reads: ``aux_logits`` is Z₀, ``vertices`` X_G (N, V, C)."""

    @property
    def vertices(self) -> Tensor: ...


def boundary_attention_loss(logits: Tensor, target: Tensor, boundary: Tensor,
                            ignore_index: int = IGNORE_INDEX) -> Tensor:
    """AGRNet's L_BA (Eq. 8, docs/design.md#agrnet): CE of the final prediction at boundary pixels only.

    Per image Σ_i e_i·CE_i / (Σ_i e_i + 1), then the batch mean (the code's form: the +1 keeps an
    image without boundary at 0). Ignore pixels have CE 0.
    """
    if boundary.shape != target.shape:
        raise InputError(f"boundary_attention_loss: boundary shape {tuple(boundary.shape)} "
                         f"!= target shape {tuple(target.shape)}")
    logits = resize_logits(logits, target.shape[-2:])
    ce = pixel_nll(logits, target, ignore_index)
    edge = (boundary > 0).to(ce.dtype)
    per_image = (edge * ce).flatten(1).sum(1) / (edge.flatten(1).sum(1) + 1)
    return per_image.mean()


def discriminative_loss(vertices: Tensor, delta: float = AGRNET_DELTA) -> Tensor:
    """AGRNet's L_dis (Eq. 9–10) as the paper defines it, not the code's (docs/design.md#agrnet).

    Vertices (N, V, C) are L2-normalised; φ(x_i, x_j) = max(δ − ‖x_i − x_j‖₂, 0)², averaged
    over all V·(V − 1) ordered pairs i ≠ j of the V = K·N_c vertices, then over the batch. It
    pushes vertices (of different classes, and of the same class) at least δ apart.
    """
    if vertices.ndim != 3 or vertices.shape[1] < 2:
        raise InputError(f"discriminative_loss: expected vertices (N, V >= 2, C), got {tuple(vertices.shape)}")
    unit = F.normalize(vertices.float(), dim=2)
    # The direct form is exact at zero distance (a vertex picked twice); the matmul form is not.
    distance = torch.cdist(unit, unit, compute_mode="donot_use_mm_for_euclid_dist")
    count = vertices.shape[1]
    off_diagonal = ~torch.eye(count, dtype=torch.bool, device=vertices.device)
    hinge = (delta - distance).clamp_min(0.0).pow(2) * off_diagonal
    return (hinge.flatten(1).sum(1) / (count * (count - 1))).mean()


def _weighted_total(losses: dict[str, Tensor], lambdas: Sequence[float], check_finite: bool) -> dict[str, Tensor]:
    """Adds ``total``: ``lambdas`` pair with the terms in insertion (``TERMS``) order."""
    losses["total"] = sum(w * term for w, term in zip(lambdas, losses.values(), strict=True))
    if check_finite:
        raise_if_non_finite(losses)
    return losses


def _require_heads(outputs: object, heads: Sequence[str], loss: str) -> None:
    for head in heads:
        if getattr(outputs, head, None) is None:
            raise ConfigError(f"{loss} needs outputs.{head}; this model's training forward does not produce it")


def _check_lambdas(lambdas: Sequence[float], names: Sequence[str], loss: str) -> tuple[float, ...]:
    if len(lambdas) != len(names) or any(w < 0 for w in lambdas):
        raise ConfigError(f"{loss}: lambdas must be {len(names)} weights >= 0 for ({', '.join(names)}), "
                          f"got {tuple(lambdas)}")
    return tuple(float(w) for w in lambdas)


class BASSLoss(nn.Module):
    """BASS's L = λ_s·L_s + λ_b·L_b + λ_bs·L_bs (BASS Eq. 1–4).

    L_s: pixel-mean CE of the semantic branch (``aux_logits``); L_b: class-balanced 2-class CE of
    the boundary branch (CE2P-style, batch-level weights); L_bs: boundary-weighted CE of the final
    prediction, (1/N) Σ_i (1 + α·b_i)·CE_i. Terms: ``semantic``, ``boundary``, ``boundary_attention``.
    """

    TERMS = ("semantic", "boundary", "boundary_attention")

    def __init__(self, alpha: float = BASS_ALPHA, lambdas: Sequence[float] = BASS_LAMBDAS,
                 ignore_index: int = IGNORE_INDEX, check_finite: bool = True):
        super().__init__()
        if alpha < 0:
            raise ConfigError(f"BASSLoss: alpha must be >= 0, got {alpha}")
        self.alpha, self.ignore_index, self.check_finite = alpha, ignore_index, check_finite
        self.lambdas = _check_lambdas(lambdas, self.TERMS, "BASSLoss")

    def forward(self, outputs: SegTrainOutputs, target: Tensor, boundary: Tensor) -> dict[str, Tensor]:
        _require_heads(outputs, ("aux_logits", "edge_logits"), "BASSLoss")
        losses = {
            "semantic": cross_entropy(outputs.aux_logits, target, self.ignore_index),
            "boundary": balanced_edge_loss(outputs.edge_logits, boundary),
            "boundary_attention": boundary_weighted_ce(outputs.logits, target, boundary, self.alpha,
                                                       self.ignore_index),
        }
        return _weighted_total(losses, self.lambdas, self.check_finite)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, lambdas={self.lambdas}"


class AGRNetLoss(nn.Module):
    """AGRNet's L = λ₁L_raw + λ₂L_edge + λ₃L_BA + λ₄L_final + λ₅L_dis (AGRNet Eq. 11).

    L_raw and L_final: pixel-mean CE of Z₀ (``aux_logits``) and of the final logits; L_edge:
    class-balanced 2-class CE (the code's batch-level weights); L_BA: ``boundary_attention_loss``;
    L_dis: ``discriminative_loss`` on the vertices. Terms: ``raw``, ``edge``,
    ``boundary_attention``, ``final``, ``discriminative``.
    """

    TERMS = ("raw", "edge", "boundary_attention", "final", "discriminative")

    def __init__(self, lambdas: Sequence[float] = AGRNET_LAMBDAS, delta: float = AGRNET_DELTA,
                 ignore_index: int = IGNORE_INDEX, check_finite: bool = True):
        super().__init__()
        if delta <= 0:
            raise ConfigError(f"AGRNetLoss: delta must be > 0, got {delta}")
        self.delta, self.ignore_index, self.check_finite = delta, ignore_index, check_finite
        self.lambdas = _check_lambdas(lambdas, self.TERMS, "AGRNetLoss")

    def forward(self, outputs: GraphTrainOutputs, target: Tensor, boundary: Tensor) -> dict[str, Tensor]:
        _require_heads(outputs, ("aux_logits", "edge_logits", "vertices"), "AGRNetLoss")
        losses = {
            "raw": cross_entropy(outputs.aux_logits, target, self.ignore_index),
            "edge": balanced_edge_loss(outputs.edge_logits, boundary),
            "boundary_attention": boundary_attention_loss(outputs.logits, target, boundary, self.ignore_index),
            "final": cross_entropy(outputs.logits, target, self.ignore_index),
            "discriminative": discriminative_loss(outputs.vertices, self.delta),
        }
        return _weighted_total(losses, self.lambdas, self.check_finite)

    def extra_repr(self) -> str:
        return f"lambdas={self.lambdas}, delta={self.delta}"


def _reject(cfg: LossCfg, loss: str, fields: Sequence[str]) -> None:
    """Settings another criterion reads must keep their defaults here, or we would ignore them silently."""
    defaults = LossCfg()
    changed = [f for f in fields if getattr(cfg, f) != getattr(defaults, f)]
    if changed:
        raise ConfigError(f"loss.{changed[0]} does not apply to loss.name={loss!r}; remove it "
                          f"(the {loss} loss is set by {', '.join(_FIELDS[loss])})")


def bass_criterion(cfg: LossCfg) -> BASSLoss:
    _reject(cfg, "bass", ("aux_weight", "edge_weight", "delta"))
    return BASSLoss(alpha=BASS_ALPHA if cfg.alpha is None else cfg.alpha,
                    lambdas=BASS_LAMBDAS if cfg.lambdas is None else cfg.lambdas)


def agrnet_criterion(cfg: LossCfg) -> AGRNetLoss:
    _reject(cfg, "agrnet", ("alpha", "aux_weight", "edge_weight"))
    return AGRNetLoss(lambdas=AGRNET_LAMBDAS if cfg.lambdas is None else cfg.lambdas,
                      delta=AGRNET_DELTA if cfg.delta is None else cfg.delta)


TEACHER_CRITERIA: dict[str, Callable[[LossCfg], nn.Module]] = {"bass": bass_criterion, "agrnet": agrnet_criterion}
