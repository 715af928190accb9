"""``edgeparse model release``: slim a training checkpoint for shipping, with a model card.

The released file keeps what deployment needs (weights, config, schema, metrics) and drops
the optimiser state, which would triple its size.
"""
from __future__ import annotations

import argparse
from pathlib import Path

CARD = """# Model card: {name}

| field | value |
|---|---|
| architecture | `{model}` (registry name), overrides {overrides} |
| parameters | {params:.3f} M |
| compute | {gmacs:.3f} GMAC at {size}×{size} (deploy graph, Conv/Linear MACs) |
| label schema | `{schema}` ({num_classes} classes: {classes}) |
| input | {size}×{size} RGB, ImageNet mean/std normalisation |
| training data | {data} |
| recipe | `{recipe}` (resolved config stored inside the checkpoint) |
| source checkpoint | `{source}` (sha256 {sha}) |
| file | `{file}` ({mb:.1f} MB) |

## Metrics ({split} split, {eval_desc})

{table}

## Limits

- Trained on **synthetic procedural faces only**: these numbers show the pipeline learns and that
  deployment preserves what was learned. They say nothing about accuracy on real photos. Train on
  CelebAMask-HQ, LaPa or Helen (see the README) for a real model.
- The synthetic faces are frontal-ish cartoons ({data_note}); real faces with strong pose, occlusion,
  motion blur or unusual lighting are out of distribution.
- Labels follow the `{schema}` schema: {schema_note}

## Reproduce

```bash
make default-student
```
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="best.pt of a training run")
    parser.add_argument("out_dir", help="folder for the released checkpoint and MODEL_CARD.md")
    parser.add_argument("--name", help="file stem (default: <model>_<data>_<schema>_<size>)")


def run(args: argparse.Namespace) -> int:
    from edge.config import from_dict
    from training.checkpoint import file_sha256, load_checkpoint, save_checkpoint
    from training.config import RecipeCfg

    payload = load_checkpoint(args.checkpoint)
    cfg = from_dict(RecipeCfg, payload["config"])
    stem = args.name or f"{cfg.model.name}_{cfg.data.format}_{payload['schema']['name']}_{cfg.data.size}"
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stem}.pt"
    kept = ("model_name", "model_overrides", "num_classes", "schema", "config", "state_dict", "metrics")
    save_checkpoint({k: payload[k] for k in kept}, path)
    summary = _evaluate(payload, cfg)
    (out_dir / "MODEL_CARD.md").write_text(_card(payload, cfg, args.checkpoint, path, summary,
                                                 file_sha256(args.checkpoint)))
    print(f"released {path} ({path.stat().st_size / 1e6:.1f} MB) and {out_dir / 'MODEL_CARD.md'}")
    return 0


def _evaluate(payload: dict, cfg):
    from training.checkpoint import build_model_from_checkpoint, schema_of
    from training.data.factory import build_loader
    from training.distributed import DistInfo
    from training.evaluate import evaluate

    loader, _, _ = build_loader(cfg.data, cfg.data.val_split, cfg.train.batch_size, cfg.train.seed,
                                DistInfo(), train=False)
    schema = schema_of(payload)
    return evaluate(build_model_from_checkpoint(payload), loader, schema.num_classes, DistInfo()).summary(schema)


def _card(payload: dict, cfg, source: str, path: Path, summary, sha: str) -> str:
    from training.checkpoint import build_model_from_checkpoint, schema_of
    from training.models.complexity import count_macs, count_params

    schema = schema_of(payload)
    model = build_model_from_checkpoint(payload)
    synthetic = cfg.data.format == "synthetic"
    data = (f"synthetic faces, {cfg.data.synthetic_train} per epoch × {cfg.train.epochs} epochs, "
            f"seed {cfg.data.seed}" if synthetic else f"{cfg.data.format} at {cfg.data.root}")
    if cfg.train.init_checkpoint:
        data += f"; warm-started from `{cfg.train.init_checkpoint}`"
    return CARD.format(
        name=path.stem, model=payload["model_name"], overrides=payload["model_overrides"] or "none",
        params=count_params(model).millions, gmacs=count_macs(model, cfg.data.size).gmacs,
        size=cfg.data.size, schema=schema.name, num_classes=schema.num_classes,
        classes=", ".join(schema.class_names), data=data, recipe=cfg.name, source=source, sha=sha[:16],
        file=path.name, mb=path.stat().st_size / 1e6, split=cfg.data.val_split,
        eval_desc=(f"{cfg.data.synthetic_val} synthetic images" if synthetic else cfg.data.format)
        + f" at {cfg.data.size}², dataset-level confusion matrix",
        table="```\n" + summary.format_table(schema) + "\n```",
        data_note="in-plane rotation ±25°, scale, lighting, glasses, hats, occluders",
        schema_note=("ears count as skin; hat, earrings, necklace, neck and clothes count as background."
                     if schema.name in ("lapa", "helen") else "the official CelebAMask-HQ classes."),
    )
