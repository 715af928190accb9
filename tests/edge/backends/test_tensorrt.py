"""TensorRT runner. Engines need an NVIDIA GPU and TensorRT's own Python bindings, so the engine
tests run only where both exist (pytest -m gpu on a GPU machine or a Jetson)."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from edge.backends import open_runner
from edge.bundle import load_bundle
from edge.errors import BackendUnavailable, BundleError
from edge.parity import validate_bundle
from edge.preprocess import normalize

HAVE_TENSORRT = importlib.util.find_spec("tensorrt") is not None
NO_TENSORRT = "TensorRT is not installable on this machine (no NVIDIA GPU/driver)"


@pytest.fixture(scope="module")
def engine_file(tiny, tmp_path_factory):
    """The tiny ONNX built into an FP32 engine with the TensorRT 10 builder API."""
    trt = pytest.importorskip("tensorrt", reason=NO_TENSORRT)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    assert parser.parse(tiny.reference.read_bytes()), [parser.get_error(i) for i in range(parser.num_errors)]
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)  # keep FP32 exact enough for an atol of 1e-4
    serialized = builder.build_serialized_network(network, config)
    assert serialized is not None, "engine build failed"
    path = tmp_path_factory.mktemp("trt") / "tiny_jetson_fp32.engine"
    path.write_bytes(bytes(serialized))
    return path


@pytest.mark.gpu
@pytest.mark.skipif(not HAVE_TENSORRT, reason=NO_TENSORRT)
def test_engine_matches_onnxruntime_and_passes_parity(make_bundle, tiny, engine_file):
    bundle = load_bundle(make_bundle(engine_file, backend="tensorrt", target="jetson"))
    with open_runner(bundle) as runner:
        out = runner.infer(normalize(tiny.images[0], tiny.norm)[None])
        np.testing.assert_allclose(out[0], tiny.reference_logits[0], atol=1e-4)
        assert runner.applied_settings()["device"] == "GPU"
        result = validate_bundle(bundle, runner)
    assert result.passed and result.agreement_pct == 100.0


@pytest.mark.gpu
@pytest.mark.skipif(not HAVE_TENSORRT, reason=NO_TENSORRT)
def test_engine_from_elsewhere_is_a_bundle_error(make_bundle, tmp_path):
    fake = tmp_path / "fake.engine"
    fake.write_bytes(b"\0" * 64)
    with pytest.raises(BundleError, match="cannot deserialize"):
        open_runner(make_bundle([fake], backend="tensorrt", target="jetson")).activate()


@pytest.mark.skipif(HAVE_TENSORRT, reason="TensorRT is installed here")
def test_without_tensorrt_the_runner_says_how_to_get_it(make_bundle, tmp_path):
    engine = tmp_path / "tiny_jetson_fp32.engine"
    engine.write_bytes(b"engine bytes")
    runner = open_runner(make_bundle([engine], backend="tensorrt", target="jetson"))
    with pytest.raises(BackendUnavailable, match=r"'tensorrt'.*JetPack"):
        runner.activate()
