"""Optimiser and the warm-up + poly learning-rate schedule (docs/design.md#training-recipe)."""
from __future__ import annotations

import torch
from torch import nn

from training.config import OptimCfg


def build_optimizer(model: nn.Module, cfg: OptimCfg) -> torch.optim.Optimizer:
    # Norm and bias parameters take no weight decay, the usual segmentation practice.
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if param.ndim <= 1 else decay).append(param)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.name == "sgd":
        # Keywords, not positions: EHANet's positional call silently set dampening (docs/design.md#training-recipe).
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def warmup_poly_factor(iteration: int, total_iters: int, cfg: OptimCfg) -> float:
    """LR multiplier: linear warm-up from ``warmup_factor`` to 1, then (1 - t/T)^power."""
    if iteration < cfg.warmup_iters:
        alpha = iteration / max(1, cfg.warmup_iters)
        return cfg.warmup_factor * (1 - alpha) + alpha
    progress = (iteration - cfg.warmup_iters) / max(1, total_iters - cfg.warmup_iters)
    return max(0.0, 1.0 - min(progress, 1.0)) ** cfg.poly_power


def build_scheduler(optimizer: torch.optim.Optimizer, total_iters: int, cfg: OptimCfg,
                    last_iter: int = -1) -> torch.optim.lr_scheduler.LambdaLR:
    if last_iter >= 0:
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda it: warmup_poly_factor(it, total_iters, cfg), last_epoch=last_iter
    )
