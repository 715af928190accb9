"""PT2E quantizers for the three target families (torchao; docs/design.md#quantization).

* ``tensorrt`` / ``openvino``: int8 **symmetric** activations (zero-point 0) and per-output-channel
  symmetric int8 weights (axis 0). That is TensorRT's explicit-quantization form; OpenVINO and
  onnxruntime consume the same QDQ ONNX.
* ``litert``: the XNNPACK int8 scheme (asymmetric activations, per-channel weights) with the
  sigmoid output pinned to scale 1/256, zero-point -128 (and shared by its consumers), which
  TFLite's builtin LOGISTIC kernel requires to prepare.

Lowering to LiteRT (the mobile target)::

    from litert_torch.quantize.quant_config import QuantConfig
    quantizer = build_quantizer("litert", qat=False)
    q = ptq(model, calib, cfg)                  # cfg.family == "litert"; or qat(...)
    litert_torch.convert(q.graph_module, (x,), quant_config=QuantConfig(pt2e_quantizer=quantizer))

``QuantConfig`` reads only ``quantizer.global_config.is_dynamic`` (False: static ranges), which
every ``EdgeQuantizer`` exposes through ``EdgeQuantizationConfig``.

The op patterns (conv[+bn][+relu], linear, add, mul, cat, pooling...) are XNNPACK's annotators
from torchao; ``EdgeQuantizer`` adds the per-family specs, the sigmoid fix and exclusions.
"""
from __future__ import annotations

import dataclasses
import difflib
import logging
from collections.abc import Callable, Sequence

import torch
from torch.fx import GraphModule, Node
from torchao.quantization.pt2e import (
    FusedMovingAvgObsFakeQuantize,
    HistogramObserver,
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver,
    PerChannelMinMaxObserver,
)
from torchao.quantization.pt2e.quantizer import (
    FixedQParamsQuantizationSpec,
    QuantizationAnnotation,
    QuantizationSpec,
    Quantizer,
    SharedQuantizationSpec,
)
from torchao.testing.pt2e._xnnpack_quantizer import XNNPACKQuantizer
from torchao.testing.pt2e._xnnpack_quantizer_utils import (
    OP_TO_ANNOTATOR,
    QuantizationConfig,
    _convert_scalars_to_attrs,
    propagate_annotation,
)

from edge.errors import ConfigError, UnknownNameError
from edge.formats import QUANTIZER_FAMILIES
from quantize.config import OBSERVERS

log = logging.getLogger(__name__)

EPS = 2**-12  # smallest scale, as in XNNPACK's config
SIGMOID_SCALE, SIGMOID_ZERO_POINT = 1.0 / 256.0, -128  # TFLite LOGISTIC output contract
SIGMOID_OPS = (torch.ops.aten.sigmoid.default, torch.ops.aten.sigmoid_.default)


class PercentileObserver(HistogramObserver):
    """Histogram observer whose range keeps ``percentile`` % of the values (both tails clipped evenly)."""

    def __init__(self, percentile: float = 99.99, **kwargs):
        super().__init__(**kwargs)
        self.percentile = percentile

    @torch.jit.export
    def calculate_qparams(self):
        total = float(self.histogram.sum())
        if total == 0.0:  # never observed: the parent warns and returns defaults
            return super().calculate_qparams()
        tail = (100.0 - self.percentile) / 200.0
        cdf = torch.cumsum(self.histogram, 0) / total
        edges = torch.linspace(float(self.min_val), float(self.max_val), self.bins + 1)
        low = int(torch.searchsorted(cdf, torch.tensor(tail)))
        high = int(torch.searchsorted(cdf, torch.tensor(1.0 - tail))) + 1
        return self._calculate_qparams(edges[low].reshape(1), edges[min(high, self.bins)].reshape(1))


