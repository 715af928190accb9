"""``edgeparse validate BUNDLE``: per-class parity of a deploy bundle vs its FP32 reference.

Exit status 0 when every gate passes, 1 when one fails (the table is printed first).
"""
from __future__ import annotations

import argparse
import dataclasses
from contextlib import ExitStack
from pathlib import Path

from edge.cli import add_bundle_arguments, add_data_arguments, add_overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_bundle_arguments(parser)
    add_data_arguments(parser, "validate on a dataset split instead of the bundle's validation set "
                               "(needs --reference)")
    parser.add_argument("--split", default="val", help="dataset split for --data (default: val)")
    parser.add_argument("--reference", type=Path, metavar="BUNDLE",
                        help="the FP32 bundle built from the same checkpoint, which gives the reference "
                             "answers for --data")
    parser.add_argument("--threads", type=int, help="inference threads (default: the backend's)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the JSON report here")
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="write a markdown table here")
    parser.add_argument("--plot", type=Path, metavar="PATH", help="write a PNG of the per-class ΔF1 here")
    add_overrides(parser, "overrides of the manifest's parity limits: max_delta_miou_pts=PTS, "
                          "max_class_delta_f1_pts=PTS, min_agreement_pct=PCT")


def _thresholds(args: argparse.Namespace, bundle):
    from edge.bundle import ParityThresholds
    from edge.config import apply_overrides, from_dict

    limits = dataclasses.asdict(bundle.manifest.parity_thresholds)
    return from_dict(ParityThresholds, apply_overrides(limits, args.overrides))


def run(args: argparse.Namespace) -> int:
    from edge.backends import open_runner
    from edge.data import open_dataset
    from edge.errors import ConfigError
    from edge.parity import format_parity_table, load_checked_bundle, load_reference_bundle, validate_bundle
    from edge.report import Report, command_block, make_row, write_json, write_markdown, write_plot

    if args.reference and not args.data:
        raise ConfigError("--reference is used only with --data (the bundle carries its own FP32 answers)")
    if args.schema and not args.data:
        raise ConfigError("--schema names the labels of a --data dataset; give --data FORMAT:PATH too")
    bundle = load_checked_bundle(args.bundle, args.strict)
    reference_bundle = load_reference_bundle(args.reference, bundle) if args.reference else None
    data = open_dataset(args.data.format, args.data.root, args.split, args.schema) if args.data else None
    with ExitStack() as stack:
        runner = stack.enter_context(open_runner(bundle, threads=args.threads))
        reference = stack.enter_context(open_runner(reference_bundle, threads=args.threads)) \
            if reference_bundle else None
        result = validate_bundle(bundle, runner, data=data, reference=reference,
                                 thresholds=_thresholds(args, bundle), progress=True)
        settings = {"runner": runner.applied_settings()}
    print(format_parity_table(result))
    row = make_row(bundle, parity=result, runner_settings=settings["runner"])
    print(f"inference precision (requested/applied): {row.inference}")
    rows = [row]
    if args.json:
        write_json(args.json, Report(command_block(args), settings, rows, {"parity": result.to_dict()}))
    if args.markdown:
        write_markdown(args.markdown, rows, result)
    if args.plot:
        write_plot(args.plot, rows, result)
    return 0 if result.passed else 1
