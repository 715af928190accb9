"""Registry behaviour: names, patterns, loud errors on typos, and no torch at import time."""
from __future__ import annotations

import subprocess
import sys

import pytest

from edge.errors import ConfigError, UnknownNameError
from training.models import create_backbone, create_model, list_backbones, list_models, model_overrides


def test_list_models_has_every_variant_and_filters_with_wildcards():
    assert list_models() == ["agrnet_r101", "agrnet_r18", "bass_r101", "bass_r18", "bisenet_r18",
                             "ehanet_effl0", "ehanet_mbv2", "ehanet_r18", "ehanet_r34"]
    assert list_models("ehanet_r*") == ["ehanet_r18", "ehanet_r34"]
    assert list_models("nothing*") == []


def test_list_backbones_includes_the_teacher_resnet101():
    expected = {"resnet18", "resnet34", "resnet101", "mobilenet_v2", "efficientnet_lite0"}
    assert expected <= set(list_backbones())


def test_unknown_model_name_suggests_close_matches():
    with pytest.raises(UnknownNameError, match="Did you mean 'ehanet_r18'"):
        create_model("ehanet_r81", num_classes=5)


def test_unknown_override_names_the_valid_keys():
    message = "unknown override 'neck_channel'.*Did you mean 'neck_channels'"
    with pytest.raises(ConfigError, match=message) as info:
        create_model("ehanet_r18", num_classes=5, neck_channel=128)
    assert "sgcb, neck_channels, edge_channels, output_stride, backbone_weights" in str(info.value)


def test_mobile_models_reject_output_stride_instead_of_ignoring_it():
    assert "output_stride" not in model_overrides("ehanet_mbv2")
    with pytest.raises(ConfigError, match="output_stride"):
        create_model("ehanet_mbv2", num_classes=5, output_stride=16)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "19"])
def test_num_classes_must_be_a_positive_integer(bad):
    with pytest.raises(ConfigError, match="num_classes"):
        create_model("ehanet_r18", num_classes=bad)


def test_bad_override_values_fail_with_the_valid_choices():
    with pytest.raises(ConfigError, match="sgcb must be one of full, conv1x1"):
        create_model("ehanet_r18", num_classes=5, sgcb="fancy")
    with pytest.raises(ConfigError, match="output_stride must be one of"):
        create_model("ehanet_r18", num_classes=5, output_stride=4)
    with pytest.raises(ConfigError, match="neck_channels must be a positive multiple of 8"):
        create_model("ehanet_mbv2", num_classes=5, neck_channels=100)


def test_unknown_backbone_and_backbone_override():
    with pytest.raises(UnknownNameError, match="resnet101"):
        create_backbone("resnet10l")
    with pytest.raises(ConfigError, match="Valid overrides: output_stride, deep_stem, weights"):
        create_backbone("resnet101", dilation=2)


def test_sgcb_conv1x1_override_builds_the_ablation_variant():
    full = create_model("ehanet_r18", num_classes=5)
    ablation = create_model("ehanet_r18", num_classes=5, sgcb="conv1x1")
    assert type(full.neck.gap_compensation[0]).__name__ == "SemanticGapBlock"
    assert type(ablation.neck.gap_compensation[0]).__name__ == "ConvBNReLU"


def test_package_and_command_modules_import_without_torch():
    """`edgeparse --help` imports every command module: they must not need torch."""
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import training.models, training.models.info_cmd, training.models.list_cmd\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
