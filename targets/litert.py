"""The ``mobile`` target: LiteRT ``.tflite`` in FP32, FP16 and full INT8 (docs/design.md#litert).

* fp32: ``litert_torch.convert(model, (x,))`` (static shapes, NCHW I/O kept).
* fp16: the FP32 flatbuffer with FP16 weights and explicit DEQUANTIZE ops, by ai-edge-quantizer's
  ``float_casting`` recipe (the supported successor of the TFLite converter's float16 option).
  CPU kernels dequantize at load; GPU delegates compute in FP16.
* int8: full integer with int8 I/O, by one of two routes (``int8.mobile_source``):

  - ``aeq`` (default): ai-edge-quantizer's static int8 recipe, calibrated on the FP32 flatbuffer
    itself, so the ranges are those of the kernels that run. On the default student it keeps
    ΔmIoU at -0.21 where the PT2E route below loses -1.28 (README, "Main job").
  - ``pt2e``: the PT2E graph of ``quantize.ptq`` with the ``litert`` quantizer of
    ``quantize.quantizers`` (XNNPACK scheme, sigmoid pinned to 1/256, -128 so TFLite's builtin
    LOGISTIC kernel prepares), converted by litert-torch; or a LiteRT quantized checkpoint
    (``int8.litert_checkpoint``, e.g. QAT).

  The result must prepare under the builtin kernels without XNNPACK and under XNNPACK, and hold
  no float32 tensor, or lowering fails.

  The mixed-precision fallback (``LowerRequest.float_layers``, ``targets.fallback``): with ``aeq`` a
  recipe entry per layer leaves its op unquantized (``NO_QUANTIZE``; the quantizer puts DEQUANTIZE /
  QUANTIZE around it). The op is found through the module hierarchy litert-torch writes into tensor
  names (``<class>_<attribute>`` per module that ran, e.g. ``...SegModel/torch.nn.modules.conv.Conv2d_
  classifier;``, ``float_op_scopes``). Those ops and their tensors are the only float ones allowed. With
  ``pt2e`` the PT2E quantizer leaves the layers out (``quantize.ptq``'s ``float_layers``); a quantized
  ``int8.litert_checkpoint`` cannot be re-quantized, so it has no fallback.
"""
from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.fx import GraphModule

from edge.backends import import_library
from edge.errors import ConfigError, ExportError, UnsupportedError
from edge.io import file_sha256
from targets.base import Lowered, LowerRequest, package_version
from targets.export import CNN_OPS, GraphRules
from targets.float_layers import closest
from targets.formats import find_format, require_precision, target_spec

log = logging.getLogger(__name__)

SPEC = target_spec("mobile")
# Ops litert-torch lowers to builtin TFLite kernels; static shapes only (one flatbuffer per size),
# no cubic resize (TFLite has bilinear and nearest only).
GRAPH_RULES = GraphRules(
    ops=CNN_OPS | {"Abs", "ArgMax", "DepthToSpace", "Elu", "Exp", "Gelu", "Max", "Min", "Neg", "ReduceMax",
                   "SpaceToDepth", "Sqrt"},
    static_shapes=True,
)
FP32_CACHE = "litert_fp32.tflite"  # shared by the fp32 and fp16 jobs of one deploy run
CALIB_BATCH = 8
# A calibrated range narrower than this (a dead ReLU or SE gate: all zeros) gives a requantization
# scale XNNPACK refuses (conv output ratio >= 256); widening it costs nothing, zeros stay exact.
MIN_CALIBRATED_SPAN = 1e-2
TFL_COMPUTE_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")


