"""Segmentation distillation losses, written exactly as their papers (docs/design.md#distillation).

Notation: z^S, z^T are student and teacher logits on the same (h, w) grid, N = h·w positions
(and the batch), C classes. Every function returns a scalar averaged over the batch and is
computed in float32 whatever the autocast dtype, because KL terms of half-precision
log-probabilities lose most of their digits.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from edge.errors import InputError


def _check_same_shape(student: Tensor, teacher: Tensor, name: str) -> None:
    if student.ndim != 4 or student.shape != teacher.shape:
        raise InputError(
            f"{name}: student {tuple(student.shape)} and teacher {tuple(teacher.shape)} must both be "
            "(N, C, H, W) of the same shape; resize the teacher to the student's grid first"
        )


def pixel_kl(student_logits: Tensor, teacher_probs: Tensor, temperature: float = 1.0,
             pixel_weight: Tensor | None = None) -> Tensor:
    """Pixel-wise KD: L_pi = (T²/N) Σ_i w_i · KL(σ(z_i^T/T) ‖ σ(z_i^S/T)), N = all pixels of the batch.

    ``teacher_probs`` is σ(z^T/T) (or an ensemble average of such), shape (N, C, H, W).
    ``pixel_weight`` (N, H, W) scales each pixel's KL (1 everywhere when None).
    """
    _check_same_shape(student_logits, teacher_probs, "pixel_kl")
    log_student = F.log_softmax(student_logits.float() / temperature, dim=1)
    p = teacher_probs.float()
    # xlogy gives 0·log 0 = 0: translated teachers have exact zeros for unmapped classes.
    kl = (torch.xlogy(p, p) - p * log_student).sum(dim=1)
    if pixel_weight is not None:
        if pixel_weight.shape != kl.shape:
            raise InputError(f"pixel_kl: pixel_weight {tuple(pixel_weight.shape)} != grid {tuple(kl.shape)}")
        kl = kl * pixel_weight.float()
    return kl.mean() * temperature**2


def boundary_pixel_weight(boundary: Tensor, size: tuple[int, int] | torch.Size, alpha: float) -> Tensor:
    """1 + α·b_i on the logit grid: a grid cell is boundary when any label pixel inside it is.

    ``boundary`` is the (N, H, W) ground truth at label size; area resizing gives each grid cell
    the fraction of boundary pixels it covers, so thin 1-pixel edges survive the 4× reduction.
    """
    if boundary.ndim != 3:
        raise InputError(f"boundary_pixel_weight: expected a boundary (N, H, W), got {tuple(boundary.shape)}")
    cell_boundary = F.interpolate(boundary[:, None].float(), size=tuple(size), mode="area")[:, 0] > 0
    return 1.0 + alpha * cell_boundary.float()


def boundary_weighted_kl(student_logits: Tensor, teacher_probs: Tensor, boundary: Tensor, alpha: float,
                         temperature: float = 1.0, pixel_weight: Tensor | None = None) -> Tensor:
    """(T²/N) Σ_i (1 + α·b_i) · KL_i: pixel-wise KD that stresses boundaries, as BASS Eq. 4 does for CE."""
    weight = boundary_pixel_weight(boundary, student_logits.shape[-2:], alpha)
    if pixel_weight is not None:
        weight = weight * pixel_weight.float()
    return pixel_kl(student_logits, teacher_probs, temperature, weight)


def channel_wise_distillation(student_logits: Tensor, teacher_logits: Tensor, tau: float = 4.0) -> Tensor:
    """CWD (Shu et al. 2021): L = (τ²/C) Σ_c Σ_i φ_{c,i}^T (log φ_{c,i}^T − log φ_{c,i}^S), batch mean.

    φ_c = softmax over the spatial positions i of channel c's map divided by τ.
    """
    _check_same_shape(student_logits, teacher_logits, "channel_wise_distillation")
    n, c = student_logits.shape[:2]
    log_phi_s = F.log_softmax(student_logits.float().reshape(n, c, -1) / tau, dim=2)
    log_phi_t = F.log_softmax(teacher_logits.float().reshape(n, c, -1) / tau, dim=2)
    per_channel = (log_phi_t.exp() * (log_phi_t - log_phi_s)).sum(dim=2)
    return per_channel.sum(dim=1).mean() * tau**2 / c


def node_features(features: Tensor, cell: int) -> Tensor:
    """Average-pool (N, F, H, W) features into β×β-pixel cells: the graph nodes of SKD.

    A border cell that the map does not fill is averaged over the pixels it covers (``ceil_mode``).
    """
    if features.ndim != 4:
        raise InputError(f"node_features: expected (N, F, H, W) features, got {tuple(features.shape)}")
    return F.avg_pool2d(features.float(), kernel_size=cell, stride=cell, ceil_mode=True)


def affinity(nodes: Tensor) -> Tensor:
    """Cosine affinity a_ij = f_iᵀf_j / (‖f_i‖‖f_j‖) between all R nodes: (N, F, h, w) → (N, R, R)."""
    flat = F.normalize(nodes.float().flatten(2), dim=1, eps=1e-8)
    return flat.transpose(1, 2) @ flat


def pairwise_affinity_loss(student_features: Tensor, teacher_affinity: Tensor, cell: int) -> Tensor:
    """SKD pair-wise term: L_pa = (1/R²) Σ_{i,j} (a_ij^S − a_ij^T)², batch mean.

    ``teacher_affinity`` (N, R, R) comes from the teacher's features on the student's feature grid;
    the affinity does not depend on the feature width, so no adapter is needed.
    """
    student_affinity = affinity(node_features(student_features, cell))
    if student_affinity.shape != teacher_affinity.shape:
        raise InputError(
            f"pairwise_affinity_loss: student affinity {tuple(student_affinity.shape)} != teacher "
            f"{tuple(teacher_affinity.shape)}; pool the teacher features on the student's feature grid"
        )
    return (student_affinity - teacher_affinity.float()).pow(2).mean()
