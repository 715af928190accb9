"""ONNX Runtime (CPU execution provider)."""
from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edge.backends import import_library
from edge.backends.base import BaseRunner, TensorSpec
from edge.errors import BundleError, UnsupportedError
from edge.profile import LayerTime, conv_macs

_ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(uint8)": "uint8",
              "tensor(int8)": "int8", "tensor(int32)": "int32", "tensor(int64)": "int64"}
# Kernels whose second input is a convolution weight [O, I/groups, kh, kw] (NCHWc keeps that order).
_CONV_KERNELS = ("Conv", "FusedConv", "QLinearConv", "ConvInteger")


def _load_errors(ort: Any) -> tuple[type[Exception], ...]:
    """onnxruntime's loading errors derive from Exception directly, so name them."""
    state = ort.capi.onnxruntime_pybind11_state
    names = ("Fail", "InvalidArgument", "InvalidGraph", "InvalidProtobuf", "NoSuchFile", "NotImplemented",
             "RuntimeException")
    return tuple(getattr(state, n) for n in names)


class OrtRunner(BaseRunner):
    """Runs an ``.onnx`` file; ``threads`` sets ``intra_op_num_threads``.

    ``profiling`` turns on onnxruntime's profiler (``enable_profiling``); its JSON trace is read once,
    by ``profile``, which ends it (onnxruntime cannot restart a session's profiler)."""

    backend = "onnxruntime"
    graph_optimization = "ORT_ENABLE_ALL"  # a GraphOptimizationLevel member
    supports_profiling = True

    def _activate_impl(self) -> None:
        ort = import_library(self.backend)
        options = ort.SessionOptions()
        # Batch-1 inference gains nothing from parallel graph branches; threads go intra-op.
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = self.threads or 0  # 0 = onnxruntime's default
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, self.graph_optimization)
        if self.profiling:
            self._profile_dir = tempfile.TemporaryDirectory(prefix="edgeparse_ort_profile_")
            options.enable_profiling = True
            options.profile_file_prefix = str(Path(self._profile_dir.name) / "ort")
        self._version = ort.__version__
        try:
            self._session = ort.InferenceSession(str(self.model_path), options,
                                                 providers=["CPUExecutionProvider"])
        except _load_errors(ort) as exc:
            raise BundleError(f"{self.model_path}: onnxruntime cannot load the model: {exc}") from exc

    def _model_inputs_impl(self) -> list[TensorSpec]:
        return [_spec(i) for i in self._session.get_inputs()]

    def _model_outputs_impl(self) -> list[TensorSpec]:
        return [_spec(o) for o in self._session.get_outputs()]

    def _run_impl(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [b.model for b in self._outputs]
        return dict(zip(names, self._session.run(names, feeds)))

    def _profile_layers(self, runs: int) -> list[LayerTime]:
        if not hasattr(self, "_profile_dir"):
            raise UnsupportedError("onnxruntime's profiler of this session has ended; open a new runner to "
                                   "profile again")
        try:
            trace = json.loads(Path(self._session.end_profiling()).read_text())
        finally:
            self._profile_dir.cleanup()
            del self._profile_dir
        return kernel_times(trace, runs)

    def _deactivate_impl(self) -> None:
        del self._session
        if hasattr(self, "_profile_dir"):
            self._profile_dir.cleanup()

    def _settings_impl(self) -> dict[str, Any]:
        options = self._session.get_session_options()
        return {
            "backend_version": self._version,
            "device": "CPU",
            "providers": self._session.get_providers(),
            "intra_op_num_threads": options.intra_op_num_threads,
            "inter_op_num_threads": options.inter_op_num_threads,
            "graph_optimization": self.graph_optimization,
        }


def _spec(node: Any) -> TensorSpec:
    """An onnxruntime NodeArg ("tensor(float)", symbolic dims as strings) as a TensorSpec."""
    dtype = _ORT_TYPES.get(node.type)
    if dtype is None:
        raise BundleError(f"tensor {node.name!r} has type {node.type}, which edgeparse does not feed or read")
    return TensorSpec(node.name, tuple(d if isinstance(d, int) else None for d in node.shape), dtype)


def kernel_times(trace: list[dict[str, Any]], runs: int) -> list[LayerTime]:
    """Each node's median kernel time over its last ``runs`` executions in an onnxruntime profile
    trace, with the MACs of convolutions and matmuls from the shapes the trace records."""
    samples: dict[str, list[float]] = {}
    details: dict[str, dict[str, Any]] = {}
    for event in trace:
        name = event.get("name", "")
        if event.get("cat") == "Node" and name.endswith("_kernel_time"):
            node = name.removesuffix("_kernel_time")
            samples.setdefault(node, []).append(event["dur"] / 1e3)  # µs
            details[node] = event.get("args", {})
    return [LayerTime(node, details[node].get("op_name", "?"), details[node].get("provider", "?"),
                      statistics.median(durations[-runs:]), _node_macs(details[node]))
            for node, durations in samples.items()]


def _node_macs(args: dict[str, Any]) -> int:
    shapes = [next(iter(s.values())) for s in args.get("input_type_shape", [])]
    outputs = [next(iter(s.values())) for s in args.get("output_type_shape", [])]
    op = args.get("op_name", "")
    if not outputs or len(shapes) < 2:
        return 0
    if op in _CONV_KERNELS and len(shapes[1]) == 4:
        return conv_macs(outputs[0], int(np.prod(shapes[1][1:])))
    if op in ("MatMul", "Gemm", "FusedMatMul", "MatMulInteger") and shapes[0]:
        return conv_macs(outputs[0], shapes[0][-1])
    return 0


class ExactQdqOrtRunner(OrtRunner):
    """onnxruntime with graph optimizations off: every QuantizeLinear/DequantizeLinear runs as the ONNX
    spec defines it, around float ops, which is the arithmetic the QDQ graph means.

    With optimizations on, onnxruntime's CPU provider fuses Q/DQ into its own integer kernels, whose
    results on an x86 CPU (AVX2, no VNNI) drift from that arithmetic: on the default student, PTQ
    lost 0.43 mIoU points there against 2.18 with the fused kernels. Those are the kernels that runtime
    deploys with (``OrtRunner`` runs them), not a property of the graph.
    """

    backend = "onnxruntime-qdq"
    graph_optimization = "ORT_DISABLE_ALL"
