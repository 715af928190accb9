"""The PT2E graph steps shared by PTQ, QAT and checkpoint reloads.

export (dynamic batch) → ``prepare_pt2e``/``prepare_qat_pt2e`` → [calibrate | fine-tune] →
``convert_pt2e``. Both the prepared and the converted graph are checked: every conv/linear/matmul
must read quantized inputs (observed, or dequantized from int8) unless its layer was excluded on
purpose, so an op the quantizer cannot handle fails loudly instead of silently running in float.
"""
from __future__ import annotations

import copy
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch._dynamo.exc import TorchDynamoException
from torch._subclasses.fake_tensor import (
    DataDependentOutputException,
    DynamicOutputShapeException,
    UnsupportedOperatorException,
)
from torch.fx import GraphModule, Node
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode
from torchao.quantization.pt2e import (
    FakeQuantizeBase,
    ObserverBase,
    disable_observer,
    enable_observer,
    move_exported_model_to_eval,
)
from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e, prepare_qat_pt2e

from edge.errors import ExportError, UnsupportedError
from quantize.config import QuantCfg
from quantize.quantizers import EdgeQuantizer, build_quantizer, layer_name, matches_any

log = logging.getLogger(__name__)

_aten = torch.ops.aten
COMPUTE_OPS = {  # ops whose int8 execution is the point of quantizing
    _aten.conv1d.default, _aten.conv2d.default, _aten.conv3d.default, _aten.convolution.default,
    _aten.conv_transpose1d.default, _aten.conv_transpose2d.input, _aten.conv_transpose3d.input,
    _aten.linear.default, _aten.matmul.default, _aten.mm.default, _aten.bmm.default,
    _aten.addmm.default, _aten.baddbmm.default, _aten.einsum.default,
}
_DEQUANTIZE_OPS = {
    torch.ops.quantized_decomposed.dequantize_per_tensor.default,
    torch.ops.quantized_decomposed.dequantize_per_tensor.tensor,
    torch.ops.quantized_decomposed.dequantize_per_channel.default,
}
_BATCH_NORM_OPS = {_aten.batch_norm.default, _aten._native_batch_norm_legit.default,
                   _aten.cudnn_batch_norm.default}
_BN_TRAINING_ARG = 5  # (input, weight, bias, running_mean, running_var, training, ...)


@dataclass
class QuantizedModel:
    """A converted INT8 graph plus what is needed to reload, export and report it.

    ``graph_module`` runs the reference int8 math (quantize/dequantize around float ops) on CPU.
    ``quant_state`` is the prepared graph's state (weights, observer/fake-quant ranges): with the
    float model, the family and ``float_layers`` it recreates ``graph_module`` exactly.
    ``float_state_dict`` holds the float model's weights (fine-tuned by QAT), so a quantized
    checkpoint also loads as a plain FP32 checkpoint.
    """

    graph_module: GraphModule
    family: str
    method: str
    input_size: int
    float_layers: tuple[str, ...]
    quant_state: dict[str, torch.Tensor]
    float_state_dict: dict[str, torch.Tensor]
    history: list[dict[str, float]] = field(default_factory=list)  # QAT loss log

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.graph_module(x)


def quantizer_for(cfg: QuantCfg, qat: bool, float_layers: Sequence[str]) -> EdgeQuantizer:
    return build_quantizer(cfg.family, qat, cfg.observer, cfg.per_channel, exclude=tuple(float_layers),
                           percentile=cfg.percentile, reduce_weight_range=cfg.reduce_weight_range)


# What torch.export raises for a model it cannot capture: dynamo's errors (an unsupported construct, a
# dimension the model specialises, UserError), data-dependent control flow, ops fake tensors cannot run.
# Anything else (a TypeError, an AttributeError in the model's code) is a bug and propagates as one.
UNTRACEABLE: tuple[type[BaseException], ...] = (
    TorchDynamoException, GuardOnDataDependentSymNode, UnsupportedOperatorException, DynamicOutputShapeException,
    DataDependentOutputException,
)


def export_for_quantization(model: nn.Module, input_size: int, train: bool,
                            device: torch.device | str = "cpu") -> GraphModule:
    """``torch.export`` a copy of ``model`` with a dynamic batch dim (QAT batches ≠ export batch 1)."""
    model = copy.deepcopy(model).to(device).train(train)  # BN folding must not touch the caller's weights
    example = torch.randn(2, 3, input_size, input_size, device=device)  # batch 2: 0/1 would specialise
    batch = torch.export.Dim("batch", min=1, max=1024)
    try:
        program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
    except UNTRACEABLE as exc:
        raise ExportError(f"torch.export failed on {type(model).__name__} at {input_size}px: "
                          f"{type(exc).__name__}: {str(exc)[:500]}") from exc
    return program.module()


def prepare(model: nn.Module, cfg: QuantCfg, qat: bool, float_layers: Sequence[str],
            device: torch.device | str = "cpu") -> GraphModule:
    """Export ``model`` and insert observers (PTQ) or fake-quant modules (QAT); checks coverage."""
    graph = export_for_quantization(model, cfg.input_size, train=qat, device=device)
    quantizer = quantizer_for(cfg, qat, float_layers)
    prepared = prepare_qat_pt2e(graph, quantizer) if qat else prepare_pt2e(graph, quantizer)
    check_fully_quantized(prepared, float_layers, cfg.family)
    return prepared


