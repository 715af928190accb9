"""``edgeparse evaluate``: per-class metrics of a checkpoint on a dataset split."""
from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch.utils.data import DataLoader

    from edge.metrics import MetricSummary
    from edge.schemas import LabelSchema
    from training.config import RecipeCfg


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a .pt written by edgeparse train")
    parser.add_argument("--split", default="val", help="split to score (default: val)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="data overrides on the checkpoint's recipe, e.g. data.format=lapa data.root=/data/LaPa")
    parser.add_argument("--json", metavar="PATH", help="also write the metrics as JSON")


def load_for_evaluation(checkpoint: str, overrides: list[str], split: str = "val"
                        ) -> tuple[torch.nn.Module, DataLoader, RecipeCfg, LabelSchema]:
    """The model of ``checkpoint`` and a loader over ``split`` of its recipe's data (with dotted
    ``overrides``); raises ``DataError`` when the dataset's schema is not the checkpoint's."""
    from edge.config import apply_overrides, from_dict
    from edge.errors import DataError
    from training.checkpoint import build_model_from_checkpoint, load_checkpoint, schema_of
    from training.config import RecipeCfg
    from training.data.factory import build_loader
    from training.distributed import DistInfo

    payload = load_checkpoint(checkpoint)
    cfg = from_dict(RecipeCfg, apply_overrides(payload["config"], overrides))
    loader, _, source = build_loader(cfg.data, split, cfg.train.batch_size, cfg.train.seed, DistInfo(), train=False)
    schema = schema_of(payload)
    if source.schema.class_names != schema.class_names:
        raise DataError(f"dataset schema {source.schema.name!r} does not match the checkpoint's {schema.name!r}")
    return build_model_from_checkpoint(payload), loader, cfg, schema


def evaluate_checkpoint(checkpoint: str, overrides: list[str], split: str = "val"
                        ) -> tuple[MetricSummary, RecipeCfg, LabelSchema]:
    """Score ``checkpoint`` on ``split`` of its own recipe's data (with dotted ``overrides``)."""
    from training.distributed import DistInfo
    from training.evaluate import evaluate

    model, loader, cfg, schema = load_for_evaluation(checkpoint, overrides, split)
    return evaluate(model, loader, schema.num_classes, DistInfo()).summary(schema), cfg, schema


def run(args: argparse.Namespace) -> int:
    summary, cfg, schema = evaluate_checkpoint(args.checkpoint, args.overrides, args.split)
    print(f"{args.checkpoint} on {cfg.data.format}/{args.split} at {cfg.data.size}px:")
    print(summary.format_table(schema))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(summary.to_dict(), handle, indent=2)
    return 0
