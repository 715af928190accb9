"""OpenVINO (CPU plugin): reads IR (.xml + .bin) or ONNX directly."""
from __future__ import annotations

import statistics
from typing import Any

import numpy as np

from edge.backends import import_library
from edge.backends.base import BaseRunner, TensorSpec
from edge.errors import BundleError, UnsupportedError
from edge.profile import LayerTime, conv_macs

DEVICE = "CPU"
# Read back from the compiled model after compiling, as benchmark_app does: the hint picks
# streams/threads, and the numbers in a report must be the applied ones, not the requested.
# The inference precision is read back by ``_inference_precision_impl`` (checked on activate).
_APPLIED_PROPERTIES = ("PERFORMANCE_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS",
                       "OPTIMAL_NUMBER_OF_INFER_REQUESTS")
# The OPTIMIZATION_CAPABILITIES entry that says the CPU runs an inference precision natively
# ("BF16": AVX512-BF16 or AMX). Without it OpenVINO quietly runs another precision.
_CAPABILITY = {"f32": "FP32", "bf16": "BF16"}


def native_inference_precisions(core: Any | None = None) -> tuple[str, ...]:
    """The inference precisions this CPU runs natively under OpenVINO, e.g. ("f32", "bf16")."""
    core = core or import_library("openvino").Core()
    capabilities = core.get_property(DEVICE, "OPTIMIZATION_CAPABILITIES")
    return tuple(p for p, capability in _CAPABILITY.items() if capability in capabilities)


