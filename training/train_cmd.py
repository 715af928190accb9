"""``edgeparse train``: run a YAML recipe (single process, or under torchrun for DDP).

A recipe with a ``distill:`` section trains by distillation from its frozen teachers;
``--cache-only`` then fills the teacher-output cache and exits.
"""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from edge.cli import add_data_arguments, add_overrides, data_overrides

if TYPE_CHECKING:
    from training.config import RecipeCfg
    from training.distributed import DistInfo
    from training.trainer import ExtraLoss


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="recipe YAML, e.g. configs/train/smoke.yaml or "
                                                        "configs/distill/smoke_kd.yaml")
    add_data_arguments(parser, "train and validate on this dataset instead of the recipe's (sets data.format, "
                               "data.root and data.schema)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from <run>/last.pt if present, with the recipe the run began with")
    parser.add_argument("--force", action="store_true",
                        help="start over even if the run folder holds a run (its checkpoints and logs go); "
                             "with --resume: continue with a changed recipe")
    parser.add_argument("--backbone-weights", metavar="PATH",
                        help="local ImageNet backbone file (torchvision layout) to initialise the "
                             "model's backbone, e.g. a ResNet-101 for the teachers (sets "
                             "model.overrides.backbone_weights)")
    parser.add_argument("--cache-only", action="store_true",
                        help="distillation recipes: run the teachers over every training sample and epoch, "
                             "store their outputs in distill.cache_dir (skipping stored ones) and exit")
    add_overrides(parser, "recipe overrides, e.g. train.epochs=2 data.size=128")
    parser.epilog = ("Multi-GPU: torchrun --nproc_per_node 4 -m edge.cli train --config ... "
                     "(batch_size is per process).")


def run(args: argparse.Namespace) -> int:
    from edge.errors import ConfigError
    from training.config import load_recipe

    cfg = load_recipe(args.config, data_overrides(args) + args.overrides)
    if args.backbone_weights is not None:  # the student's backbone when the recipe distils
        cfg = with_backbone_weights(cfg, args.backbone_weights)
    if args.cache_only:
        if cfg.distill is None:
            raise ConfigError(f"--cache-only fills the teacher cache, but {args.config} has no `distill:` "
                              "section (teachers and KD weights); see configs/distill/smoke_kd.yaml")
        return _fill_cache(cfg)
    return train_recipe(cfg, args)


def with_backbone_weights(cfg: RecipeCfg, path: str) -> RecipeCfg:
    """``cfg`` with ``model.overrides.backbone_weights = path`` (set directly: a path is no YAML scalar)."""
    import dataclasses

    overrides = {**cfg.model.overrides, "backbone_weights": path}
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, overrides=overrides))


def train_recipe(cfg: RecipeCfg, args: argparse.Namespace) -> int:
    """Train ``cfg`` (with its distillation terms when it has a ``distill`` section)."""
    from training.distributed import init_distributed, shutdown
    from training.trainer import Trainer

    info = init_distributed()
    try:
        extra_loss = _distill_loss(cfg, info) if cfg.distill is not None else None
        best = Trainer(cfg, info, resume=args.resume, force=args.force, extra_loss=extra_loss).fit()
    finally:
        shutdown(info)
    if info.is_main:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in best.items()) or "no validation ran"
        print(f"done: best {shown}; checkpoints in {cfg.run_dir}")
    return 0


def _distill_loss(cfg: RecipeCfg, info: DistInfo) -> ExtraLoss:
    # Built before the Trainer so that a bad teacher fails before the run folder is written.
    from training.data.factory import build_source
    from training.distill.builder import build_distill_loss

    schema = build_source(cfg.data, cfg.data.train_split).schema
    return build_distill_loss(cfg, schema, info.device)


def _fill_cache(cfg: RecipeCfg) -> int:
    from training.distill.builder import fill_teacher_cache
    from training.distributed import init_distributed, shutdown

    info = init_distributed()
    try:
        counts = fill_teacher_cache(cfg, info)
    finally:
        shutdown(info)
    print(f"teacher cache {cfg.distill.cache_dir}: {counts['written']} entries written, "
          f"{counts['cached']} already there (rank {info.rank})")
    return 0
