"""Inference backends, one runner class per library, imported only when used.

``BACKENDS`` is the one table of backend names, runner classes ("module:Class"), the
library each needs and how to install it. Nothing here imports a backend library, so
``edge`` works on a device that has only the backend it deploys to.

``onnxruntime-qdq`` is onnxruntime with graph optimizations off: every QuantizeLinear/DequantizeLinear
runs as the ONNX spec defines it, the arithmetic a QDQ graph means (TensorRT's explicit quantization).
It scores QDQ ONNX files in ``quantize`` and the host-side rows of jetson int8 bundles.
"""
from __future__ import annotations

import functools
import importlib
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from edge.backends.base import MODES, BaseRunner, Runner, TensorSpec
from edge.bundle import Bundle, load_bundle
from edge.errors import BackendUnavailable, UnknownNameError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackendEntry:
    runner: str  # "module:Class"
    library: str  # the import name of the library it needs
    install: str  # how to get that library


BACKENDS: dict[str, BackendEntry] = {
    "onnxruntime": BackendEntry("edge.backends.ort:OrtRunner", "onnxruntime",
                                "pip install 'edgeparse[ort]' (onnxruntime==1.31.1)"),
    "onnxruntime-qdq": BackendEntry("edge.backends.ort:ExactQdqOrtRunner", "onnxruntime",
                                    "pip install 'edgeparse[ort]' (onnxruntime==1.31.1)"),
    "openvino": BackendEntry("edge.backends.openvino:OpenVinoRunner", "openvino",
                             "pip install 'edgeparse[openvino]' (openvino==2026.4.1)"),
    "litert": BackendEntry("edge.backends.litert:LiteRtRunner", "ai_edge_litert",
                           "pip install 'edgeparse[litert]' (ai-edge-litert==2.3.0)"),
    "tensorrt": BackendEntry("edge.backends.tensorrt:TensorRtRunner", "tensorrt",
                             "use the TensorRT Python bindings of JetPack/the TensorRT install on the "
                             "GPU machine (e.g. apt install python3-libnvinfer) and pip install cuda-python"),
}


# OpenVINO's model converter and NNCF send usage statistics through this package (a client id written
# under ~/intel, then HTTPS posts to an analytics host). Both fall back to a no-op stub when it cannot
# be imported, so blocking its import is an opt-out that writes no consent file and needs no network.
TELEMETRY_PACKAGE = "openvino_telemetry"
TELEMETRY_LIBRARIES = frozenset({"openvino", "nncf"})


@functools.cache
def opt_out_of_telemetry() -> None:
    """Keep OpenVINO and NNCF from phoning home; effective when called before either is first imported."""
    if sys.modules.setdefault(TELEMETRY_PACKAGE, None) is not None:
        log.warning("%s was imported before edgeparse could block it, so OpenVINO/NNCF telemetry stays as "
                    "configured (opt out for good with: opt_in_out --opt_out)", TELEMETRY_PACKAGE)


def list_backends() -> list[str]:
    return sorted(BACKENDS)


def _entry(backend: str) -> BackendEntry:
    if backend not in BACKENDS:
        raise UnknownNameError("backend", backend, BACKENDS)
    return BACKENDS[backend]


def import_library(backend: str, module: str | None = None) -> ModuleType:
    """Import the library ``backend`` needs (or its extra ``module``), with an install hint."""
    entry = _entry(backend)
    name = module or entry.library
    if name.split(".")[0] in TELEMETRY_LIBRARIES:
        opt_out_of_telemetry()
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise BackendUnavailable(
            f"backend {backend!r} needs the Python module {name!r}, which cannot be imported here "
            f"({exc}). Install: {entry.install}"
        ) from exc


def runner_class(backend: str) -> type[BaseRunner]:
    module_name, class_name = _entry(backend).runner.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def open_runner(bundle: Bundle | str | Path, threads: int | None = None, mode: str = "latency",
                profiling: bool = False, *, backend: str | None = None, model: Path | None = None) -> BaseRunner:
    """An inactive runner for a bundle's model; use it as ``with open_runner(b) as runner:``.

    A bundle is a segmentation model: one input and one (1, C, H, W) logits output at the input size,
    C the schema's classes; the runner checks both. It pins the manifest's ``inference_precision``
    and refuses to run at another one; ``profiling`` turns on the backend's per-layer counters
    (``runner.profile``). ``backend`` and ``model`` run another file of the bundle on another backend
    under the same contract (the host-side check of a jetson bundle); no precision is pinned then."""
    if not isinstance(bundle, Bundle):
        bundle = load_bundle(bundle)
    m = bundle.manifest
    inputs, outputs = segmentation_io(m.input.name, m.input.size, bundle.schema.num_classes, m.output.name,
                                      batch=m.input.shape[0])
    precision = m.inference_precision if backend is None else None
    return runner_class(backend or m.backend)(model or bundle.model_path, inputs, threads=threads, mode=mode,
                                              inference_precision=precision, profiling=profiling, outputs=outputs)


def segmentation_io(input_name: str, size: tuple[int, int], num_classes: int, output_name: str = "logits",
                    batch: int = 1) -> tuple[TensorSpec, tuple[TensorSpec]]:
    """The tensors of a face-parsing model: a (batch, 3, H, W) float32 image and (batch, C, H, W)
    logits at the input size (the export contract), as ``inputs`` and ``outputs`` of a runner."""
    height, width = size
    return (TensorSpec(input_name, (batch, 3, height, width)),
            (TensorSpec(output_name, (batch, num_classes, height, width)),))


__all__ = ["BACKENDS", "MODES", "BackendEntry", "BaseRunner", "Runner", "TensorSpec", "import_library",
           "list_backends", "open_runner", "opt_out_of_telemetry", "runner_class", "segmentation_io"]
