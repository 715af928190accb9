"""The warm-up + poly schedule and optimiser construction (docs/design.md#training-recipe)."""
import pytest
import torch

from training.config import OptimCfg
from training.optim import build_optimizer, build_scheduler, warmup_poly_factor


def test_warmup_starts_at_factor_and_reaches_one():
    cfg = OptimCfg(warmup_iters=10, warmup_factor=1 / 3)
    assert warmup_poly_factor(0, 100, cfg) == pytest.approx(1 / 3)
    assert warmup_poly_factor(10, 100, cfg) == pytest.approx(1.0)
    assert warmup_poly_factor(55, 100, cfg) == pytest.approx(0.5 ** 0.9)
    assert warmup_poly_factor(100, 100, cfg) == 0.0


def test_sgd_uses_momentum_and_no_decay_on_norms():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    opt = build_optimizer(model, OptimCfg(name="sgd", lr=0.1, weight_decay=1e-4))
    assert isinstance(opt, torch.optim.SGD)
    decays = sorted(g["weight_decay"] for g in opt.param_groups)
    assert decays == [0.0, 1e-4] and opt.param_groups[0]["momentum"] == 0.9
    assert opt.param_groups[0]["dampening"] == 0


def test_scheduler_resumes_at_the_saved_iteration():
    model = torch.nn.Linear(2, 2)
    cfg = OptimCfg(lr=1.0, warmup_iters=0)
    opt = build_optimizer(model, cfg)
    sched = build_scheduler(opt, 10, cfg, last_iter=4)
    assert sched.get_last_lr()[0] == pytest.approx((1 - 5 / 10) ** 0.9)
