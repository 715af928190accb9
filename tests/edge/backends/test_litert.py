"""LiteRT runner: NHWC and int8 I/O (hand-built .tflite, fast), litert-torch's NCHW output (slow), and a
model with two named outputs (the shipped BlazeFace detector)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert.interpreter")
flatbuffers = pytest.importorskip("flatbuffers")

from ai_edge_litert import schema_py_generated as tfl

from edge.backends import TensorSpec, open_runner, runner_class
from edge.backends.litert import dequantize, quantize
from edge.bundle import load_bundle
from edge.errors import BundleError, InputError, UnsupportedError
from edge.parity import validate_bundle
from edge.preprocess import normalize

INPUT_RANGE = (-2.2, 2.7)  # ImageNet-normalised pixels
OUTPUT_RANGE = (-28.0, 8.0)  # covers every logit of the tiny model, class 5 included


def _affine(lo: float, hi: float) -> tuple[float, int]:
    scale = (hi - lo) / 255.0
    return scale, round(-128 - lo / scale)


def _tensor(shape, dtype, buffer=0, name="", quant=None):
    t = tfl.TensorT()
    t.shape, t.type, t.buffer, t.name = list(shape), dtype, buffer, name
    if quant is not None:
        t.quantization = tfl.QuantizationParametersT()
        t.quantization.scale, t.quantization.zeroPoint = [quant[0]], [quant[1]]
    return t


def _op(code, inputs, outputs, options_type=0, options=None):
    op = tfl.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = code, inputs, outputs
    op.builtinOptionsType, op.builtinOptions = options_type, options
    return op


def build_tflite(path: Path, weight: np.ndarray, bias: np.ndarray, size: int, int8_io: bool) -> Path:
    """NHWC Conv(stride 2, SAME) + RESIZE_BILINEAR(half-pixel): the tiny ONNX model, TF-style.

    With ``int8_io`` the graph is wrapped in DEQUANTIZE/QUANTIZE, as full-integer converters do.
    """
    c, f32, i8 = weight.shape[0], tfl.TensorType.FLOAT32, tfl.TensorType.INT8
    ohwi = np.ascontiguousarray(weight.transpose(0, 2, 3, 1))
    buffers = [b"", ohwi.tobytes(), bias.astype(np.float32).tobytes(),
               np.array([size, size], np.int32).tobytes()]
    tensors = [_tensor([1, size, size, 3], f32, name="x_float"), _tensor(ohwi.shape, f32, 1, "w"),
               _tensor([c], f32, 2, "b"), _tensor([1, size // 2, size // 2, c], f32, name="feat"),
               _tensor([2], tfl.TensorType.INT32, 3, "size"),
               _tensor([1, size, size, c], f32, name="logits_float")]
    conv = tfl.Conv2DOptionsT()
    conv.padding, conv.strideH, conv.strideW = tfl.Padding.SAME, 2, 2
    resize = tfl.ResizeBilinearOptionsT()
    resize.halfPixelCenters = True
    ops = [_op(0, [0, 1, 2], [3], tfl.BuiltinOptions.Conv2DOptions, conv),
           _op(1, [3, 4], [5], tfl.BuiltinOptions.ResizeBilinearOptions, resize)]
    inputs, outputs = [0], [5]
    if int8_io:
        tensors += [_tensor([1, size, size, 3], i8, name="x", quant=_affine(*INPUT_RANGE)),
                    _tensor([1, size, size, c], i8, name="logits", quant=_affine(*OUTPUT_RANGE))]
        ops = [_op(2, [6], [0]), *ops, _op(3, [5], [7])]
        inputs, outputs = [6], [7]
    codes = [tfl.BuiltinOperator.CONV_2D, tfl.BuiltinOperator.RESIZE_BILINEAR,
             tfl.BuiltinOperator.DEQUANTIZE, tfl.BuiltinOperator.QUANTIZE]
    return _write_model(path, tensors, ops, inputs, outputs, codes, buffers)


def _write_model(path, tensors, ops, inputs, outputs, codes, buffers) -> Path:
    graph = tfl.SubGraphT()
    graph.tensors, graph.operators, graph.inputs, graph.outputs = tensors, ops, inputs, outputs
    model = tfl.ModelT()
    model.version, model.subgraphs, model.description = 3, [graph], "edgeparse test model"
    model.operatorCodes = []
    for code in codes:
        op_code = tfl.OperatorCodeT()
        op_code.builtinCode, op_code.deprecatedBuiltinCode = code, min(code, 127)
        model.operatorCodes.append(op_code)
    model.buffers = []
    for data in buffers:
        buffer = tfl.BufferT()
        buffer.data = np.frombuffer(data, np.uint8) if data else None
        model.buffers.append(buffer)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(builder.Output())
    return path


@pytest.fixture(scope="module")
def tflite_files(tiny, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tflite")
    return {io: build_tflite(folder / f"tiny_mobile_{io}.tflite", tiny.weight, tiny.bias, tiny.size,
                             int8_io=io == "int8")
            for io in ("fp32", "int8")}


def test_nhwc_float_model_matches_onnx_and_passes_parity(make_bundle, tflite_files):
    bundle = load_bundle(make_bundle(tflite_files["fp32"], backend="litert", target="mobile"))
    with open_runner(bundle, threads=1) as runner:
        assert runner.applied_settings()["transposed_tensors"] == ["input", "logits"]  # NHWC in the file
        result = validate_bundle(bundle, runner)
    assert result.passed and result.agreement_pct == 100.0
    assert result.max_abs_logit_delta < 0.02  # float16-stored reference logits


def test_int8_io_is_quantized_and_dequantized(make_bundle, tiny, tflite_files):
    path = make_bundle(tflite_files["int8"], backend="litert", target="mobile", precision="int8")
    bundle = load_bundle(path)
    with open_runner(bundle, threads=1) as runner:
        settings = runner.applied_settings()
        out = np.concatenate([runner.infer(normalize(im, tiny.norm)[None]) for im in tiny.images])
    assert settings["tensor_dtypes"] == {"x": "int8", "logits": "int8"}
    assert out.dtype == np.float32 and out.shape == tiny.reference_logits.shape
    step = _affine(*OUTPUT_RANGE)[0]
    error = np.abs(out - tiny.reference_logits)
    assert error.mean() < step and error.max() < 4 * step  # quantization noise, not a wrong layout or scale
    assert (out.argmax(1) == tiny.reference_logits.argmax(1)).mean() > 0.95


def test_quantize_round_trip_and_clipping():
    x = np.array([-1.0, 0.0, 0.5, 100.0], np.float32)
    q = quantize(x, 0.5, 3, np.int8)
    assert q.tolist() == [1, 3, 4, 127]
    assert dequantize(q, 0.5, 3).tolist() == [-1.0, 0.0, 0.5, 62.0]
    assert quantize(np.array([-5.0]), 0.1, 10, np.uint8).tolist() == [0]


def test_a_tensor_in_neither_the_declared_layout_nor_nhwc_is_refused(tiny, tflite_files):
    runner = runner_class("litert")(tflite_files["fp32"], TensorSpec("input", (1, 3, 16, 16)))
    with pytest.raises(BundleError, match="not the declared float32\\[1, 3, 16, 16\\] nor its NHWC layout"):
        runner.activate()
    assert not runner.is_active


def test_a_model_with_two_named_outputs_runs_through_the_registry():
    """BlazeFace: one NHWC input, outputs read by name in the caller's order; a declared shape is checked."""
    from edge.video.blazeface import INPUT_SIZE, find_model

    x = np.zeros((1, INPUT_SIZE, INPUT_SIZE, 3), np.float32)
    outputs = (TensorSpec("classificators", (1, 896, 1)), TensorSpec("regressors", (1, 896, 16)))
    with runner_class("litert")(find_model(), threads=1, outputs=outputs) as runner:
        assert runner.input_spec == TensorSpec("input", (1, INPUT_SIZE, INPUT_SIZE, 3))
        assert runner.output_names == ("classificators", "regressors")
        result = runner.run({"input": x})
        assert [a.shape for a in result.values()] == [(1, 896, 1), (1, 896, 16)]
        with pytest.raises(UnsupportedError, match="not one: use run"):
            runner.infer(x)
        with pytest.raises(InputError, match="expected inputs \\['input'\\], got \\['image'\\]"):
            runner.run({"image": x})
    wrong = runner_class("litert")(find_model(), threads=1, outputs=(TensorSpec("regressors", (1, 896, 4)),))
    with pytest.raises(BundleError, match="output 'regressors' is float32\\[1, 896, 16\\] in the model, not the"):
        wrong.activate()