class OpenVinoRunner(BaseRunner):
    """``threads`` sets INFERENCE_NUM_THREADS; ``mode`` sets PERFORMANCE_HINT LATENCY/THROUGHPUT;
    ``inference_precision`` sets INFERENCE_PRECISION_HINT (unset, OpenVINO runs bf16 on CPUs
    with native bf16 and f32 elsewhere).

    Throughput mode runs an ``AsyncInferQueue`` with the plugin's optimal number of requests.
    ``profiling`` sets PERF_COUNT: the request's ``get_profiling_info`` after each inference.
    """

    backend = "openvino"
    supports_async = True
    supports_profiling = True
    inference_precisions = tuple(_CAPABILITY)
    device = DEVICE

    def _activate_impl(self) -> None:
        ov = import_library(self.backend)
        self._ov = ov
        self._core = ov.Core()
        config: dict[str, Any] = {"PERFORMANCE_HINT": self.mode.upper()}
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = self.threads
        if self.inference_precision:
            self._require_native(self.inference_precision)
            config["INFERENCE_PRECISION_HINT"] = self.inference_precision
        if self.profiling:
            config["PERF_COUNT"] = True
        try:
            model = self._core.read_model(str(self.model_path))
            self._compiled = self._core.compile_model(model, self.device, config)
        except RuntimeError as exc:  # OpenVINO reports every load/compile failure as RuntimeError
            raise BundleError(f"{self.model_path}: OpenVINO cannot load the model: {exc}") from exc
        self._request = self._compiled.create_infer_request()
        self._layer_macs = layer_macs(model) if self.profiling else {}
        self._layer_samples: dict[str, list[float]] = {}
        self._layer_kinds: dict[str, tuple[str, str]] = {}

    def _require_native(self, precision: str) -> None:
        if precision not in native_inference_precisions(self._core):
            capabilities = ", ".join(self._core.get_property(self.device, "OPTIMIZATION_CAPABILITIES"))
            name = self._core.get_property(self.device, "FULL_DEVICE_NAME")
            raise UnsupportedError(f"no native {precision} on this CPU ({name}): OpenVINO's "
                                   f"OPTIMIZATION_CAPABILITIES [{capabilities}] lack "
                                   f"{_CAPABILITY[precision]} (AVX512-BF16 or AMX)")

    def _model_inputs_impl(self) -> list[TensorSpec]:
        self._in_ports = self._named_ports(self._compiled.inputs, self._declared_inputs)
        return [_spec(name, port) for name, port in self._in_ports.items()]

    def _model_outputs_impl(self) -> list[TensorSpec]:
        self._out_ports = self._named_ports(self._compiled.outputs, self._declared_outputs)
        return [_spec(name, port) for name, port in self._out_ports.items()]

    @staticmethod
    def _named_ports(ports: Any, declared: tuple[TensorSpec, ...] | None) -> dict[str, Any]:
        """Each port under the declared name it carries (a port has a set of names), else its any-name."""
        wanted = [d.name for d in declared or ()]
        return {next((n for n in wanted if n in port.get_names()), port.get_any_name()): port for port in ports}

    def _requests(self, feeds: dict[str, np.ndarray]) -> dict[Any, np.ndarray]:
        return {self._in_ports[name]: x for name, x in feeds.items()}

    def _run_impl(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        result = self._request.infer(self._requests(feeds))
        return {b.model: _owned(result[self._out_ports[b.model]], b.transpose) for b in self._outputs}

    def _run_async_impl(self, feeds: dict[str, np.ndarray], count: int) -> list[float]:
        jobs = int(self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        queue = self._ov.AsyncInferQueue(self._compiled, jobs)
        latencies_ms: list[float] = []
        queue.set_callback(lambda request, _: latencies_ms.append(float(request.latency)))
        requests = self._requests(feeds)
        for _ in range(count):
            queue.start_async(requests)
        queue.wait_all()
        return latencies_ms

    def _collect_profile_run(self) -> None:
        for info in self._request.get_profiling_info():
            if info.status == info.Status.EXECUTED:
                self._layer_samples.setdefault(info.node_name, []).append(info.real_time.total_seconds() * 1e3)
                self._layer_kinds[info.node_name] = (info.node_type, info.exec_type)

    def _profile_layers(self, runs: int) -> list[LayerTime]:
        layers = [LayerTime(name, *self._layer_kinds[name], statistics.median(samples[-runs:]),
                            self._layer_macs.get(name, 0)) for name, samples in self._layer_samples.items()]
        self._layer_samples.clear()
        return layers

    def _deactivate_impl(self) -> None:
        del self._request, self._compiled, self._core
        self._in_ports, self._out_ports = {}, {}

    def _settings_impl(self) -> dict[str, Any]:
        applied = {name.lower(): _plain(self._compiled.get_property(name)) for name in _APPLIED_PROPERTIES}
        return {
            "backend_version": self._ov.get_version(),
            "device": self.device,
            "device_name": str(self._core.get_property(self.device, "FULL_DEVICE_NAME")),
            "optimization_capabilities": list(self._core.get_property(self.device,
                                                                      "OPTIMIZATION_CAPABILITIES")),
            **applied,
        }

    def _inference_precision_impl(self) -> str:
        return self._compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()  # an ov.Type: "f32"


def layer_macs(model: Any) -> dict[str, int]:
    """Friendly name -> MACs of each convolution and matmul of an ``ov.Model`` (the executed layer that
    a fused convolution becomes keeps its name), from the static shapes of the graph."""
    macs: dict[str, int] = {}
    for op in model.get_ops():
        kind = op.get_type_name()
        if kind not in ("Convolution", "GroupConvolution", "MatMul") or op.get_output_partial_shape(0).is_dynamic:
            continue
        output = list(op.get_output_shape(0))
        if kind == "MatMul":
            a = list(op.input_value(0).get_shape())
            per_output = a[-2] if op.get_attributes().get("transpose_a") else a[-1]
        else:  # weights [O, I, kh, kw], grouped [G, O/G, I/G, kh, kw]
            weights = list(op.input_value(1).get_shape())
            per_output = int(np.prod(weights[1:] if kind == "Convolution" else weights[2:]))
        macs[op.get_friendly_name()] = conv_macs(output, per_output)
    return macs


def _spec(name: str, port: Any) -> TensorSpec:
    shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
    return TensorSpec(name, shape, np.dtype(port.get_element_type().to_dtype()).name)


def _owned(out: np.ndarray, transpose: tuple[int, ...] | None) -> np.ndarray:
    """An output the caller may keep: the request reuses its buffers, so it is copied once, here, unless
    the caller's transpose into its layout (an NHWC output read as NCHW) makes the copy anyway."""
    if transpose is not None and not out.transpose(transpose).flags.c_contiguous:
        return out
    return np.array(out, copy=True)


def _plain(value: Any) -> Any:
    """OpenVINO returns Type/enum objects for some properties; JSON wants plain values."""
    return value if isinstance(value, (int, float, bool)) else str(value)
