"""The jetson target: bundle production without TensorRT (ONNX, FP16 ONNX, engine_build.json, build_engine.sh,
QDQ lint, manifest), the int8 lint gate, trtexec flags, `edgeparse build-engine` on TensorRT 10 and 11, the
host-side accuracy rows, and the "no engine yet" message.

Engines need an NVIDIA GPU and TensorRT's own Python bindings, which cannot be installed on this machine:
the engine tests are marked `gpu`/`jetson` and skipped with the reason where `tensorrt` is absent. The build
paths are checked against a fake `tensorrt` module (the TensorRT 10/11 Python API calls `build_engine` makes)
and a fake `trtexec` that prints TensorRT's version banner.
"""
from __future__ import annotations

import dataclasses
import importlib.machinery
import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge.bundle import ValidationSet, load_bundle, load_manifest, write_bundle
from edge.cli import main
from edge.errors import BackendUnavailable, ConfigError, ExportError, UnsupportedError
from edge.io import file_sha256
from edge.preprocess import Normalization, normalize
from edge.schemas import LabelSchema
from edge.tensorrt_engine import (
    EngineBuildSettings,
    ShapeProfile,
    adopt_engine,
    build_bundle_engine,
    build_engine,
    build_path,
    builder_flags,
    resolve_profile,
    tensorrt_major,
)
from targets.base import LowerRequest
from targets.config import DeployCfg, Int8Cfg
from targets.tensorrt_jetson import NOT_BUILT, engine_script, host_model, lower, trtexec_args

HAVE_TENSORRT = importlib.util.find_spec("tensorrt") is not None
NO_TENSORRT = "TensorRT is not installable on this machine (no NVIDIA GPU/driver)"
SIZE, CLASSES = 32, 4
SCHEMA = LabelSchema(name="tiny4", class_names=("background", "skin", "hair", "nose"),
                     colors=((0, 0, 0), (204, 0, 0), (0, 0, 255), (76, 153, 0)), flip_pairs=())
NORM = Normalization()
RNG = np.random.default_rng(0)
WEIGHT = RNG.normal(0, 0.3, (CLASSES, 3, 3, 3)).astype(np.float32)
BIAS = np.zeros(CLASSES, np.float32)


