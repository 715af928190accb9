"""EHANet's weighted boundary-aware loss (docs/design.md#student-loss) and its parts, checked by hand and vs PyTorch."""
from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F

from edge.errors import ConfigError, EdgeparseError, InputError
from training.losses import (
    EHANetLoss,
    NonFiniteLossError,
    balanced_edge_loss,
    boundary_weighted_ce,
    cross_entropy,
    resize_logits,
)


@dataclass
class Outputs:
    logits: torch.Tensor
    aux_logits: torch.Tensor | None
    edge_logits: torch.Tensor | None


def _batch(seed: int = 0, n: int = 2, c: int = 4, size: int = 16):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, size, size, generator=g)
    target = torch.randint(0, c, (n, size, size), generator=g)
    target[:, :3, :] = 255
    boundary = (torch.rand(n, size, size, generator=g) < 0.2).to(torch.uint8)
    return logits, target, boundary


def test_cross_entropy_matches_pytorch_with_ignore():
    logits, target, _ = _batch()
    expected = F.cross_entropy(logits, target, ignore_index=255)
    torch.testing.assert_close(cross_entropy(logits, target), expected)


def test_cross_entropy_resizes_low_resolution_logits_first():
    logits, target, _ = _batch()
    small = logits[:, :, ::4, ::4]
    upsampled = F.interpolate(small, size=(16, 16), mode="bilinear", align_corners=False)
    expected = F.cross_entropy(upsampled, target, ignore_index=255)
    torch.testing.assert_close(cross_entropy(small, target), expected)
    assert resize_logits(logits, (16, 16)) is logits


def test_cross_entropy_of_a_fully_ignored_batch_is_zero_not_nan():
    logits, target, _ = _batch()
    assert cross_entropy(logits, torch.full_like(target, 255)).item() == 0.0


def test_boundary_weighted_ce_alpha_zero_counts_ignore_pixels_in_the_mean():
    logits, target, boundary = _batch()
    summed = F.cross_entropy(logits, target, ignore_index=255, reduction="sum")
    got = boundary_weighted_ce(logits, target, boundary, alpha=0.0)
    torch.testing.assert_close(got, summed / target.numel())
    assert got < cross_entropy(logits, target)  # the ignore rows dilute the mean


def test_boundary_weighted_ce_scales_boundary_pixels_by_one_plus_alpha():
    """Equal logits over 2 classes give CE = log 2 per pixel: (4·log2 + log2 + 0) / 3."""
    logits = torch.zeros(1, 2, 1, 3)
    target = torch.tensor([[[1, 0, 255]]])
    boundary = torch.tensor([[[1, 0, 1]]])
    got = boundary_weighted_ce(logits, target, boundary, alpha=3.0)
    assert got.item() == pytest.approx(5 / 3 * math.log(2))


def test_balanced_edge_weights_come_from_batch_counts():
    """One boundary pixel in 4: w_pos = 3/4, w_neg = 1/4 (PyTorch's weighted-mean CE)."""
    g = torch.Generator().manual_seed(1)
    edge_logits = torch.randn(1, 2, 2, 2, generator=g)
    boundary = torch.tensor([[[1, 0], [0, 0]]])
    expected = F.cross_entropy(edge_logits, boundary, weight=torch.tensor([0.25, 0.75]))
    torch.testing.assert_close(balanced_edge_loss(edge_logits, boundary), expected)
    ce = F.cross_entropy(edge_logits, boundary, reduction="none")
    balanced = 0.5 * (ce[boundary == 1].mean() + ce[boundary == 0].mean())
    torch.testing.assert_close(balanced_edge_loss(edge_logits, boundary), balanced)


def test_balanced_edge_weights_are_batch_level_not_per_image():
    edge_logits, _, boundary = _batch(seed=2)
    boundary[1] = 0
    boundary[1, 0, :4] = 1  # the second image has far fewer boundary pixels
    n_pos = boundary.sum().item()
    n = boundary.numel()
    weight = torch.tensor([n_pos / n, (n - n_pos) / n])
    expected = F.cross_entropy(edge_logits[:, :2], boundary.long(), weight=weight)
    torch.testing.assert_close(balanced_edge_loss(edge_logits[:, :2], boundary), expected)


