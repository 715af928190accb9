"""The validation set every bundle of a deploy run carries, and where its images come from."""
from __future__ import annotations

import numpy as np
import pytest

from edge.errors import CheckpointError, ConfigError
from edge.preprocess import argmax_labels, normalize
from targets.config import DeployDataCfg
from targets.validation import open_sources


def test_validation_set_holds_the_onnx_reference_at_the_input_size(deploy_inputs, kit):
    import onnxruntime as ort

    val = deploy_inputs.validation
    assert val.images.shape == (4, kit.size, kit.size, 3) and val.labels.shape == (4, kit.size, kit.size)
    session = ort.InferenceSession(str(deploy_inputs.onnx_path), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"input": normalize(val.images[2])[None]})[0]
    np.testing.assert_array_equal(argmax_labels(logits)[0], val.reference_labels[2])
    assert set(np.unique(val.labels)) <= set(range(11))  # LaPa ids; synthetic labels never hold 255


def test_synthetic_validation_images_are_the_recipe_val_split_not_train(deploy_inputs, kit):
    """The calibration (train split) and validation (val split, seed + 1) images differ."""
    calib = deploy_inputs.calibration[0]
    val = normalize(deploy_inputs.validation.images[0])[None]
    assert calib.shape == val.shape and not np.allclose(calib, val)


def test_sources_need_a_recipe_or_an_explicit_dataset(kit):
    with pytest.raises(CheckpointError, match="data.format=FORMAT data.root=DIR"):
        open_sources({"model_name": "x"}, kit.tiny_cfg())
    with pytest.raises(ConfigError, match="data.root is required"):
        open_sources({}, kit.tiny_cfg(data=DeployDataCfg(format="lapa")))
