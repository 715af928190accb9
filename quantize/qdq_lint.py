"""Lint a QDQ ONNX model against TensorRT's explicit-quantization rules (onnx + NumPy only, no torch).

The Jetson target runs this on hosts without TensorRT, before building an engine:

* every QuantizeLinear/DequantizeLinear is **int8** with **zero-point 0** and a constant, positive
  float scale (TensorRT's explicit quantization is symmetric);
* per-channel quantization only on constant weights, along **axis 0** (output channels), with
  one scale per channel; activations are per-tensor;
* default-domain **opset >= 13** (per-axis Q/DQ), and only ops TensorRT's ONNX parser supports.

Every finding names the node and the tensor, e.g.
``DequantizeLinear 'node_dq_7': zero-point 'val_12' of tensor 'x_q' is 3, TensorRT needs 0``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import ExportError

MIN_OPSET = 13
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
WEIGHT_AXIS = 0
# ONNX ops TensorRT's parser imports (onnx-tensorrt docs/operators.md), minus those the
# project's graph hygiene forbids anyway (GridSample). Anything else is reported.
TENSORRT_OPS = frozenset({
    "Abs", "Acos", "Add", "And", "ArgMax", "ArgMin", "Asin", "Atan", "AveragePool", "BatchNormalization",
    "Cast", "Ceil", "Clip", "Concat", "Constant", "ConstantOfShape", "Conv", "ConvTranspose", "Cos", "CumSum",
    "DepthToSpace", "DequantizeLinear", "Div", "Einsum", "Elu", "Equal", "Erf", "Exp", "Expand", "Flatten",
    "Floor", "Gather", "GatherElements", "Gelu", "Gemm", "GlobalAveragePool", "GlobalMaxPool", "Greater",
    "GreaterOrEqual", "HardSigmoid", "HardSwish", "Identity", "InstanceNormalization", "LayerNormalization",
    "LeakyRelu", "Less", "LessOrEqual", "Log", "LogSoftmax", "MatMul", "Max", "MaxPool", "Mean", "Min", "Mod",
    "Mul", "Neg", "Not", "Or", "Pad", "Pow", "PRelu", "QuantizeLinear", "Range", "Reciprocal", "ReduceL1",
    "ReduceL2", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum",
    "ReduceSumSquare", "Relu", "Reshape", "Resize", "Round", "Selu", "Shape", "Sigmoid", "Sign", "Sin", "Sinh",
    "Size", "Slice", "Softmax", "Softplus", "Softsign", "SpaceToDepth", "Split", "Sqrt", "Squeeze", "Sub",
    "Sum", "Tan", "Tanh", "ThresholdedRelu", "Tile", "TopK", "Transpose", "Unsqueeze", "Upsample", "Where", "Xor",
})


@dataclass(frozen=True)
class Finding:
    rule: str  # int8 | zero_point | scale | per_channel_axis | per_channel_activation | opset | op | no_qdq
    node: str
    tensor: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"


@dataclass
class LintReport:
    path: str
    opset: int
    quantize_nodes: int = 0
    dequantize_nodes: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def format(self, limit: int = 20) -> str:
        head = (f"QDQ lint of {self.path} (opset {self.opset}, {self.quantize_nodes} QuantizeLinear, "
                f"{self.dequantize_nodes} DequantizeLinear): ")
        if self.ok:
            return head + "OK for TensorRT explicit quantization"
        lines = [head + f"{len(self.findings)} finding(s)"]
        lines += [f"  {f}" for f in self.findings[:limit]]
        if len(self.findings) > limit:
            lines.append(f"  ... and {len(self.findings) - limit} more")
        return "\n".join(lines)


def lint_qdq(path: str | Path) -> LintReport:
    """Check the ONNX file at ``path``; raises ``ExportError`` only if it cannot be read."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path))
    except (DecodeError, OSError) as exc:  # not a protobuf (cut, or another format), or unreadable
        raise ExportError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {exc})") from exc
    return lint_model(model, str(path))