def test_balanced_edge_ignore_mask_drops_pixels_from_counts_and_loss():
    edge_logits, _, boundary = _batch(seed=3)
    edge_logits = edge_logits[:, :2]
    ignore = torch.zeros_like(boundary, dtype=torch.bool)
    ignore[:, :5] = True
    keep = ~ignore
    n_pos = boundary[keep].sum().item()
    n = keep.sum().item()
    weight = torch.tensor([n_pos / n, (n - n_pos) / n])
    target = boundary.long().masked_fill(ignore, -100)
    expected = F.cross_entropy(edge_logits, target, weight=weight, ignore_index=-100)
    torch.testing.assert_close(balanced_edge_loss(edge_logits, boundary, ignore), expected)


def test_balanced_edge_loss_with_a_single_class_is_zero_and_finite():
    edge_logits = torch.randn(1, 2, 4, 4, requires_grad=True)
    loss = balanced_edge_loss(edge_logits, torch.zeros(1, 4, 4, dtype=torch.uint8))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(edge_logits.grad).all()


def test_inputs_are_checked():
    logits, target, boundary = _batch()
    with pytest.raises(InputError, match="2 edge channels"):
        balanced_edge_loss(logits, boundary)
    with pytest.raises(InputError, match="target"):
        cross_entropy(logits, target[0])
    with pytest.raises(InputError, match="boundary shape"):
        boundary_weighted_ce(logits, target, boundary[:, :8], alpha=1.0)


def _outputs(requires_grad: bool = False, seed: int = 0) -> Outputs:
    """Heads at 1/4 of a 16² label, like EHANet's seg2 / seg1 / edge."""
    g = torch.Generator().manual_seed(seed)
    tensors = [torch.randn(2, c, 4, 4, generator=g, requires_grad=requires_grad) for c in (4, 4, 2)]
    return Outputs(*tensors)


def test_ehanet_loss_terms_and_total():
    _, target, boundary = _batch()
    out = _outputs()
    criterion = EHANetLoss(alpha=50.0, aux_weight=0.4, edge_weight=2.0)
    losses = criterion(out, target, boundary)
    assert set(losses) == {"edge", "aux", "final", "total"}
    torch.testing.assert_close(losses["edge"], balanced_edge_loss(out.edge_logits, boundary))
    torch.testing.assert_close(losses["aux"], cross_entropy(out.aux_logits, target))
    up = F.interpolate(out.logits, size=(16, 16), mode="bilinear", align_corners=False)
    torch.testing.assert_close(losses["final"], boundary_weighted_ce(up, target, boundary, alpha=50.0))
    torch.testing.assert_close(losses["total"], 2.0 * losses["edge"] + 0.4 * losses["aux"] + losses["final"])
    default = EHANetLoss()(out, target, boundary)
    torch.testing.assert_close(default["total"], default["edge"] + default["aux"] + default["final"])


def test_ehanet_loss_gradient_reaches_every_head():
    _, target, boundary = _batch()
    out = _outputs(requires_grad=True)
    EHANetLoss()(out, target, boundary)["total"].backward()
    for head in (out.logits, out.aux_logits, out.edge_logits):
        assert head.grad is not None and head.grad.abs().sum() > 0


def test_ehanet_loss_raises_on_nan_logits():
    _, target, boundary = _batch()
    out = _outputs()
    out.logits[0, 0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteLossError, match="final=nan") as info:
        EHANetLoss()(out, target, boundary)
    assert isinstance(info.value, FloatingPointError) and isinstance(info.value, EdgeparseError)
    assert "edge=" not in str(info.value)  # only the bad terms are named
    losses = EHANetLoss(check_finite=False)(out, target, boundary)
    assert torch.isnan(losses["total"])


def test_ehanet_loss_needs_aux_and_edge_heads_and_valid_weights():
    _, target, boundary = _batch()
    out = _outputs()
    out.edge_logits = None
    with pytest.raises(ConfigError, match="edge_logits"):
        EHANetLoss()(out, target, boundary)
    with pytest.raises(ConfigError, match="alpha"):
        EHANetLoss(alpha=-1.0)