def _save(path: Path, nodes: list, initializers: list, batch: int | str = 1) -> Path:
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, CLASSES, SIZE, SIZE])],
        initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def fp32_onnx(path: Path, batch: int | str = 1) -> Path:
    """Conv 3→4 (3×3, same padding): input → logits."""
    conv = helper.make_node("Conv", ["input", "w", "b"], ["logits"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    return _save(path, [conv], [numpy_helper.from_array(WEIGHT, "w"), numpy_helper.from_array(BIAS, "b")], batch)


def qdq_onnx(path: Path, activation_zero_point: int = 0) -> Path:
    """The same Conv with TensorRT-style Q/DQ: int8 per-tensor activation, per-channel int8 weights (axis 0).
    A non-zero ``activation_zero_point`` plants an asymmetric activation on tensor 'input'."""
    w_scale = np.abs(WEIGHT).reshape(CLASSES, -1).max(axis=1) / 127
    w_int8 = np.round(WEIGHT / w_scale[:, None, None, None]).astype(np.int8)
    nodes = [
        helper.make_node("QuantizeLinear", ["input", "a_scale", "a_zp"], ["input_q"], name="q_input"),
        helper.make_node("DequantizeLinear", ["input_q", "a_scale", "a_zp"], ["input_dq"], name="dq_input"),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["w_dq"], name="dq_w", axis=0),
        helper.make_node("Conv", ["input_dq", "w_dq", "b"], ["logits"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    ]
    inits = [numpy_helper.from_array(np.array(3 / 127, np.float32), "a_scale"),
             numpy_helper.from_array(np.array(activation_zero_point, np.int8), "a_zp"),
             numpy_helper.from_array(w_int8, "w_q"), numpy_helper.from_array(w_scale.astype(np.float32), "w_scale"),
             numpy_helper.from_array(np.zeros(CLASSES, np.int8), "w_zp"), numpy_helper.from_array(BIAS, "b")]
    return _save(path, nodes, inits)


def _request(tmp_path: Path, precision: str, onnx_path: Path, int8: Int8Cfg | None = None) -> LowerRequest:
    checkpoint = tmp_path / "tiny.ckpt"
    checkpoint.write_bytes(b"tiny checkpoint")
    cfg = DeployCfg(input_size=SIZE, int8=int8 or Int8Cfg())
    return LowerRequest(target="jetson", precision=precision, onnx_path=onnx_path, model=None,
                        calibration=list, checkpoint=checkpoint, work_dir=tmp_path / "work",
                        stem=f"tiny_jetson_{precision}", cfg=cfg)


@pytest.fixture
def fp32(tmp_path) -> Path:
    return fp32_onnx(tmp_path / "tiny_fp32.onnx")


@pytest.fixture
def qdq(tmp_path) -> Path:
    return qdq_onnx(tmp_path / "model_int8_qdq.onnx")


def _bundle(tmp_path: Path, request: LowerRequest) -> Path:
    """lower() + write_bundle, as `edgeparse deploy` does; the FP32 reference comes from onnxruntime."""
    from targets.config import PrecisionThresholds

    lowered = lower(request)
    images = np.random.default_rng(1).integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    session = ort.InferenceSession(str(request.onnx_path), providers=["CPUExecutionProvider"])
    logits = np.concatenate([session.run(None, {"input": normalize(im, NORM)[None]})[0] for im in images])
    validation = ValidationSet.from_reference(images, logits.argmax(1).astype(np.uint8), logits)
    return write_bundle(tmp_path / request.stem, name="tiny", target="jetson", backend="tensorrt",
                        precision=request.precision, schema=SCHEMA, normalization=NORM,
                        source_checkpoint=request.checkpoint, artifacts=lowered.artifacts,
                        validation=validation, backend_version=lowered.backend_version,
                        build_command=f"pytest jetson {request.precision}", quantization=lowered.quantization,
                        parity_thresholds=PrecisionThresholds().of(request.precision), notes=lowered.notes)


@pytest.mark.skipif(HAVE_TENSORRT, reason="TensorRT is installed here: lower builds the engine")
def test_fp16_bundle_ships_the_fp32_onnx_settings_and_trtexec_script(tmp_path, fp32):
    bundle = _bundle(tmp_path, _request(tmp_path, "fp16", fp32))
    manifest = load_manifest(bundle)
    assert list(manifest.artifacts) == ["tiny_jetson_fp16.onnx", "engine_build.json", "build_engine.sh",
                                        "tiny_jetson_fp16_typed.onnx"]
    assert file_sha256(bundle / "tiny_jetson_fp16.onnx") == file_sha256(fp32)
    assert manifest.backend_version == NOT_BUILT and "No engine yet" in manifest.notes
    assert "specific to the GPU and TensorRT version" in manifest.notes and "not applicable" in manifest.notes
    settings = EngineBuildSettings.load(bundle / "engine_build.json")
    assert (settings.engine, settings.profile, settings.input_shape) == ("tiny_jetson_fp16.engine", None,
                                                                       (1, 3, SIZE, SIZE))
    assert settings.typed_onnx == "tiny_jetson_fp16_typed.onnx" and not settings.strongly_typed
    script = (bundle / "build_engine.sh").read_text()
    for flag in ("--onnx=tiny_jetson_fp16.onnx", "--onnx=tiny_jetson_fp16_typed.onnx", "--stronglyTyped",
                 "--saveEngine=tiny_jetson_fp16.engine", "--fp16", '--timingCacheFile="$TIMING_CACHE"',
                 "--memPoolSize=workspace:1024", "--skipInference", "edgeparse build-engine . --workspace-mb 1024",
                 '"$EDGEPARSE" build-engine . --engine'):
        assert flag in script
    for absent in ("--int8", "Shapes="):  # a static ONNX takes no shapes in trtexec
        assert absent not in script
    assert subprocess.run(["bash", "-n", str(bundle / "build_engine.sh")], check=False).returncode == 0
    assert not (bundle / "qdq_lint.json").exists()


@pytest.mark.skipif(HAVE_TENSORRT, reason="TensorRT is installed here: lower builds the engine")
def test_int8_bundle_ships_the_qdq_onnx_its_lint_and_a_strongly_typed_build(tmp_path, fp32, qdq):
    bundle = _bundle(tmp_path, _request(tmp_path, "int8", fp32, Int8Cfg(qdq_onnx=str(qdq))))
    manifest = load_manifest(bundle)
    assert next(iter(manifest.artifacts)) == "tiny_jetson_int8.onnx" and "qdq_lint.json" in manifest.artifacts
    assert file_sha256(bundle / "tiny_jetson_int8.onnx") == file_sha256(qdq)
    lint = json.loads((bundle / "qdq_lint.json").read_text())
    assert lint["ok"] and (lint["quantize_nodes"], lint["dequantize_nodes"]) == (1, 2) and lint["findings"] == []
    assert "QDQ lint" in manifest.notes and ": OK;" in manifest.notes
    assert manifest.quantization["source"] == str(qdq) and manifest.quantization["quantize_nodes"] == 1
    script = (bundle / "build_engine.sh").read_text()
    assert "--stronglyTyped" in script and "--saveEngine=tiny_jetson_int8.engine" in script
    assert "--fp16" not in script and "--int8" not in script  # precision flags are invalid when strongly typed
    assert EngineBuildSettings.load(bundle / "engine_build.json").strongly_typed


BASE = {"onnx": "m.onnx", "engine": "m.engine", "input_name": "input", "input_shape": (1, 3, SIZE, SIZE),
        "profile": None}


def test_trtexec_flags_per_precision_typing_and_tensorrt_version():
    fp16 = EngineBuildSettings(precision="fp16", strongly_typed=False, typed_onnx="m_typed.onnx", **BASE)
    strong = EngineBuildSettings(precision="int8", strongly_typed=True, **BASE)
    weak = EngineBuildSettings(precision="int8", strongly_typed=False, **BASE)
    assert "--fp16" in trtexec_args(fp16, 10) and not {"--int8", "--stronglyTyped"} & set(trtexec_args(fp16, 10))
    assert "--onnx=m.onnx" in trtexec_args(fp16, 10)
    for major in (10, 11):
        assert "--stronglyTyped" in trtexec_args(strong, major) and not {"--fp16", "--int8"} & set(
            trtexec_args(strong, major))
    # FP16 for the un-quantized layers of a weakly typed int8 network, on TensorRT 10 only
    assert {"--int8", "--fp16"} <= set(trtexec_args(weak, 10)) and "--stronglyTyped" not in trtexec_args(weak, 10)
    for settings in (fp16, weak):  # TensorRT 11: no precision flags, the typed ONNX, strongly typed
        args = trtexec_args(settings, 11)
        assert "--stronglyTyped" in args and not {"--fp16", "--int8"} & set(args)
    assert "--onnx=m_typed.onnx" in trtexec_args(fp16, 11) and "--onnx=m.onnx" in trtexec_args(weak, 11)
    assert builder_flags("int8", False) == ("INT8", "FP16") and builder_flags("int8", True) == ()
    with pytest.raises(UnsupportedError, match="fp16, int8"):
        builder_flags("fp32", False)


@pytest.mark.parametrize("version, major", [("10.3.0.30", 10), ("11.0.0", 11), ("12.1", 12)])
def test_tensorrt_major_reads_the_python_version(version, major):
    assert tensorrt_major(version) == major


def test_build_path_refuses_what_the_tensorrt_found_cannot_build():
    old_fp16 = EngineBuildSettings(precision="fp16", strongly_typed=False, **BASE)  # a bundle before typed_onnx
    assert build_path(old_fp16, 10).builder_flags == ("FP16",)
    with pytest.raises(UnsupportedError, match="strongly typed networks only.*rebuild the bundle"):
        build_path(old_fp16, 11)
    with pytest.raises(UnsupportedError, match="TensorRT 9: edgeparse builds engines with TensorRT 10"):
        build_path(old_fp16, 9)
    with pytest.raises(UnsupportedError, match="cannot read the TensorRT version"):
        tensorrt_major("dev")


def test_a_dynamic_batch_onnx_gets_an_optimization_profile_and_shape_flags(tmp_path):
    dynamic = fp32_onnx(tmp_path / "dynamic.onnx", batch="N")
    request = _request(tmp_path, "fp16", dynamic)
    lower(request)
    folder = request.work_dir / request.stem
    settings = EngineBuildSettings.load(folder / "engine_build.json")
    assert settings.profile == ShapeProfile.fixed((1, 3, SIZE, SIZE))
    script = (folder / "build_engine.sh").read_text()
    for kind in ("min", "opt", "max"):
        assert f"--{kind}Shapes=input:1x3x{SIZE}x{SIZE}" in script


@pytest.mark.parametrize("dims, profile, expected", [
    ((1, 3, 32, 32), None, None),
    ((-1, 3, 32, 32), None, ShapeProfile.fixed((1, 3, 32, 32))),
    ((-1, 3, 32, 32), ShapeProfile((1, 3, 32, 32), (2, 3, 32, 32), (4, 3, 32, 32)),
     ShapeProfile((1, 3, 32, 32), (2, 3, 32, 32), (4, 3, 32, 32))),
])
def test_resolve_profile_accepts(dims, profile, expected):
    assert resolve_profile("input", dims, (1, 3, 32, 32), profile) == expected


@pytest.mark.parametrize("dims, profile, error, match", [
    ((1, 3, 64, 64), None, ExportError, r"static \[1, 3, 64, 64\] but the bundle feeds"),
    ((1, 3, 32, 32), ShapeProfile((1, 3, 32, 32), (2, 3, 32, 32), (4, 3, 32, 32)), ConfigError,
     "takes no optimization profile"),
    ((-1, 3, 32, 32), ShapeProfile((2, 3, 32, 32), (2, 3, 32, 32), (4, 3, 32, 32)), ConfigError, "does not cover"),
    ((-1, 3, 32, 32), ShapeProfile((1, 3, 32, 32), (1, 3, 64, 64), (1, 3, 64, 64)), ConfigError, "fixed to 32"),
    ((-1, 3, 32, 32), ShapeProfile((4, 3, 32, 32), (2, 3, 32, 32), (4, 3, 32, 32)), ConfigError, "min <= opt"),
])
def test_resolve_profile_rejects(dims, profile, error, match):
    with pytest.raises(error, match=match):
        resolve_profile("input", dims, (1, 3, 32, 32), profile)


def test_the_lint_gate_refuses_an_asymmetric_qdq_model_naming_the_tensor(tmp_path, fp32):
    planted = qdq_onnx(tmp_path / "asym.onnx", activation_zero_point=3)
    with pytest.raises(ExportError, match=r"zero-point 'a_zp' of tensor 'input' is 3") as info:
        lower(_request(tmp_path, "int8", fp32, Int8Cfg(qdq_onnx=str(planted))))
    assert "no jetson bundle was made" in str(info.value)


@pytest.mark.parametrize("int8, match", [
    (Int8Cfg(source="nncf"), "OpenVINO IR"),
    (None, "no QuantizeLinear/DequantizeLinear"),  # int8.qdq_onnx points at the FP32 model
])
def test_int8_without_a_qdq_onnx_is_unsupported(tmp_path, fp32, int8, match):
    with pytest.raises(UnsupportedError, match=match) as info:
        lower(_request(tmp_path, "int8", fp32, int8 or Int8Cfg(qdq_onnx=str(fp32))))
    assert "explicit quantization only" in str(info.value)


def test_fp32_is_not_a_jetson_precision(tmp_path, fp32):
    with pytest.raises(UnsupportedError, match="fp16, int8"):
        lower(_request(tmp_path, "fp32", fp32))


def test_engine_script_is_valid_bash_with_the_settings():
    settings = EngineBuildSettings("a b.onnx", "a b.engine", "fp16", "input", (1, 3, 32, 32), None, False, 512)
    script = engine_script(settings, "tiny")
    assert "'--onnx=a b.onnx'" in script and "--memPoolSize=workspace:512" in script  # names are quoted
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0


def test_engine_build_settings_round_trip_and_reject_a_bad_precision(tmp_path):
    settings = EngineBuildSettings("m.onnx", "m.engine", "int8", "input", (1, 3, 32, 32),
                                   ShapeProfile.fixed((1, 3, 32, 32)), True)
    assert EngineBuildSettings.load(settings.save(tmp_path / "s.json")) == settings
    (tmp_path / "bad.json").write_text(json.dumps({**json.loads((tmp_path / "s.json").read_text()),
                                                   "precision": "fp32"}))
    with pytest.raises(UnsupportedError, match="fp32"):
        EngineBuildSettings.load(tmp_path / "bad.json")


@pytest.mark.skipif(HAVE_TENSORRT, reason="TensorRT is installed here")
@pytest.mark.parametrize("command", ["validate", "bench"])
def test_validate_and_bench_before_the_engine_say_to_build_it_on_the_device(tmp_path, fp32, capsys, command):
    bundle = _bundle(tmp_path, _request(tmp_path, "fp16", fp32))
    assert main([command, str(bundle)]) == 1
    err = capsys.readouterr().err
    assert "no engine yet: run build_engine.sh on the device" in err and "Traceback" not in err


BUILD_ENGINE = """
from edge.cli import main
code = main(["build-engine", *sys.argv[1:]])
assert "torch" not in sys.modules
sys.exit(code)
"""


@pytest.mark.skipif(HAVE_TENSORRT, reason="TensorRT is installed here")
def test_build_engine_without_tensorrt_fails_cleanly_without_torch_and_leaves_the_bundle(tmp_path, fp32,
                                                                                        run_without_torch):
    bundle = _bundle(tmp_path, _request(tmp_path, "fp16", fp32))
    before = (bundle / "manifest.json").read_bytes()
    proc = run_without_torch(BUILD_ENGINE, str(bundle), timeout=60)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgeparse: error: backend 'tensorrt' needs")
    assert "JetPack" in lines[0] and "built on the Jetson itself" in lines[0]
    assert (bundle / "manifest.json").read_bytes() == before


@pytest.mark.skipif(HAVE_TENSORRT, reason="TensorRT is installed here")
def test_build_engine_api_without_tensorrt_is_backend_unavailable(tmp_path, fp32):
    settings = EngineBuildSettings(fp32.name, "m.engine", "fp16", "input", (1, 3, SIZE, SIZE), None, False)
    with pytest.raises(BackendUnavailable, match="build_engine.sh"):
        build_engine(settings, fp32.parent)
    with pytest.raises(BackendUnavailable, match="tensorrt"):
        build_bundle_engine(tmp_path)


def test_adopting_a_trtexec_engine_puts_it_first_with_its_checksum(tmp_path, fp32, qdq):
    """The bookkeeping of build_engine.sh's last step; the bytes stand in for what trtexec wrote."""
    bundle = _bundle(tmp_path, _request(tmp_path, "int8", fp32, Int8Cfg(qdq_onnx=str(qdq))))
    engine = bundle / "tiny_jetson_int8.engine"
    engine.write_bytes(b"serialized engine from trtexec")
    assert main(["build-engine", str(bundle), "--engine", str(engine)]) == 0
    loaded = load_bundle(bundle)
    assert loaded.model_path == engine and list(loaded.manifest.artifacts)[1] == "tiny_jetson_int8.onnx"
    assert "built on this device by trtexec" in loaded.manifest.notes and "QDQ lint" in loaded.manifest.notes
    engine.write_bytes(b"a rebuilt engine, e.g. after a JetPack upgrade")  # rebuilding replaces the engine
    adopt_engine(bundle, engine)
    assert load_bundle(bundle).manifest.artifacts[engine.name] == file_sha256(engine)
    with pytest.raises(ExportError, match="not found or empty"):
        adopt_engine(bundle, tmp_path / "missing.engine")


def test_build_engine_engine_option_excludes_build_options(tmp_path, capsys):
    assert main(["build-engine", str(tmp_path), "--engine", "m.engine", "--workspace-mb", "64"]) == 2
    assert "apply only when build-engine builds" in capsys.readouterr().err


def test_build_engine_refuses_a_bundle_of_another_target(tmp_path, fp32):
    request = _request(tmp_path, "fp16", fp32)
    lowered = lower(request)
    images = np.zeros((1, SIZE, SIZE, 3), np.uint8)
    logits = np.zeros((1, CLASSES, SIZE, SIZE), np.float32)
    cpu = write_bundle(tmp_path / "cpu", name="tiny", target="onnx", backend="onnxruntime", precision="fp32",
                       schema=SCHEMA, normalization=NORM, source_checkpoint=request.checkpoint,
                       artifacts=lowered.artifacts[:1], backend_version="test", build_command="pytest",
                       validation=ValidationSet.from_reference(images, np.zeros((1, SIZE, SIZE), np.uint8), logits))
    (cpu / "x.engine").write_bytes(b"engine bytes")
    with pytest.raises(ConfigError, match="takes a jetson/tensorrt bundle"):
        adopt_engine(cpu, cpu / "x.engine")


# --- on a machine with TensorRT and an NVIDIA GPU (a Jetson, or pytest -m gpu on a GPU host) ---

@pytest.mark.gpu
@pytest.mark.jetson
@pytest.mark.skipif(not HAVE_TENSORRT, reason=NO_TENSORRT)
@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_real_engine_builds_validates_and_reuses_the_timing_cache(tmp_path, fp32, qdq, precision):
    from edge.backends import open_runner
    from edge.parity import validate_bundle

    bundle = _bundle(tmp_path, _request(tmp_path, precision, fp32, Int8Cfg(qdq_onnx=str(qdq))))
    cache = tmp_path / "shared.cache"
    first = build_bundle_engine(bundle, workspace_mb=256, timing_cache=cache)
    assert cache.stat().st_size > 0 and not first.timing_cache_reused
    assert build_bundle_engine(bundle, workspace_mb=256, timing_cache=cache).timing_cache_reused
    loaded = load_bundle(bundle)
    assert loaded.model_path.suffix == ".engine" and loaded.manifest.backend_version == first.tensorrt_version
    with open_runner(loaded) as runner:
        assert validate_bundle(loaded, runner).passed


@pytest.mark.gpu
@pytest.mark.jetson
@pytest.mark.skipif(not HAVE_TENSORRT, reason=NO_TENSORRT)
def test_real_parser_errors_are_listed(tmp_path):
    bad = helper.make_graph([helper.make_node("NoSuchOp", ["input"], ["logits"], domain="edgeparse.test")], "bad",
                            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
                            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3, SIZE, SIZE])])
    model = helper.make_model(bad, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("edgeparse.test", 1)])
    onnx.save(model, str(tmp_path / "bad.onnx"))
    settings = EngineBuildSettings("bad.onnx", "bad.engine", "fp16", "input", (1, 3, SIZE, SIZE), None, True,
                                   typed_onnx="bad.onnx")
    with pytest.raises(ExportError, match=r"parser rejected .*NoSuchOp"):
        build_engine(settings, tmp_path)


