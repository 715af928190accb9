"""Every onnx and cpu precision lowers to a bundle that loads (checksums), validates and benchmarks."""
from __future__ import annotations

import math
import shutil

import onnx
import pytest

from edge.errors import ConfigError, ExportError

pytest.importorskip("openvino", reason="the cpu target needs OpenVINO")

from edge.backends.openvino import native_inference_precisions
from targets.formats import find_format

needs_bf16 = pytest.mark.skipif("bf16" not in native_inference_precisions(),
                                reason="this CPU has no native bf16 (OpenVINO's OPTIMIZATION_CAPABILITIES "
                                       "lack BF16: no AVX512-BF16 or AMX)")


@pytest.mark.parametrize("target, precision", [("onnx", "fp32"), ("cpu", "fp32"), ("cpu", "fp16"),
                                               pytest.param("cpu", "bf16", marks=needs_bf16)])
def test_float_bundle_builds_loads_validates_and_benchmarks(deploy_inputs, kit, tmp_path, target, precision):
    bundle = kit.lower_to_bundle(target, precision, deploy_inputs, tmp_path / "work", tmp_path / "bundles")
    outcome = kit.check(bundle, target, precision)
    pinned = find_format(target, precision).inference_precision  # what runs is what the row says
    assert (outcome.row.inference_precision, outcome.row.applied_precision) == (pinned, pinned)
    assert outcome.row.status in ("ok", "parity_failed")  # the tiny random model has razor-thin margins
    assert outcome.parity.num_images == 4
    assert outcome.bench.runs == 3 and outcome.bench.model.median_ms > 0
    assert outcome.row.size_mb > 0 and outcome.row.fps > 0
    if precision == "fp32":  # an FP32 conversion is exact: it must pass the tightest limits
        assert outcome.row.status == "ok", outcome.row.reason
        assert outcome.parity.agreement_pct >= 99.9 and outcome.parity.max_abs_logit_delta < 1e-2
    if target == "cpu":  # FP16 compression halves the weights file; bf16 runs the FP32 IR
        weights = next(bundle.glob("*.bin")).stat().st_size / deploy_inputs.onnx_path.stat().st_size
        assert 0.45 < weights < 0.6 if precision == "fp16" else 0.95 < weights < 1.05


def test_a_bf16_bundle_on_a_cpu_without_native_bf16_is_a_skipped_row(deploy_inputs, kit, tmp_path,
                                                                     monkeypatch):
    """The bundle is built (it is for another device) and its row says why it did not run here."""
    import edge.backends.openvino as ov_backend

    monkeypatch.setattr(ov_backend, "native_inference_precisions", lambda core=None: ("f32",))
    bundle = kit.lower_to_bundle("cpu", "bf16", deploy_inputs, tmp_path / "work", tmp_path / "bundles")
    row = kit.check(bundle, "cpu", "bf16").row
    assert row.status == "skipped" and "no native bf16" in row.reason and "BF16" in row.reason
    assert (row.inference_precision, row.applied_precision) == ("bf16", None)


@pytest.mark.slow
def test_cpu_int8_nncf_bundle_is_quantized_and_runs(deploy_inputs, kit, tmp_path):
    bundle = kit.lower_to_bundle("cpu", "int8", deploy_inputs, tmp_path / "work", tmp_path / "bundles")
    outcome = kit.check(bundle, "cpu", "int8")
    from edge.bundle import load_manifest

    quantization = load_manifest(bundle).quantization
    assert quantization["method"] == "nncf_ptq" and quantization["calibration_images"] == 8
    assert quantization["fake_quantize_ops"] > 10
    assert quantization["float_layers"] == []  # int8.float_logits is off by default: every layer is int8
    assert outcome.row.status in ("ok", "parity_failed")
    assert math.isfinite(outcome.parity.agreement_pct) and outcome.bench.fps > 0


@pytest.mark.slow
def test_float_logits_keeps_the_logits_convolution_float(deploy_inputs, kit, tmp_path):
    from edge.bundle import load_manifest
    from targets.config import Int8Cfg

    cfg = kit.tiny_cfg(int8=Int8Cfg(float_logits=True))
    bundle = kit.lower_to_bundle("cpu", "int8", deploy_inputs, tmp_path / "work", tmp_path / "bundles", cfg)
    (name,) = load_manifest(bundle).quantization["float_layers"]
    assert "classifier" in name


def test_the_logits_convolution_is_found_through_bias_and_resize(deploy_inputs):
    import openvino as ov

    from targets.openvino_cpu import logits_producer

    model = ov.convert_model(str(deploy_inputs.onnx_path))
    name = logits_producer(model)
    assert "classifier" in name
    assert next(op for op in model.get_ops() if op.get_friendly_name() == name).get_type_name() == "Convolution"


