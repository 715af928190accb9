"""`edgeparse data check --data FORMAT:ROOT`: read every sample of a dataset and report problems."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from edge.cli import add_data_arguments
from edge.data import SPLITS, Sample, list_formats, open_dataset, scan
from edge.data.readers import FOLDER_FORMAT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser, "the dataset to read", required=True, formats=", ".join(list_formats()))
    parser.add_argument(
        "--split",
        action="append",
        default=None,
        help=f"split to check (repeatable; default: {', '.join(SPLITS)})",
    )
    parser.add_argument(
        "--skip-bad", action="store_true", help="list every bad sample instead of stopping at the first"
    )


class _Stats:
    """Image sizes and, per class, how many samples contain it."""

    def __init__(self):
        self.sizes: set[tuple[int, int]] = set()
        self.presence = np.zeros(256, dtype=np.int64)

    def __call__(self, index: int, sample: Sample) -> None:
        self.sizes.add(sample.image.shape[:2])
        self.presence[np.unique(sample.label)] += 1


def _check_split(fmt: str, root: str, split: str, skip_bad: bool, schema: str | None) -> int:
    """Print the split's report; returns its problems: bad samples, or 1 for a split without samples."""
    reader = open_dataset(fmt, root, split, schema)
    if len(reader) == 0:
        print(f"{split}: no samples (schema {reader.schema.name}): training needs train and val samples; an unsplit "
              f"folder sends about 1 name in 8 to val")
        return 1
    stats = _Stats()
    report = scan(reader, skip_bad=skip_bad, progress=True, visit=stats)
    print(f"{split}: {len(report.good)}/{report.total} samples read cleanly (schema {reader.schema.name})")
    if stats.sizes:
        heights, widths = zip(*stats.sizes, strict=True)
        print(f"  image height {min(heights)}..{max(heights)}, width {min(widths)}..{max(widths)} pixels")
        present = [f"{name} {stats.presence[i]}" for i, name in enumerate(reader.schema.class_names)]
        print(f"  samples containing each class: {', '.join(present)}; ignore (255) {stats.presence[255]}")
    for path, reason in report.bad:
        print(f"  bad: {path}: {reason}")
    return len(report.bad)


def _splits_of(fmt: str, root: str) -> tuple[str, ...]:
    """Every split, except those a folder dataset does not have (no test split without its own)."""
    if fmt != FOLDER_FORMAT:
        return SPLITS
    own = tuple(s for s in SPLITS if (Path(root) / s / "images").is_dir())
    if own:
        return own
    has_masks = (Path(root) / "masks").is_dir()
    return ("train", "val") if has_masks else ("train",)


def run(args: argparse.Namespace) -> int:
    fmt, root = args.data.format, str(args.data.root)
    splits = args.split or _splits_of(fmt, root)
    problems = sum(_check_split(fmt, root, split, args.skip_bad, args.schema) for split in splits)
    if problems:
        print(f"{problems} problems found (bad samples or empty splits, listed above)")
    return 1 if problems else 0
