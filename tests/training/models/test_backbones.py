"""Backbone structure: torchvision-identical sizes and names, feature_info, output strides."""
from __future__ import annotations

import pytest
import torch

from training.models import create_backbone, list_backbones
from training.models.complexity import count_params

# torchvision's published parameter counts minus the ImageNet classifier (and, for MobileNetV2,
# minus features.18, which our backbone drops).
TORCHVISION_PARAMS = {
    "resnet18": 11_689_512 - 513_000,
    "resnet34": 21_797_672 - 513_000,
    "resnet50": 25_557_032 - 2_049_000,
    "resnet101": 44_549_160 - 2_049_000,
    "mobilenet_v2": 3_504_872 - 1_281_000 - (320 * 1280 + 2 * 1280),
}


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS))
def test_parameter_count_equals_torchvision(name):
    assert count_params(create_backbone(name)).spec == TORCHVISION_PARAMS[name]


def test_resnet18_state_dict_has_torchvision_names():
    keys = set(create_backbone("resnet18").state_dict())
    assert len(keys) == 120  # torchvision's 122 minus fc.weight/fc.bias
    assert {"conv1.weight", "bn1.num_batches_tracked", "layer1.0.conv2.weight",
            "layer2.0.downsample.0.weight", "layer4.1.bn2.running_var"} <= keys


@pytest.mark.parametrize("name", list_backbones())
def test_feature_info_describes_the_returned_maps(name):
    backbone = create_backbone(name).eval()
    with torch.no_grad():
        features = backbone(torch.randn(1, 3, 64, 96))
    assert [f.shape[1] for f in features] == [i["channels"] for i in backbone.feature_info]
    assert [(64 // i["stride"], 96 // i["stride"]) for i in backbone.feature_info] == [
        tuple(f.shape[-2:]) for f in features
    ]


@pytest.mark.parametrize(
    "output_stride, strides", [(32, [4, 8, 16, 32]), (16, [4, 8, 16, 16]), (8, [4, 8, 8, 8])]
)
def test_resnet_output_stride_sets_feature_sizes(output_stride, strides):
    backbone = create_backbone("resnet18", output_stride=output_stride).eval()
    with torch.no_grad():
        features = backbone(torch.randn(1, 3, 128, 128))
    assert [f.shape[-1] for f in features] == [128 // s for s in strides]
    assert [i["stride"] for i in backbone.feature_info] == strides


def test_os8_uses_the_standard_dilation_recipe():
    backbone = create_backbone("resnet101", output_stride=8)
    assert backbone.layer3[0].conv2.dilation == (2, 2) and backbone.layer3[-1].conv2.dilation == (2, 2)
    assert backbone.layer4[0].conv2.dilation == (4, 4) and backbone.layer4[0].conv2.stride == (1, 1)


def test_resnet101_deep_stem_matches_spec_parameter_count():
    """docs/design.md#complexity: ResNet-101 with the CE2P/AGRNet deep stem is about 42.6 M parameters (fc dropped)."""
    backbone = create_backbone("resnet101", deep_stem=True)
    assert count_params(backbone).spec == pytest.approx(42.6e6, rel=0.03)
    assert backbone.conv3.out_channels == 128 and backbone.layer1[0].conv1.in_channels == 128
    assert backbone.feature_info[0] == {"channels": 256, "stride": 4}
