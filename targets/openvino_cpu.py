"""The ``cpu`` target: OpenVINO IR (.xml + .bin) in FP32, FP16, BF16 and INT8.

Every bundle pins its arithmetic in the manifest (``inference_precision``, from the format
table), which the runner sets as INFERENCE_PRECISION_HINT and reads back: unpinned, OpenVINO
runs any model in bf16 on CPUs with native bf16 (AVX512-BF16, AMX), whatever its weights.

* fp32: ``ov.convert_model(onnx)`` saved with ``compress_to_fp16=False``; f32 arithmetic.
* fp16: the same IR with FP16-compressed weights, decompressed at load and run with f32
  arithmetic on every CPU: a size format.
* bf16: the FP32 IR run with bf16 arithmetic; only CPUs whose OpenVINO OPTIMIZATION_CAPABILITIES
  list BF16 run it (elsewhere its row is skipped with that reason).
* int8: NNCF PTQ of every layer on the FP32 IR with the calibration images (``int8.source=nncf``);
  ``int8.float_logits=true`` keeps the convolution that produces the logits in float, where one int8
  step of the logits could be wider than the argmax margin of thin classes (brows, lips). On real
  faces it was not (0.02 mIoU), and the per-class gate's fallback keeps it float where it is. Or the
  QDQ ONNX written by ``edgeparse quantize ptq|qat`` (``int8.qdq_onnx``), whose Q/DQ pairs OpenVINO
  turns into the same FakeQuantize ops. Either way the IR must hold quantizers, or lowering fails.
  The layers left in float run f32.

  The mixed-precision fallback (``LowerRequest.float_layers``, ``targets.fallback``) adds layers to
  NNCF's ``IgnoredScope``: their torch module paths become FP32 ONNX node names and then the
  friendly names OpenVINO keeps for them (``targets.float_layers``). With a QDQ ONNX the Q/DQ pairs in
  front of those layers are dropped before conversion instead.

Every IR returns its logits channels-last (NHWC; a layout set with OpenVINO's PrePostProcessor, which the
CPU plugin folds into the final resize): it computes the last layers channels-last, and converting the
19×256×256 logits back to NCHW took its reference reorder 2.8-3.2 ms, 28 % of an fp32 and 37 % of an
int8 inference of the default student (``edgeparse bench --profile``). Without it the OpenVINO request
alone took 25 % (fp32) and 33 % (int8) less wall time at 256² on the idle 2-core EPYC. The runner hands
callers the NCHW logits the manifest declares (one NumPy transpose that is also the one copy out of the
request's buffer, 1.3 ms on one core): through ``runner.infer`` the CPU time per inference fell 19-22 %
(fp32) and 6-25 % (int8) in two interleaved runs on a partly loaded machine. The logits are identical.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from edge.backends import import_library
from edge.errors import ConfigError, ExportError
from edge.io import file_sha256
from targets.base import Lowered, LowerRequest
from targets.export import CNN_OPS, GraphRules
from targets.float_layers import (
    WITHOUT_BIASES,
    compute_modules,
    keep_float_in_file,
    module_for_node,
    onnx_nodes_for,
    openvino_names,
)
from targets.formats import find_format, require_precision, target_spec

log = logging.getLogger(__name__)

SPEC = target_spec("cpu")
# CNN ops plus what OpenVINO's ONNX frontend also converts and the INT8 graphs carry.
GRAPH_RULES = GraphRules(
    ops=CNN_OPS | {"Abs", "ArgMax", "Cast", "Ceil", "ConstantOfShape", "DepthToSpace", "DequantizeLinear", "Elu",
                   "Equal", "Erf", "Exp", "Expand", "Floor", "Gather", "Gelu", "InstanceNormalization",
                   "LayerNormalization", "Log", "Max", "Min", "Neg", "Pow", "QuantizeLinear", "Reciprocal",
                   "ReduceMax", "ReduceSum", "Shape", "Softplus", "SpaceToDepth", "Sqrt", "Tile", "Upsample",
                   "Where"},
    static_shapes=False,
    resize_modes=frozenset({"nearest", "linear", "cubic"}),
)


def lower(request: LowerRequest) -> Lowered:
    require_precision(SPEC, request.precision)
    ov = import_library("openvino")
    quantization: dict[str, Any] = {}
    if request.precision == "int8":
        model, quantization = _int8_model(ov, request)
    else:
        model = _convert(ov, request.onnx_path)
    xml = request.artifact(SPEC.suffix)
    ov.save_model(channels_last_logits(ov, model), str(xml), compress_to_fp16=request.precision == "fp16")
    notes = find_format(SPEC.name, request.precision).how
    if "method" in quantization:
        notes += f" (this one: {quantization['method']})"
    return Lowered([xml, xml.with_suffix(".bin")], backend_version=ov.get_version(), quantization=quantization,
                   notes=notes)


def channels_last_logits(ov: Any, model: Any) -> Any:
    """``model`` with its (1, C, H, W) logits output returned as (1, H, W, C) (see the module docstring)."""
    from openvino.preprocess import PrePostProcessor

    ppp = PrePostProcessor(model)
    ppp.output().model().set_layout(ov.Layout("NCHW"))
    ppp.output().tensor().set_layout(ov.Layout("NHWC"))
    return ppp.build()


def _convert(ov: Any, onnx_path: Path) -> Any:
    from openvino.frontend import GeneralFailure, OpConversionFailure

    try:
        return ov.convert_model(str(onnx_path))
    except (OpConversionFailure, GeneralFailure) as exc:
        raise ExportError(f"OpenVINO cannot convert {onnx_path}: {exc}") from exc


def _int8_model(ov: Any, request: LowerRequest) -> tuple[Any, dict[str, Any]]:
    source = request.cfg.int8.cpu_source()
    if source == "qdq":
        model, details = _from_qdq(ov, Path(request.cfg.int8.qdq_onnx or ""), request)
    else:
        model, details = _nncf_ptq(ov, request)
    quantizers = sum(op.get_type_name() == "FakeQuantize" for op in model.get_ops())
    if quantizers == 0:
        raise ExportError(f"the INT8 IR ({details['method']}) holds no quantizers: it would run in FP32")
    return model, {**details, "fake_quantize_ops": quantizers}


def kept_float(request: LowerRequest) -> tuple[str, ...]:
    """Module paths int8 keeps float without the fallback: the logits convolution (``int8.float_logits``)."""
    if request.cfg.int8.cpu_source() != "nncf" or not request.cfg.int8.float_logits:
        return ()
    ov = import_library("openvino")
    onnx_name = logits_producer(_convert(ov, request.onnx_path)).removesuffix(WITHOUT_BIASES)
    module = module_for_node(onnx_name, compute_modules(request.model))
    return (module,) if module else ()


def _nncf_ptq(ov: Any, request: LowerRequest) -> tuple[Any, dict[str, Any]]:
    import nncf
    import onnx

    images = request.calibration()
    model = _convert(ov, request.onnx_path)
    float_layers = [logits_producer(model)] if request.cfg.int8.float_logits else []
    if request.float_layers:
        nodes = onnx_nodes_for(onnx.load(str(request.onnx_path)).graph.node, request.float_layers)
        float_layers = list(dict.fromkeys([*float_layers, *openvino_names(model, nodes.values())]))
    log.info("cpu int8: NNCF PTQ calibration on %d images at %dpx (float: %s)", len(images), request.input_size,
             float_layers or "none")
    model = nncf.quantize(model, nncf.Dataset(images), subset_size=len(images),
                          ignored_scope=nncf.IgnoredScope(names=float_layers))
    return model, {"method": "nncf_ptq", "calibration_images": len(images),
                   "calibration_split": request.cfg.data.calib_split, "nncf": nncf.__version__,
                   "preset": "performance (symmetric int8 activations, per-channel weights)",
                   "float_layers": float_layers}


# Ops between the logits convolution and the model output that carry the logits through unchanged
# in kind (bias, resize, layout); input 0 is always the data path.
_LOGITS_PASS_THROUGH = {"Add", "Interpolate", "Convert", "Transpose", "Reshape"}


def logits_producer(model: Any) -> str:
    """Friendly name of the convolution whose output becomes the model's logits."""
    node = model.outputs[0].get_node().input_value(0).get_node()  # the Result's producer
    while node.get_type_name() in _LOGITS_PASS_THROUGH:
        node = node.input_value(0).get_node()
    if node.get_type_name() != "Convolution":
        raise ExportError(f"the logits come from a {node.get_type_name()} ({node.get_friendly_name()}), not a "
                          "convolution; set int8.float_logits=false to quantize every layer")
    return node.get_friendly_name()


