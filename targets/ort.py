"""The ``onnx`` target: the FP32 ONNX itself, run by onnxruntime (the reference every row is compared with)."""
from __future__ import annotations

import shutil

import onnx

from targets.base import Lowered, LowerRequest, package_version
from targets.export import GraphRules
from targets.formats import require_precision, target_spec

SPEC = target_spec("onnx")
# onnxruntime's CPU provider implements the whole default ONNX domain, every Resize mode and dynamic shapes.
GRAPH_RULES = GraphRules(
    ops=frozenset(schema.name for schema in onnx.defs.get_all_schemas() if schema.domain == ""),
    static_shapes=False,
    resize_modes=frozenset({"nearest", "linear", "cubic"}),
)


def lower(request: LowerRequest) -> Lowered:
    require_precision(SPEC, request.precision)
    path = request.artifact(SPEC.suffix)
    shutil.copyfile(request.onnx_path, path)
    return Lowered([path], backend_version=package_version("onnxruntime"),
                   notes="FP32 reference: the exported ONNX run by onnxruntime's CPU provider")
