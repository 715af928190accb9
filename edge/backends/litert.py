"""LiteRT (ex TensorFlow Lite) via ``ai_edge_litert.interpreter.Interpreter``.

``.tflite`` files differ in three ways the caller must not see: I/O may be NCHW (litert-torch
keeps PyTorch's layout) or NHWC (most TF-converted models: the runner's binding transposes a
tensor declared NCHW), full-integer models take and return int8/uint8 tensors (quantized and
dequantized here from the tensor details, so callers feed and read float32), and converters
rename a sole input or output (``serving_default_args_0``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from edge.backends import import_library
from edge.backends.base import BaseRunner, TensorSpec
from edge.errors import BundleError

_QUANTIZED = (np.int8, np.uint8, np.int16)


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    """Float -> integer tensor with TFLite's affine scheme q = round(x / scale) + zero_point."""
    info = np.iinfo(dtype)
    q = np.round(x / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((q.astype(np.float32) - zero_point) * scale).astype(np.float32)


class LiteRtRunner(BaseRunner):
    """``threads`` sets the interpreter's ``num_threads`` (XNNPACK uses the same pool)."""

    backend = "litert"
    renames_tensors = True
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
        self._details = {d["name"]: d for d in
                         (*self._interpreter.get_input_details(), *self._interpreter.get_output_details())}
        for detail in self._details.values():
            if detail["dtype"] in _QUANTIZED and detail["quantization"][0] == 0:
                raise BundleError(f"{self.model_path.name}: tensor {detail['name']!r} is "
                                  f"{np.dtype(detail['dtype']).name} without a quantization scale")

    def _model_inputs_impl(self) -> list[TensorSpec]:
        return [self._spec(d) for d in self._interpreter.get_input_details()]

    def _model_outputs_impl(self) -> list[TensorSpec]:
        return [self._spec(d) for d in self._interpreter.get_output_details()]

    @staticmethod
    def _spec(detail: dict[str, Any]) -> TensorSpec:
        dtype = "float32" if detail["dtype"] in _QUANTIZED else np.dtype(detail["dtype"]).name
        return TensorSpec(detail["name"], tuple(int(d) for d in detail["shape"]), dtype)

    def _run_impl(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for name, x in feeds.items():
            detail = self._details[name]
            if detail["dtype"] in _QUANTIZED:
                x = quantize(x, *detail["quantization"], detail["dtype"])
            self._interpreter.set_tensor(detail["index"], np.ascontiguousarray(x, dtype=detail["dtype"]))
        self._interpreter.invoke()
        outputs = {}
        for binding in self._outputs:
            detail = self._details[binding.model]
            out = self._interpreter.get_tensor(detail["index"])  # a copy, safe to keep
            outputs[binding.model] = dequantize(out, *detail["quantization"]) if detail["dtype"] in _QUANTIZED \
                else out
        return outputs

    def _deactivate_impl(self) -> None:
        del self._interpreter, self._details

    def _settings_impl(self) -> dict[str, Any]:
        return {
            "backend_version": self._version,
            "device": "CPU",
            "num_threads": self.threads,
            # the file's own dtypes: int8/uint8 tensors are (de)quantized to float32 here
            "tensor_dtypes": {b.model: np.dtype(self._details[b.model]["dtype"]).name
                              for b in (*self._inputs, *self._outputs)},
        }
