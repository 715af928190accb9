"""Backbone weights load strictly from local files and fail loudly on bad files; never download."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edge.errors import CheckpointError, ConfigError, UnknownNameError
from training.models import create_backbone, create_model
from training.models.backbones.weights import find_packaged_weights, load_backbone_weights


def _torchvision_style_checkpoint(name: str, path, seed: int = 0) -> dict[str, torch.Tensor]:
    """A backbone state_dict plus an ImageNet ``fc``, exactly what torchvision saves."""
    torch.manual_seed(seed)
    state = create_backbone(name).state_dict()
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 512), torch.randn(1000)
    torch.save(state, path)
    return state


def test_resnet_round_trip_loads_every_tensor(tmp_path):
    path = tmp_path / "resnet18.pth"
    saved = _torchvision_style_checkpoint("resnet18", path)
    backbone = create_backbone("resnet18", weights=path)
    for key, value in backbone.state_dict().items():
        torch.testing.assert_close(value, saved[key], rtol=0, atol=0)


def test_model_override_backbone_weights_reaches_the_backbone(tmp_path):
    path = tmp_path / "resnet18.pth"
    saved = _torchvision_style_checkpoint("resnet18", path, seed=3)
    model = create_model("ehanet_r18", num_classes=5, backbone_weights=str(path))
    torch.testing.assert_close(model.backbone.conv1.weight, saved["conv1.weight"])


def test_truncated_file_raises_checkpoint_error(tmp_path):
    path = tmp_path / "resnet18.pth"
    _torchvision_style_checkpoint("resnet18", path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated, corrupt or not a torch checkpoint"):
        create_backbone("resnet18", weights=path)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all"])
def test_garbage_file_raises_checkpoint_error(tmp_path, content):
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=str(path)):
        load_backbone_weights(create_backbone("resnet18"), path, "resnet18")


def test_missing_file_raises_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        create_backbone("resnet18", weights=tmp_path / "absent.pth")


def test_non_state_dict_payload_is_rejected(tmp_path):
    path = tmp_path / "list.pth"
    torch.save({"epoch": 3}, path)
    with pytest.raises(CheckpointError, match="expected a state_dict"):
        create_backbone("resnet18", weights=path)


def test_wrong_architecture_lists_missing_and_unexpected_keys(tmp_path):
    path = tmp_path / "resnet18.pth"
    _torchvision_style_checkpoint("resnet18", path)
    with pytest.raises(CheckpointError, match=r"missing \(\d+\): layer1\.2\.") as info:
        load_backbone_weights(create_backbone("resnet34"), path, "resnet34")
    assert "..." in str(info.value)  # long key lists are shortened


def test_deep_stem_rejects_a_plain_stem_checkpoint_with_shapes(tmp_path):
    path = tmp_path / "resnet101.pth"
    torch.save(create_backbone("resnet50").state_dict(), path)
    message = r"shape mismatch .*conv1\.weight \(64, 3, 7, 7\) vs \(64, 3, 3, 3\)"
    with pytest.raises(CheckpointError, match=message):
        load_backbone_weights(create_backbone("resnet50", deep_stem=True), path, "resnet50")


def test_packaged_is_refused_for_backbones_no_package_ships():
    with pytest.raises(ConfigError, match="no pip package ships resnet18 weights"):
        create_backbone("resnet18", weights="packaged")


def test_unknown_weights_kind():
    with pytest.raises(UnknownNameError, match="mobilenet_v2"):
        load_backbone_weights(create_backbone("mobilenet_v2"), "x.pth", "mobilenetv2")


def test_find_packaged_weights_is_none_for_kinds_without_a_package():
    assert find_packaged_weights("resnet101") is None


def _needs_package(kind: str):
    reason = f"pip package with {kind} weights not installed (requirements/weights.txt)"
    return pytest.mark.skipif(find_packaged_weights(kind) is None, reason=reason)


def _grace_hopper(size: int) -> np.ndarray:
    cv2 = pytest.importorskip("cv2")
    matplotlib = pytest.importorskip("matplotlib")
    path = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data", "grace_hopper.jpg")
    image = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _imagenet_top1(features: torch.Tensor, head_conv, head_bn, fc, eps: float) -> int:
    """Finish the ImageNet classifier our backbones drop (1×1 conv, BN, ReLU6, mean, linear)."""
    x = F.conv2d(features, head_conv)
    x = F.batch_norm(x, head_bn["running_mean"], head_bn["running_var"], head_bn["weight"], head_bn["bias"],
                     eps=eps)
    return int(F.linear(x.clamp(0, 6).mean((2, 3)), fc["weight"], fc["bias"]).argmax())


def _prefixed(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


MILITARY_UNIFORM = 652  # ImageNet class of the Grace Hopper portrait for both networks


@_needs_package("mobilenet_v2")
def test_packaged_mobilenet_v2_loads_strictly_and_classifies_a_real_photo():
    backbone = create_backbone("mobilenet_v2", weights="packaged").eval()
    state = torch.load(find_packaged_weights("mobilenet_v2"), weights_only=True)
    image = (_grace_hopper(224) - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    x = torch.from_numpy(image.transpose(2, 0, 1)[None].astype(np.float32))
    with torch.no_grad():
        top1 = _imagenet_top1(backbone(x)[-1], state["features.18.0.weight"],
                              _prefixed(state, "features.18.1."), _prefixed(state, "classifier.1."), eps=1e-5)
    assert top1 == MILITARY_UNIFORM


@_needs_package("efficientnet_lite0")
def test_packaged_efficientnet_lite0_loads_strictly_and_classifies_a_real_photo():
    backbone = create_backbone("efficientnet_lite0", weights="packaged").eval()
    state = torch.load(find_packaged_weights("efficientnet_lite0"), weights_only=True)
    x = torch.from_numpy(((_grace_hopper(224) - 0.5) / 0.5).transpose(2, 0, 1)[None].astype(np.float32))
    with torch.no_grad():
        top1 = _imagenet_top1(backbone(x)[-1], state["_conv_head.weight"], _prefixed(state, "_bn1."),
                              _prefixed(state, "_fc."), eps=1e-3)
    assert top1 == MILITARY_UNIFORM


@_needs_package("mobilenet_v2")
def test_ehanet_mbv2_accepts_packaged_backbone_weights():
    model = create_model("ehanet_mbv2", num_classes=5, backbone_weights="packaged")
    state = torch.load(find_packaged_weights("mobilenet_v2"), weights_only=True)
    torch.testing.assert_close(model.backbone.features[0][0].weight, state["features.0.0.weight"])
