"""LiteRT (ex TensorFlow Lite) via ``ai_edge_litert.interpreter.Interpreter``.

``.tflite`` files differ in two ways the caller must not see: I/O may be NCHW (litert-torch
keeps PyTorch's layout) or NHWC (most TF-converted models), and full-integer models take
and return int8/uint8 tensors. This runner reads both from the tensor details, so ``infer``
always takes NCHW float32 and returns NCHW float32 logits.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from edge.backends import import_library
from edge.backends.base import BaseRunner
from edge.errors import BundleError

_QUANTIZED = (np.int8, np.uint8, np.int16)


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    """Float -> integer tensor with TFLite's affine scheme q = round(x / scale) + zero_point."""
    info = np.iinfo(dtype)
    q = np.round(x / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((q.astype(np.float32) - zero_point) * scale).astype(np.float32)


def is_nhwc(shape: tuple[int, ...], size: tuple[int, int]) -> bool:
    """True when a 4-D tensor of spatial ``size`` is laid out NHWC (NCHW wins a tie)."""
    if tuple(shape[2:4]) == size:
        return False
    if tuple(shape[1:3]) == size:
        return True
    raise BundleError(f"tensor shape {list(shape)} matches neither NCHW nor NHWC at {size[0]}x{size[1]}")


class LiteRtRunner(BaseRunner):
    """``threads`` sets the interpreter's ``num_threads`` (XNNPACK uses the same pool)."""

    backend = "litert"
    no_profiler = ("LiteRT's Python Interpreter has no op profiler API (its benchmark_model tool has: "
                   "--enable_op_profiling=true); profile the same model's cpu or onnx bundle here")

    def _activate_impl(self) -> None:
        module = import_library(self.backend, "ai_edge_litert.interpreter")
        self._version = getattr(import_library(self.backend), "__version__", "unknown")
        try:
            self._interpreter = module.Interpreter(model_path=str(self.model_path), num_threads=self.threads)
            self._interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise BundleError(f"{self.model_path}: LiteRT cannot load the model: {exc}") from exc
        inputs, outputs = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise BundleError(f"{self.model_path.name}: expected one input and one output, "
                              f"got {len(inputs)} and {len(outputs)}")
        self._input, self._output = inputs[0], outputs[0]
        size = tuple(self.input_spec.shape[2:4])
        self._input_nhwc = is_nhwc(tuple(self._input["shape"]), size)
        self._output_nhwc = is_nhwc(tuple(self._output["shape"]), size)
        n, c, h, w = self.input_spec.shape
        expected = (n, h, w, c) if self._input_nhwc else (n, c, h, w)
        if tuple(self._input["shape"]) != expected:
            raise BundleError(f"{self.model_path.name}: input shape {list(self._input['shape'])} "
                              f"does not match {list(expected)}")
        for detail in (self._input, self._output):
            if detail["dtype"] in _QUANTIZED and detail["quantization"][0] == 0:
                raise BundleError(f"{self.model_path.name}: tensor {detail['name']!r} is "
                                  f"{np.dtype(detail['dtype']).name} without a quantization scale")

    def _infer_impl(self, x: np.ndarray) -> np.ndarray:
        if self._input_nhwc:
            x = x.transpose(0, 2, 3, 1)
        dtype = self._input["dtype"]
        if dtype in _QUANTIZED:
            scale, zero_point = self._input["quantization"]
            x = quantize(x, scale, zero_point, dtype)
        self._interpreter.set_tensor(self._input["index"], np.ascontiguousarray(x, dtype=dtype))
        self._interpreter.invoke()
        out = self._interpreter.get_tensor(self._output["index"])  # a copy, safe to keep
        if self._output["dtype"] in _QUANTIZED:
            out = dequantize(out, *self._output["quantization"])
        return out.transpose(0, 3, 1, 2) if self._output_nhwc else out

    def _deactivate_impl(self) -> None:
        del self._interpreter

    def _settings_impl(self) -> dict[str, Any]:
        return {
            "backend_version": self._version,
            "device": "CPU",
            "num_threads": self.threads,
            "input_layout": "NHWC" if self._input_nhwc else "NCHW",
            "input_dtype": np.dtype(self._input["dtype"]).name,
            "output_dtype": np.dtype(self._output["dtype"]).name,
        }
