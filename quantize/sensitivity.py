"""Per-layer quantization sensitivity and the bounded mixed-precision search.

Sensitivity quantizes one layer at a time: on a few calibration images, the float network is
run with a single compute layer fed its fake-quantized input and weight (the calibrated PTQ
ranges), and the SQNR of the final logits against the all-float logits is that layer's score.
It needs one calibration and one forward per layer, no re-export. Lower SQNR = more sensitive.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import torch
from torch import nn
from torch.fx import GraphModule, Interpreter, Node
from torchao.quantization.pt2e import FakeQuantizeBase, ObserverBase
from tqdm import tqdm

from quantize.config import QuantCfg
from quantize.graph import compute_nodes, operands, prepare
from quantize.ptq import calibrate
from quantize.quantizers import layer_name

log = logging.getLogger(__name__)
T = TypeVar("T")
_PER_CHANNEL = (torch.per_channel_symmetric, torch.per_channel_affine)


@dataclass(frozen=True)
class LayerSensitivity:
    layer: str  # module path: what ``float_layers`` accepts
    node: str
    op: str
    sqnr_db: float


def _fake_quant_fn(observer: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """Quantize-dequantize with the observer's calibrated parameters (computed once)."""
    scale, zero_point = observer.calculate_qparams()
    qmin, qmax = observer.quant_min, observer.quant_max
    if observer.qscheme in _PER_CHANNEL:
        axis = observer.ch_axis
        return lambda x: torch.fake_quantize_per_channel_affine(x, scale.float(), zero_point.int(), axis, qmin, qmax)
    s, z = float(scale.reshape(-1)[0]), int(zero_point.reshape(-1)[0])
    return lambda x: torch.fake_quantize_per_tensor_affine(x, s, z, qmin, qmax)


class _OneLayerProbe(Interpreter):
    """Runs the calibrated prepared graph in float, except one compute layer run on int8 inputs."""

    def __init__(self, prepared: GraphModule):
        super().__init__(prepared)
        self.quantizers = {name: _fake_quant_fn(m) for name, m in prepared.named_modules(remove_duplicate=False)
                           if isinstance(m, (ObserverBase, FakeQuantizeBase))}
        # Layers kept float on purpose read a float weight, so they are not candidates.
        self.layers = [n for n in compute_nodes(prepared) if all(self._observed(a) for a in operands(n))]
        self.active: Node | None = None

    def call_module(self, target: str, args: Any, kwargs: Any) -> Any:
        if target in self.quantizers:  # observers pass values through without observing again
            return args[0]
        return super().call_module(target, args, kwargs)

    def run_node(self, node: Node) -> Any:
        if node is not self.active:
            return super().run_node(node)
        args, kwargs = self.fetch_args_kwargs_from_env(node)
        quantized = [self.quantizers[a.target](v) if self._observed(a) else v for a, v in zip(node.args, args)]
        return node.target(*quantized, **kwargs)

    def logits(self, images: torch.Tensor, active: Node | None) -> torch.Tensor:
        self.active = active
        out = self.run(images)
        return out[0] if isinstance(out, (tuple, list)) else out

    def _observed(self, arg: Any) -> bool:
        return isinstance(arg, Node) and arg.op == "call_module" and arg.target in self.quantizers


def _sqnr_db(reference: torch.Tensor, candidate: torch.Tensor) -> float:
    signal = float(reference.double().square().sum())
    noise = float((reference - candidate).double().square().sum())
    if noise == 0.0:
        return math.inf
    return 10.0 * math.log10(max(signal, 1e-30) / noise)


def layer_sensitivity(model: nn.Module, calib_batches: Iterable[torch.Tensor], cfg: QuantCfg,
                      images: int | None = None, probe_images: torch.Tensor | None = None) -> list[LayerSensitivity]:
    """Rank every quantized compute layer by the logits' SQNR when only it runs in int8 (lowest first).

    Calibrates a PTQ copy on ``cfg.calib_images`` images from ``calib_batches`` (a list, reused),
    then quantizes one layer at a time on ``images`` of them (default
    ``cfg.mixed_precision.sensitivity_images``): one forward per layer, no re-export.
    ``probe_images`` (N, 3, S, S), when given, are scored instead: images the calibration did not see
    show a range that is too narrow for them (a calibration set too small), which its own images cannot.
    """
    images = images or cfg.mixed_precision.sensitivity_images
    prepared = prepare(model, cfg, qat=False, float_layers=cfg.float_layers)
    calib_batches = list(calib_batches)
    calibrate(prepared, calib_batches, cfg.calib_images, cfg.input_size)
    probe = _OneLayerProbe(prepared)
    batch = (torch.cat(calib_batches) if probe_images is None else probe_images)[:images]
    rows = []
    with torch.no_grad():
        reference = probe.logits(batch, None)
        for node in tqdm(probe.layers, desc="sensitivity", unit="layer", leave=False):
            rows.append(LayerSensitivity(layer_name(node), node.name, str(node.target),
                                         _sqnr_db(reference, probe.logits(batch, node))))
    return sorted(rows, key=lambda r: r.sqnr_db)


