"""OpenVINO runner on the tiny ONNX and on an IR: parity with onnxruntime, applied settings, async."""
from __future__ import annotations

import numpy as np
import pytest

ov = pytest.importorskip("openvino")

from edge.backends import open_runner
from edge.bench import benchmark
from edge.bundle import load_bundle
from edge.errors import BundleError
from edge.parity import validate_bundle
from edge.preprocess import normalize


@pytest.fixture(scope="module")
def ir_files(tiny, tmp_path_factory):
    """The tiny ONNX converted to FP32 IR (.xml + .bin)."""
    folder = tmp_path_factory.mktemp("ir")
    xml = folder / "tiny_cpu_fp32.xml"
    ov.save_model(ov.convert_model(str(tiny.reference)), str(xml), compress_to_fp16=False)
    return [xml, xml.with_suffix(".bin")]


@pytest.mark.parametrize("source", ["onnx", "ir"])
def test_matches_onnxruntime_and_passes_parity(make_bundle, tiny, ir_files, source):
    artifacts = [tiny.reference] if source == "onnx" else ir_files
    bundle = load_bundle(make_bundle(artifacts, backend="openvino", target="cpu"))
    with open_runner(bundle, threads=1) as runner:
        out = runner.infer(normalize(tiny.images[0], tiny.norm)[None])
        np.testing.assert_allclose(out[0], tiny.reference_logits[0], atol=1e-4)
        result = validate_bundle(bundle, runner)
    assert result.passed and result.agreement_pct == 100.0


def test_applied_settings_are_read_back(make_bundle, tiny):
    with open_runner(make_bundle(backend="openvino", target="cpu"), threads=1) as runner:
        settings = runner.applied_settings()
    assert settings["inference_num_threads"] == 1
    assert settings["performance_hint"] == "LATENCY"
    assert isinstance(settings["num_streams"], int) and settings["num_streams"] >= 1
    assert settings["inference_precision_hint"] and settings["device_name"]


def test_throughput_mode_uses_the_async_queue(make_bundle, tiny):
    with open_runner(make_bundle(backend="openvino", target="cpu"), threads=1, mode="throughput") as runner:
        x = normalize(tiny.images[0], tiny.norm)[None]
        assert len(runner.run_async(x, 5)) == 5
        result = benchmark(runner, x, warmup=2, runs=6, mode="throughput")
        assert runner.applied_settings()["performance_hint"] == "THROUGHPUT"
    assert result.async_api and not result.fallback and result.model.count == 6


def test_tampered_weights_file_of_an_ir_bundle_is_caught(make_bundle, ir_files):
    path = make_bundle(ir_files, backend="openvino", target="cpu")
    weights = path / ir_files[1].name
    weights.write_bytes(weights.read_bytes()[:-4])
    with pytest.raises(BundleError, match=ir_files[1].name):
        load_bundle(path)


def test_unreadable_model_is_a_bundle_error(make_bundle, tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<net>")
    with pytest.raises(BundleError, match="OpenVINO cannot load"):
        open_runner(make_bundle([bad], backend="openvino", target="cpu")).activate()
