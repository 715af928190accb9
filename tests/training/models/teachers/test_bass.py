"""BASS specifics: the three fusion strategies of the boundary-attention branch (docs/design.md#bass)."""
from __future__ import annotations

import pytest
import torch

from edge.errors import ConfigError
from training.models import create_model
from training.models.teachers.bass import BoundaryAttentionHead


@pytest.mark.parametrize("fusion", ["concat", "sum", "product"])
def test_every_fusion_gives_the_same_output_shapes(fusion):
    torch.manual_seed(0)
    model = create_model("bass_r18", num_classes=4, width=16, deep_stem=False, fusion=fusion).eval()
    with torch.no_grad():
        out = model.forward_train(torch.randn(2, 3, 64, 64))
    assert out.logits.shape == out.aux_logits.shape == (2, 4, 16, 16)
    assert out.edge_logits.shape == (2, 2, 16, 16)
    assert out.features.shape == (2, 16, 16, 16)


def test_concat_stacks_semantic_and_boundary_features_without_projection():
    head = BoundaryAttentionHead(256, 768, 256, 11, "concat")
    assert head.project is None
    assert head.fuse[0].in_channels == 1024  # CE2P's fusion: 256 + 3 × 256


@pytest.mark.parametrize("fusion, combine", [("sum", torch.add), ("product", torch.mul)])
def test_sum_and_product_project_the_boundary_features_to_the_semantic_width(fusion, combine):
    torch.manual_seed(0)
    head = BoundaryAttentionHead(8, 24, 8, 3, fusion).eval()
    assert head.project[0].in_channels == 24 and head.project[0].out_channels == 8
    semantic, boundary = torch.randn(1, 8, 5, 5), torch.randn(1, 24, 5, 5)
    with torch.no_grad():
        features, logits = head(semantic, boundary)
        expected = head.fuse(combine(semantic, head.project(boundary)))
    torch.testing.assert_close(features, expected)
    assert logits.shape == (1, 3, 5, 5)


def test_dropout2d_acts_on_the_classifier_input_in_training_mode_only():
    torch.manual_seed(0)
    head = BoundaryAttentionHead(8, 24, 32, 3, "concat")
    assert isinstance(head.dropout, torch.nn.Dropout2d) and head.dropout.p == 0.1
    semantic, boundary = torch.randn(2, 8, 4, 4), torch.randn(2, 24, 4, 4)
    with torch.no_grad():
        head.eval()
        reference = head(semantic, boundary)[1]
        torch.testing.assert_close(head(semantic, boundary)[1], reference)
        head.train()
        features, logits = head(semantic, boundary)
        assert not torch.allclose(head.classifier(features), logits)  # some channels were dropped


def test_unknown_fusion_is_a_config_error_naming_the_choices():
    with pytest.raises(ConfigError, match="concat, sum, product"):
        create_model("bass_r18", num_classes=3, fusion="average")