def format_sensitivity(rows: Sequence[LayerSensitivity], top: int | None = 15) -> str:
    """Text table of the most sensitive layers (lowest SQNR first)."""
    shown = list(rows[:top] if top else rows)
    width = max([len("layer")] + [len(r.layer) for r in shown])
    lines = [f"{'#':>3}  {'layer':<{width}}  {'op':<28}  logits SQNR dB", "-" * (width + 54)]
    lines += [f"{i:>3}  {r.layer:<{width}}  {r.op:<28}  {r.sqnr_db:14.2f}" for i, r in enumerate(shown, 1)]
    if top and len(rows) > top:
        lines.append(f"... {len(rows) - top} less sensitive layers not shown")
    return "\n".join(lines)


@dataclass
class Attempt:
    float_layers: tuple[str, ...]
    delta_miou_pts: float  # INT8 − FP32 mIoU, percentage points (edge.metrics.compare_matrices; negative: worse)


@dataclass
class MixedPrecisionResult(Generic[T]):
    """The chosen candidate, the layers it keeps float, and every attempt of the search."""

    candidate: T
    float_layers: tuple[str, ...]
    delta_miou_pts: float
    met_target: bool
    attempts: list[Attempt] = field(default_factory=list)


def float_layer_counts(max_float_layers: int) -> list[int]:
    """The k values tried: 0, then 1, 2, 4, ... and ``max_float_layers`` itself (log-many runs)."""
    counts, k = [0], 1
    while k < max_float_layers:
        counts.append(k)
        k *= 2
    if max_float_layers > 0:
        counts.append(max_float_layers)
    return counts


def search_float_layers(attempt_fn: Callable[[tuple[str, ...]], bool], rank_fn: Callable[[], Sequence[str]],
                        max_float_layers: int) -> list[tuple[str, ...]]:
    """The bounded search: try the full INT8 graph, then keep the k most sensitive layers float
    (k from ``float_layer_counts``) until ``attempt_fn(float_layers)`` returns True (done).

    ``rank_fn()`` lists layers, most sensitive first; it is called only when a float layer is needed.
    Returns the float-layer tuples tried, in order. ``edgeparse quantize`` (``auto_mixed_precision``)
    and ``edgeparse deploy`` (``targets.fallback``) both search with it.
    """
    ranking: Sequence[str] = ()
    tried: list[tuple[str, ...]] = []
    for k in float_layer_counts(max_float_layers):
        if k and not ranking:
            ranking = list(dict.fromkeys(rank_fn()))
        layers = tuple(ranking[:k])
        if k and len(layers) < k and tried and tried[-1] == layers:
            break  # fewer layers than k: this candidate was already tried
        tried.append(layers)
        if attempt_fn(layers):
            break
    return tried


def auto_mixed_precision(quantize_fn: Callable[[tuple[str, ...]], T], delta_fn: Callable[[T], float],
                         rank_fn: Callable[[], Sequence[str]], max_delta_miou_pts: float,
                         max_float_layers: int) -> MixedPrecisionResult[T]:
    """Quantize fully; while ΔmIoU falls below −``max_delta_miou_pts``, keep the k most sensitive layers float.

    ``quantize_fn(float_layers)`` builds a candidate, ``delta_fn`` scores it (INT8 − FP32 mIoU pts, so a
    drop is negative),
    ``rank_fn()`` (called only if the full INT8 graph misses) lists layers, most sensitive first.
    Stops at the first k meeting the target, else returns the best attempt (``met_target`` False).
    """
    best: MixedPrecisionResult[T] | None = None
    attempts: list[Attempt] = []

    def attempt(layers: tuple[str, ...]) -> bool:
        nonlocal best
        candidate = quantize_fn(layers)
        delta = delta_fn(candidate)
        attempts.append(Attempt(layers, delta))
        log.info("mixed precision: %d float layer(s) -> ΔmIoU %+.2f pts", len(layers), delta)
        met = delta >= -max_delta_miou_pts
        if best is None or delta > best.delta_miou_pts:
            best = MixedPrecisionResult(candidate, layers, delta, met)
        return met

    search_float_layers(attempt, rank_fn, max_float_layers)
    assert best is not None  # float_layer_counts always yields k = 0
    best.attempts = attempts
    return best
