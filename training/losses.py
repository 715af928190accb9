"""Student losses: EHANet's weighted boundary-aware loss and its parts (docs/design.md#student-loss).

All terms resize logits to the label size first (bilinear, ``align_corners=False``, the one
resize convention of this project), so heads may predict at 1/4 resolution.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edge.errors import ConfigError, EdgeparseError, InputError
from edge.schemas import IGNORE_INDEX

# Targets >= this are partial labels: ``code - PARTIAL_CODE_BASE`` is a bitmask of the classes the
# pixel may be (e.g. LFW's "face" = skin or any inner part; training.data.mixed writes them).
PARTIAL_CODE_BASE = 256


class NonFiniteLossError(EdgeparseError, FloatingPointError):
    """A loss term became NaN or inf; training must stop and keep the last good checkpoint."""


class SegTrainOutputs(Protocol):
    """What ``EHANetLoss`` reads from a model's training forward (e.g. ``SegOutputs``)."""

    @property
    def logits(self) -> Tensor: ...  # final head (EHANet seg2), (N, C, h, w)

    @property
    def aux_logits(self) -> Tensor | None: ...  # auxiliary head (seg1), (N, C, h, w)

    @property
    def edge_logits(self) -> Tensor | None: ...  # 2-class boundary head, (N, 2, h, w)


def _check_inputs(logits: Tensor, target: Tensor, name: str) -> None:
    if logits.ndim != 4:
        raise InputError(f"{name}: expected logits (N, C, H, W), got shape {tuple(logits.shape)}")
    if target.ndim != 3 or target.shape[0] != logits.shape[0]:
        raise InputError(
            f"{name}: expected a target (N, H, W) with N = {logits.shape[0]}, got shape {tuple(target.shape)}"
        )


def resize_logits(logits: Tensor, size: tuple[int, int] | torch.Size) -> Tensor:
    """Bilinear resize (``align_corners=False``) of (N, C, h, w) logits to ``size``; no-op if equal."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


def pixel_nll(logits: Tensor, target: Tensor, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Per-pixel negative log-likelihood (N, H, W) of logits already at the target size.

    An exact label c gives −log p_c (softmax CE); a partial label with class set S gives
    −log Σ_{c∈S} p_c, which constrains only the summed probability of S; ignore gives 0.
    """
    partial = target >= PARTIAL_CODE_BASE
    exact = torch.where(partial, ignore_index, target).long()
    nll = F.cross_entropy(logits, exact, ignore_index=ignore_index, reduction="none")
    if not bool(partial.any()):
        return nll
    classes = torch.arange(logits.shape[1], device=target.device).view(1, -1, 1, 1)
    # Non-partial pixels get every class allowed (log Σ p = 0), so no -inf enters the backward pass.
    bits = torch.where(partial, target - PARTIAL_CODE_BASE, (1 << logits.shape[1]) - 1)
    allowed = ((bits.unsqueeze(1) >> classes) & 1).bool()
    log_probs = F.log_softmax(logits.float(), dim=1).masked_fill(~allowed, float("-inf"))
    return torch.where(partial, -torch.logsumexp(log_probs, dim=1).to(nll.dtype), nll)