def test_cpu_int8_from_a_qdq_file_checks_it_first(deploy_inputs, kit, tmp_path):
    """A missing file, a float graph and a graph at another input size are refused before converting."""
    from edge.config import from_dict
    from targets.config import Int8Cfg

    def cfg_with(path):
        return kit.tiny_cfg(int8=from_dict(Int8Cfg, {"qdq_onnx": str(path)}))

    with pytest.raises(ConfigError, match="not found"):
        kit.lower_to_bundle("cpu", "int8", deploy_inputs, tmp_path, tmp_path, cfg_with(tmp_path / "nope.onnx"))
    with pytest.raises(ExportError, match="no QuantizeLinear"):
        kit.lower_to_bundle("cpu", "int8", deploy_inputs, tmp_path, tmp_path, cfg_with(deploy_inputs.onnx_path))
    resized = tmp_path / "other_size.onnx"
    model = onnx.load(str(deploy_inputs.onnx_path))
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_value = 2 * kit.size
    onnx.save(model, str(resized))
    with pytest.raises(ExportError, match="does not match the deploy input"):
        kit.lower_to_bundle("cpu", "int8", deploy_inputs, tmp_path, tmp_path, cfg_with(resized))


@pytest.mark.slow
def test_cpu_int8_from_the_quantize_qdq_onnx(deploy_inputs, kit, tmp_path):
    """The QDQ ONNX of ``quantize`` (PTQ, openvino family) becomes an INT8 IR bundle that runs."""
    import numpy as np
    import torch

    from edge.config import from_dict
    from quantize.config import QuantCfg
    from quantize.export_qdq import export_qdq_onnx
    from quantize.ptq import ptq
    from targets.config import Int8Cfg

    batches = [torch.from_numpy(np.concatenate(deploy_inputs.calibration))]
    quantized = ptq(deploy_inputs.model, batches, QuantCfg(family="openvino", input_size=kit.size, calib_images=8))
    qdq = export_qdq_onnx(quantized, kit.size, tmp_path / "model_int8_qdq.onnx")
    cfg = kit.tiny_cfg(int8=from_dict(Int8Cfg, {"qdq_onnx": str(qdq)}))
    bundle = kit.lower_to_bundle("cpu", "int8", deploy_inputs, tmp_path / "work", tmp_path / "b", cfg)
    outcome = kit.check(bundle, "cpu", "int8", cfg)
    assert outcome.bench.fps > 0 and outcome.parity.num_images == 4


def test_a_tampered_bundle_becomes_an_export_failed_row(deploy_inputs, kit, tmp_path):
    bundle = kit.lower_to_bundle("onnx", "fp32", deploy_inputs, tmp_path / "work", tmp_path / "bundles")
    model_file = next(bundle.glob("*.onnx"))
    model_file.write_bytes(model_file.read_bytes()[:-10])
    outcome = kit.check(bundle, "onnx", "fp32")
    assert outcome.row.status == "export_failed" and "truncated or modified" in outcome.row.reason
    shutil.rmtree(bundle)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_cpu_irs_return_channels_last_logits_that_the_runner_reads_as_nchw(deploy_inputs, kit, tmp_path,
                                                                          precision):
    """No NHWC→NCHW reorder at the end of the graph (it cost ~30 % of an inference); the runner's view of
    the logits is the manifest's NCHW, equal to the FP32 ONNX's for fp32."""
    import numpy as np
    import openvino as ov

    from edge.backends import open_runner
    from edge.bundle import load_bundle
    from edge.preprocess import normalize

    bundle = load_bundle(kit.lower_to_bundle("cpu", precision, deploy_inputs, tmp_path / "w", tmp_path / "b"))
    size, classes = kit.size, bundle.schema.num_classes
    assert list(ov.Core().read_model(str(bundle.model_path)).outputs[0].shape) == [1, size, size, classes]
    x = normalize(deploy_inputs.validation.images[0])[None]
    with open_runner(bundle, threads=1) as runner, open_runner(
            bundle, threads=1, backend="onnxruntime", model=deploy_inputs.onnx_path) as reference:
        logits, expected = runner.infer(x), reference.infer(x)
        assert logits.shape == (1, classes, size, size) and logits.flags.c_contiguous
        kept = logits.copy()
        runner.infer(np.zeros_like(x))  # the request reuses its buffer: the first result must not change
        np.testing.assert_array_equal(logits, kept)
    if precision == "fp32":
        np.testing.assert_allclose(logits, expected, atol=1e-4)
