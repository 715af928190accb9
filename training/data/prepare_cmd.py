"""`edgeparse data prepare --data KIND:SRC --out DST`: raw dataset -> prepared training layout."""

from __future__ import annotations

import argparse
import os

from edge.cli import parse_data_spec
from training.data.prepare import prepare_dataset
from training.data.prepare_sources import SOURCES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    names = ", ".join(n.replace("_", "-") for n in SOURCES)
    parser.add_argument("--data", type=parse_data_spec, required=True, metavar="KIND:SRC",
                        help=f"the raw dataset as downloaded: its kind ({names}) and folder")
    parser.add_argument("--out", required=True, metavar="DST", help="output folder; re-running into it resumes")
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="square output size for celebamask-hq (default 512, bilinear; labels nearest); "
        "helen keeps each photo's size",
    )
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="skip unreadable or inconsistent samples and list them, instead of stopping",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="conversion threads (default: min(4, CPU count))",
    )


def run(args: argparse.Namespace) -> int:
    report = prepare_dataset(
        args.data.format,
        args.data.root,
        args.out,
        image_size=args.image_size,
        skip_bad=args.skip_bad,
        workers=args.workers,
        progress=True,
    )
    counts = ", ".join(f"{split} {n}" for split, n in report.counts.items())
    print(
        f"prepared {report.schema} in {report.dst}: {counts} "
        f"(converted now {report.converted}, already present {report.reused})"
    )
    if report.skipped:
        print(f"skipped {len(report.skipped)} bad samples:")
        for path, reason in report.skipped:
            print(f"  {path}: {reason}")
    print(f"read it with format 'prepared': edgeparse data check --data prepared:{report.dst}")
    return 0
