"""The one table of deploy formats (Ultralytics' ``export_formats()``).

Every (target, precision) the project can build is one row here: the backend that runs it, the
suffix of its model file, whether it needs a GPU and how it is made. The target modules derive
their ``SPEC`` from it, ``edgeparse deploy`` plans its jobs from it, and the benchmark table
labels its rows from it, so adding a precision is one new row, not a hunt through the code.
"""
from __future__ import annotations

import typing
from dataclasses import dataclass

from edge.bundle import Precision
from edge.errors import UnknownNameError, UnsupportedError

# The bundle manifest's precision type is the one vocabulary (edge never imports targets).
PRECISIONS: tuple[str, ...] = typing.get_args(Precision)


@dataclass(frozen=True)
class Format:
    """``inference_precision`` goes into the bundle manifest: the arithmetic precision the runner
    pins and reads back (OpenVINO would otherwise pick bf16 on CPUs with native bf16); None for
    backends without such a setting.

    ``host_check`` is the ``edge.backends`` runner that scores a bundle on the build host when its own
    runtime lives on the device (jetson): it runs the target's ``host_model`` (the ONNX the device
    builds from) on the bundle's validation set, gated like every row, so no bundle ships unchecked."""

    target: str  # onnx | cpu | mobile | jetson
    precision: str  # one of PRECISIONS
    backend: str  # an ``edge.backends`` name
    suffix: str  # of the file the backend loads
    needs_gpu: bool
    how: str  # what lowering does, shown as the stage line of ``edgeparse deploy``
    inference_precision: str | None = None
    host_check: str | None = None


_FORMATS: tuple[Format, ...] = (
    Format("onnx", "fp32", "onnxruntime", ".onnx", False, "copy the FP32 ONNX (the onnxruntime reference)"),
    Format("cpu", "fp32", "openvino", ".xml", False, "OpenVINO IR, FP32 weights, f32 arithmetic", "f32"),
    Format("cpu", "fp16", "openvino", ".xml", False,
           "OpenVINO IR, FP16-compressed weights, f32 arithmetic on every CPU (a size format)", "f32"),
    Format("cpu", "bf16", "openvino", ".xml", False,
           "OpenVINO IR, FP32 weights, bf16 arithmetic (CPUs with AVX512-BF16 or AMX)", "bf16"),
    Format("cpu", "int8", "openvino", ".xml", False,
           "OpenVINO INT8 IR: NNCF PTQ calibration or the QDQ ONNX; float layers in f32", "f32"),
    Format("mobile", "fp32", "litert", ".tflite", False, "litert-torch conversion to a FP32 .tflite"),
    Format("mobile", "fp16", "litert", ".tflite", False,
           "FP32 .tflite with FP16 weights (ai-edge-quantizer float casting)"),
    Format("mobile", "int8", "litert", ".tflite", False,
           "full-integer .tflite: PT2E PTQ calibration (or a LiteRT QAT checkpoint), int8 I/O"),
    Format("jetson", "fp16", "tensorrt", ".engine", True,
           "TensorRT FP16 engine (built on the device): the FP32 ONNX + FP16 flag (TensorRT 10) or the "
           "FP16 ONNX, strongly typed (TensorRT 11)", host_check="onnxruntime"),
    Format("jetson", "int8", "tensorrt", ".engine", True,
           "TensorRT explicit-INT8 engine from the QDQ ONNX (built on the device)", host_check="onnxruntime-qdq"),
)


@dataclass(frozen=True)
class TargetSpec:
    """What a target module declares about itself (its rows of the table, folded)."""

    name: str
    suffix: str
    precisions: tuple[str, ...]
    backend: str
    needs_gpu: bool


def export_formats() -> list[Format]:
    """Every buildable (target, precision), in table order."""
    return list(_FORMATS)


def list_targets() -> list[str]:
    return list(dict.fromkeys(f.target for f in _FORMATS))


def target_spec(target: str) -> TargetSpec:
    rows = [f for f in _FORMATS if f.target == target]
    if not rows:
        raise UnknownNameError("target", target, list_targets())
    first = rows[0]
    return TargetSpec(target, first.suffix, tuple(f.precision for f in rows), first.backend, first.needs_gpu)


def find_format(target: str, precision: str) -> Format:
    """The row of (target, precision); ``UnsupportedError`` for a precision the target lacks."""
    spec = target_spec(target)
    if precision not in spec.precisions:
        raise UnsupportedError(f"target {target!r} has no {precision!r} build; it supports "
                               f"{', '.join(spec.precisions)}")
    return next(f for f in _FORMATS if f.target == target and f.precision == precision)


def require_precision(spec: TargetSpec, precision: str) -> None:
    """Raise ``UnsupportedError`` unless ``spec`` lists ``precision`` (called by every ``lower``)."""
    find_format(spec.name, precision)
