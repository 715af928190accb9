"""AGRNet specifics: top-K vertex selection, the GCN, the reprojection matrix, the dilation plans."""
from __future__ import annotations

import pytest
import torch

from edge.errors import ConfigError, InputError
from training.models import create_model
from training.models.teachers.agrnet import GraphReasoning, reprojection_matrix, select_vertices


def test_top_k_picks_each_class_highest_positions_in_class_major_order():
    raw = torch.tensor([[[0.0, 5.0, 1.0, 4.0, 3.0, 2.0],    # class 0: best at positions 1, 3
                         [9.0, 0.0, 8.0, 0.0, 0.0, 7.0]]])  # class 1: best at positions 0, 2
    positions = torch.arange(6.0)
    features = torch.stack([positions, 10 * positions]).unsqueeze(0)  # (1, C=2, 6): column p = (p, 10p)
    vertices, indices = select_vertices(raw, features, k=2)
    assert indices.tolist() == [[[1, 3], [0, 2]]]
    assert vertices.tolist() == [[[1.0, 10.0], [3.0, 30.0], [0.0, 0.0], [2.0, 20.0]]]


def test_top_k_selects_per_image():
    raw = torch.tensor([[[1.0, 0.0, 0.0]], [[0.0, 0.0, 1.0]]])  # two images, one class, K = 1
    features = torch.arange(6.0).reshape(2, 1, 3)
    vertices, _ = select_vertices(raw, features, k=1)
    assert vertices.flatten().tolist() == [0.0, 5.0]


def test_top_k_needs_k_positions():
    with pytest.raises(InputError, match="at least 4 positions"):
        select_vertices(torch.randn(1, 2, 3), torch.randn(1, 8, 3), k=4)


def test_gradients_flow_through_the_gathered_features_only():
    raw = torch.randn(1, 2, 9, requires_grad=True)
    features = torch.randn(1, 3, 9, requires_grad=True)
    vertices, _ = select_vertices(raw, features, k=2)
    vertices.sum().backward()
    assert raw.grad is None
    assert int((features.grad != 0).any(dim=1).sum()) <= 4  # only the selected columns


def test_reprojection_columns_sum_to_the_edge_probability():
    """Softmax over the vertex axis, then × E (docs/design.md#agrnet): column j sums to E_j."""
    g = torch.Generator().manual_seed(0)
    vertices, edge_features = torch.randn(2, 8, 5, generator=g), torch.randn(2, 5, 30, generator=g)
    edge_prob = torch.rand(2, 30, generator=g)
    proj = reprojection_matrix(vertices, edge_features, edge_prob)
    assert proj.shape == (2, 8, 30)
    torch.testing.assert_close(proj.sum(dim=1), edge_prob)
    expected = torch.softmax(torch.einsum("nvc,ncp->nvp", vertices, edge_features), dim=1) * edge_prob[:, None]
    torch.testing.assert_close(proj, expected)


def test_gcn_is_relu_of_w_times_a_x_minus_x():
    """h = A·X + b − X over the node axis, then ReLU(W_G·h) over the channels (the code's Eq. 4)."""
    torch.manual_seed(0)
    gcn = GraphReasoning(num_nodes=6, channels=4)
    x = torch.randn(2, 6, 4)  # (N, V, C)
    a, b = gcn.adjacency.weight[:, :, 0], gcn.adjacency.bias
    w = gcn.weight.weight[:, :, 0]
    h = torch.einsum("uv,nvc->nuc", a, x) + b[None, :, None] - x
    expected = torch.relu(torch.einsum("dc,nvc->ndv", w, h))
    torch.testing.assert_close(gcn(x), expected)
    assert gcn.weight.bias is None


def _dilations(model: torch.nn.Module) -> list[int]:
    trunk = model.backbone
    return [layer[-1].conv2.dilation[0] for layer in (trunk.layer1, trunk.layer2, trunk.layer3, trunk.layer4)]


def test_fresh_teacher_uses_standard_os8_and_code_dilation_the_released_plan():
    """docs/design.md#agrnet: layer3 d = 2, layer4 d = 4 by default; the code's layer3 d = 1, layer4 d = 2."""
    standard = create_model("agrnet_r18", num_classes=3, width=8)
    code = create_model("agrnet_r18", num_classes=3, width=8, code_dilation=True)
    assert _dilations(standard) == [1, 1, 2, 4]
    assert _dilations(code) == [1, 1, 1, 2]
    for model in (standard, code):
        assert [s["stride"] for s in model.backbone.feature_info] == [4, 8, 8, 8]


def test_vertex_count_follows_top_k():
    model = create_model("agrnet_r18", num_classes=3, width=8, top_k=2).eval()
    with torch.no_grad():
        assert model.forward_train(torch.randn(1, 3, 64, 64)).vertices.shape == (1, 6, 8)
    assert model.gcn.adjacency.in_channels == 6


def test_non_positive_top_k_is_a_config_error():
    with pytest.raises(ConfigError, match="top_k must be a positive integer"):
        create_model("agrnet_r18", num_classes=3, top_k=0)