@pytest.mark.slow
def test_int8_without_a_qdq_file_runs_tensorrt_ptq_here_and_passes_the_lint(tmp_path):
    """int8.source=auto and no int8.qdq_onnx: PT2E PTQ (tensorrt family, symmetric) on the torch model."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                                torch.nn.Conv2d(8, CLASSES, 1)).eval()
    onnx_path = tmp_path / "fp32.onnx"
    torch.onnx.export(model, (torch.zeros(1, 3, SIZE, SIZE),), str(onnx_path), dynamo=False, opset_version=17,
                      input_names=["input"], output_names=["logits"])
    images = [np.random.default_rng(i).normal(0, 1, (1, 3, SIZE, SIZE)).astype(np.float32) for i in range(4)]
    request = dataclasses.replace(_request(tmp_path, "int8", onnx_path), model=model, calibration=lambda: images)
    lowered = lower(request)
    lint = json.loads((request.work_dir / request.stem / "qdq_lint.json").read_text())
    assert lint["ok"] and lint["quantize_nodes"] > 0
    assert lowered.quantization["source"].startswith("PT2E PTQ") and lowered.quantization["calibration_images"] == 4


@pytest.mark.skipif(HAVE_TENSORRT, reason="TensorRT is installed here: lower builds the engine")
def test_the_student_passes_the_jetson_graph_rules_and_its_bundle_waits_for_the_device(kit, deploy_inputs,
                                                                                        tmp_path):
    """On a host without TensorRT, `edgeparse deploy` reports the fp16 row as skipped, with the device note."""
    from targets.export import check_target_graph
    from targets.tensorrt_jetson import GRAPH_RULES

    check_target_graph(deploy_inputs.onnx_path, "jetson", GRAPH_RULES)
    bundle = kit.lower_to_bundle("jetson", "fp16", deploy_inputs, tmp_path / "work", tmp_path / "out")
    outcome = kit.check(bundle, "jetson", "fp16")
    assert outcome.row.status == "skipped" and "No engine yet" in outcome.row.reason


@pytest.mark.slow
def test_student_int8_via_ptq_here_passes_the_lint(kit, deploy_inputs, tmp_path):
    """`make target=jetson` without a QDQ file: the student's PT2E PTQ graph passes the TensorRT lint."""
    bundle = kit.lower_to_bundle("jetson", "int8", deploy_inputs, tmp_path / "work", tmp_path / "out")
    lint = json.loads((bundle / "qdq_lint.json").read_text())
    assert lint["ok"] and lint["quantize_nodes"] > 10, lint["findings"][:3]
    assert "QDQ lint" in load_manifest(bundle).notes


