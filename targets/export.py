"""Checkpoint model → the one static FP32 ONNX every target starts from, and the per-target graph checks.

The ONNX is exported once per deploy run with the legacy TorchScript exporter at opset 17 (the
route verified exact to ~1e-5 on every backend: docs/design.md#fp32-onnx), then cleaned by onnxslim. It must
pass the project's graph hygiene; then each target checks it against its own rules (the ONNX ops
it lowers, static shapes where it needs them, one output) *before* lowering, so an unsupported op
fails with its name instead of a converter stack trace or a silently wrong model. LiteRT lowers
from the torch model, not from this file, but the same graph is checked: it is the common IR.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edge.errors import ExportError
from edge.graph_checks import check_graph_hygiene
from edge.io import atomic_path

log = logging.getLogger(__name__)

OPSET = 17
INPUT_NAME, OUTPUT_NAME = "input", "logits"
EXPORT_ATOL = 1e-3  # torch vs onnxruntime on the same input; a correct export is ~1e-5

# The ops of a CNN segmentation student, as every target here lowers them.
CNN_OPS = frozenset({
    "Add", "AveragePool", "BatchNormalization", "Clip", "Concat", "Constant", "Conv", "ConvTranspose", "Div",
    "Flatten", "Gemm", "GlobalAveragePool", "HardSigmoid", "HardSwish", "Identity", "LeakyRelu", "MatMul",
    "MaxPool", "Mul", "PRelu", "Pad", "ReduceMean", "Relu", "Reshape", "Resize", "Sigmoid", "Slice", "Softmax",
    "Split", "Squeeze", "Sub", "Tanh", "Transpose", "Unsqueeze",
})
RESIZE_MODES = frozenset({"nearest", "linear"})


@dataclass(frozen=True)
class GraphRules:
    """What one target accepts: ONNX op types (default domain), static shapes, Resize modes."""

    ops: frozenset[str]
    static_shapes: bool
    resize_modes: frozenset[str] = RESIZE_MODES


def export_onnx(model: nn.Module, input_size: int, path: str | Path, slim: bool = True) -> Path:
    """Write ``model`` as a static 1x3xSxS ``input`` → ``logits`` ONNX (opset 17) to ``path``.

    Raises ``ExportError`` if the exporter fails or the graph breaks graph hygiene.
    """
    import onnx

    path = Path(path)
    example = torch.zeros(1, 3, input_size, input_size)
    try:
        with atomic_path(path) as tmp:
            _export_checked(model, example, tmp, slim)
    except (torch.onnx.errors.OnnxExporterError, torch.onnx.errors.UnsupportedOperatorError,
            onnx.checker.ValidationError) as exc:
        raise ExportError(f"ONNX export of {type(model).__name__} at {input_size}px failed: {exc}") from exc
    log.info("exported %s (%.2f MB, opset %d)", path, path.stat().st_size / 1e6, OPSET)
    return path


def _export_checked(model: nn.Module, example: torch.Tensor, tmp: Path, slim: bool) -> None:
    """Export to ``tmp``, slim, check hygiene and the ONNX checker, and save the result back to ``tmp``."""
    import onnx

    with torch.no_grad(), warnings.catch_warnings():
        # The model's own input-shape checks are constant at a fixed export size.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(model.eval(), (example,), str(tmp), dynamo=False, opset_version=OPSET,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME])
    graph = onnx.load(str(tmp))
    if slim:
        import onnxslim

        graph = onnxslim.slim(graph)
    problems = check_graph_hygiene(graph)
    if problems:
        raise ExportError(f"the exported FP32 graph breaks graph hygiene ({len(problems)} problems): "
                          + "; ".join(problems))
    onnx.checker.check_model(graph)
    onnx.save(graph, str(tmp))


def check_export_parity(model: nn.Module, onnx_path: Path, x: np.ndarray, atol: float = EXPORT_ATOL) -> float:
    """Max |torch − onnxruntime| on input ``x``; ``ExportError`` above ``atol`` (the export changed the math)."""
    from edge.backends import TensorSpec, runner_class

    with torch.no_grad():
        reference = model.eval()(torch.from_numpy(x)).numpy()
    with runner_class("onnxruntime")(onnx_path, TensorSpec(INPUT_NAME, tuple(x.shape))) as runner:
        logits = runner.infer(x)
    if reference.shape != logits.shape:
        raise ExportError(f"ONNX logits {list(logits.shape)} differ in shape from torch's {list(reference.shape)}")
    delta = float(np.abs(reference - logits).max())
    if not delta <= atol:
        raise ExportError(f"the FP32 ONNX differs from the torch model by max |Δlogit| {delta:.3g} > {atol:g}")
    return delta


def target_graph_problems(onnx_model: Any, rules: GraphRules) -> list[str]:
    """Problems of ``onnx_model`` (a ``ModelProto`` or a path) for a target with ``rules``."""
    import onnx

    model = onnx.load(str(onnx_model)) if isinstance(onnx_model, (str, Path)) else onnx_model
    graph = model.graph
    problems = []
    unsupported = sorted({n.op_type for n in graph.node if n.domain not in ("", "ai.onnx")
                          or n.op_type not in rules.ops})
    if unsupported:
        problems.append(f"unsupported ops {unsupported}")
    for node in graph.node:
        mode = _attribute(node, "mode", "nearest") if node.op_type == "Resize" else None
        if mode is not None and mode not in rules.resize_modes:
            problems.append(f"Resize node {node.name!r} uses mode {mode!r}; supported: "
                            f"{', '.join(sorted(rules.resize_modes))}")
    if len(graph.output) != 1:
        problems.append(f"{len(graph.output)} outputs {[o.name for o in graph.output]}; export exactly one")
    if rules.static_shapes:
        problems += [f"{kind} {value.name!r} has a dynamic shape {_dims(value)}"
                     for kind, values in (("input", graph.input), ("output", graph.output))
                     for value in values if not all(isinstance(d, int) and d > 0 for d in _dims(value))]
    return problems


def check_target_graph(onnx_model: Any, target: str, rules: GraphRules) -> None:
    """Raise ``ExportError`` listing every problem of the graph for ``target``."""
    problems = target_graph_problems(onnx_model, rules)
    if problems:
        raise ExportError(f"the graph cannot be lowered to {target}: " + "; ".join(problems))


def _attribute(node: Any, name: str, default: Any) -> Any:
    import onnx

    for attr in node.attribute:
        if attr.name == name:
            value = onnx.helper.get_attribute_value(attr)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _dims(value: Any) -> list[int | str]:
    dims = value.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