def cross_entropy(logits: Tensor, target: Tensor, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Pixel-mean softmax CE over non-ignored pixels (PyTorch's ``ignore_index`` mean); partial
    labels count as labelled pixels (``pixel_nll``).

    A batch with no valid pixel gives 0 rather than PyTorch's 0/0 = NaN, which would
    otherwise stop training through the non-finite check.
    """
    _check_inputs(logits, target, "cross_entropy")
    logits = resize_logits(logits, target.shape[-2:])
    per_pixel = pixel_nll(logits, target, ignore_index)
    num_valid = (target != ignore_index).sum().clamp_min(1)
    return per_pixel.sum() / num_valid


def balanced_edge_loss(edge_logits: Tensor, boundary: Tensor, ignore_mask: Tensor | None = None) -> Tensor:
    """Class-balanced 2-class CE on the boundary head (CE2P/EHANet style, docs/design.md#student-loss).

    With N⁺ boundary and N⁻ non-boundary pixels counted over the whole batch (pixels under
    ``ignore_mask`` excluded), the weights are w_pos = N⁻/N and w_neg = N⁺/N, and the loss is
    PyTorch's class-weighted mean Σ w_{b_i}·CE_i / Σ w_{b_i}. Any non-zero ``boundary`` value is
    a boundary pixel. A batch with only one of the two classes has no balanced loss: it gives 0.
    """
    _check_inputs(edge_logits, boundary, "balanced_edge_loss")
    if edge_logits.shape[1] != 2:
        raise InputError(f"balanced_edge_loss: expected 2 edge channels, got {edge_logits.shape[1]}")
    edge_logits = resize_logits(edge_logits, boundary.shape[-2:])
    positive = boundary > 0
    valid = torch.ones_like(positive) if ignore_mask is None else ~ignore_mask.bool()
    if valid.shape != positive.shape:
        raise InputError(
            f"balanced_edge_loss: ignore_mask shape {tuple(valid.shape)} "
            f"!= boundary shape {tuple(positive.shape)}"
        )
    n_pos = (positive & valid).sum()
    n_neg = (~positive & valid).sum()
    n_total = (n_pos + n_neg).clamp_min(1)
    w_pos, w_neg = n_neg / n_total, n_pos / n_total
    pixel_weight = torch.where(positive, w_pos, w_neg) * valid
    ce = F.cross_entropy(edge_logits, positive.long(), reduction="none")
    pixel_weight = pixel_weight.to(ce.dtype)
    # Σw = 0 only when one class is absent, where the numerator is 0 too: 0/tiny = 0.
    return (pixel_weight * ce).sum() / pixel_weight.sum().clamp_min(torch.finfo(ce.dtype).tiny)


def boundary_weighted_ce(
    logits: Tensor, target: Tensor, boundary: Tensor, alpha: float, ignore_index: int = IGNORE_INDEX
) -> Tensor:
    """(1/|Ω|) Σ_i (1 + α·b_i)·CE_i (BASS Eq. 4).

    Ignore pixels contribute CE = 0 but still count in |Ω|, as in EHANet's code, so with
    α = 0 this is *not* ``cross_entropy`` when the batch has ignore pixels.
    """
    _check_inputs(logits, target, "boundary_weighted_ce")
    if boundary.shape != target.shape:
        raise InputError(
            f"boundary_weighted_ce: boundary shape {tuple(boundary.shape)} "
            f"!= target shape {tuple(target.shape)}"
        )
    logits = resize_logits(logits, target.shape[-2:])
    ce = pixel_nll(logits, target, ignore_index)
    weight = 1.0 + alpha * (boundary > 0).to(ce.dtype)
    return (weight * ce).mean()


def raise_if_non_finite(losses: Mapping[str, Tensor]) -> None:
    """Raise ``NonFiniteLossError`` naming every NaN/inf term (one device sync for all terms)."""
    values = torch.stack([v.detach().float().reshape(()) for v in losses.values()])
    if bool(torch.isfinite(values).all()):
        return
    bad = {k: float(v) for k, v in zip(losses, values.cpu()) if not torch.isfinite(v)}
    terms = ", ".join(f"{k}={v}" for k, v in bad.items())
    raise NonFiniteLossError(
        f"non-finite loss ({terms}); lower the learning rate or check the inputs and labels. "
        "Training stops here; the last good checkpoint is kept"
    )


class EHANetLoss(nn.Module):
    """EHANet's ``CriterionAll`` (docs/design.md#student-loss): L = w_e·L_edge + w_a·L_aux + L_final(α).

    ``forward`` returns the terms ``edge``, ``aux``, ``final`` (unweighted) and their weighted
    sum ``total``. Heads at 1/4 resolution are resized to the label size inside each term.
    """

    def __init__(
        self,
        alpha: float = 50.0,
        ignore_index: int = IGNORE_INDEX,
        aux_weight: float = 1.0,
        edge_weight: float = 1.0,
        check_finite: bool = True,
    ):
        super().__init__()
        if alpha < 0 or aux_weight < 0 or edge_weight < 0:
            raise ConfigError(
                f"EHANetLoss weights must be >= 0, got alpha={alpha}, aux_weight={aux_weight}, "
                f"edge_weight={edge_weight}"
            )
        self.alpha = alpha
        self.ignore_index = ignore_index
        self.aux_weight = aux_weight
        self.edge_weight = edge_weight
        self.check_finite = check_finite

    def forward(self, outputs: SegTrainOutputs, target: Tensor, boundary: Tensor) -> dict[str, Tensor]:
        for head in ("aux_logits", "edge_logits"):
            if getattr(outputs, head, None) is None:
                raise ConfigError(
                    f"EHANetLoss needs outputs.{head}; this model's training forward does not produce it"
                )
        # Inside a partial label (LFW's face) the inner borders (eyes, lips) are unknown, not absent:
        # only the coarse borders there are known edges, the rest is left out of the edge loss. So is
        # all of an unlabelled image (distillation data), which would otherwise teach "no edge anywhere".
        unlabelled = (target == self.ignore_index).flatten(1).all(1).view(-1, 1, 1)
        unknown = ((target >= PARTIAL_CODE_BASE) & (boundary == 0)) | unlabelled
        losses = {
            "edge": balanced_edge_loss(outputs.edge_logits, boundary, unknown if bool(unknown.any()) else None),
            "aux": cross_entropy(outputs.aux_logits, target, self.ignore_index),
            "final": boundary_weighted_ce(outputs.logits, target, boundary, self.alpha, self.ignore_index),
        }
        losses["total"] = (
            self.edge_weight * losses["edge"] + self.aux_weight * losses["aux"] + losses["final"]
        )
        if self.check_finite:
            raise_if_non_finite(losses)
        return losses

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, aux_weight={self.aux_weight}, edge_weight={self.edge_weight}"


def _ehanet_criterion(cfg) -> nn.Module:
    for key in ("lambdas", "delta"):  # the teachers' settings; ignoring them silently would mislead
        if getattr(cfg, key) is not None:
            raise ConfigError(f"loss.{key} does not apply to loss.name='ehanet' (it uses alpha, "
                              "aux_weight, edge_weight); remove it")
    alpha = {} if cfg.alpha is None else {"alpha": cfg.alpha}
    return EHANetLoss(**alpha, aux_weight=cfg.aux_weight, edge_weight=cfg.edge_weight)


def _teacher_criterion(name: str) -> Callable[..., nn.Module]:
    def build(cfg) -> nn.Module:
        # Imported on use: training.losses_teachers builds on the terms of this module.
        from training.losses_teachers import TEACHER_CRITERIA

        return TEACHER_CRITERIA[name](cfg)

    return build


# Criterion factories by ``loss.name``; each takes the recipe's LossCfg.
CRITERIA = {
    "ehanet": _ehanet_criterion,
    "bass": _teacher_criterion("bass"),
    "agrnet": _teacher_criterion("agrnet"),
}


def build_criterion(cfg) -> nn.Module:
    """The training criterion named by ``cfg.name`` (a ``training.config.LossCfg``)."""
    if cfg.name not in CRITERIA:
        from edge.errors import UnknownNameError

        raise UnknownNameError("loss", cfg.name, CRITERIA)
    return CRITERIA[cfg.name](cfg)