# --- TensorRT 10 and 11 build paths, against a fake `tensorrt` module ---

class _FakeTensorRT(types.ModuleType):
    """The calls `build_engine` makes, recorded. TensorRT 11 keeps STRONGLY_TYPED (ignored) and drops the
    precision builder flags, as NVIDIA's 10.x -> 11.x migration guide lists."""

    def __init__(self, version: str):
        super().__init__("tensorrt")
        self.__version__ = version
        self.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None)
        self.calls: dict[str, object] = {"flags": []}
        weak = {"FP16": 1, "INT8": 2} if tensorrt_major(version) < 11 else {}
        self.BuilderFlag = types.SimpleNamespace(TF32=0, **weak)
        self.NetworkDefinitionCreationFlag = types.SimpleNamespace(STRONGLY_TYPED=1)
        self.MemoryPoolType = types.SimpleNamespace(WORKSPACE=0)
        self.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda logger, severity: None})
        fake = self

        class OnnxParser:
            num_errors = 0

            def __init__(self, network, logger):
                pass

            def parse(self, data: bytes, path: str) -> bool:
                fake.calls["parsed"] = Path(path).name
                return True

        class Config:
            def set_memory_pool_limit(self, pool, size):
                fake.calls["workspace"] = size

            def set_flag(self, flag):
                fake.calls["flags"].append(flag)

            def create_timing_cache(self, data):
                return types.SimpleNamespace(serialize=lambda: b"timing cache")

            def set_timing_cache(self, cache, ignore_mismatch):
                self.cache = cache
                return True

            def get_timing_cache(self):
                return self.cache

        class Builder:
            def __init__(self, logger):
                pass

            def create_network(self, flags: int):
                fake.calls["network_flags"] = flags
                tensor = types.SimpleNamespace(name="input", shape=(1, 3, SIZE, SIZE))
                return types.SimpleNamespace(num_inputs=1, num_outputs=1, get_input=lambda i: tensor,
                                             get_output=lambda i: types.SimpleNamespace(name="logits"))

            def create_builder_config(self):
                return Config()

            def build_serialized_network(self, network, config):
                return b"serialized engine"

        self.OnnxParser, self.Builder = OnnxParser, Builder