@pytest.fixture(scope="session")
def litert_torch_file(tiny, tmp_path_factory):
    """The tiny model as a torch module converted by litert-torch (keeps NCHW I/O); built once."""
    torch = pytest.importorskip("torch")
    litert_torch = pytest.importorskip("litert_torch")

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, tiny.num_classes, 3, stride=2)
            self.conv.weight.data = torch.from_numpy(tiny.weight)
            self.conv.bias.data = torch.from_numpy(tiny.bias)

        def forward(self, x):
            x = self.conv(torch.nn.functional.pad(x, (0, 1, 0, 1)))  # the ONNX pads: bottom/right
            return torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)

    path = tmp_path_factory.mktemp("litert_torch") / "tiny_mobile_fp32.tflite"
    example = torch.zeros(1, 3, tiny.size, tiny.size)
    litert_torch.convert(Tiny().eval(), (example,)).export(str(path))
    return path


@pytest.mark.slow
def test_litert_torch_nchw_model_passes_parity(make_bundle, litert_torch_file):
    bundle = load_bundle(make_bundle(litert_torch_file, backend="litert", target="mobile"))
    with open_runner(bundle, threads=1) as runner:
        assert runner.applied_settings()["transposed_tensors"] == []
        result = validate_bundle(bundle, runner)
    assert result.passed and result.agreement_pct == 100.0
