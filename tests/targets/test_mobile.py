"""The mobile target: LiteRT FP32/FP16/full-INT8 bundles that load, validate and benchmark.

litert-torch needs 30-100 s per conversion on this 2-core host, so the builds are ``slow``; the
fp16 build reuses the fp32 flatbuffer of the same work folder, as a deploy run does.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.errors import ExportError
from targets.config import Int8Cfg

pytest.importorskip("litert_torch", reason="the mobile target needs litert-torch")
pytest.importorskip("ai_edge_litert", reason="the mobile target needs ai-edge-litert")


@pytest.fixture(scope="module")
def shared_work(tmp_path_factory):
    return tmp_path_factory.mktemp("mobile_work")


@pytest.mark.slow
def test_mobile_fp32_bundle_is_exact(deploy_inputs, kit, shared_work, tmp_path):
    bundle = kit.lower_to_bundle("mobile", "fp32", deploy_inputs, shared_work, tmp_path)
    outcome = kit.check(bundle, "mobile", "fp32")
    assert outcome.row.status == "ok", outcome.row.reason
    assert outcome.parity.agreement_pct >= 99.9 and outcome.bench.fps > 0


@pytest.mark.slow
def test_mobile_fp16_bundle_has_half_size_weights(deploy_inputs, kit, shared_work, tmp_path):
    bundle = kit.lower_to_bundle("mobile", "fp16", deploy_inputs, shared_work, tmp_path)
    outcome = kit.check(bundle, "mobile", "fp16")
    fp32_size = (shared_work / "litert_fp32.tflite").stat().st_size
    assert 0.45 < next(bundle.glob("*.tflite")).stat().st_size / fp32_size < 0.6
    assert outcome.parity.agreement_pct > 90.0 and outcome.bench.fps > 0


@pytest.mark.slow
@pytest.mark.parametrize(("source", "method"), [("aeq", "ai_edge_quantizer static_wi8_ai8"), ("pt2e", "pt2e_ptq")])
def test_mobile_int8_is_full_integer_on_builtin_kernels(deploy_inputs, kit, shared_work, tmp_path, source, method):
    from edge.bundle import load_manifest

    cfg = kit.tiny_cfg(int8=Int8Cfg(mobile_source=source))
    bundle = kit.lower_to_bundle("mobile", "int8", deploy_inputs, shared_work, tmp_path, cfg)
    quantization = load_manifest(bundle).quantization
    assert quantization["method"] == method and quantization["calibration_images"] == 8
    assert set(quantization["tensor_dtypes"]) <= {"int8", "int32"}  # no float island left
    outcome = kit.check(bundle, "mobile", "int8")
    assert outcome.row.status in ("ok", "parity_failed")  # random weights: thin margins
    assert outcome.parity.num_images == 4 and outcome.bench.fps > 0


@pytest.mark.slow
def test_the_mixed_precision_fallback_keeps_the_named_op_float_and_the_rest_int8(deploy_inputs, kit, shared_work,
                                                                                  tmp_path):
    """Every convolution of the eval graph is found by the module hierarchy in its tensor names (one op each);
    the fallback's layer stays float through an ai-edge-quantizer NO_QUANTIZE entry, and the file prepares."""
    from edge.bundle import load_manifest
    from targets.float_layers import compute_modules
    from targets.litert import float_op_scopes

    kit.lower_to_bundle("mobile", "fp32", deploy_inputs, shared_work, tmp_path / "fp32")
    modules = [m for m in compute_modules(deploy_inputs.model) if m not in ("head.edge_classifier",
                                                                             "head.aux_classifier")]
    scopes = float_op_scopes(shared_work / "litert_fp32.tflite", deploy_inputs.model, modules)
    assert len(set(scopes.values())) == len(modules)  # one op per layer, none claimed twice
    assert "Conv2d_classifier;" in scopes["head.classifier"]
    cfg = kit.tiny_cfg(int8=Int8Cfg(mobile_source="aeq"))
    bundle = kit.lower_to_bundle("mobile", "int8", deploy_inputs, shared_work, tmp_path, cfg,
                                 float_layers=("head.classifier",))
    quantization = load_manifest(bundle).quantization
    assert quantization["float_layers"] == [scopes["head.classifier"]]
    assert quantization["tensor_dtypes"].get("float32", 0) > 0 and quantization["tensor_dtypes"]["int8"] > 50
    outcome = kit.check(bundle, "mobile", "int8")
    assert outcome.row.status in ("ok", "parity_failed") and outcome.bench.fps > 0