def _from_qdq(ov: Any, path: Path, request: LowerRequest) -> tuple[Any, dict[str, Any]]:
    """Convert the QDQ ONNX of ``edgeparse quantize`` after checking it fits this deploy run (with the
    fallback's float layers, a copy without the Q/DQ pairs in front of them)."""
    import onnx

    input_size = request.input_size
    if not path.is_file():
        raise ConfigError(f"int8.qdq_onnx {path} not found; write it with `edgeparse quantize ptq|qat`")
    graph = onnx.load(str(path)).graph
    dims = [[d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input]
    if dims != [[1, 3, input_size, input_size]]:
        raise ExportError(f"{path}: input shape {dims} does not match the deploy input [1, 3, {input_size}, "
                          f"{input_size}]; quantize at the deployment size (quantize input_size={input_size})")
    if not any(node.op_type == "QuantizeLinear" for node in graph.node):
        raise ExportError(f"{path}: no QuantizeLinear nodes; not a QDQ graph from `edgeparse quantize`")
    details: dict[str, Any] = {"method": "qdq_onnx", "qdq_onnx": str(path), "qdq_sha256": file_sha256(path)}
    if request.float_layers:
        edited = request.artifact("_float_qdq.onnx")
        shutil.copyfile(path, edited)
        details.update(keep_float_in_file(edited, request.float_layers))
        path = edited
    log.info("cpu int8: converting the QDQ ONNX %s", path)
    return _convert(ov, path), details