def lower(request: LowerRequest) -> Lowered:
    require_precision(SPEC, request.precision)
    path = request.artifact(SPEC.suffix)
    quantization: dict[str, Any] = {}
    if request.precision == "fp32":
        shutil.copyfile(_fp32_tflite(request), path)
    elif request.precision == "fp16":
        _float16_weights(_fp32_tflite(request), path)
        quantization = {"method": "ai_edge_quantizer float_casting", "weights": "float16",
                        "ai_edge_quantizer": package_version("ai-edge-quantizer")}
    else:
        quantization = _int8_tflite(request, path)
    census = check_builtin_kernels(path)
    if request.precision == "int8":
        if not request.float_layers:  # a fallback keeps named ops float on purpose
            _require_full_integer(path, census)
        check_xnnpack(path)
        quantization["tensor_dtypes"] = census
    return Lowered([path], backend_version=package_version("ai-edge-litert"), quantization=quantization,
                   notes=find_format(SPEC.name, request.precision).how)


def _example(request: LowerRequest) -> torch.Tensor:
    return torch.zeros(1, 3, request.input_size, request.input_size)


def _fp32_tflite(request: LowerRequest) -> Path:
    """The FP32 flatbuffer of this run, converted once (about 30-80 s) and reused."""
    cached = request.work_dir / FP32_CACHE
    if not cached.is_file():
        import litert_torch

        log.info("mobile: converting the FP32 model with litert-torch at %dpx", request.input_size)
        litert_torch.convert(request.model.eval(), (_example(request),)).export(str(cached))
    return cached


def _float16_weights(src: Path, dst: Path) -> None:
    from ai_edge_quantizer import qtyping, quantizer
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    config = qtyping.OpQuantizationConfig(
        weight_tensor_config=qtyping.TensorQuantizationConfig(num_bits=16, dtype=qtyping.TensorDataType.FLOAT),
        compute_precision=qtyping.ComputePrecision.FLOAT,
        explicit_dequantize=True,
    )
    fp16 = quantizer.Quantizer(str(src))
    fp16.update_quantization_recipe(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                    op_config=config, algorithm_key=AlgorithmName.FLOAT_CASTING)
    fp16.quantize().export_model(str(dst), overwrite=True)


def _int8_tflite(request: LowerRequest, path: Path) -> dict[str, Any]:
    if request.cfg.int8.mobile_int8_source() == "aeq":
        return _aeq_int8(request, path)
    return _pt2e_int8(request, path)


def _aeq_int8(request: LowerRequest, path: Path) -> dict[str, Any]:
    """Static int8 (int8 weights and activations, int8 I/O) by ai-edge-quantizer on the FP32 flatbuffer."""
    from ai_edge_quantizer import quantizer, recipe

    fp32 = _fp32_tflite(request)
    images = request.calibration()
    signature, input_name = _signature_input(fp32)
    log.info("mobile int8: ai-edge-quantizer calibration on %d images at %dpx", len(images), request.input_size)
    quant = quantizer.Quantizer(str(fp32))
    quant.load_quantization_recipe(recipe.static_wi8_ai8())
    scopes = _keep_float(quant, fp32, request) if request.float_layers else {}
    ranges = quant.calibrate({signature: [{input_name: image.astype(np.float32)} for image in images]},
                             num_threads=max(1, request.cfg.bench.threads))
    widened = widen_degenerate_ranges(ranges, MIN_CALIBRATED_SPAN)
    quant.quantize(ranges).export_model(str(path), overwrite=True)
    return {"method": "ai_edge_quantizer static_wi8_ai8", "algorithm": "min_max_uniform",
            "calibration_images": len(images), "calibration_split": request.cfg.data.calib_split,
            "widened_ranges": widened, "ai_edge_quantizer": package_version("ai-edge-quantizer"),
            **({"float_layers": list(scopes.values()), "float_route": "ai_edge_quantizer NO_QUANTIZE recipe entries"}
               if scopes else {})}


def kept_float(request: LowerRequest) -> tuple[str, ...]:
    """Module paths int8 keeps float without the fallback: none (full integer)."""
    return ()


def _keep_float(quant: Any, fp32: Path, request: LowerRequest) -> dict[str, str]:
    """Recipe entries that leave the fallback's layers unquantized; returns module path -> op scope."""
    from ai_edge_quantizer import qtyping
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    scopes = float_op_scopes(fp32, request.model, request.float_layers)
    for scope in scopes.values():  # the scope is the op's output tensor names: match it whole
        quant.update_quantization_recipe(regex=f"^{re.escape(scope)}$",
                                         operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                         algorithm_key=AlgorithmName.NO_QUANTIZE)
    log.info("mobile int8: kept float %s", list(scopes))
    return scopes


