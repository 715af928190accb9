"""TensorRT (Jetson / NVIDIA GPU): runs a serialized engine with the TensorRT 10 tensor API.

Device memory and the CUDA stream come from cuda-python's runtime bindings, so this backend
needs no torch or pycuda. Engines are specific to the GPU and TensorRT version that built
them: a bundle's ``backend_version`` says which, and a mismatch fails at deserialization.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from edge.backends import import_library
from edge.backends.base import BaseRunner
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
        self._input_name, self._output_name = self._io_names()
        self._context.set_input_shape(self._input_name, tuple(self.input_spec.shape))
        self._buffers = {name: self._allocate(name) for name in (self._input_name, self._output_name)}

    def _cuda(self, result: tuple) -> Any:
        """cuda-python returns (error, value...); turn an error code into an exception."""
        error, *values = result
        if error != self._cudart.cudaError_t.cudaSuccess:
            raise BackendUnavailable(f"CUDA call failed with {error!r}; is the GPU driver loaded?")
        return values[0] if len(values) == 1 else None

    def _io_names(self) -> tuple[str, str]:
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        is_input = {n: self._engine.get_tensor_mode(n) == self._trt.TensorIOMode.INPUT for n in names}
        inputs = [n for n in names if is_input[n]]
        outputs = [n for n in names if not is_input[n]]
        if inputs != [self.input_spec.name] or len(outputs) != 1:
            raise BundleError(f"{self.model_path.name}: expected input {self.input_spec.name!r} and one "
                              f"output, the engine has inputs {inputs} and outputs {outputs}")
        return inputs[0], outputs[0]

    def _allocate(self, name: str) -> tuple[np.ndarray, int]:
        """A host array and a device buffer of the same size, bound to tensor ``name``."""
        shape = tuple(self._context.get_tensor_shape(name))
        host = np.empty(shape, dtype=self._trt.nptype(self._engine.get_tensor_dtype(name)))
        device = self._cuda(self._cudart.cudaMalloc(host.nbytes))
        self._context.set_tensor_address(name, int(device))
        return host, int(device)

    def _infer_impl(self, x: np.ndarray) -> np.ndarray:
        cudart = self._cudart
        host_in, dev_in = self._buffers[self._input_name]
        host_out, dev_out = self._buffers[self._output_name]
        np.copyto(host_in, x, casting="same_kind")  # an fp16-I/O engine takes half inputs
        self._cuda(cudart.cudaMemcpyAsync(dev_in, host_in.ctypes.data, host_in.nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, self._stream))
        if not self._context.execute_async_v3(int(self._stream)):
            raise BundleError(f"{self.model_path.name}: TensorRT execution failed (see the TensorRT log)")
        self._cuda(cudart.cudaMemcpyAsync(host_out.ctypes.data, dev_out, host_out.nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, self._stream))
        self._cuda(cudart.cudaStreamSynchronize(self._stream))
        return host_out.astype(np.float32, copy=True)

    def _deactivate_impl(self) -> None:
        for _, device in self._buffers.values():
            self._cuda(self._cudart.cudaFree(device))
        self._cuda(self._cudart.cudaStreamDestroy(self._stream))
        del self._context, self._engine, self._runtime, self._buffers

    def _settings_impl(self) -> dict[str, Any]:
        props = self._cuda(self._cudart.cudaGetDeviceProperties(self._cuda(self._cudart.cudaGetDevice())))
        name = props.name.decode() if isinstance(props.name, bytes) else str(props.name)
        return {"backend_version": self._trt.__version__, "device": "GPU", "device_name": name.strip("\x00"),
                "input_dtype": self._buffers[self._input_name][0].dtype.name}
