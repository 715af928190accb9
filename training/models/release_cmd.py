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

{data_section}
## Metrics

{metrics}

## Limits

{limits}

## Reproduce

```bash
make default-student
```
"""

# What each dataset is and the terms it comes under; a model trained on it inherits them.
DATASET_TERMS = {
    "celebamask_mini": (
        "CelebAMask-HQ (Lee et al., MaskGAN, CVPR 2020), a subset of 800 labelled faces; images from CelebA-HQ",
        "**non-commercial research and educational use only**"),
    "lfw_parts": (
        "LFW Part Labels (Kae et al., CVPR 2013) on LFW funneled faces (Huang et al. 2007): background/face/hair",
        "research use; no formal licence"),
}

SYNTHETIC_LIMITS = """- Trained on **synthetic procedural faces only**: these numbers show the pipeline learns and that
  deployment preserves what was learned. They say nothing about accuracy on real photos.
- The synthetic faces are frontal-ish cartoons (in-plane rotation ±25°, scale, lighting, glasses, hats,
  occluders); real faces with strong pose, occlusion, motion blur or unusual lighting are out of distribution."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="best.pt of a training run")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the released checkpoint and MODEL_CARD.md")
    parser.add_argument("--name", help="file stem (default: <model>_<data>_<schema>_<size>)")
    parser.add_argument("--observations", metavar="MD",
                        help="a Markdown file of failure cases seen on real photos, copied into the card's limits")


def run(args: argparse.Namespace) -> int:
    from edge.config import from_dict
    from edge.io import atomic_write_text, file_sha256
    from training.checkpoint import load_checkpoint, save_checkpoint
    from training.config import RecipeCfg

    payload = load_checkpoint(args.checkpoint)
    cfg = from_dict(RecipeCfg, payload["config"])
    stem = args.name or f"{cfg.model.name}_{cfg.data.format}_{payload['schema']['name']}_{cfg.data.size}"
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stem}.pt"
    kept = ("model_name", "model_overrides", "num_classes", "schema", "config", "state_dict", "metrics")
    save_checkpoint({k: payload[k] for k in kept}, path)
    metrics = _metrics(args.checkpoint, cfg)
    observations = Path(args.observations).read_text().strip() if args.observations else ""
    card = _card(payload, cfg, args.checkpoint, path, metrics, file_sha256(args.checkpoint), observations)
    atomic_write_text(out_dir / "MODEL_CARD.md", card)
    print(f"released {path} ({path.stat().st_size / 1e6:.1f} MB) and {out_dir / 'MODEL_CARD.md'}")
    return 0


def _metrics(checkpoint: str, cfg) -> str:
    """Per-class tables on the recipe's val split and on the val split of every labelled extra dataset
    (scored in that dataset's schema, e.g. LFW's background/face/hair)."""
    from training.evaluate_cmd import evaluate_checkpoint

    runs = [("", [])]
    runs += [(e.root, [f"data.format={e.format}", f"data.root={e.root}", f"data.schema={e.schema}"])
             for e in cfg.data.extra_train if _has_val_split(e)]
    sections = []
    for root, overrides in runs:
        summary, run_cfg, schema = evaluate_checkpoint(checkpoint, overrides, cfg.data.val_split)
        where = (f"{run_cfg.data.synthetic_val} synthetic images" if run_cfg.data.format == "synthetic"
                 else f"`{root or run_cfg.data.root}`")
        sections.append(f"{where}, {cfg.data.val_split} split at {cfg.data.size}², schema `{schema.name}`, "
                        f"dataset-level confusion matrix:\n\n```\n{summary.format_table(schema)}\n```")
    return "\n\n".join(sections)


def _has_val_split(extra) -> bool:
    from edge.data import open_dataset
    from edge.errors import DataError

    try:
        reader = open_dataset(extra.format, extra.root, "val", extra.schema)
    except DataError:  # unlabelled folders and folders without a val split are not scored
        return False
    return getattr(reader, "labelled", True)


def _dataset_lines(cfg) -> list[str]:
    roots = [(cfg.data.root, 1.0, cfg.data.train_split)] + [(e.root, e.repeat, e.split) for e in cfg.data.extra_train]
    lines = []
    for root, repeat, split in roots:
        name = Path(root).name
        what, terms = DATASET_TERMS.get(name, ("a user dataset", "see its own licence"))
        lines.append(f"- `{root}` ({split} split, ×{repeat:g} per epoch): {what}. Terms: {terms}.")
    return lines


def _card(payload: dict, cfg, source: str, path: Path, metrics: str, sha: str, observations: str) -> str:
    from training.checkpoint import build_model_from_checkpoint, schema_of
    from training.models.complexity import count_macs, count_params

    schema = schema_of(payload)
    model = build_model_from_checkpoint(payload)
    synthetic = cfg.data.format == "synthetic"
    data = (f"synthetic faces, {cfg.data.synthetic_train} per epoch × {cfg.train.epochs} epochs, "
            f"seed {cfg.data.seed}" if synthetic else
            f"real faces: {', '.join(Path(r).name for r in [cfg.data.root, *(e.root for e in cfg.data.extra_train)])}"
            f", {cfg.train.epochs} epochs")
    if cfg.train.init_checkpoint:
        data += f"; warm-started from `{cfg.train.init_checkpoint}`"
    data_section = "" if synthetic else (
        "## Training data and licences\n\n" + "\n".join(_dataset_lines(cfg)) +
        "\n\nThe weights inherit the most restrictive of these terms: **non-commercial research use only** "
        "while CelebAMask-HQ is among them. The public-domain portraits that pip wheels ship (matplotlib's "
        "Grace Hopper, scikit-image's astronaut) are in no training set: they are the check that the model "
        "generalises.\n")
    limits = SYNTHETIC_LIMITS if synthetic else (observations or "- No failure cases recorded.")
    return CARD.format(
        name=path.stem, model=payload["model_name"], overrides=payload["model_overrides"] or "none",
        params=count_params(model).millions, gmacs=count_macs(model, cfg.data.size).gmacs,
        size=cfg.data.size, schema=schema.name, num_classes=schema.num_classes,
        classes=", ".join(schema.class_names), data=data, recipe=cfg.name, source=source, sha=sha[:16],
        file=path.name, mb=path.stat().st_size / 1e6, data_section=data_section, metrics=metrics, limits=limits,
    )