def convert(prepared: GraphModule, cfg: QuantCfg, float_layers: Sequence[str], qat: bool) -> GraphModule:
    """Freeze ranges and replace observers by quantize/dequantize ops (on CPU)."""
    prepared = prepared.cpu()
    if qat:  # batch norms of the training graph switch to running statistics
        move_exported_model_to_eval(prepared)
    # TensorRT/OpenVINO want int8 weight initializers + DequantizeLinear, so fold the weight
    # quantization; the LiteRT lowering was verified on the unfolded form (docs/design.md#litert).
    converted = convert_pt2e(prepared, fold_quantize=cfg.family != "litert")
    check_fully_quantized(converted, float_layers, cfg.family)
    # Exported modules refuse .eval(); the flag only silences the ONNX exporter's train-mode warning.
    for module in converted.modules():
        module.training = False
    return converted


def compute_nodes(graph_module: GraphModule) -> list[Node]:
    return [n for n in graph_module.graph.nodes if n.op == "call_function" and n.target in COMPUTE_OPS]


def _is_quantized_input(arg: Any, graph_module: GraphModule) -> bool:
    if not isinstance(arg, Node):
        return False
    if arg.op == "call_function":
        return arg.target in _DEQUANTIZE_OPS
    if arg.op == "call_module":
        return isinstance(graph_module.get_submodule(arg.target), (ObserverBase, FakeQuantizeBase))
    return False


def operands(node: Node) -> list[Any]:
    """The tensors a compute node multiplies: (input, weight) or its two matmul operands."""
    if node.target in (_aten.addmm.default, _aten.baddbmm.default):
        return list(node.args[1:3])
    if node.target == _aten.einsum.default:
        return list(node.args[1])
    return list(node.args[:2])


def unquantized_compute_nodes(graph_module: GraphModule, float_layers: Sequence[str] = ()) -> list[Node]:
    """Compute nodes whose operands are not quantized and whose layer was not excluded on purpose."""
    return [node for node in compute_nodes(graph_module)
            if not matches_any(node, float_layers)
            and not all(_is_quantized_input(a, graph_module) for a in operands(node))]


def check_fully_quantized(graph_module: GraphModule, float_layers: Sequence[str], family: str) -> None:
    """Raise ``UnsupportedError`` naming every compute node the quantizer left in float."""
    bad = unquantized_compute_nodes(graph_module, float_layers)
    if bad:
        listed = "; ".join(f"{n.name} ({n.target}) in layer {layer_name(n)!r}" for n in bad[:8])
        more = f" and {len(bad) - 8} more" if len(bad) > 8 else ""
        raise UnsupportedError(
            f"the {family} quantizer cannot quantize {len(bad)} compute node(s): {listed}{more}. They would "
            "silently run in float. Replace the op with a supported one (conv, linear, add, mul, cat...), "
            "or keep the layer float on purpose with float_layers=[...]")


def freeze_bn_stats(graph_module: GraphModule) -> int:
    """Make every batch norm of an exported training graph use (and stop updating) its running stats."""
    frozen = 0
    for node in graph_module.graph.nodes:
        if node.op == "call_function" and node.target in _BATCH_NORM_OPS and node.args[_BN_TRAINING_ARG]:
            args = list(node.args)
            args[_BN_TRAINING_ARG] = False
            node.args = tuple(args)
            frozen += 1
    graph_module.recompile()
    return frozen


def set_observers(graph_module: GraphModule, enabled: bool) -> None:
    """Let fake-quant ranges follow the data (True) or keep them fixed (False)."""
    graph_module.apply(enable_observer if enabled else disable_observer)


def observers_enabled(graph_module: GraphModule) -> list[bool]:
    """The observer switch of every fake-quant module (for tests and logs)."""
    return [bool(m.observer_enabled[0]) for m in graph_module.modules() if isinstance(m, FakeQuantizeBase)
            and hasattr(m, "observer_enabled")]


def bn_training_flags(graph_module: GraphModule) -> list[bool]:
    return [bool(n.args[_BN_TRAINING_ARG]) for n in graph_module.graph.nodes
            if n.op == "call_function" and n.target in _BATCH_NORM_OPS]


def float_weights(prepared: GraphModule, model: nn.Module) -> dict[str, torch.Tensor]:
    """The float model's state dict with every tensor the prepared graph holds under the same name.

    ``torch.export`` keeps parameter/buffer names, so QAT-tuned weights and BN stats map back;
    tensors only used by ``forward_train`` (aux/edge heads) keep the float model's values.
    """
    graph_state = prepared.state_dict()
    return {k: graph_state.get(k, v).detach().cpu().clone() for k, v in model.state_dict().items()}


def snapshot(graph_module: GraphModule) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in graph_module.state_dict().items()}


def load_graph_state(graph_module: GraphModule, state: dict[str, torch.Tensor]) -> tuple[list[str], list[str]]:
    """Load a ``snapshot`` into a freshly prepared graph; returns (missing, unexpected) keys.

    Observers read their ``eps`` only from current-version state (older versions reset it to
    float eps), so the plain-dict snapshot gets the fresh graph's per-module version metadata.
    """
    fresh = graph_module.state_dict()
    versioned = OrderedDict(state)
    versioned._metadata = fresh._metadata  # type: ignore[attr-defined]
    result = graph_module.load_state_dict(versioned, strict=False)
    return list(result.missing_keys), list(result.unexpected_keys)