@pytest.mark.skipif(HAVE_TENSORRT, reason="TensorRT is installed here: lower builds the engine")
@pytest.mark.parametrize("version, precision, parsed, network_flags, flags", [
    ("10.3.0.30", "fp16", "tiny_jetson_fp16.onnx", 0, [1]),  # JetPack 6: FP32 ONNX + BuilderFlag.FP16
    ("10.3.0.30", "int8", "tiny_jetson_int8.onnx", 1 << 1, []),  # the QDQ ONNX, strongly typed
    ("11.0.0.1", "fp16", "tiny_jetson_fp16_typed.onnx", 1 << 1, []),  # JetPack 7: the FP16 ONNX, strongly typed
    ("11.0.0.1", "int8", "tiny_jetson_int8.onnx", 1 << 1, []),
])
def test_build_engine_takes_the_path_of_the_tensorrt_it_finds(tmp_path, fp32, qdq, monkeypatch, version,
                                                              precision, parsed, network_flags, flags):
    bundle = _bundle(tmp_path, _request(tmp_path, precision, fp32, Int8Cfg(qdq_onnx=str(qdq))))
    trt = _FakeTensorRT(version)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    report = build_bundle_engine(bundle, workspace_mb=64)
    assert trt.calls["parsed"] == parsed and report.onnx == parsed
    assert (trt.calls["network_flags"], trt.calls["flags"], trt.calls["workspace"]) == (network_flags, flags, 64 << 20)
    assert report.strongly_typed == (network_flags != 0) and f"from {parsed}" in report.summary()
    loaded = load_bundle(bundle)
    assert loaded.model_path.name == f"tiny_jetson_{precision}.engine"
    major = version.split(".")[0]
    assert f"TensorRT {major} path: {parsed}" in loaded.manifest.notes


