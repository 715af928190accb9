"""Deploy targets: one module per target, found through ``TARGET_MODULES``.

A target module (``targets/<file>.py``, named after the target, not the library) exposes:

* ``SPEC: TargetSpec`` - from ``targets.formats.target_spec(name)`` (its rows of ``edge.formats.FORMATS``);
* ``GRAPH_RULES: GraphRules`` - the ONNX ops it accepts and whether it needs static shapes,
  checked on the FP32 ONNX before lowering (``targets.export.check_target_graph``);
* ``lower(request: LowerRequest) -> Lowered`` - build the artifact files of one precision in
  ``request.work_dir``; raises ``UnsupportedError`` for a precision ``SPEC`` lacks;
* ``host_model(bundle: Bundle) -> Path`` - only where a format row names a ``host_check`` runner
  (jetson): the bundle file that runner scores on the build host.

``edgeparse deploy`` (``targets.pipeline``) turns each ``Lowered`` into a bundle, then validates
and benchmarks it. A bundle whose first artifact lacks ``SPEC.suffix`` (e.g. a jetson bundle
built on a host without TensorRT, which ships the ONNX and ``build_engine.sh``) is reported as
``skipped`` with its notes, and a missing backend library as ``unavailable``; a host-side
accuracy row (``host:<runner>``) follows it where the format has one.
Modules are imported on first use, so importing ``targets`` needs no torch or backend.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from edge.errors import UnknownNameError, UnsupportedError
from targets.formats import list_targets

TARGET_MODULES: dict[str, str] = {
    "onnx": "targets.ort",
    "cpu": "targets.openvino_cpu",
    "mobile": "targets.litert",
    "jetson": "targets.tensorrt_jetson",
}


def load_target(name: str) -> ModuleType:
    """The module of target ``name`` (``UnknownNameError`` with close matches otherwise)."""
    if name not in TARGET_MODULES:
        raise UnknownNameError("target", name, TARGET_MODULES)
    module_name = TARGET_MODULES[name]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise  # a dependency of the module is missing: a real error, not an absent target
        raise UnsupportedError(f"target {name!r} is not part of this install ({module_name} is missing)") from exc


__all__ = ["TARGET_MODULES", "list_targets", "load_target"]
