"""The quantized checkpoint: an ordinary edgeparse checkpoint plus a ``quantization`` section.

Layout (all tensors and built-in types, so ``torch.load(weights_only=True)`` reads it)::

    model_name, model_overrides, num_classes, schema, config   # copied from the FP32 checkpoint
    state_dict      # float weights: QAT-fine-tuned for method qat, the FP32 ones for ptq
    quantization:
        format      "edgeparse-pt2e", version 1
        family, method, input_size
        float_layers        # layers kept float (requested + chosen by mixed precision)
        quant_config        # the QuantCfg as a dict
        quant_state         # state of the prepared PT2E graph: folded weights + observer/fake-quant ranges
        metrics             # the FP32/INT8 comparison measured on the QDQ ONNX
        source_checkpoint, source_sha256

``build_model_from_checkpoint`` loads it as a plain FP32 model (e.g. to quantize the QAT weights
for another family). ``load_quantized`` rebuilds the exact INT8 graph: export the float model,
prepare it with the same quantizer and float layers, load ``quant_state``, convert.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.config import from_dict, to_dict
from edge.errors import CheckpointError, ConfigError
from edge.io import file_sha256
from quantize.config import QuantCfg
from quantize.graph import QuantizedModel, convert, load_graph_state, prepare
from training.checkpoint import build_model_from_checkpoint, load_checkpoint, save_checkpoint

FORMAT, VERSION = "edgeparse-pt2e", 1
_COPIED = ("model_name", "model_overrides", "num_classes", "schema", "config")


def save_quantized(quantized: QuantizedModel, cfg: QuantCfg, source: dict[str, Any], path: str | Path,
                   metrics: dict[str, Any] | None = None, source_path: str | Path | None = None) -> None:
    """Write ``quantized`` (made from the FP32 checkpoint payload ``source``) to ``path``."""
    payload = {key: source[key] for key in _COPIED if key in source}
    payload["state_dict"] = quantized.float_state_dict
    payload["quantization"] = {
        "format": FORMAT,
        "version": VERSION,
        "family": quantized.family,
        "method": quantized.method,
        "input_size": quantized.input_size,
        "float_layers": list(quantized.float_layers),
        "quant_config": to_dict(cfg),
        "quant_state": quantized.quant_state,
        "metrics": metrics or {},
        "source_checkpoint": str(source_path) if source_path else "",
        "source_sha256": file_sha256(source_path) if source_path else "",
    }
    save_checkpoint(payload, path)


def load_quantized(path: str | Path) -> QuantizedModel:
    """Rebuild the converted INT8 graph stored in a quantized checkpoint."""
    payload = load_checkpoint(path)
    section = payload.get("quantization")
    if not isinstance(section, dict) or section.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a quantized checkpoint (no {FORMAT!r} section); "
                              "make one with `edgeparse quantize ptq|qat`")
    if section.get("version") != VERSION:
        raise CheckpointError(f"{path}: quantization format version {section.get('version')}, expected {VERSION}")
    try:
        cfg = from_dict(QuantCfg, section["quant_config"])
    except ConfigError as exc:
        raise CheckpointError(f"{path}: stored quantization config is invalid: {exc}") from exc
    float_layers = tuple(section["float_layers"])
    qat = section["method"] == "qat"
    prepared = prepare(build_model_from_checkpoint(payload), cfg, qat=qat, float_layers=float_layers)
    missing, unexpected = load_graph_state(prepared, section["quant_state"])
    if missing or unexpected:
        raise CheckpointError(f"{path}: quantized state does not fit the re-prepared graph: "
                              f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    return QuantizedModel(convert(prepared, cfg, float_layers, qat), section["family"], section["method"],
                          section["input_size"], float_layers, section["quant_state"], payload["state_dict"])
