"""The one table of deploy formats (Ultralytics' ``export_formats()``): the project's vocabulary.

Every (target, precision) the project can build is one row of ``FORMATS``: the backend that runs
it, the suffix of its model file, whether it needs a GPU and how it is made. Every list of names
is derived from it: ``TARGETS``, ``PRECISIONS``, ``BACKEND_NAMES`` and ``INFERENCE_PRECISIONS``
(and the ``Literal`` types that check a bundle manifest), the quantizer families of ``quantize``,
``targets.formats.target_spec`` (each target module's ``SPEC``), the plan and the ``--target``
choices of ``edgeparse deploy``, and the labels of the benchmark table. Adding a precision is one
new row here, not a hunt through the code; a new target also needs its lowering module
(``targets.TARGET_MODULES``), a new backend its runner (``edge.backends.BACKENDS``), a new precision
its parity limits (``targets.config.PrecisionThresholds``); tests/targets/test_formats.py checks
that those agree with this table.

It lives in ``edge`` because the device side needs the names (bundle manifests, runners) and
``edge`` imports nothing from ``targets``, ``quantize`` or ``training``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Format:
    """``inference_precision`` goes into the bundle manifest: the arithmetic precision the runner
    pins and reads back (OpenVINO would otherwise pick bf16 on CPUs with native bf16); None for
    backends without such a setting.

    ``host_check`` is the ``edge.backends`` runner that scores a bundle on the build host when its own
    runtime lives on the device (jetson): it runs the target's ``host_model`` (the ONNX the device
    builds from) on the bundle's validation set, gated like every row, so no bundle ships unchecked.

    ``lowers_qdq_onnx``: an int8 row that can be built from the QDQ ONNX of ``edgeparse quantize``, so
    that file must pass the QDQ lint for the row's quantizer family (LiteRT lowers from the torch graph)."""

    target: str
    precision: str
    backend: str  # an ``edge.backends`` name
    suffix: str  # of the file the backend loads
    needs_gpu: bool
    how: str  # what lowering does, shown as the stage line of ``edgeparse deploy``
    inference_precision: str | None = None
    host_check: str | None = None
    lowers_qdq_onnx: bool = False


# onnxruntime with graph optimizations off, so QuantizeLinear/DequantizeLinear run as the ONNX spec defines
# them (TensorRT's explicit quantization): scores QDQ files on the host (edge.backends.ort.ExactQdqOrtRunner).
EXACT_QDQ = "onnxruntime-qdq"

FORMATS: tuple[Format, ...] = (
    Format("onnx", "fp32", "onnxruntime", ".onnx", False, "copy the FP32 ONNX (the onnxruntime reference)"),
    Format("cpu", "fp32", "openvino", ".xml", False, "OpenVINO IR, FP32 weights, f32 arithmetic", "f32"),
    Format("cpu", "fp16", "openvino", ".xml", False,
           "OpenVINO IR, FP16-compressed weights (decompressed at load), f32 arithmetic on every CPU (a size "
           "format)", "f32"),
    Format("cpu", "bf16", "openvino", ".xml", False,
           "OpenVINO IR, FP32 weights, bf16 arithmetic (CPUs with AVX512-BF16 or AMX)", "bf16"),
    Format("cpu", "int8", "openvino", ".xml", False,
           "OpenVINO INT8 IR: NNCF PTQ calibration or the QDQ ONNX; float layers in f32", "f32",
           lowers_qdq_onnx=True),
    Format("mobile", "fp32", "litert", ".tflite", False, "litert-torch conversion to a FP32 .tflite, NCHW I/O"),
    Format("mobile", "fp16", "litert", ".tflite", False,
           "FP32 .tflite with FP16 weights (ai-edge-quantizer float casting); FP32 I/O and activations on CPU"),
    Format("mobile", "int8", "litert", ".tflite", False,
           "full-integer .tflite: ai-edge-quantizer static int8, or PT2E PTQ / a LiteRT QAT checkpoint; int8 I/O "
           "on builtin kernels and XNNPACK"),
    Format("jetson", "fp16", "tensorrt", ".engine", True,
           "TensorRT FP16 engine (built on the device): the FP32 ONNX + FP16 flag (TensorRT 10) or the "
           "FP16 ONNX, strongly typed (TensorRT 11)", host_check="onnxruntime"),
    Format("jetson", "int8", "tensorrt", ".engine", True,
           "TensorRT explicit-INT8 engine from the QDQ ONNX (built on the device)", host_check=EXACT_QDQ,
           lowers_qdq_onnx=True),
)


def _names(values) -> tuple[str, ...]:
    """Distinct values in table order."""
    return tuple(dict.fromkeys(v for v in values if v is not None))


TARGETS = _names(f.target for f in FORMATS)
PRECISIONS = _names(f.precision for f in FORMATS)
BACKEND_NAMES = _names(f.backend for f in FORMATS)  # the backends a bundle can name
INFERENCE_PRECISIONS = _names(f.inference_precision for f in FORMATS)
INT8 = "int8"  # the precision whose rows name a quantizer family (their backend)
# PT2E quantizer families: one per backend with an int8 row; QDQ_LINTED those whose int8 can come
# from the QDQ ONNX (TensorRT's explicit quantization rules, which OpenVINO accepts as well).
QUANTIZER_FAMILIES = _names(f.backend for f in FORMATS if f.precision == INT8)
QDQ_LINTED_FAMILIES = _names(f.backend for f in FORMATS if f.precision == INT8 and f.lowers_qdq_onnx)

# For the manifest and configs (edge.config checks a Literal's values); derived, so they follow the table.
Target = Literal[TARGETS]
Precision = Literal[PRECISIONS]
BackendName = Literal[BACKEND_NAMES]
InferencePrecision = Literal[INFERENCE_PRECISIONS]
QuantizerFamily = Literal[QUANTIZER_FAMILIES]


def quantizer_family(target: str) -> str | None:
    """The quantizer family whose int8 ``target``'s int8 row runs (None: the target has no int8)."""
    return next((f.backend for f in FORMATS if f.target == target and f.precision == INT8), None)
