"""``edgeparse deploy``: build, validate and benchmark deploy bundles for a target; print ONE table.

    edgeparse deploy --target cpu|mobile|jetson|onnx|all [--checkpoint PATH] [--config FILE]
                     [--out DIR] [--precisions fp32,int8] [--data FORMAT:PATH] [--bench-only] [key=value ...]

Exit status 1 when a row fails parity or fails to build, 0 otherwise (rows a host cannot run,
such as a jetson engine on a CPU machine, are reported as unavailable/skipped and do not fail).
"""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from edge.cli import add_data_arguments, add_overrides, data_overrides
from edge.formats import TARGETS

TARGET_CHOICES = (*TARGETS, "all")


def _precisions(text: str) -> list[str]:
    from targets.formats import PRECISIONS

    values = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in values if p not in PRECISIONS]
    if not values or unknown:
        raise argparse.ArgumentTypeError(f"expected a comma list of {', '.join(PRECISIONS)}, got {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", choices=TARGET_CHOICES, default="cpu", help="what to build (default: cpu)")
    parser.add_argument("--checkpoint", type=Path,
                        help="trained checkpoint (default: the shipped student models/default/"
                             "ehanet_mbv2_celebamask_lfw_256.pt)")
    parser.add_argument("--config", type=Path, help="deploy config YAML (default: configs/deploy/default.yaml)")
    parser.add_argument("--out", type=Path, help="bundle folder (default: the config's out_dir, bundles/; "
                                                 "the same as out_dir=DIR)")
    parser.add_argument("--precisions", type=_precisions, metavar="P[,P...]",
                        help="only these precisions (default: the config's list per target)")
    parser.add_argument("--bench-only", action="store_true",
                        help="validate and benchmark the bundles already in --out; build nothing")
    add_data_arguments(parser, "validate and calibrate on this dataset (default: the checkpoint's own data; "
                               "sets data.format, data.root and data.schema)")
    add_overrides(parser, "config overrides, e.g. validation_images=8 bench.runs=50 int8.source=nncf")


def _checkpoint(args: argparse.Namespace) -> Path:
    from edge.errors import CheckpointError
    from targets.config import DEFAULT_CHECKPOINT, TRAIN_DEFAULT_COMMAND

    if args.checkpoint is not None:
        if not args.checkpoint.is_file():
            raise CheckpointError(f"checkpoint not found: {args.checkpoint}")
        return args.checkpoint
    if not DEFAULT_CHECKPOINT.is_file():
        raise CheckpointError(f"the default student {DEFAULT_CHECKPOINT} is missing. Train it with "
                              f"`{TRAIN_DEFAULT_COMMAND}` or pass your own: --checkpoint PATH "
                              f"(make target=cpu checkpoint=PATH)")
    return DEFAULT_CHECKPOINT


def _rebuild_command(args: argparse.Namespace, checkpoint: Path, out: Path, overrides: list[str]) -> str:
    """The deploy command (less target and precisions) that rebuilds a bundle, for its manifest."""
    words = ["edgeparse", "deploy", "--checkpoint", str(checkpoint), "--out", str(out)]
    if args.config:
        words += ["--config", str(args.config)]
    return shlex.join(words + overrides)


def run(args: argparse.Namespace) -> int:
    from edge.paths import output_folder
    from edge.report import command_block, format_table
    from targets.config import DEFAULT_CONFIG, load_deploy_config
    from targets.formats import list_targets
    from targets.pipeline import (
        bench_only,
        deploy,
        format_settings,
        format_validation_note,
        locked_out_dir,
        plan_jobs,
        write_reports,
    )

    overrides = data_overrides(args) + args.overrides
    cfg = load_deploy_config(args.config or DEFAULT_CONFIG, overrides)
    out = output_folder(args.out or Path(cfg.out_dir), "--out")
    targets = list_targets() if args.target == "all" else [args.target]
    jobs = plan_jobs(targets, cfg, args.precisions)
    checkpoint = None if args.bench_only else _checkpoint(args)
    with locked_out_dir(out, f"edgeparse deploy --target {args.target}{' --bench-only' * args.bench_only}"):
        if checkpoint is None:
            result = bench_only(cfg, jobs, out, args.checkpoint, emit=print)
        else:
            result = deploy(checkpoint, cfg, jobs, out, _rebuild_command(args, checkpoint, out, overrides),
                            emit=print)
        paths = write_reports(result, out, command_block(args))
    print()
    print(format_settings(result))
    print(format_table(result.rows, recommend=True))
    note = format_validation_note(result)
    if note:
        print(note)
    print("reports: " + ", ".join(map(str, paths)))
    return 1 if result.failed else 0
