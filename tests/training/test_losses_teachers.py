"""Teacher losses (docs/design.md#bass, docs/design.md#agrnet), checked against hand computations."""
from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F

from edge.errors import ConfigError, InputError
from training.config import LossCfg
from training.losses import (
    NonFiniteLossError,
    balanced_edge_loss,
    boundary_weighted_ce,
    build_criterion,
    cross_entropy,
)
from training.losses_teachers import (
    AGRNetLoss,
    BASSLoss,
    boundary_attention_loss,
    discriminative_loss,
)


@dataclass
class Outputs:
    logits: torch.Tensor
    aux_logits: torch.Tensor | None
    edge_logits: torch.Tensor | None
    vertices: torch.Tensor | None = None


def _batch(seed: int = 0, n: int = 2, c: int = 4, size: int = 16):
    g = torch.Generator().manual_seed(seed)
    outputs = Outputs(
        logits=torch.randn(n, c, size // 4, size // 4, generator=g),
        aux_logits=torch.randn(n, c, size // 4, size // 4, generator=g),
        edge_logits=torch.randn(n, 2, size // 4, size // 4, generator=g),
        vertices=torch.randn(n, 3 * c, 8, generator=g),
    )
    target = torch.randint(0, c, (n, size, size), generator=g)
    target[:, :2, :] = 255
    boundary = (torch.rand(n, size, size, generator=g) < 0.2).float()
    return outputs, target, boundary


def _ce(logits: list[float], label: int) -> float:
    return math.log(sum(math.exp(v) for v in logits)) - logits[label]


def test_boundary_attention_loss_by_hand():
    """Per image Σ e_i·CE_i / (Σ e_i + 1), then the batch mean; ignore pixels add 0."""
    logits = torch.tensor([[[[2.0, 0.0, 1.0]], [[0.0, 1.0, 3.0]]],
                           [[[1.0, 1.0, 0.0]], [[0.0, 2.0, 0.0]]]])  # (N=2, C=2, 1, 3)
    target = torch.tensor([[[0, 1, 255]], [[1, 0, 1]]])
    boundary = torch.tensor([[[1.0, 1.0, 1.0]], [[0.0, 1.0, 0.0]]])
    image0 = (_ce([2.0, 0.0], 0) + _ce([0.0, 1.0], 1) + 0.0) / (3 + 1)
    image1 = _ce([1.0, 2.0], 0) / (1 + 1)
    assert boundary_attention_loss(logits, target, boundary).item() == pytest.approx((image0 + image1) / 2)


def test_boundary_attention_loss_is_zero_without_boundary_pixels():
    outputs, target, boundary = _batch()
    assert boundary_attention_loss(outputs.logits, target, torch.zeros_like(boundary)).item() == 0.0


def test_discriminative_loss_by_hand():
    """Normalised vertices (1,0), (0,1), (1,0) scaled: only the pair at distance 0 is within δ = 1."""
    vertices = torch.tensor([[[2.0, 0.0], [0.0, 3.0], [0.5, 0.0]]])
    # ordered pairs i != j: (0,2) and (2,0) give (1 - 0)² each; the others are √2 apart.
    assert discriminative_loss(vertices, delta=1.0).item() == pytest.approx(2 / (3 * 2))


def test_discriminative_loss_hinge_inside_the_margin():
    theta = 2 * math.asin(0.25)  # chord 2·sin(θ/2) = 0.5 between two unit vectors
    vertices = torch.tensor([[[1.0, 0.0], [math.cos(theta), math.sin(theta)]]])
    assert discriminative_loss(vertices, delta=1.0).item() == pytest.approx((1 - 0.5) ** 2, rel=1e-5)
    assert discriminative_loss(vertices, delta=0.5).item() == pytest.approx(0.0, abs=1e-6)


def test_discriminative_loss_averages_images_and_has_finite_gradients_for_repeated_vertices():
    far = torch.eye(3).unsqueeze(0)  # orthonormal: all √2 apart, nothing inside δ = 1
    same = torch.ones(1, 3, 3, requires_grad=True)  # one vertex picked three times
    loss = discriminative_loss(torch.cat([far, same]), delta=1.0)
    assert loss.item() == pytest.approx((0.0 + 1.0) / 2)
    loss.backward()
    assert torch.isfinite(same.grad).all()


def test_discriminative_loss_needs_two_vertices():
    with pytest.raises(InputError, match="vertices"):
        discriminative_loss(torch.randn(1, 1, 4))


def test_bass_loss_is_eq1_with_the_shared_terms():
    outputs, target, boundary = _batch(seed=1)
    losses = BASSLoss(alpha=10.0, lambdas=(1.0, 2.0, 0.5))(outputs, target, boundary)
    semantic = cross_entropy(outputs.aux_logits, target)
    edge = balanced_edge_loss(outputs.edge_logits, boundary)
    attention = boundary_weighted_ce(outputs.logits, target, boundary, 10.0)
    torch.testing.assert_close(losses["semantic"], semantic)
    torch.testing.assert_close(losses["boundary"], edge)
    torch.testing.assert_close(losses["boundary_attention"], attention)
    torch.testing.assert_close(losses["total"], semantic + 2.0 * edge + 0.5 * attention)


def test_agrnet_loss_uses_the_paper_weights():
    """docs/design.md#agrnet: λ = (1, 1, 1, 0.5, 0.1) over (raw, edge, BA, final, dis)."""
    outputs, target, boundary = _batch(seed=2)
    losses = AGRNetLoss()(outputs, target, boundary)
    expected = {
        "raw": cross_entropy(outputs.aux_logits, target),
        "edge": balanced_edge_loss(outputs.edge_logits, boundary),
        "boundary_attention": boundary_attention_loss(outputs.logits, target, boundary),
        "final": cross_entropy(outputs.logits, target),
        "discriminative": discriminative_loss(outputs.vertices, 1.0),
    }
    for name, value in expected.items():
        torch.testing.assert_close(losses[name], value)
    total = sum(w * expected[k] for w, k in zip((1, 1, 1, 0.5, 0.1), expected))
    torch.testing.assert_close(losses["total"], total)


def test_agrnet_loss_terms_resize_quarter_resolution_logits_to_the_label():
    outputs, target, boundary = _batch(seed=3)
    upsampled = F.interpolate(outputs.logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
    torch.testing.assert_close(AGRNetLoss()(outputs, target, boundary)["final"],
                               F.cross_entropy(upsampled, target, ignore_index=255))


def test_agrnet_loss_without_vertices_names_the_missing_output():
    outputs, target, boundary = _batch()
    outputs.vertices = None
    with pytest.raises(ConfigError, match="outputs.vertices"):
        AGRNetLoss()(outputs, target, boundary)


def test_non_finite_teacher_loss_stops_training():
    outputs, target, boundary = _batch()
    outputs.logits[0, 0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteLossError, match="boundary_attention"):
        BASSLoss()(outputs, target, boundary)


@pytest.mark.parametrize("lambdas", [(1.0, 1.0), (1.0, -1.0, 1.0)])
def test_wrong_lambdas_are_a_config_error(lambdas):
    with pytest.raises(ConfigError, match="3 weights >= 0"):
        BASSLoss(lambdas=lambdas)


def test_build_criterion_defaults_follow_the_papers():
    bass = build_criterion(LossCfg(name="bass"))
    agrnet = build_criterion(LossCfg(name="agrnet"))
    ehanet = build_criterion(LossCfg())
    assert isinstance(bass, BASSLoss) and bass.alpha == 10.0 and bass.lambdas == (1.0, 1.0, 1.0)
    assert isinstance(agrnet, AGRNetLoss) and agrnet.lambdas == (1.0, 1.0, 1.0, 0.5, 0.1) and agrnet.delta == 1.0
    assert ehanet.alpha == 50.0  # docs/design.md#student-loss, unchanged by the optional α
    assert build_criterion(LossCfg(name="bass", alpha=1.0, lambdas=(1.0, 0.0, 1.0))).lambdas == (1.0, 0.0, 1.0)


@pytest.mark.parametrize("cfg, key", [
    (LossCfg(name="agrnet", alpha=10.0), "alpha"),
    (LossCfg(name="bass", edge_weight=2.0), "edge_weight"),
    (LossCfg(name="bass", delta=0.5), "delta"),
    (LossCfg(name="ehanet", lambdas=(1.0, 1.0, 1.0)), "lambdas"),
])
def test_a_setting_the_criterion_would_ignore_is_a_config_error(cfg, key):
    with pytest.raises(ConfigError, match=f"loss.{key} does not apply"):
        build_criterion(cfg)