@dataclasses.dataclass(eq=True, frozen=True)
class EdgeQuantizationConfig(QuantizationConfig):
    """XNNPACK's config plus ``is_dynamic``, which litert_torch's ``QuantConfig`` reads."""

    is_dynamic: bool = False  # always static (calibrated) activation ranges here


def _activation_spec(family: str, qat: bool, observer: str, percentile: float) -> QuantizationSpec:
    # TensorRT explicit quantization needs zero-point 0, hence symmetric activations.
    qscheme = torch.per_tensor_affine if family == "litert" else torch.per_tensor_symmetric
    if qat:  # fake-quant with moving-average min/max ranges: the standard QAT observer
        ctor = FusedMovingAvgObsFakeQuantize.with_args(observer=MovingAverageMinMaxObserver, eps=EPS)
    elif observer == "minmax":
        ctor = MinMaxObserver.with_args(eps=EPS)
    elif observer == "histogram":
        ctor = HistogramObserver.with_args(eps=EPS)
    else:
        ctor = PercentileObserver.with_args(percentile=percentile, eps=EPS)
    return QuantizationSpec(dtype=torch.int8, quant_min=-128, quant_max=127, qscheme=qscheme,
                            is_dynamic=False, observer_or_fake_quant_ctr=ctor)


def _weight_spec(qat: bool, per_channel: bool, reduce_range: bool) -> QuantizationSpec:
    qscheme = torch.per_channel_symmetric if per_channel else torch.per_tensor_symmetric
    # Reduced 7-bit range: x86 CPUs without VNNI multiply u8 x s8 pairs into saturating int16
    # (vpmaddubsw); full-range int8 weights overflow there, which onnxruntime's fused kernels showed.
    limit = 63 if reduce_range else 127
    if qat:
        observer = MovingAveragePerChannelMinMaxObserver if per_channel else MovingAverageMinMaxObserver
        ctor = FusedMovingAvgObsFakeQuantize.with_args(observer=observer, eps=EPS)
    else:
        ctor = (PerChannelMinMaxObserver if per_channel else MinMaxObserver).with_args(eps=EPS)
    # [-limit, limit]: a symmetric range, so -w and w quantize to opposite values.
    return QuantizationSpec(dtype=torch.int8, quant_min=-limit, quant_max=limit, qscheme=qscheme, ch_axis=0,
                            is_dynamic=False, observer_or_fake_quant_ctr=ctor)


def build_quantization_config(family: str, qat: bool, observer: str = "histogram", per_channel: bool = True,
                              percentile: float = 99.99, reduce_weight_range: bool = False) -> EdgeQuantizationConfig:
    """The activation/weight specs of one family (bias stays float: TensorRT folds it itself)."""
    if family not in QUANTIZER_FAMILIES:
        raise UnknownNameError("target family", family, QUANTIZER_FAMILIES)
    if observer not in OBSERVERS:
        raise UnknownNameError("observer", observer, OBSERVERS)
    act = _activation_spec(family, qat, observer, percentile)
    return EdgeQuantizationConfig(act, act, _weight_spec(qat, per_channel, reduce_weight_range), None, qat)


def module_paths(node: Node) -> list[str]:
    """The module paths (outermost first) a graph node was traced from."""
    return [path for path, _ in node.meta.get("nn_module_stack", {}).values()]


def layer_name(node: Node) -> str:
    """The innermost module path of a node (e.g. ``backbone.features.3.conv.1.0``), else its name."""
    paths = module_paths(node)
    return paths[-1] if paths else node.name


def matches_any(node: Node, names: Sequence[str]) -> bool:
    """True if ``node`` is named in ``names`` or comes from a module (or sub-module) named there."""
    return node.name in names or any(path in names for path in module_paths(node))


