"""Shared teacher parts: exact adaptive pooling without the adaptive op, PSP, the trunk and its weights."""
from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F

from edge.errors import CheckpointError, InputError
from training.models import create_backbone, create_model
from training.models.teachers import is_teacher
from training.models.teachers.parts import PyramidPooling, adaptive_bins, bin_average_pool

TINY = {"width": 8, "deep_stem": False}  # the cheapest teacher variant, for the plumbing tests


@pytest.mark.parametrize("size", [(30, 30), (60, 60), (7, 11), (4, 4), (2, 5), (1, 1)])
@pytest.mark.parametrize("bins", [1, 2, 3, 6])
def test_bin_average_pool_equals_adaptive_avg_pool(size, bins):
    """Tiling sizes (473²'s 30², 60²) and non-tiling, even smaller-than-bins sizes, all exact."""
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(bin_average_pool(x, bins), F.adaptive_avg_pool2d(x, bins))


def test_adaptive_bins_match_pytorch_bin_edges():
    assert adaptive_bins(7, 3) == [(0, 3), (2, 5), (4, 7)]
    assert adaptive_bins(6, 3) == [(0, 2), (2, 4), (4, 6)]


def test_pyramid_pooling_keeps_the_size_of_any_map():
    psp = PyramidPooling(16, 8).eval()
    with torch.no_grad():
        assert psp(torch.randn(1, 16, 9, 13)).shape == (1, 8, 9, 13)


def test_is_teacher_names_only_the_teachers():
    assert is_teacher("bass_r101") and is_teacher("agrnet_r18")
    assert not is_teacher("ehanet_r18")


@pytest.mark.parametrize("name", ["bass_r18", "agrnet_r18"])
def test_batch_of_one_in_training_mode_is_a_clear_input_error(name):
    model = create_model(name, num_classes=3, **TINY).train()
    with pytest.raises(InputError, match="at least 2 images"):
        model.forward_train(torch.randn(1, 3, 64, 64))


@pytest.mark.parametrize("name", ["bass_r18", "agrnet_r18"])
def test_non_image_input_is_a_clear_input_error(name):
    model = create_model(name, num_classes=3, **TINY).eval()
    with pytest.raises(InputError, match=r"\(N, 3, H, W\)"):
        model(torch.randn(1, 1, 64, 64))


@pytest.mark.parametrize("name", ["bass_r18", "agrnet_r18"])
def test_no_backbone_weights_logs_a_from_scratch_warning(name, caplog):
    with caplog.at_level(logging.WARNING, logger="training.models.teachers.parts"):
        create_model(name, num_classes=3, **TINY)
    assert any(r.levelno == logging.WARNING and "trains it from scratch" in r.getMessage()
               and name in r.getMessage() for r in caplog.records)


def _imagenet_file(path, deep_stem: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    """A torchvision-layout ResNet-18 state_dict with its ImageNet classifier, saved to ``path``."""
    torch.manual_seed(seed)
    state = create_backbone("resnet18", deep_stem=deep_stem).state_dict()
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 512), torch.randn(1000)
    torch.save(state, path)
    return state


@pytest.mark.parametrize("deep_stem", [True, False])
def test_backbone_weights_override_loads_a_local_file(tmp_path, caplog, deep_stem):
    path = tmp_path / "resnet18.pth"
    saved = _imagenet_file(path, deep_stem, seed=4)
    with caplog.at_level(logging.WARNING, logger="training.models.teachers.parts"):
        model = create_model("bass_r18", num_classes=3, width=8, deep_stem=deep_stem, backbone_weights=str(path))
    assert not any("from scratch" in r.getMessage() for r in caplog.records)
    for key, value in model.backbone.state_dict().items():
        torch.testing.assert_close(value, saved[key], rtol=0, atol=0)


def test_missing_backbone_weights_file_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        create_model("agrnet_r18", num_classes=3, **TINY, backbone_weights=str(tmp_path / "absent.pth"))


def test_corrupt_backbone_weights_file_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "resnet18.pth"
    _imagenet_file(path, deep_stem=False)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated, corrupt"):
        create_model("bass_r18", num_classes=3, **TINY, backbone_weights=str(path))


def test_seven_by_seven_stem_file_does_not_fit_the_deep_stem(tmp_path):
    path = tmp_path / "resnet18.pth"
    _imagenet_file(path, deep_stem=False)
    with pytest.raises(CheckpointError, match="does not fit the resnet18 backbone.*conv1.weight"):
        create_model("agrnet_r18", num_classes=3, width=8, deep_stem=True, backbone_weights=str(path))
