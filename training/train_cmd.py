"""``edgeparse train``: run a YAML recipe (single process, or under torchrun for DDP)."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="recipe YAML, e.g. configs/train/smoke.yaml")
    parser.add_argument("--resume", action="store_true", help="continue from <run>/last.pt if present")
    parser.add_argument("--force", action="store_true", help="start over even if the run folder holds a run")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="dotted overrides, e.g. train.epochs=2 data.size=128")
    parser.epilog = ("Multi-GPU: torchrun --nproc_per_node 4 -m edge.cli train --config ... "
                     "(batch_size is per process).")


def run(args: argparse.Namespace) -> int:
    from training.config import load_recipe
    from training.distributed import init_distributed, shutdown
    from training.trainer import Trainer

    cfg = load_recipe(args.config, args.overrides)
    info = init_distributed()
    try:
        best = Trainer(cfg, info, resume=args.resume, force=args.force).fit()
    finally:
        shutdown(info)
    if info.is_main:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in best.items()) or "no validation ran"
        print(f"done: best {shown}; checkpoints in {cfg.run_dir}")
    return 0