def lint_model(model: Any, name: str = "model") -> LintReport:
    """Lint an ``onnx.ModelProto`` (see the module docstring for the rules)."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    report = LintReport(name, opset)
    if opset < MIN_OPSET:
        report.findings.append(Finding("opset", "", "", f"default-domain opset {opset} < {MIN_OPSET}: "
                                       "per-axis QuantizeLinear/DequantizeLinear need opset >= 13"))
    graph = model.graph
    constants = _constants(graph)
    producers = {out: node for node in graph.node for out in node.output}
    for node in graph.node:
        where = f"{node.op_type} {node.name or '(unnamed)'!r}"
        if node.domain not in ("", "ai.onnx") or node.op_type not in TENSORRT_OPS:
            domain = f" (domain {node.domain!r})" if node.domain not in ("", "ai.onnx") else ""
            report.findings.append(Finding("op", node.name, node.output[0] if node.output else "",
                                           f"{where}{domain}: op not supported by TensorRT's ONNX parser"))
        if node.op_type in QDQ_OPS:
            report.quantize_nodes += node.op_type == "QuantizeLinear"
            report.dequantize_nodes += node.op_type == "DequantizeLinear"
            report.findings += _qdq_findings(node, where, constants, producers)
    if report.quantize_nodes + report.dequantize_nodes == 0:
        report.findings.append(Finding("no_qdq", "", "", "no QuantizeLinear/DequantizeLinear nodes: the model is "
                                       "not explicitly quantized (export it with quantize.export_qdq)"))
    return report


def _constants(graph: Any) -> dict[str, np.ndarray]:
    """Initializers and Constant-node outputs by tensor name."""
    from onnx import helper, numpy_helper

    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(helper.get_attribute_value(attr))
    return values


def _attr(node: Any, name: str, default: Any) -> Any:
    from onnx import helper

    for attr in node.attribute:
        if attr.name == name:
            return helper.get_attribute_value(attr)
    return default


def _qdq_findings(node: Any, where: str, constants: dict[str, np.ndarray],
                  producers: dict[str, Any]) -> list[Finding]:
    data = node.input[0]
    scale_name = node.input[1] if len(node.input) > 1 else ""
    zp_name = node.input[2] if len(node.input) > 2 else ""
    findings = _zero_point_findings(node, where, data, zp_name, constants)
    scale = constants.get(scale_name)
    if scale is None:
        return findings + [Finding("scale", node.name, data, f"{where}: scale {scale_name!r} of tensor {data!r} "
                                   "is not a constant; TensorRT needs constant scales")]
    if not (np.issubdtype(scale.dtype, np.floating) and np.all(np.isfinite(scale)) and np.all(scale > 0)):
        findings.append(Finding("scale", node.name, data, f"{where}: scale {scale_name!r} of tensor {data!r} must "
                                f"be finite positive floats, got {scale.dtype} {np.ravel(scale)[:4].tolist()}"))
    if scale.size > 1:
        findings += _per_channel_findings(node, where, data, scale, _constant_root(data, constants, producers))
    return findings


# Ops an exporter may leave on a weight's path (Q -> Clip -> DQ when weights are not folded).
_WEIGHT_PATH_OPS = ("QuantizeLinear", "Clip", "Identity", "Cast")


def _constant_root(tensor: str, constants: dict[str, np.ndarray], producers: dict[str, Any]) -> np.ndarray | None:
    """The constant a tensor is computed from along a weight path, or None for an activation."""
    while tensor not in constants:
        node = producers.get(tensor)
        if node is None or node.op_type not in _WEIGHT_PATH_OPS:
            return None
        tensor = node.input[0]
    return constants[tensor]


def _zero_point_findings(node: Any, where: str, data: str, zp_name: str,
                         constants: dict[str, np.ndarray]) -> list[Finding]:
    if not zp_name:  # an omitted zero-point means uint8 (ONNX default)
        return [Finding("int8", node.name, data, f"{where}: tensor {data!r} has no zero-point, so it is uint8; "
                        "TensorRT explicit quantization needs int8 with zero-point 0")]
    zero_point = constants.get(zp_name)
    if zero_point is None:
        return [Finding("zero_point", node.name, data, f"{where}: zero-point {zp_name!r} of tensor {data!r} "
                        "is not a constant")]
    if zero_point.dtype != np.int8:
        return [Finding("int8", node.name, data, f"{where}: tensor {data!r} is quantized to {zero_point.dtype} "
                        f"(zero-point {zp_name!r}); TensorRT explicit quantization needs int8")]
    if np.any(zero_point != 0):
        bad = np.ravel(zero_point)[np.ravel(zero_point) != 0]
        return [Finding("zero_point", node.name, data, f"{where}: zero-point {zp_name!r} of tensor {data!r} is "
                        f"{int(bad[0])} (asymmetric quantization); TensorRT needs 0: use symmetric activations")]
    return []


def _per_channel_findings(node: Any, where: str, data: str, scale: np.ndarray,
                          weight: np.ndarray | None) -> list[Finding]:
    if weight is None:
        return [Finding("per_channel_activation", node.name, data, f"{where}: tensor {data!r} is an activation "
                        f"with {scale.size} per-channel scales; TensorRT quantizes activations per tensor")]
    axis = int(_attr(node, "axis", 1))  # ONNX's default axis is 1
    shape = weight.shape
    axis = axis + len(shape) if axis < 0 else axis
    if axis != WEIGHT_AXIS:
        return [Finding("per_channel_axis", node.name, data, f"{where}: weight {data!r} is quantized per channel "
                        f"on axis {axis}; TensorRT needs axis {WEIGHT_AXIS} (output channels)")]
    if not shape or shape[axis] != scale.size:
        return [Finding("per_channel_axis", node.name, data, f"{where}: weight {data!r} of shape {list(shape)} "
                        f"has {scale.size} scales, expected one per output channel")]
    return []