def test_degenerate_calibrated_ranges_are_widened_and_real_ones_kept():
    from targets.litert import widen_degenerate_ranges

    ranges = {"dead_relu": {"min": np.zeros(1, np.float32), "max": np.zeros(1, np.float32)},
              "live": {"min": np.array([-1.0], np.float32), "max": np.array([2.0], np.float32)},
              "weights_only": {}}
    assert widen_degenerate_ranges(ranges, 0.01) == 1
    np.testing.assert_allclose(ranges["dead_relu"]["max"], [0.01])
    np.testing.assert_array_equal(ranges["live"]["max"], [2.0])


def test_a_float_tensor_in_an_int8_model_is_rejected():
    from targets.litert import _require_full_integer

    _require_full_integer(Path("m.tflite"), {"int8": 10, "int32": 3})
    with pytest.raises(ExportError, match="not full integer"):
        _require_full_integer(Path("m.tflite"), {"int8": 10, "float32": 2})


def test_an_unreadable_flatbuffer_is_an_export_error(tmp_path):
    from targets.litert import check_builtin_kernels

    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer")
    with pytest.raises(ExportError, match="bad.tflite"):
        check_builtin_kernels(bad)


def _quantized_checkpoint(source, path, source_sha256: str, family: str):
    """A checkpoint with only the quantization section the target checks before any conversion."""
    from training.checkpoint import load_checkpoint, save_checkpoint

    payload = load_checkpoint(source)
    save_checkpoint({**payload, "quantization": {"family": family, "source_sha256": source_sha256}}, path)
    return path


@pytest.mark.parametrize(("family", "same_source", "message"), [
    ("tensorrt", True, "quantized for 'tensorrt', not 'litert'"),
    ("litert", False, "was not made from"),
])
def test_a_litert_checkpoint_of_another_family_or_model_is_refused(deploy_inputs, kit, tmp_path, family,
                                                                   same_source, message):
    from edge.errors import ConfigError
    from edge.io import file_sha256

    sha = file_sha256(deploy_inputs.checkpoint) if same_source else "0" * 64
    path = _quantized_checkpoint(deploy_inputs.checkpoint, tmp_path / "model_int8.pt", sha, family)
    cfg = kit.tiny_cfg(int8=Int8Cfg(litert_checkpoint=str(path)))
    with pytest.raises(ConfigError, match=message):
        kit.lower_to_bundle("mobile", "int8", deploy_inputs, tmp_path / "work", tmp_path, cfg)


@pytest.mark.slow
def test_mobile_int8_from_a_litert_quantized_checkpoint(deploy_inputs, kit, shared_work, tmp_path):
    import copy

    import torch

    from edge.bundle import load_manifest
    from edge.io import file_sha256
    from quantize.checkpoint import save_quantized
    from quantize.config import QuantCfg
    from quantize.ptq import ptq
    from training.checkpoint import load_checkpoint

    cfg = QuantCfg(family="litert", input_size=kit.size, calib_images=8, calib_batch_size=4)
    images = deploy_inputs.calibration
    batches = [torch.from_numpy(np.concatenate(images[i:i + 4])) for i in range(0, len(images), 4)]
    quantized = ptq(copy.deepcopy(deploy_inputs.model), batches, cfg)
    path = tmp_path / "model_int8.pt"
    save_quantized(quantized, cfg, load_checkpoint(deploy_inputs.checkpoint), path,
                   source_path=deploy_inputs.checkpoint)
    bundle = kit.lower_to_bundle("mobile", "int8", deploy_inputs, shared_work, tmp_path / "bundles",
                                 kit.tiny_cfg(int8=Int8Cfg(litert_checkpoint=str(path))))
    quantization = load_manifest(bundle).quantization
    assert quantization["method"] == "pt2e_ptq" and quantization["quantized_sha256"] == file_sha256(path)
    assert set(quantization["tensor_dtypes"]) <= {"int8", "int32"}
    assert kit.check(bundle, "mobile", "int8").parity.num_images == 4
