"""``edgeparse evaluate``: per-class metrics of a checkpoint on a dataset split."""
from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from edge.cli import add_data_arguments, add_overrides, data_overrides
from edge.io import atomic_write_text
from edge.paths import require_file_path

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch.utils.data import DataLoader

    from edge.metrics import MetricSummary
    from edge.schemas import LabelSchema
    from training.config import RecipeCfg
    from training.distill.config import TtaCfg


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a .pt written by edgeparse train")
    add_data_arguments(parser, "score on this dataset instead of the checkpoint recipe's; a dataset in a "
                               "coarser schema is scored through the schema mapping, e.g. "
                               "--data folder:../shared/data/lfw_parts --schema lfw_parts")
    parser.add_argument("--split", default="val", help="split to score (default: val)")
    add_overrides(parser, "overrides of the checkpoint's recipe, e.g. data.size=384")
    parser.add_argument("--json", metavar="PATH", help="also write the metrics as JSON")
    parser.add_argument("--tta-scales", metavar="S[,S...]", default="1",
                        help="test-time augmentation: average the model over these input scales, e.g. 0.75,1,1.25")
    parser.add_argument("--tta-flip", action="store_true",
                        help="test-time augmentation: also average each scale's mirror (left/right classes swapped)")


def load_for_evaluation(checkpoint: str, overrides: list[str], split: str = "val"
                        ) -> tuple[torch.nn.Module, DataLoader, RecipeCfg, LabelSchema]:
    """The model of ``checkpoint`` and a loader over ``split`` of its recipe's data (with dotted
    ``overrides``); raises ``DataError`` when the dataset's schema is not the checkpoint's."""
    from edge.errors import DataError

    model, loader, cfg, schema, data_schema = _load(checkpoint, overrides, split)
    if data_schema.class_names != schema.class_names:
        raise DataError(f"dataset schema {data_schema.name!r} does not match the checkpoint's {schema.name!r}")
    return model, loader, cfg, schema


def _load(checkpoint: str, overrides: list[str], split: str
          ) -> tuple[torch.nn.Module, DataLoader, RecipeCfg, LabelSchema, LabelSchema]:
    from edge.config import apply_overrides, from_dict
    from training.checkpoint import build_model_from_checkpoint, load_checkpoint, schema_of
    from training.config import RecipeCfg
    from training.data.factory import build_loader
    from training.distributed import DistInfo

    payload = load_checkpoint(checkpoint)
    cfg = from_dict(RecipeCfg, apply_overrides(payload["config"], overrides))
    loader, _, source = build_loader(cfg.data, split, cfg.train.batch_size, cfg.train.seed, DistInfo(), train=False)
    return build_model_from_checkpoint(payload, checkpoint), loader, cfg, schema_of(payload), source.schema


def evaluate_checkpoint(checkpoint: str, overrides: list[str], split: str = "val", tta: TtaCfg | None = None
                        ) -> tuple[MetricSummary, RecipeCfg, LabelSchema]:
    """Score ``checkpoint`` on ``split`` of its own recipe's data (with dotted ``overrides``), in the
    dataset's schema: the checkpoint's own, or a coarser one it maps onto one-to-one. ``tta``
    averages the model over scales and mirrors first."""
    from training.distributed import DistInfo
    from training.evaluate import evaluate
    from training.tta import TestTimeAugmented

    model, loader, cfg, schema, data_schema = _load(checkpoint, overrides, split)
    if tta is not None and tta.enabled:
        model = TestTimeAugmented(model, tta, schema.flip_pairs, schema.num_classes)
    mapping = None if data_schema.name == schema.name else _prediction_map(schema.name, data_schema.name)
    matrix = evaluate(model, loader, data_schema.num_classes, DistInfo(), prediction_map=mapping)
    return matrix.summary(data_schema), cfg, data_schema


def _prediction_map(model_schema: str, data_schema: str) -> np.ndarray:
    """The table that turns a model's predictions into the dataset's (coarser) labels."""
    from edge.errors import ConfigError, DataError
    from edge.schemas import class_mapping, get_schema

    try:
        mapping = class_mapping(model_schema, data_schema)
    except ConfigError as exc:
        raise DataError(f"dataset schema {data_schema!r} does not match the checkpoint's {model_schema!r}, and "
                        f"predictions cannot be translated: {exc}") from exc
    if (mapping[: get_schema(model_schema).num_classes] == 255).any():
        raise DataError(f"dataset schema {data_schema!r} does not match the checkpoint's {model_schema!r}, and "
                        f"the mapping {model_schema}->{data_schema} drops classes, whose predictions could not "
                        "be scored; scoring needs a mapping that gives every predicted class a home")
    return mapping


def parse_tta(scales: str, flip: bool) -> TtaCfg:
    """``--tta-scales 0.75,1,1.25 --tta-flip`` as a ``TtaCfg``; a one-line error on a bad list."""
    from edge.errors import ConfigError
    from training.distill.config import TtaCfg

    try:
        factors = tuple(float(s) for s in scales.split(","))
    except ValueError:
        raise ConfigError(f"--tta-scales must be comma-separated numbers like 0.75,1,1.25, got {scales!r}") from None
    return TtaCfg(factors, flip)


def run(args: argparse.Namespace) -> int:
    if args.json:
        require_file_path(args.json, "--json")
    tta = parse_tta(args.tta_scales, args.tta_flip)
    summary, cfg, schema = evaluate_checkpoint(args.checkpoint, data_overrides(args) + args.overrides, args.split,
                                               tta)
    views = f", TTA over {tta.views} views (scales {','.join(map(str, tta.scales))}{', mirrored' if tta.flip else ''})" \
        if tta.enabled else ""
    print(f"{args.checkpoint} on {cfg.data.format}/{args.split} at {cfg.data.size}px{views}:")
    print(summary.format_table(schema))
    if args.json:
        atomic_write_text(args.json, json.dumps(summary.to_dict(), indent=2) + "\n")
    return 0
