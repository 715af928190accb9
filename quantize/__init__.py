"""INT8 quantization: torchao PT2E PTQ and QAT with distillation, to one QDQ ONNX graph.

Public API (resolved on first access, PEP 562, so ``quantize.qdq_lint`` and the command modules
import without torch)::

    ptq(model, calib_batches, cfg) -> QuantizedModel
    qat(model, train_batches_fn, cfg, teacher=None) -> QuantizedModel
    export_qdq_onnx(quantized_model, input_size, path) -> Path
    lint_qdq(path) -> LintReport                    # onnx only
    build_quantizer(family, qat, observer, per_channel=True, exclude=()) -> EdgeQuantizer
    layer_sensitivity(model, calib_batches, cfg) / auto_mixed_precision(...)
    save_quantized(...) / load_quantized(path) -> QuantizedModel
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "QuantCfg": "quantize.config",
    "QatCfg": "quantize.config",
    "MixedPrecisionCfg": "quantize.config",
    "load_quant_config": "quantize.config",
    "build_quantizer": "quantize.quantizers",
    "EdgeQuantizer": "quantize.quantizers",
    "QuantizedModel": "quantize.graph",
    "ptq": "quantize.ptq",
    "qat": "quantize.qat",
    "export_qdq_onnx": "quantize.export_qdq",
    "lint_qdq": "quantize.qdq_lint",
    "LintReport": "quantize.qdq_lint",
    "layer_sensitivity": "quantize.sensitivity",
    "auto_mixed_precision": "quantize.sensitivity",
    "save_quantized": "quantize.checkpoint",
    "load_quantized": "quantize.checkpoint",
}

__all__ = sorted(_EXPORTS)  # noqa: PLE0605 (resolved lazily by __getattr__)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'quantize' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
