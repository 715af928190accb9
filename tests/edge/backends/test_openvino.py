"""OpenVINO runner on the tiny ONNX and on an IR: parity with onnxruntime, applied settings, async,
and the pinned inference precision (OpenVINO's own default is bf16 on CPUs with native bf16, so
every bundle here pins one and no test depends on the host's default)."""
from __future__ import annotations

import numpy as np
import pytest

ov = pytest.importorskip("openvino")

import edge.backends.openvino as ov_backend
from edge.backends import open_runner
from edge.bench import benchmark
from edge.bundle import load_bundle
from edge.errors import BundleError, UnsupportedError
from edge.parity import validate_bundle
from edge.preprocess import normalize

NATIVE = ov_backend.native_inference_precisions()
needs_bf16 = pytest.mark.skipif("bf16" not in NATIVE, reason="this CPU has no native bf16 (OpenVINO's "
                                "OPTIMIZATION_CAPABILITIES lack BF16: no AVX512-BF16 or AMX)")


def cpu_bundle(make_bundle, artifacts=None, inference_precision: str = "f32"):
    return make_bundle(artifacts, backend="openvino", target="cpu", inference_precision=inference_precision)


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
    bundle = load_bundle(cpu_bundle(make_bundle, artifacts))
    with open_runner(bundle, threads=1) as runner:
        out = runner.infer(normalize(tiny.images[0], tiny.norm)[None])
        np.testing.assert_allclose(out[0], tiny.reference_logits[0], atol=1e-4)
        result = validate_bundle(bundle, runner)
    assert result.passed and result.agreement_pct == 100.0


def test_applied_settings_are_read_back(make_bundle, tiny):
    with open_runner(cpu_bundle(make_bundle), threads=1) as runner:
        settings = runner.applied_settings()
    assert settings["inference_num_threads"] == settings["threads_requested"] == 1
    assert settings["performance_hint"] == "LATENCY"
    assert isinstance(settings["num_streams"], int) and settings["num_streams"] >= 1
    assert settings["device_name"] and "FP32" in settings["optimization_capabilities"]


def test_f32_is_pinned_and_read_back_on_any_cpu(make_bundle):
    """The manifest's f32 is what the compiled model reports, also where OpenVINO's default is bf16."""
    with open_runner(cpu_bundle(make_bundle), threads=1) as runner:
        settings = runner.applied_settings()
    assert settings["inference_precision_requested"] == settings["inference_precision_applied"] == "f32"


def test_a_precision_the_compiled_model_does_not_report_is_refused(make_bundle, monkeypatch):
    """The check reads the compiled model back, not the request: a hint lost on the way is caught."""
    monkeypatch.setattr(ov_backend, "native_inference_precisions", lambda core=None: ("f32", "bf16"))
    compile_model = ov.Core.compile_model

    def compile_at_f32(core, model, device, config):
        return compile_model(core, model, device, {**config, "INFERENCE_PRECISION_HINT": "f32"})

    monkeypatch.setattr(ov.Core, "compile_model", compile_at_f32)
    runner = open_runner(cpu_bundle(make_bundle, inference_precision="bf16"), threads=1)
    with pytest.raises(BundleError, match="applied inference precision 'f32', not the requested 'bf16'"):
        runner.activate()
    assert not runner.is_active


def test_bf16_on_a_cpu_without_native_bf16_is_unsupported(make_bundle, monkeypatch):
    """OpenVINO would quietly run another precision; the runner names the missing capability instead."""
    monkeypatch.setattr(ov_backend, "native_inference_precisions", lambda core=None: ("f32",))
    runner = open_runner(cpu_bundle(make_bundle, inference_precision="bf16"))
    with pytest.raises(UnsupportedError, match=r"no native bf16 on this CPU .*lack BF16"):
        runner.activate()


@needs_bf16
def test_bf16_is_applied_and_changes_the_arithmetic(make_bundle, tiny):
    x = normalize(tiny.images[0], tiny.norm)[None]
    with open_runner(cpu_bundle(make_bundle, inference_precision="bf16"), threads=1) as runner:
        out = runner.infer(x)
        assert runner.applied_settings()["inference_precision_applied"] == "bf16"
    delta = np.abs(out[0] - tiny.reference_logits[0]).max()
    assert 1e-4 < delta < 0.5  # bf16 rounding: visible, but small


def test_throughput_mode_uses_the_async_queue(make_bundle, tiny):
    with open_runner(cpu_bundle(make_bundle), threads=1, mode="throughput") as runner:
        x = normalize(tiny.images[0], tiny.norm)[None]
        assert len(runner.run_async(x, 5)) == 5
        result = benchmark(runner, x, warmup=2, runs=6, mode="throughput")
        assert runner.applied_settings()["performance_hint"] == "THROUGHPUT"
    assert result.async_api and not result.fallback and result.model.count == 6


def test_tampered_weights_file_of_an_ir_bundle_is_caught(make_bundle, ir_files):
    path = cpu_bundle(make_bundle, ir_files)
    weights = path / ir_files[1].name
    weights.write_bytes(weights.read_bytes()[:-4])
    with pytest.raises(BundleError, match=ir_files[1].name):
        load_bundle(path)


def test_unreadable_model_is_a_bundle_error(make_bundle, tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<net>")
    with pytest.raises(BundleError, match="OpenVINO cannot load"):
        open_runner(cpu_bundle(make_bundle, [bad])).activate()
