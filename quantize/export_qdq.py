"""Export a converted PT2E graph to the one QDQ ONNX file every target consumes.

``torch.onnx.export(dynamo=True)`` maps quantize/dequantize ops to QuantizeLinear/DequantizeLinear
(docs/design.md#qdq-onnx). Weights are folded to int8 initializers feeding DequantizeLinear (axis 0), which
is TensorRT's explicit-quantization form; OpenVINO and onnxruntime run the same file.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch.fx import GraphModule

from edge.errors import ExportError
from edge.graph_checks import check_graph_hygiene
from edge.io import atomic_path
from quantize.graph import QuantizedModel

log = logging.getLogger(__name__)

# The dynamo exporter cannot down-convert below 18 (ReduceMean axes); 18 is the lowest it emits,
# which keeps the file readable by the widest range of TensorRT/OpenVINO releases.
OPSET = 18
INPUT_NAME, OUTPUT_NAME = "input", "logits"


def export_qdq_onnx(quantized_model: QuantizedModel | GraphModule, input_size: int, path: str | Path,
                    slim: bool = True) -> Path:
    """Write a static 1x3xSxS ``input`` → ``logits`` QDQ ONNX (opset 18) to ``path``; returns it.

    ``slim`` runs onnxslim (shape inference and dead-node cleanup; Q/DQ pairs are kept).
    Raises ``ExportError`` if the exporter fails or the graph breaks the project's graph hygiene.
    """
    import onnx

    graph_module = quantized_model.graph_module if isinstance(quantized_model, QuantizedModel) else quantized_model
    path = Path(path)
    example = torch.zeros(1, 3, input_size, input_size)
    try:
        program = torch.onnx.export(graph_module, (example,), dynamo=True, opset_version=OPSET,
                                    input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], verbose=False)
    except torch.onnx.errors.OnnxExporterError as exc:  # torch.export or the op conversion failed; bugs propagate
        raise ExportError(f"QDQ ONNX export failed: {type(exc).__name__}: {str(exc)[:500]}") from exc
    model = program.model_proto
    if slim:
        import onnxslim

        model = onnxslim.slim(model)
    problems = check_graph_hygiene(model)
    if problems:
        raise ExportError(f"exported QDQ graph breaks graph hygiene: {'; '.join(problems[:5])}")
    try:
        with atomic_path(path) as tmp:
            onnx.save(model, str(tmp))
            onnx.checker.check_model(str(tmp))
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"exported QDQ ONNX is invalid: {exc}") from exc
    log.info("wrote %s (%.2f MB)", path, path.stat().st_size / 2**20)
    return path
