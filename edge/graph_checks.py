"""Graph-hygiene checks on exported ONNX models (onnx only; never torch).

The rules come from the developers' guide ("graph hygiene for exported models"): ops that some
edge backend lowers differently, slowly or not at all are reported as problems. ``onnx`` is
imported inside the function so importing this module needs nothing beyond the edge install.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

FORBIDDEN_OPS = {
    "GridSample": "GridSample (grid_sample) is missing or slow on several edge backends",
}


def check_graph_hygiene(onnx_model: Any, dynamic_axes: bool = False) -> list[str]:
    """Return human-readable problems of ``onnx_model`` (a ``ModelProto`` or a path); ``[]`` if clean.

    Checked: no GridSample; no Resize with ``align_corners`` coordinates; no ATen fallbacks or
    adaptive pools; no Pad with a -inf constant and no MaxPool with implicit (-inf) padding;
    exactly one graph output; static input shapes unless ``dynamic_axes`` was requested.
    """
    import onnx

    model = onnx.load(str(onnx_model)) if isinstance(onnx_model, (str, Path)) else onnx_model
    graph = model.graph
    constants = _constant_values(graph)
    problems: list[str] = []
    for node in graph.node:
        problems += _node_problems(node, constants)
    if len(graph.output) != 1:
        names = [o.name for o in graph.output]
        problems.append(f"graph has {len(names)} outputs {names}; export exactly one (the logits)")
    if not dynamic_axes:
        problems += _dynamic_input_problems(graph)
    return problems


def _attribute(node: Any, name: str, default: Any = None) -> Any:
    import onnx

    for attr in node.attribute:
        if attr.name == name:
            value = onnx.helper.get_attribute_value(attr)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _node_problems(node: Any, constants: dict[str, list[float]]) -> list[str]:
    where = f"{node.op_type} node {node.name or '(unnamed)'}"
    if node.op_type in FORBIDDEN_OPS:
        return [f"{where}: {FORBIDDEN_OPS[node.op_type]}"]
    if node.op_type == "Resize" and _attribute(node, "coordinate_transformation_mode") == "align_corners":
        return [f"{where}: align_corners resize; use align_corners=False (half_pixel)"]
    if node.op_type == "ATen" or "adaptive" in node.op_type.lower():
        operator = _attribute(node, "operator", node.op_type)
        return [f"{where}: ATen/adaptive fallback {operator!r}; use mean((2, 3)) or a fixed pooling"]
    if node.op_type == "Pad" and len(node.input) > 2 and node.input[2]:
        values = constants.get(node.input[2], [])
        if any(math.isinf(v) and v < 0 for v in values):
            return [f"{where}: pads with -inf (LiteRT PADV2 -inf); pad with 0 after a ReLU instead"]
    if node.op_type == "MaxPool" and any(_attribute(node, "pads", [])):
        return [f"{where}: MaxPool with implicit -inf padding; zero-pad post-ReLU input instead"]
    return []


def _constant_values(graph: Any) -> dict[str, list[float]]:
    """Values of initializers and Constant nodes, by tensor name (to inspect Pad constants)."""
    from onnx import numpy_helper

    values = {init.name: numpy_helper.to_array(init).ravel().tolist() for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            tensor = _attribute(node, "value")
            if tensor is not None:
                values[node.output[0]] = numpy_helper.to_array(tensor).ravel().tolist()
    return values


def _dynamic_input_problems(graph: Any) -> list[str]:
    initializers = {init.name for init in graph.initializer}
    problems = []
    for value in graph.input:
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
        if any(not isinstance(d, int) or d <= 0 for d in shape):
            problems.append(f"input {value.name!r} has a dynamic shape {shape}; export static shapes "
                            f"or request dynamic axes explicitly")
    return problems