class EdgeQuantizer(Quantizer):
    """XNNPACK's static patterns with one family's specs, an exclusion list and the LiteRT sigmoid fix.

    ``exclude`` names modules (any depth, e.g. ``head.classifier`` or ``neck``) or graph nodes whose
    ops stay float: their weights get no Q/DQ pair (mixed precision).
    """

    def __init__(self, family: str, global_config: QuantizationConfig, exclude: Sequence[str] = ()):
        super().__init__()
        self.family = family
        self.global_config = global_config  # read by litert_torch's QuantConfig
        self.exclude = tuple(exclude)

    def keep(self, node: Node) -> bool:
        """Filter for the annotators: False for nodes that must stay float."""
        return not matches_any(node, self.exclude)

    def transform_for_annotation(self, model: GraphModule) -> GraphModule:
        return _convert_scalars_to_attrs(model)

    def annotate(self, model: GraphModule) -> GraphModule:
        self._check_exclusions(model)
        ops = list(XNNPACKQuantizer.STATIC_OPS)
        if self.global_config.is_qat:  # conv+bn patterns exist only in the training graph
            ops = list(XNNPACKQuantizer.STATIC_QAT_ONLY_OPS) + ops
        for op in ops:
            OP_TO_ANNOTATOR[op](model, self.global_config, self.keep)
        if self.family == "litert":
            _annotate_fixed_sigmoid(model, self.global_config, self.keep)
        propagate_annotation(model)
        return model

    def validate(self, model: GraphModule) -> None:
        """Nothing to check before conversion; ``graph.check_fully_quantized`` runs after it."""

    def _check_exclusions(self, model: GraphModule) -> None:
        for name in self.exclude:
            if not any(matches_any(n, (name,)) for n in model.graph.nodes):
                known = sorted({p for n in model.graph.nodes for p in module_paths(n)})
                close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
                hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
                raise ConfigError(f"float layer {name!r} is neither a module path nor a node of the model.{hint} "
                                  "The sensitivity table of `edgeparse quantize` lists the layer names.")


def _annotate_fixed_sigmoid(model: GraphModule, config: QuantizationConfig,
                            keep: Callable[[Node], bool]) -> None:
    """Pin every sigmoid output to (1/256, -128) and make its consumers reuse that quantization."""
    fixed = FixedQParamsQuantizationSpec(dtype=torch.int8, scale=SIGMOID_SCALE, zero_point=SIGMOID_ZERO_POINT,
                                         quant_min=-128, quant_max=127, qscheme=torch.per_tensor_affine)
    sigmoids = [n for n in model.graph.nodes if n.op == "call_function" and n.target in SIGMOID_OPS and keep(n)]
    for node in sigmoids:
        node.meta["quantization_annotation"] = QuantizationAnnotation(
            input_qspec_map={node.args[0]: config.input_activation}, output_qspec=fixed, _annotated=True)
        for user in node.users:
            annotation = user.meta.get("quantization_annotation")
            if annotation is not None and node in annotation.input_qspec_map:
                # A consumer's own observer would requantize the sigmoid output away from 1/256.
                annotation.input_qspec_map[node] = SharedQuantizationSpec(node)


def build_quantizer(family: str, qat: bool, observer: str = "histogram", per_channel: bool = True, *,
                    exclude: Sequence[str] = (), percentile: float = 99.99,
                    reduce_weight_range: bool = False) -> EdgeQuantizer:
    """The PT2E quantizer of ``family`` ("tensorrt", "openvino" or "litert").

    ``qat`` selects fake-quant modules (for ``prepare_qat_pt2e``) instead of observers;
    ``observer`` ("minmax", "histogram", "percentile") is the PTQ activation observer (QAT always
    uses moving-average min/max fake-quant); ``exclude`` keeps the named modules/nodes float;
    ``reduce_weight_range`` quantizes weights to [-63, 63] for x86 CPU runtimes without VNNI.
    """
    config = build_quantization_config(family, qat, observer, per_channel, percentile, reduce_weight_range)
    log.debug("quantizer %s (qat=%s, observer=%s, per_channel=%s, exclude=%s)",
              family, qat, observer, per_channel, list(exclude))
    return EdgeQuantizer(family, config, exclude)