def _hierarchy_name(module: torch.nn.Module) -> str:
    cls = type(module)
    return f"{cls.__module__}.{cls.__qualname__}"


def module_chain(model: torch.nn.Module, module_path: str) -> list[str]:
    """litert-torch's names of the modules from the root to ``module_path``: the root's class, then
    ``<class>_<last atom of the path>`` per module (``litert_torch.backend.debuginfo``)."""
    atoms = module_path.split(".")
    return [_hierarchy_name(model)] + [
        f"{_hierarchy_name(model.get_submodule('.'.join(atoms[:i])))}_{atoms[i - 1]}" for i in range(1, len(atoms) + 1)]


def float_op_scopes(tflite: Path, model: torch.nn.Module, module_paths: Sequence[str]) -> dict[str, str]:
    """Module path -> the ai-edge-quantizer scope of the compute op it became in ``tflite``.

    A fused op's output tensor is named by every location fused into it (``;``-separated module
    hierarchies); the op belongs to the module whose hierarchy among them matches its call chain."""
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils as tfl

    flat = tfl.read_model(tflite)
    ops = []
    for index, subgraph in enumerate(flat.subgraphs):
        for op_index, op in enumerate(subgraph.operators):
            if tfl.get_op_name_by_index(flat, index, op_index) in TFL_COMPUTE_OPS:
                scope = tfl.get_op_scope(op, subgraph.tensors)
                ops.append((scope, [h.split("/") for h in scope.split(";") if "/" in h]))
    found = {}
    for path in module_paths:
        chain = module_chain(model, path)
        matches = closest(ops, chain)
        if len(matches) != 1:
            raise ExportError(f"layer {path!r} matches {len(matches)} compute ops of {tflite.name} by the module "
                              f"hierarchy in their tensor names; it cannot be kept float by name")
        found[path] = matches[0]
    return found


def _signature_input(path: Path) -> tuple[str, str]:
    litert = import_library("litert", "ai_edge_litert.interpreter")
    signatures = litert.Interpreter(model_path=str(path)).get_signature_list()
    if len(signatures) != 1:
        raise ExportError(f"{path.name}: expected one signature, found {sorted(signatures)}")
    (key, io), = signatures.items()
    if len(io["inputs"]) != 1:
        raise ExportError(f"{path.name}: expected one input, found {io['inputs']}")
    return key, io["inputs"][0]


def widen_degenerate_ranges(ranges: dict[str, dict[str, Any]], min_span: float) -> int:
    """Raise ``max`` of every calibrated range narrower than ``min_span``; returns how many changed."""
    widened = 0
    for stats in ranges.values():
        if "min" in stats and "max" in stats and np.any(np.asarray(stats["max"]) - stats["min"] < min_span):
            stats["max"] = np.maximum(stats["max"], np.asarray(stats["min"]) + min_span)
            widened += 1
    return widened


def _pt2e_int8(request: LowerRequest, path: Path) -> dict[str, Any]:
    import litert_torch
    from litert_torch.quantize.quant_config import QuantConfig

    from quantize.quantizers import build_quantizer

    if request.cfg.int8.litert_checkpoint:
        if request.float_layers:
            raise UnsupportedError("int8.litert_checkpoint is quantized already: no layer can be kept float in it; "
                                   "set int8.fallback_max_float_layers=0 or quantize with float_layers=[...]")
        graph, details = _checkpoint_graph(Path(request.cfg.int8.litert_checkpoint), request)
    else:
        graph, details = _ptq_graph(request)
    # The graph already carries its quantize/dequantize ops; the quantizer in QuantConfig tells the
    # converter to fold them as static int8 (litert-torch reads only ``global_config.is_dynamic``).
    static = QuantConfig(pt2e_quantizer=build_quantizer("litert", qat=False, observer=request.cfg.int8.observer))
    litert_torch.convert(graph, (_example(request),), quant_config=static).export(str(path))
    return details