@pytest.mark.skipif(HAVE_TENSORRT, reason="TensorRT is installed here")
def test_tensorrt_11_refuses_a_bundle_without_a_typed_onnx_before_touching_it(tmp_path, fp32, monkeypatch):
    bundle = _bundle(tmp_path, _request(tmp_path, "fp16", fp32))
    settings = EngineBuildSettings.load(bundle / "engine_build.json")
    monkeypatch.setitem(sys.modules, "tensorrt", _FakeTensorRT("11.0.0"))
    with pytest.raises(UnsupportedError, match="strongly typed networks only"):
        build_engine(dataclasses.replace(settings, typed_onnx=None), bundle)
    assert not (bundle / settings.engine).exists()


FAKE_TRTEXEC = """#!/usr/bin/env bash
{banner}
[ "$1" = "--help" ] && exit 0
printf '%s\\n' "$@" > "$(dirname "$0")/trtexec_args.txt"
"""


def _run_script(bundle: Path, tmp_path: Path, version: str | None, **env: str) -> subprocess.CompletedProcess:
    trtexec = tmp_path / "bin" / "trtexec"
    trtexec.parent.mkdir(exist_ok=True)
    banner = f'echo "&&&& RUNNING TensorRT.trtexec [TensorRT v{version}] # trtexec $*"' if version else ""
    trtexec.write_text(FAKE_TRTEXEC.format(banner=banner))
    trtexec.chmod(0o755)
    environment = {"PATH": "/usr/bin:/bin", "TRTEXEC": str(trtexec), "EDGEPARSE": "true", **env}
    return subprocess.run(["bash", str(bundle / "build_engine.sh")], env=environment, capture_output=True,
                          text=True, check=False)


