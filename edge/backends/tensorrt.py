"""TensorRT (Jetson / NVIDIA GPU): runs a serialized engine with the TensorRT 10 tensor API.

Device memory and the CUDA stream come from cuda-python's runtime bindings, so this backend
needs no torch or pycuda. Engines are specific to the GPU and TensorRT version that built
them: a bundle's ``backend_version`` says which, and a mismatch fails at deserialization.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from edge.backends import import_library
from edge.backends.base import BaseRunner, TensorSpec
from edge.errors import BackendUnavailable, BundleError


def _import_cudart() -> Any:
    """cuda-python >= 12.6 has ``cuda.bindings.runtime``; older releases ``cuda.cudart``."""
    try:
        return import_library("tensorrt", "cuda.bindings.runtime")
    except BackendUnavailable:
        return import_library("tensorrt", "cuda.cudart")


class TensorRtRunner(BaseRunner):
    """``threads`` has no meaning on a GPU and is recorded only; ``mode`` is latency-only."""

    backend = "tensorrt"
    no_profiler = ("edgeparse does not read TensorRT's IProfiler (untested without a GPU here); on the device, "
                   "trtexec --loadEngine=ENGINE --dumpProfile --separateProfileRun gives per-layer times")

    def _activate_impl(self) -> None:
        if self.model_path.suffix == ".onnx":  # a jetson bundle ships the ONNX; the device builds the engine
            raise BackendUnavailable(
                f"{self.model_path.parent}: no engine yet: run build_engine.sh on the device (or `edgeparse "
                f"build-engine {self.model_path.parent}`); engines are specific to the GPU and TensorRT version "
                f"that build them, so the bundle carries only {self.model_path.name} to build from")
        trt = import_library(self.backend)
        self._trt, self._cudart = trt, _import_cudart()
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(self.model_path.read_bytes())
        if self._engine is None:
            raise BundleError(f"{self.model_path}: TensorRT {trt.__version__} cannot deserialize this engine "
                              f"(built for another TensorRT version or GPU?); rebuild it on this device")
        self._context = self._engine.create_execution_context()
        self._stream = self._cuda(self._cudart.cudaStreamCreate())
        self._buffers: dict[str, tuple[np.ndarray, int]] = {}

    def _cuda(self, result: tuple) -> Any:
        """cuda-python returns (error, value...); turn an error code into an exception."""
        error, *values = result
        if error != self._cudart.cudaError_t.cudaSuccess:
            raise BackendUnavailable(f"CUDA call failed with {error!r}; is the GPU driver loaded?")
        return values[0] if len(values) == 1 else None

    def _tensors(self, inputs: bool) -> list[TensorSpec]:
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        mode = self._trt.TensorIOMode.INPUT
        # An fp16-I/O engine takes and gives half tensors; the runner converts, callers see float32.
        return [TensorSpec(n, tuple(d if d >= 0 else None for d in self._engine.get_tensor_shape(n)), "float32")
                for n in names if (self._engine.get_tensor_mode(n) == mode) == inputs]

    def _model_inputs_impl(self) -> list[TensorSpec]:
        return self._tensors(inputs=True)

    def _model_outputs_impl(self) -> list[TensorSpec]:
        return self._tensors(inputs=False)

    def _bind(self) -> None:
        """After the names are bound: fix the input shapes and allocate every I/O buffer once."""
        super()._bind()
        for binding in self._inputs:
            shape = binding.caller.shape if binding.transpose is None else \
                tuple(binding.caller.shape[i] for i in binding.transpose)
            self._context.set_input_shape(binding.model, shape)
        self._buffers = {b.model: self._allocate(b.model) for b in (*self._inputs, *self._outputs)}

    def _allocate(self, name: str) -> tuple[np.ndarray, int]:
        """A host array and a device buffer of the same size, bound to tensor ``name``."""
        shape = tuple(self._context.get_tensor_shape(name))
        host = np.empty(shape, dtype=self._trt.nptype(self._engine.get_tensor_dtype(name)))
        device = self._cuda(self._cudart.cudaMalloc(host.nbytes))
        self._context.set_tensor_address(name, int(device))
        return host, int(device)

    def _run_impl(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cudart = self._cudart
        for name, x in feeds.items():
            host, device = self._buffers[name]
            np.copyto(host, x, casting="same_kind")  # an fp16-I/O engine takes half inputs
            self._cuda(cudart.cudaMemcpyAsync(device, host.ctypes.data, host.nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, self._stream))
        if not self._context.execute_async_v3(int(self._stream)):
            raise BundleError(f"{self.model_path.name}: TensorRT execution failed (see the TensorRT log)")
        for binding in self._outputs:
            host, device = self._buffers[binding.model]
            self._cuda(cudart.cudaMemcpyAsync(host.ctypes.data, device, host.nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, self._stream))
        self._cuda(cudart.cudaStreamSynchronize(self._stream))
        return {b.model: self._buffers[b.model][0].astype(np.float32, copy=True) for b in self._outputs}

    def _deactivate_impl(self) -> None:
        for _, device in self._buffers.values():
            self._cuda(self._cudart.cudaFree(device))
        self._cuda(self._cudart.cudaStreamDestroy(self._stream))
        del self._context, self._engine, self._runtime, self._buffers

    def _settings_impl(self) -> dict[str, Any]:
        props = self._cuda(self._cudart.cudaGetDeviceProperties(self._cuda(self._cudart.cudaGetDevice())))
        name = props.name.decode() if isinstance(props.name, bytes) else str(props.name)
        return {"backend_version": self._trt.__version__, "device": "GPU", "device_name": name.strip("\x00"),
                "tensor_dtypes": {name: host.dtype.name for name, (host, _) in self._buffers.items()}}