def _ptq_graph(request: LowerRequest) -> tuple[GraphModule, dict[str, Any]]:
    from quantize.config import QuantCfg
    from quantize.ptq import ptq

    images = request.calibration()
    batches = [torch.from_numpy(np.concatenate(images[i:i + CALIB_BATCH])) for i in range(0, len(images), CALIB_BATCH)]
    cfg = QuantCfg(family="litert", input_size=request.input_size, calib_images=len(images),
                   calib_batch_size=CALIB_BATCH, observer=request.cfg.int8.observer)
    log.info("mobile int8: PT2E PTQ calibration on %d images at %dpx", len(images), request.input_size)
    quantized = ptq(request.model, batches, cfg, request.float_layers)
    return quantized.graph_module, {"method": "pt2e_ptq", "quantizer": "quantize.quantizers litert",
                                    "observer": cfg.observer, "calibration_images": len(images),
                                    "calibration_split": request.cfg.data.calib_split,
                                    "float_layers": list(quantized.float_layers)}


def _checkpoint_graph(path: Path, request: LowerRequest) -> tuple[GraphModule, dict[str, Any]]:
    from quantize.checkpoint import load_quantized
    from training.checkpoint import load_checkpoint

    section = load_checkpoint(path).get("quantization") or {}
    expected = file_sha256(request.checkpoint)
    if section.get("family") != "litert":
        raise ConfigError(f"int8.litert_checkpoint {path} was quantized for {section.get('family')!r}, not "
                          f"'litert'; run `edgeparse quantize qat family=litert`")
    if section.get("source_sha256") != expected:
        raise ConfigError(f"int8.litert_checkpoint {path} was not made from {request.checkpoint} (sha256 "
                          f"differs); quantize this checkpoint or deploy the one it came from")
    quantized = load_quantized(path)
    if quantized.input_size != request.input_size:
        raise ConfigError(f"{path} was quantized at {quantized.input_size}px; deploy input_size is "
                          f"{request.input_size}")
    return quantized.graph_module, {"method": f"pt2e_{quantized.method}", "quantized_checkpoint": str(path),
                                    "quantized_sha256": file_sha256(path)}


def check_builtin_kernels(path: Path) -> dict[str, int]:
    """Prepare ``path`` with TFLite's builtin kernels only (no XNNPACK), as phones without the
    delegate run it; returns how many tensors each dtype has. ``ExportError`` if it cannot prepare."""
    litert = import_library("litert", "ai_edge_litert.interpreter")
    try:
        interpreter = litert.Interpreter(
            model_path=str(path), experimental_op_resolver_type=litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interpreter.allocate_tensors()
    except (RuntimeError, ValueError) as exc:
        raise ExportError(f"{path.name} does not prepare under TFLite's builtin kernels: {exc}") from exc
    census: dict[str, int] = {}
    for detail in interpreter.get_tensor_details():
        name = np.dtype(detail["dtype"]).name
        census[name] = census.get(name, 0) + 1
    return census


def check_xnnpack(path: Path) -> None:
    """``ExportError`` unless ``path`` prepares under the XNNPACK delegate, LiteRT's default on CPUs."""
    litert = import_library("litert", "ai_edge_litert.interpreter")
    try:
        litert.Interpreter(model_path=str(path)).allocate_tensors()
    except (RuntimeError, ValueError) as exc:
        raise ExportError(f"{path.name} does not prepare under XNNPACK (LiteRT's default CPU delegate): {exc}"
                          ) from exc


def _require_full_integer(path: Path, census: dict[str, int]) -> None:
    floats = {k: v for k, v in census.items() if k.startswith("float")}
    if floats:
        raise ExportError(f"{path.name} is not full integer: it still has {floats} tensors (a float island "
                          f"the quantizer did not cover)")
