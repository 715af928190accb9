"""Turn a recipe's ``distill`` section into the trainer's ``extra_loss`` (and fill the teacher cache).

The student objective is its own loss (EHANet's, docs/design.md#student-loss) plus the weighted KD terms of
docs/design.md#distillation: ``kd`` (pixel-wise KL), ``kd_boundary`` (boundary-weighted KL), ``cwd`` (channel-wise,
on logits) and ``pairwise`` (SKD affinity, on the penultimate features). A term whose weight is 0
is not computed; the returned values are already weighted (the trainer sums them into the total).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from edge.config import to_dict
from edge.errors import ConfigError
from edge.io import file_sha256
from edge.schemas import LabelSchema
from training.config import RecipeCfg
from training.distill.cache import TeacherCache
from training.distill.config import DistillCfg, TeacherCfg
from training.distill.losses import (
    boundary_weighted_kl,
    channel_wise_distillation,
    pairwise_affinity_loss,
    pixel_kl,
)
from training.distill.teacher import TeacherEnsemble, TeacherOutputs
from training.distributed import DistInfo
from training.models.layers.resize import resize_to

__all__ = ["DistillCfg", "DistillLoss", "TeacherCfg", "build_distill_loss", "fill_teacher_cache"]

# Log-probabilities feed CWD as logits; this floor keeps log 0 (an underflowed class) finite.
_MIN_PROB = 1e-12
# Data settings that do not change a training sample (and so may change under a filled cache).
_CACHE_NEUTRAL_DATA_KEYS = ("workers", "val_split", "synthetic_val")


class DistillLoss:
    """``extra_loss(batch, outputs)`` for ``Trainer``: the weighted KD terms against frozen teachers.

    CWD compares log-probabilities (the logits of the translated ensemble) on both sides: the raw
    logits of different teachers and schemas differ by per-pixel offsets and cannot be averaged [I].
    Student classes that no teacher covers (e.g. neck for a LaPa teacher) are left out of the KL
    and CWD terms, and pixels are weighted by the probability mass the teachers keep after schema
    translation (1 for teachers on the student's schema) [I].
    """

    def __init__(self, cfg: DistillCfg, ensemble: TeacherEnsemble, cache: TeacherCache | None = None):
        self.cfg, self.ensemble, self.cache = cfg, ensemble, cache
        self.weights = {name: w for name, w in cfg.term_weights().items() if w > 0}

    def teacher_outputs(self, batch: Mapping[str, Tensor], logit_size: Sequence[int],
                        feature_size: Sequence[int] | None) -> list[TeacherOutputs]:
        """The teachers on the batch image, from the cache when it holds every sample."""
        def compute() -> list[TeacherOutputs]:
            return self.ensemble.run(batch["image"], logit_size, feature_size, self.cfg.pairwise_cells)

        if self.cache is None:
            return compute()
        for key in ("index", "epoch"):
            if key not in batch:
                raise ConfigError(f"distill.cache_dir needs batches with {key!r} (SegmentationDataset provides it)")
        return self.cache.lookup(batch["index"], batch["epoch"], logit_size, feature_size, compute,
                                 batch["image"].device)

    def __call__(self, batch: Mapping[str, Tensor], outputs: Any) -> dict[str, Tensor]:
        feature_size = tuple(outputs.features.shape[-2:]) if "pairwise" in self.weights else None
        grid = tuple((batch["label"] if self.cfg.kd_resolution == "label" else outputs.logits).shape[-2:])
        teachers = self.teacher_outputs(batch, grid, feature_size)
        # float32 maths even inside the trainer's fp16 autocast: einsum and matmul would otherwise
        # run in half precision, and log-probabilities of rare classes need the digits.
        with torch.autocast(outputs.logits.device.type, enabled=False):
            student = outputs.logits.float()
            student = student if tuple(student.shape[-2:]) == grid else resize_to(student, grid)
            return self._terms(batch, outputs, student, teachers)

    def _terms(self, batch: Mapping[str, Tensor], outputs: Any, student_logits: Tensor,
               teachers: list[TeacherOutputs]) -> dict[str, Tensor]:
        cfg, ensemble, weights = self.cfg, self.ensemble, self.weights
        student = ensemble.covered_classes(student_logits)
        by_temperature: dict[float, tuple[Tensor, Tensor]] = {}

        def probabilities(temperature: float) -> tuple[Tensor, Tensor]:
            if temperature not in by_temperature:  # KD at T and CWD at 1 share it when T = 1
                probs, kept = ensemble.probabilities(teachers, temperature)
                by_temperature[temperature] = ensemble.covered_classes(probs), kept
            return by_temperature[temperature]

        terms: dict[str, Tensor] = {}
        if "kd" in weights:
            probs, kept = probabilities(cfg.target_temperature)
            terms["kd"] = pixel_kl(student, probs, cfg.temperature, kept)
        if "kd_boundary" in weights:
            probs, kept = probabilities(cfg.target_temperature)
            terms["kd_boundary"] = boundary_weighted_kl(
                student, probs, batch["boundary"], cfg.boundary_alpha, cfg.temperature, kept)
        if "cwd" in weights:
            teacher_logits = probabilities(1.0)[0].clamp_min(_MIN_PROB).log()
            terms["cwd"] = channel_wise_distillation(F.log_softmax(student, dim=1), teacher_logits, cfg.cwd_tau)
        if "pairwise" in weights:
            terms["pairwise"] = pairwise_affinity_loss(
                outputs.features, ensemble.affinity(teachers), cfg.pairwise_cells)
        return {name: self.weights[name] * value for name, value in terms.items()}


def _cache_settings(recipe: RecipeCfg) -> dict[str, Any]:
    """What a cached teacher output depends on, apart from the teacher and the student's grids."""
    data = {k: v for k, v in to_dict(recipe.data).items() if k not in _CACHE_NEUTRAL_DATA_KEYS}
    return {"data": data, "augment_seed": recipe.train.seed,
            "teacher_input_size": recipe.distill.teacher_input_size,
            "teacher_tta": to_dict(recipe.distill.teacher_tta),
            "pairwise_cells": recipe.distill.pairwise_cells}


def build_teacher_cache(recipe: RecipeCfg) -> TeacherCache | None:
    cfg = recipe.distill
    if cfg.cache_dir is None:
        return None
    teacher_ids = [file_sha256(t.checkpoint) for t in cfg.teachers]
    return TeacherCache(cfg.cache_dir, teacher_ids, _cache_settings(recipe),
                        per_epoch=recipe.data.augment.enabled)


def _require_distill(recipe: RecipeCfg) -> DistillCfg:
    if recipe.distill is None:
        raise ConfigError("this recipe has no `distill:` section (teachers and KD weights); "
                          "see configs/distill/smoke_kd.yaml")
    return recipe.distill


def build_distill_loss(recipe: RecipeCfg, student_schema: LabelSchema, device: torch.device) -> DistillLoss:
    """The KD ``extra_loss`` of ``recipe.distill``: loads (and freezes) the teachers on ``device``.

    Raises ``CheckpointError`` for a missing or corrupt teacher file and ``ConfigError`` when a
    teacher's label schema cannot be converted to ``student_schema``.
    """
    cfg = _require_distill(recipe)
    ensemble = TeacherEnsemble.from_config(cfg.teachers, student_schema, device, cfg.teacher_input_size,
                                           cfg.teacher_tta)
    return DistillLoss(cfg, ensemble, build_teacher_cache(recipe))


@torch.no_grad()
def _student_grids(recipe: RecipeCfg, num_classes: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The student's logit and feature grids at the recipe's input size (one forward of a fresh model)."""
    from training.models import create_model

    overrides = {k: v for k, v in recipe.model.overrides.items() if k != "backbone_weights"}
    model = create_model(recipe.model.name, num_classes=num_classes, **overrides).eval()
    out = model.forward_train(torch.zeros(1, 3, recipe.data.size, recipe.data.size))
    return tuple(out.logits.shape[-2:]), tuple(out.features.shape[-2:])


def fill_teacher_cache(recipe: RecipeCfg, info: DistInfo, progress: bool = True) -> dict[str, int]:
    """Run the teachers over every training sample of every epoch that the recipe will see and
    store their outputs in ``distill.cache_dir``; entries already there are skipped (resumable).

    Under torchrun each process fills its own shard. Returns ``{"cached": n, "written": m}``.
    """
    from training.data.factory import build_loader

    cfg = _require_distill(recipe)
    if cfg.cache_dir is None:
        raise ConfigError("distill.cache_dir is not set: name the folder the teacher cache goes to")
    loader, sampler, source = build_loader(recipe.data, recipe.data.train_split, recipe.train.batch_size,
                                           recipe.train.seed, info, train=True)
    loss = build_distill_loss(recipe, source.schema, info.device)
    logit_size, feature_size = _student_grids(recipe, source.schema.num_classes)
    if cfg.kd_resolution == "label":
        logit_size = (recipe.data.size, recipe.data.size)
    feature_size = feature_size if cfg.needs_features else None
    epochs = recipe.train.epochs if recipe.data.augment.enabled else 1
    bar = tqdm(total=epochs * sampler.batches_per_epoch(), desc="teacher cache", unit="batch",
               disable=not (progress and info.is_main), dynamic_ncols=True)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for batch in loader:
            batch = {k: v.to(info.device, non_blocking=True) for k, v in batch.items()}
            loss.teacher_outputs(batch, logit_size, feature_size)
            bar.update()
    bar.close()
    return {"cached": loss.cache.hits, "written": loss.cache.writes}
