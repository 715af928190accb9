"""The training loop: config-driven, seeded, resumable mid-epoch, DDP- and AMP-ready."""
from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn
from tqdm import tqdm

from edge.config import load_yaml, save_config, to_dict
from edge.errors import ConfigError, EdgeparseError
from edge.io import PROCESS_START, clean_leftovers
from training.checkpoint import load_checkpoint, save_checkpoint
from training.config import RecipeCfg
from training.data.factory import build_loader
from training.distributed import DistInfo, barrier, broadcast_buffers
from training.evaluate import evaluate
from training.losses import build_criterion
from training.models import create_model
from training.optim import build_optimizer, build_scheduler
from training.run_log import RunLog

log = logging.getLogger(__name__)

# extra_loss(batch, outputs) -> named loss terms added to the total (e.g. distillation)
ExtraLoss = Callable[[dict[str, torch.Tensor], object], dict[str, torch.Tensor]]


class TrainingDiverged(EdgeparseError):
    """The loss became NaN or inf; the last good checkpoint is kept."""


@dataclass
class Progress:
    epoch: int = 0
    step_in_epoch: int = 0
    global_iter: int = 0
    best_metric: float = -math.inf


class TrainView(nn.Module):
    """Routes ``forward`` to ``forward_train``: DDP syncs gradients only through ``forward``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor):
        return self.model.forward_train(images)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def recipe_changes(config_file: Path, cfg: RecipeCfg) -> list[str]:
    """``key: old -> new`` for every recipe key whose value differs from the run's ``config.yaml``
    (none when the file is absent: nothing to compare with)."""
    if not config_file.is_file():
        return []
    before = _flat(load_yaml(config_file))
    now = _flat(yaml.safe_load(yaml.safe_dump(to_dict(cfg), sort_keys=False)))
    return [f"{key}: {before.get(key, '(unset)')} -> {now.get(key, '(unset)')}"
            for key in sorted(set(before) | set(now)) if before.get(key) != now.get(key)]


def _flat(data: dict, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class Trainer:
    def __init__(self, cfg: RecipeCfg, info: DistInfo, resume: bool = False, force: bool = False,
                 extra_loss: ExtraLoss | None = None):
        self.cfg, self.info, self.extra_loss = cfg, info, extra_loss
        self.label_weight = cfg.distill.label_weight if extra_loss is not None and cfg.distill else 1.0
        self.run_dir = cfg.run_dir
        self._check_run_dir(resume, force)
        seed_everything(cfg.train.seed + info.rank)
        t = cfg.train
        self.train_loader, self.sampler, source = build_loader(
            cfg.data, cfg.data.train_split, t.batch_size, t.seed, info, train=True)
        self.val_loader, _, _ = build_loader(cfg.data, cfg.data.val_split, t.batch_size, t.seed, info, False)
        self.schema = source.schema
        self.model = create_model(cfg.model.name, num_classes=self.schema.num_classes,
                                  **cfg.model.overrides).to(info.device)
        self.net = self._wrap_ddp(self.model)
        self.optimizer = build_optimizer(self.model, cfg.optim)
        self.total_iters = t.epochs * self.sampler.batches_per_epoch()
        self.criterion = build_criterion(cfg.loss)
        self.use_amp = t.amp and info.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.progress = Progress()
        if resume and (self.run_dir / "last.pt").exists():
            self._restore(load_checkpoint(self.run_dir / "last.pt"))
        elif t.init_checkpoint:
            self._warm_start(t.init_checkpoint)
        self.scheduler = build_scheduler(self.optimizer, self.total_iters, cfg.optim,
                                         last_iter=self.progress.global_iter - 1)
        self.log = RunLog(self.run_dir, enabled=info.is_main, start_step=self.progress.global_iter)

    # ----------------------------------------------------------------- setup
    def _check_run_dir(self, resume: bool, force: bool) -> None:
        """Refuse to overwrite a run unless told how: ``--resume`` continues it (with the recipe it was
        started with; ``--force`` too accepts another), ``--force`` alone starts it over."""
        has_run = (self.run_dir / "last.pt").exists()
        if has_run and not (resume or force):
            raise ConfigError(
                f"{self.run_dir} already holds a run. Pass --resume to continue it, "
                "--force to start over, or choose another name=..."
            )
        config = self.run_dir / "config.yaml"
        changed = recipe_changes(config, self.cfg) if resume and has_run else []
        if changed and not force:
            raise ConfigError(
                f"{self.run_dir} was started with another recipe ({'; '.join(changed)}; see {config}). "
                "Resume with the same recipe, pass --force to continue with this one, or choose another name=..."
            )
        if self.info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            clean_leftovers(self.run_dir, older_than=PROCESS_START)  # temporary files of a killed run
            if changed:  # --resume --force: the run continues with this recipe; the one it began with stays
                kept = config.with_name(f"config.before-{time.strftime('%Y%m%d-%H%M%S')}.yaml")
                config.replace(kept)
                log.warning("resuming %s with another recipe (%s): %s keeps the one it began with",
                            self.run_dir, "; ".join(changed), kept.name)
            elif force and not resume:
                self._remove_previous_run()
            save_config(self.cfg, config)
        barrier(self.info)

    def _remove_previous_run(self) -> None:
        """``--force``: the run starts over, so the previous run's checkpoints must not pass for its own
        (its logs go too: ``RunLog`` starts them afresh)."""
        removed = [p.name for p in (self.run_dir / "last.pt", self.run_dir / "best.pt") if p.exists()]
        for name in removed:
            (self.run_dir / name).unlink()
        if removed:
            log.warning("--force: %s starts over; removed the previous run's %s", self.run_dir, ", ".join(removed))

    def _wrap_ddp(self, model: nn.Module) -> nn.Module:
        view = TrainView(model)
        if not self.info.enabled:
            return view
        ids = [self.info.local_rank] if self.info.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(view, device_ids=ids)

    def _restore(self, payload: dict) -> None:
        if payload["model_name"] != self.cfg.model.name:
            raise ConfigError(f"cannot resume: checkpoint is {payload['model_name']!r}, "
                              f"recipe asks for {self.cfg.model.name!r}")
        self.model.load_state_dict(payload["state_dict"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scaler.load_state_dict(payload["scaler"])
        self.progress = Progress(**payload["progress"])
        log.info("resumed %s at epoch %d, step %d (iteration %d)", self.run_dir,
                 self.progress.epoch, self.progress.step_in_epoch, self.progress.global_iter)

    def _warm_start(self, path: str) -> None:
        payload = load_checkpoint(path)
        if payload["model_name"] != self.cfg.model.name or payload["num_classes"] != self.schema.num_classes:
            raise ConfigError(f"train.init_checkpoint {path} holds {payload['model_name']} with "
                              f"{payload['num_classes']} classes; this recipe trains {self.cfg.model.name} "
                              f"with {self.schema.num_classes}")
        source, target = payload["state_dict"], self.model.state_dict()
        matching = {k: v for k, v in source.items() if k in target and target[k].shape == v.shape}
        fresh = sorted(target.keys() - matching.keys())
        unused = sorted(source.keys() - matching.keys())
        if (fresh or unused) and self.cfg.train.init_strict:
            raise ConfigError(f"train.init_checkpoint {path} does not fit this architecture ({len(fresh)} of "
                              f"{len(target)} tensors missing or of another shape, {len(unused)} left over, e.g. "
                              f"{(fresh or unused)[0]}); set train.init_strict=false to warm-start the tensors "
                              "that match and initialise the rest")
        self.model.load_state_dict(matching, strict=False)
        log.info("initialised weights from %s", path)
        if fresh:
            modules = sorted({name.rsplit(".", 1)[0] for name in fresh})
            log.warning("train.init_strict=false: %d of %d tensors from %s; fresh: %s", len(matching),
                        len(target), path, ", ".join(modules))

    # -------------------------------------------------------------- training
    def fit(self) -> dict[str, float]:
        """Train to the configured number of epochs; returns the best validation metrics."""
        best: dict[str, float] = {}
        try:
            while self.progress.epoch < self.cfg.train.epochs:
                self._train_epoch()
                epoch = self.progress.epoch  # already advanced to the next epoch
                if epoch % self.cfg.train.eval_interval == 0 or epoch == self.cfg.train.epochs:
                    best = self._validate() or best
        finally:
            self.log.close()
        return best

    def _train_epoch(self) -> None:
        p = self.progress
        self.sampler.set_epoch(p.epoch, skip_batches=p.step_in_epoch)
        self.net.train()
        bar = tqdm(self.train_loader, desc=f"epoch {p.epoch + 1}/{self.cfg.train.epochs}",
                   initial=p.step_in_epoch, total=self.sampler.batches_per_epoch(),
                   disable=not self.info.is_main, dynamic_ncols=True)
        for batch in bar:
            terms = self._step(batch)
            p.step_in_epoch += 1
            p.global_iter += 1
            if p.global_iter % self.cfg.train.log_interval == 0:
                bar.set_postfix(loss=f"{terms['total']:.3f}")
                self.log.scalars("train", p.global_iter, {**terms, "lr": self.scheduler.get_last_lr()[0]})
            if p.global_iter % self.cfg.train.checkpoint_interval == 0:
                self._save("last.pt")
        p.epoch, p.step_in_epoch = p.epoch + 1, 0
        self._save("last.pt")

    def _step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        batch = {k: v.to(self.info.device, non_blocking=True) for k, v in batch.items()}
        with torch.autocast(self.info.device.type, dtype=torch.float16, enabled=self.use_amp):
            outputs = self.net(batch["image"])
            terms = self.criterion(outputs, batch["label"], batch["boundary"])
            if self.extra_loss is not None:
                extra = self.extra_loss(batch, outputs)
                total = self.label_weight * terms["total"] + sum(extra.values())
                terms = {**terms, **extra, "total": total}
        if not torch.isfinite(terms["total"]):
            raise TrainingDiverged(
                f"loss is {terms['total'].item()} at iteration {self.progress.global_iter}; "
                f"the last good checkpoint is {self.run_dir / 'last.pt'}. Lower optim.lr or check the data."
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(terms["total"]).backward()
        if self.cfg.train.grad_clip:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return {k: float(v.detach()) for k, v in terms.items()}

    # ------------------------------------------------------ eval/checkpoints
    def _validate(self) -> dict[str, float] | None:
        # Every rank must evaluate the model rank 0 saves, BatchNorm statistics included.
        broadcast_buffers(self.model, self.info)
        matrix = evaluate(self.model, self.val_loader, self.schema.num_classes, self.info)
        summary = matrix.summary(self.schema)
        metrics = {"miou": summary.miou, "mean_f1": summary.mean_f1_fg, "pixel_acc": summary.pixel_accuracy}
        if not self.info.is_main:
            return None
        print(f"\nvalidation after epoch {self.progress.epoch} ({self.cfg.data.val_split}):")
        print(summary.format_table(self.schema))
        self.log.scalars("val", self.progress.global_iter, metrics)
        score = metrics[self.cfg.train.select_metric]
        if score > self.progress.best_metric:
            self.progress.best_metric = score
            self._save("best.pt", metrics=metrics)
            self._save("last.pt", metrics=metrics)  # keep best_metric in the resumable state
            return metrics
        return None

    def _save(self, name: str, metrics: dict[str, float] | None = None) -> None:
        if not self.info.is_main:
            return
        save_checkpoint({
            "model_name": self.cfg.model.name,
            "model_overrides": dict(self.cfg.model.overrides),
            "num_classes": self.schema.num_classes,
            "schema": self.schema.to_dict(),
            "config": to_dict(self.cfg),
            "state_dict": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "progress": vars(self.progress).copy(),
            "metrics": metrics or {},
        }, self.run_dir / name)
