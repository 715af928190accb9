"""onnxruntime runner: exact outputs, input checks, state checks, applied settings."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from edge.backends import open_runner
from edge.backends.base import TensorSpec
from edge.backends.ort import OrtRunner
from edge.errors import BundleError, InputError
from edge.preprocess import normalize


def test_outputs_equal_a_plain_session(make_bundle, tiny):
    with open_runner(make_bundle(), threads=1) as runner:
        for image, expected in zip(tiny.images, tiny.reference_logits):
            out = runner.infer(normalize(image, tiny.norm)[None])
            assert out.dtype == np.float32 and out.shape == (1, tiny.num_classes, tiny.size, tiny.size)
            np.testing.assert_array_equal(out[0], expected)
        assert runner.last_latency_ms > 0


@pytest.mark.parametrize("x", [np.zeros((1, 3, 16, 16), np.float32), np.zeros((1, 3, 32, 32), np.float64),
                               np.zeros((3, 32, 32), np.float32)])
def test_wrong_input_names_the_tensor(make_bundle, x):
    expected = r"input 'input': expected float32\["
    with open_runner(make_bundle()) as runner, pytest.raises(InputError, match=expected):
        runner.infer(x)


def test_state_is_checked(make_bundle):
    runner = open_runner(make_bundle())
    with pytest.raises(RuntimeError, match="not active"):
        runner.infer(np.zeros(runner.input_spec.shape, np.float32))
    with runner, pytest.raises(RuntimeError, match="already active"):
        runner.activate()
    assert not runner.is_active


def test_applied_threads_are_read_back(make_bundle):
    with open_runner(make_bundle(), threads=1) as runner:
        settings = runner.applied_settings()
    assert settings["intra_op_num_threads"] == 1 and settings["providers"] == ["CPUExecutionProvider"]


def test_input_name_mismatch_and_corrupt_file_are_bundle_errors(tiny, tmp_path):
    with pytest.raises(BundleError, match=r"expected input\(s\) \['image'\], the model has \['input'\]"):
        OrtRunner(tiny.reference, TensorSpec("image", (1, 3, 32, 32))).activate()
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not a protobuf")
    with pytest.raises(BundleError, match="onnxruntime cannot load"):
        OrtRunner(corrupt, TensorSpec("input", (1, 3, 32, 32))).activate()


def test_exact_qdq_mode_is_a_registered_runner_with_optimizations_off(make_bundle, tiny):
    """`onnxruntime-qdq` (quantize's scorer, jetson int8 host rows): the same contract, no graph fusions."""
    from edge.backends import runner_class

    spec = TensorSpec("input", (1, 3, tiny.size, tiny.size))
    with runner_class("onnxruntime-qdq")(tiny.reference, spec, threads=1) as runner:
        out = runner.infer(normalize(tiny.images[0], tiny.norm)[None])
        settings = runner.applied_settings()
    np.testing.assert_allclose(out[0], tiny.reference_logits[0], atol=1e-5)
    assert settings["backend"] == "onnxruntime-qdq" and settings["graph_optimization"] == "ORT_DISABLE_ALL"
