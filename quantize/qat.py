"""Quantization-aware fine-tuning with distillation, on the PT2E training graph (docs/design.md#quantization).

The exported graph has only the deploy ``forward`` (no ``forward_train``), so the loss works on
the final logits: cross-entropy against the labels plus pixel KD (Hinton KL at temperature T,
docs/design.md#distillation) towards the averaged distribution of the FP32 student and optional teachers, whose
logits are resized to the student's. A schedule freezes BN statistics, then fixes the fake-quant ranges, then converts.
"""
from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.fx import GraphModule
from tqdm import tqdm

from edge.errors import ConfigError, DataError
from quantize.config import QatCfg, QuantCfg
from quantize.graph import (
    QuantizedModel,
    convert,
    float_weights,
    freeze_bn_stats,
    prepare,
    set_observers,
    snapshot,
)
from training.distill.losses import pixel_kl
from training.losses import cross_entropy, raise_if_non_finite, resize_logits

log = logging.getLogger(__name__)

# epoch -> (images (N, 3, S, S) float, labels (N, S, S) long) batches at the deployment size
TrainBatches = Callable[[int], Iterable[tuple[Tensor, Tensor]]]


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("qat.device=cuda but no CUDA device is available; use qat.device=cpu or auto")
    return torch.device("cuda" if name == "auto" and torch.cuda.is_available() else name.replace("auto", "cpu"))


def qat(model: nn.Module, train_batches_fn: TrainBatches, cfg: QuantCfg,
        teacher: nn.Module | Sequence[nn.Module] | None = None, float_layers: Sequence[str] = ()) -> QuantizedModel:
    """Fine-tune ``model`` with fake quantization for ``cfg.qat.iters`` steps, then convert to INT8.

    ``train_batches_fn(epoch)`` yields (images, labels) at ``cfg.input_size``; it is called again
    with the next epoch until the iterations are done. KD comes from a frozen copy of ``model``
    (the FP32 student) and from every module in ``teacher`` (same classes, any resolution).
    """
    qcfg = cfg.qat
    torch.manual_seed(qcfg.seed)
    device = resolve_device(qcfg.device)
    layers = tuple(dict.fromkeys((*cfg.float_layers, *float_layers)))
    prepared = prepare(model, cfg, qat=True, float_layers=layers, device=device)
    teachers = [teacher] if isinstance(teacher, nn.Module) else list(teacher or [])
    references = [_frozen(model, device)] + [_frozen(t, device) for t in teachers]
    history = _fine_tune(prepared, train_batches_fn, references, qcfg, device)
    state = snapshot(prepared)
    float_state = float_weights(prepared, model)
    converted = convert(prepared, cfg, layers, qat=True)
    log.info("QAT (%s) done after %d iterations; float layers: %s", cfg.family, len(history), list(layers) or "none")
    return QuantizedModel(converted, cfg.family, "qat", cfg.input_size, layers, state, float_state, history)


def _frozen(module: nn.Module, device: torch.device) -> nn.Module:
    module = copy.deepcopy(module).to(device).eval()
    module.requires_grad_(False)
    return module


def apply_schedule(prepared: GraphModule, iteration: int, qcfg: QatCfg) -> None:
    """Freeze BN statistics at ``freeze_bn_after`` and the fake-quant ranges at ``disable_observers_after``."""
    if iteration == qcfg.freeze_bn_after:
        log.info("iteration %d: froze %d batch norms", iteration, freeze_bn_stats(prepared))
    if iteration == qcfg.disable_observers_after:
        set_observers(prepared, enabled=False)
        log.info("iteration %d: fake-quant ranges fixed (observers off)", iteration)


def _fine_tune(prepared: GraphModule, train_batches_fn: TrainBatches, references: list[nn.Module],
               qcfg: QatCfg, device: torch.device) -> list[dict[str, float]]:
    optimizer = torch.optim.AdamW(prepared.parameters(), lr=qcfg.lr, weight_decay=qcfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, qcfg.iters))
    history: list[dict[str, float]] = []
    epoch = 0
    with tqdm(total=qcfg.iters, desc="QAT", unit="it") as bar:
        while len(history) < qcfg.iters:
            steps_before = len(history)
            for images, labels in train_batches_fn(epoch):
                apply_schedule(prepared, len(history), qcfg)
                terms = _step(prepared, images.to(device), labels.to(device), references, qcfg)
                optimizer.zero_grad(set_to_none=True)
                terms["total"].backward()
                optimizer.step()
                scheduler.step()
                history.append({k: float(v.detach()) for k, v in terms.items()})
                bar.update(1)
                bar.set_postfix(loss=f"{history[-1]['total']:.3f}")
                if len(history) >= qcfg.iters:
                    break
            if len(history) == steps_before:
                raise DataError(f"train_batches_fn({epoch}) yielded no batches; check the training split")
            epoch += 1
    return history


def _step(prepared: GraphModule, images: Tensor, labels: Tensor, references: list[nn.Module],
          qcfg: QatCfg) -> dict[str, Tensor]:
    logits = prepared(images)
    with torch.no_grad():
        targets = [reference(images) for reference in references]
    for target in targets:
        if target.shape[1] != logits.shape[1]:
            raise ConfigError(f"a KD teacher predicts {target.shape[1]} classes, the student {logits.shape[1]}: "
                              "teachers must share the student's label schema (docs/design.md#distillation)")
    # One KL against the average teacher distribution (docs/design.md#distillation, several teachers).
    temperature = qcfg.kd_temperature
    probs = torch.stack([F.softmax(resize_logits(t, logits.shape[-2:]) / temperature, dim=1) for t in targets])
    kd = pixel_kl(logits, probs.mean(0), temperature)
    terms = {"ce": cross_entropy(logits, labels), "kd": kd}
    terms["total"] = qcfg.ce_weight * terms["ce"] + qcfg.kd_weight * terms["kd"]
    raise_if_non_finite(terms)
    return terms