@pytest.mark.skipif(HAVE_TENSORRT, reason="TensorRT is installed here: lower builds the engine")
@pytest.mark.parametrize("banner, env, onnx_file, fp16_flag", [
    ("100300", {}, "tiny_jetson_fp16.onnx", True),  # trtexec of TensorRT 10.3 (JetPack 6)
    ("110000", {}, "tiny_jetson_fp16_typed.onnx", False),  # TensorRT 11.0 (JetPack 7)
    (None, {"TRT_MAJOR": "11"}, "tiny_jetson_fp16_typed.onnx", False),  # set by hand
])
def test_build_engine_script_picks_the_trtexec_flags_of_the_tensorrt_version(tmp_path, fp32, banner, env,
                                                                             onnx_file, fp16_flag):
    bundle = _bundle(tmp_path, _request(tmp_path, "fp16", fp32))
    proc = _run_script(bundle, tmp_path, banner, **env)
    assert proc.returncode == 0, proc.stderr
    args = (tmp_path / "bin" / "trtexec_args.txt").read_text().split()
    assert f"--onnx={onnx_file}" in args and ("--fp16" in args) == fp16_flag
    assert ("--stronglyTyped" in args) != fp16_flag and "--saveEngine=tiny_jetson_fp16.engine" in args


@pytest.mark.skipif(HAVE_TENSORRT, reason="TensorRT is installed here: lower builds the engine")
def test_build_engine_script_stops_when_it_cannot_tell_the_tensorrt_version(tmp_path, fp32):
    bundle = _bundle(tmp_path, _request(tmp_path, "fp16", fp32))
    proc = _run_script(bundle, tmp_path, None)  # no banner, and no TensorRT Python bindings on this PATH
    assert proc.returncode == 2 and "set TRT_MAJOR=10 (JetPack 6) or 11 (JetPack 7)" in proc.stderr
    assert not (tmp_path / "bin" / "trtexec_args.txt").exists()


# --- the FP16 ONNX and the host-side accuracy rows ---

def test_fp16_bundle_ships_an_fp16_onnx_with_float32_io(tmp_path, fp32):
    lowered = lower(_request(tmp_path, "fp16", fp32))
    typed = onnx.load(str(next(p for p in lowered.artifacts if p.name.endswith("_typed.onnx"))))
    io_types = {v.name: v.type.tensor_type.elem_type for v in (*typed.graph.input, *typed.graph.output)}
    assert io_types == {"input": TensorProto.FLOAT, "logits": TensorProto.FLOAT}  # the runner contract
    assert {i.data_type for i in typed.graph.initializer if i.name == "w"} == {TensorProto.FLOAT16}
    assert [n.op_type for n in typed.graph.node].count("Cast") == 2


@pytest.mark.parametrize("precision, runner, model", [("fp16", "onnxruntime", "tiny_jetson_fp16_typed.onnx"),
                                                      ("int8", "onnxruntime-qdq", "tiny_jetson_int8.onnx")])
def test_every_jetson_bundle_gets_a_host_side_accuracy_row(tmp_path, fp32, qdq, precision, runner, model):
    from targets.pipeline import Job, Stages, host_check

    bundle = _bundle(tmp_path, _request(tmp_path, precision, fp32, Int8Cfg(qdq_onnx=str(qdq))))
    assert host_model(load_bundle(bundle)).name == model
    lines: list[str] = []
    outcome = host_check(bundle, Job("jetson", precision), DeployCfg(input_size=SIZE), Stages(1, lines.append))
    assert outcome.host_check and outcome.label == f"jetson {precision} host check"
    row = outcome.row
    assert (row.format, row.status, row.precision) == (f"host:{runner}", "ok", precision), row.reason
    assert f"host-side {runner} check, not tensorrt: {model}" in row.reason and row.latency_p50_ms is None
    assert outcome.parity.agreement_pct >= 99.5 and lines == [
        f"[1/1] jetson {precision}: host-side accuracy, {runner} on this host (not tensorrt)"]


def test_a_planted_int8_failure_fails_its_host_side_row(tmp_path, fp32):
    """A QDQ ONNX whose activation scale crushes the input to a few levels passes the lint but not the gate."""
    crushed = qdq_onnx(tmp_path / "crushed.onnx")
    model = onnx.load(str(crushed))
    scale = next(i for i in model.graph.initializer if i.name == "a_scale")
    scale.CopyFrom(numpy_helper.from_array(np.array(1.5, np.float32), "a_scale"))
    onnx.save(model, str(crushed))
    from targets.pipeline import Job, Stages, host_check

    bundle = _bundle(tmp_path, _request(tmp_path, "int8", fp32, Int8Cfg(qdq_onnx=str(crushed))))
    outcome = host_check(bundle, Job("jetson", "int8"), DeployCfg(input_size=SIZE), Stages(1, lambda line: None))
    assert outcome.row.status == "parity_failed" and "over limit" in outcome.row.reason


