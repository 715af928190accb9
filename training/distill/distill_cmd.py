"""``edgeparse distill``: train a student with knowledge distillation from frozen teachers.

The same as ``edgeparse train`` (same flags, same run folder), but the recipe must have a
``distill:`` section. ``--cache-only`` fills the teacher-output cache and exits.
"""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from training import train_cmd

if TYPE_CHECKING:
    from training.config import RecipeCfg


def add_arguments(parser: argparse.ArgumentParser) -> None:
    train_cmd.add_arguments(parser)
    parser.add_argument("--cache-only", action="store_true",
                        help="run the teachers over every training sample and epoch, store their outputs "
                             "in distill.cache_dir (skipping stored ones) and exit")
    parser.epilog = ("Multi-GPU: torchrun --nproc_per_node 4 -m edge.cli distill --config "
                     "configs/distill/ehanet_mbv2_from_bass_lapa.yaml (batch_size is per process).")


def run(args: argparse.Namespace) -> int:
    from edge.errors import ConfigError
    from training.config import load_recipe

    cfg = load_recipe(args.config, args.overrides)
    if args.backbone_weights is not None:  # the student's backbone
        cfg = train_cmd.with_backbone_weights(cfg, args.backbone_weights)
    if cfg.distill is None:
        raise ConfigError(f"{args.config} has no `distill:` section (teachers and KD weights); "
                          "use `edgeparse train` for plain training, or see configs/distill/smoke_kd.yaml")
    if args.cache_only:
        return _fill_cache(cfg)
    return train_cmd.train_recipe(cfg, args)


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
