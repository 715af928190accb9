"""Each distillation loss against a brute-force loop over the formula of docs/design.md#distillation, plus its invariances."""
import math

import pytest
import torch

from edge.errors import InputError
from training.distill.losses import (
    affinity,
    boundary_pixel_weight,
    boundary_weighted_kl,
    channel_wise_distillation,
    node_features,
    pairwise_affinity_loss,
    pixel_kl,
)


def _logits(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * 2


def _brute_kl(zs, p, T, weight=None):
    n, c, h, w = zs.shape
    total = 0.0
    for b in range(n):
        for y in range(h):
            for x in range(w):
                q = torch.softmax(zs[b, :, y, x] / T, 0)
                kl = sum(float(p[b, k, y, x]) * math.log(float(p[b, k, y, x]) / float(q[k])) for k in range(c))
                total += kl * (1.0 if weight is None else float(weight[b, y, x]))
    return T * T * total / (n * h * w)


@pytest.mark.parametrize("T", [1.0, 2.0, 4.0])
def test_pixel_kl_matches_the_formula(T):
    zs, zt = _logits(2, 5, 3, 4, seed=1), _logits(2, 5, 3, 4, seed=2)
    p = torch.softmax(zt / T, 1)
    assert pixel_kl(zs, p, T).item() == pytest.approx(_brute_kl(zs, p, T), rel=1e-5)


def test_pixel_kl_is_scaled_by_t_squared():
    zs, zt = _logits(1, 4, 3, 3, seed=3), _logits(1, 4, 3, 3, seed=4)
    T = 3.0
    p = torch.softmax(zt / T, 1)
    unscaled = torch.nn.functional.kl_div(torch.log_softmax(zs / T, 1), p, reduction="none").sum(1).mean()
    assert pixel_kl(zs, p, T).item() == pytest.approx(9.0 * unscaled.item(), rel=1e-5)


@pytest.mark.parametrize("T", [1.0, 2.5])
def test_identical_logits_give_zero_kl(T):
    z = _logits(2, 11, 8, 8, seed=5)
    assert pixel_kl(z, torch.softmax(z / T, 1), T).abs().item() < 1e-6


def test_pixel_weights_scale_each_pixels_kl():
    zs, zt = _logits(1, 3, 2, 2, seed=6), _logits(1, 3, 2, 2, seed=7)
    weight = torch.tensor([[[1.0, 0.0], [2.0, 0.5]]])
    p = torch.softmax(zt, 1)
    assert pixel_kl(zs, p, 1.0, weight).item() == pytest.approx(_brute_kl(zs, p, 1.0, weight), rel=1e-5)


def test_boundary_weighted_kl_weights_boundary_cells_by_one_plus_alpha():
    zs, zt = _logits(1, 3, 2, 2, seed=8), _logits(1, 3, 2, 2, seed=9)
    boundary = torch.zeros(1, 8, 8)
    boundary[0, 5, 1] = 1  # one thin boundary pixel at label size lands in grid cell (1, 0)
    alpha = 10.0
    expected_weight = torch.tensor([[[1.0, 1.0], [11.0, 1.0]]])
    assert torch.equal(boundary_pixel_weight(boundary, (2, 2), alpha), expected_weight)
    p = torch.softmax(zt, 1)
    got = boundary_weighted_kl(zs, p, boundary, alpha)
    assert got.item() == pytest.approx(_brute_kl(zs, p, 1.0, expected_weight), rel=1e-5)
    assert boundary_weighted_kl(zs, p, torch.zeros(1, 8, 8), alpha).item() == pytest.approx(
        pixel_kl(zs, p).item(), rel=1e-6)


def _brute_cwd(zs, zt, tau):
    n, c = zs.shape[:2]
    total = 0.0
    for b in range(n):
        for k in range(c):
            phi_t = torch.softmax(zt[b, k].flatten() / tau, 0)
            phi_s = torch.softmax(zs[b, k].flatten() / tau, 0)
            total += float((phi_t * (phi_t.log() - phi_s.log())).sum())
    return tau * tau / c * total / n


@pytest.mark.parametrize("tau", [1.0, 4.0])
def test_cwd_matches_the_formula(tau):
    zs, zt = _logits(2, 4, 3, 5, seed=10), _logits(2, 4, 3, 5, seed=11)
    assert channel_wise_distillation(zs, zt, tau).item() == pytest.approx(_brute_cwd(zs, zt, tau), rel=1e-5)


def test_cwd_of_identical_maps_is_zero_and_shapes_must_match():
    z = _logits(2, 6, 4, 4, seed=12)
    assert channel_wise_distillation(z, z.clone(), 4.0).abs().item() < 1e-6
    with pytest.raises(InputError, match="same shape"):
        channel_wise_distillation(z, z[:, :, :2], 4.0)


def test_nodes_average_beta_by_beta_cells():
    features = torch.arange(16.0).reshape(1, 1, 4, 4)
    nodes = node_features(features, 2)
    assert nodes.flatten().tolist() == [2.5, 4.5, 10.5, 12.5]
    assert node_features(torch.ones(1, 2, 5, 5), 2).shape == (1, 2, 3, 3)  # border cells kept


def test_affinity_is_the_cosine_between_all_node_pairs():
    nodes = _logits(1, 3, 2, 2, seed=13)
    flat = nodes.flatten(2)[0]
    expected = torch.tensor([[float(torch.dot(flat[:, i], flat[:, j]) / (flat[:, i].norm() * flat[:, j].norm()))
                              for j in range(4)] for i in range(4)])
    assert torch.allclose(affinity(nodes)[0], expected, atol=1e-6)


def test_pairwise_loss_matches_the_formula_and_ignores_feature_width():
    student = _logits(2, 8, 8, 8, seed=14)
    # A teacher 24 channels wide holding the same geometry: an isometry of the student's features.
    basis, _ = torch.linalg.qr(torch.randn(24, 8, generator=torch.Generator().manual_seed(0)))
    wide = torch.einsum("fc,nchw->nfhw", basis, student)
    assert pairwise_affinity_loss(student, affinity(node_features(wide, 2)), 2).item() < 1e-10
    other = _logits(2, 24, 8, 8, seed=15)
    a_s, a_t = affinity(node_features(student, 2)), affinity(node_features(other, 2))
    expected = float(((a_s - a_t) ** 2).sum()) / (2 * a_s.shape[1] ** 2)
    assert pairwise_affinity_loss(student, a_t, 2).item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(InputError, match="student's feature grid"):
        pairwise_affinity_loss(student, a_t, 4)