@pytest.mark.skipif(HAVE_TENSORRT, reason="TensorRT is installed here: lower builds the engine")
def test_bench_only_shows_the_skipped_tensorrt_row_then_its_host_row(kit, deploy_inputs, tmp_path):
    """The student's fp16 bundle through the pipeline: the TensorRT row waits for the device, the host row
    runs the FP16 ONNX, gated with the fp16 thresholds; each has its own stage and report entry. (The tiny
    random-weight student has near-tied logits, so whether it passes says little; the gate is what counts.)"""
    from targets.pipeline import Job, bench_only

    out = tmp_path / "out"
    kit.lower_to_bundle("jetson", "fp16", deploy_inputs, tmp_path / "work", out)
    lines: list[str] = []
    result = bench_only(kit.tiny_cfg(), [Job("jetson", "fp16")], out, None, lines.append)
    trt, host = result.rows
    parity = result.outcomes[1].parity
    assert (trt.format, trt.status) == ("tensorrt", "skipped") and "No engine yet" in trt.reason
    assert host.format == "host:onnxruntime" and "ehanet_mbv2_jetson_fp16_typed.onnx" in host.reason
    assert parity.thresholds == kit.tiny_cfg().thresholds.of("fp16") and host.agreement_pct > 90
    assert host.status == ("ok" if parity.passed else "parity_failed") and result.failed != parity.passed
    assert lines[-1] == "[3/3] jetson fp16: host-side accuracy, onnxruntime on this host (not tensorrt)"
    assert set(result.details["bundles"]) == {"jetson fp16", "jetson fp16 host check"}


# --- the mixed-precision fallback: Q/DQ pairs dropped in front of the named layers ---

def _two_conv_qdq(path: Path) -> Path:
    """QDQ conv (bias ``stem.bias``) -> ReLU -> QDQ conv (bias ``head.classifier.bias``): the names the
    dynamo exporter of ``quantize.export_qdq`` gives the bias of a module's convolution."""
    w_scale = (np.abs(WEIGHT).reshape(CLASSES, -1).max(axis=1) / 127).astype(np.float32)
    second = RNG.normal(0, 0.3, (CLASSES, CLASSES, 3, 3)).astype(np.float32)
    s_scale = (np.abs(second).reshape(CLASSES, -1).max(axis=1) / 127).astype(np.float32)
    nodes = [
        helper.make_node("QuantizeLinear", ["input", "a_scale", "a_zp"], ["q0"]),
        helper.make_node("DequantizeLinear", ["q0", "a_scale", "a_zp"], ["dq0"]),
        helper.make_node("DequantizeLinear", ["w0_q", "w0_scale", "w_zp"], ["w0"], axis=0),
        helper.make_node("Conv", ["dq0", "w0", "stem.bias"], ["c0"], name="node_conv2d", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c0"], ["r0"]),
        helper.make_node("QuantizeLinear", ["r0", "a_scale", "a_zp"], ["q1"]),
        helper.make_node("DequantizeLinear", ["q1", "a_scale", "a_zp"], ["dq1"]),
        helper.make_node("DequantizeLinear", ["w1_q", "w1_scale", "w_zp"], ["w1"], axis=0),
        helper.make_node("Conv", ["dq1", "w1", "head.classifier.bias"], ["logits"], name="node_conv2d_1",
                         pads=[1, 1, 1, 1]),
    ]
    inits = [numpy_helper.from_array(np.array(3 / 127, np.float32), "a_scale"),
             numpy_helper.from_array(np.array(0, np.int8), "a_zp"),
             numpy_helper.from_array(np.zeros(CLASSES, np.int8), "w_zp"),
             numpy_helper.from_array(np.round(WEIGHT / w_scale[:, None, None, None]).astype(np.int8), "w0_q"),
             numpy_helper.from_array(w_scale, "w0_scale"), numpy_helper.from_array(BIAS, "stem.bias"),
             numpy_helper.from_array(np.round(second / s_scale[:, None, None, None]).astype(np.int8), "w1_q"),
             numpy_helper.from_array(s_scale, "w1_scale"), numpy_helper.from_array(BIAS, "head.classifier.bias")]
    return _save(path, nodes, inits)


@pytest.mark.skipif(HAVE_TENSORRT, reason="TensorRT is installed here: lower builds the engine")
def test_the_fallback_drops_the_qdq_pairs_in_front_of_the_named_layer_and_the_rest_stays_linted(tmp_path, fp32):
    qdq = _two_conv_qdq(tmp_path / "two_conv_qdq.onnx")
    request = dataclasses.replace(_request(tmp_path, "int8", fp32, Int8Cfg(qdq_onnx=str(qdq))),
                                  float_layers=("head.classifier",))
    bundle = _bundle(tmp_path, request)
    quantization = load_manifest(bundle).quantization
    assert quantization["float_layers"] == ["node_conv2d_1"] and quantization["float_inputs"] == 2
    shipped = onnx.load(str(bundle / "tiny_jetson_int8.onnx")).graph
    head = next(n for n in shipped.node if n.name == "node_conv2d_1")
    producers = {out: n.op_type for n in shipped.node for out in n.output}
    assert producers[head.input[0]] == "Relu" and head.input[1] in {i.name for i in shipped.initializer}
    assert quantization["quantize_nodes"] == 1 and json.loads((bundle / "qdq_lint.json").read_text())["ok"]
    assert host_model(load_bundle(bundle)).name == "tiny_jetson_int8.onnx"  # the host row checks this file
    with pytest.raises(ExportError, match=r"layers \['neck.x'\] have no node in the QDQ ONNX"):
        lower(dataclasses.replace(request, float_layers=("neck.x",), work_dir=tmp_path / "other"))
