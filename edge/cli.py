"""The ``edgeparse`` command line.

Each subcommand lives in its own module that exposes ``add_arguments(parser)`` and
``run(args) -> int``. Command modules import heavy libraries (torch, openvino...)
inside ``run`` only, so ``edgeparse --help`` and the torch-free edge commands work
on a device without torch.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

from edge.errors import ConfigError, EdgeparseError

# (words, module, one-line help). Words of more than one item form a command group.
COMMANDS: list[tuple[tuple[str, ...], str, str]] = [
    (("data", "prepare"), "training.data.prepare_cmd", "convert a raw dataset to the training layout"),
    (("data", "check"), "training.data.check_cmd", "read every sample of a dataset and report bad files"),
    (("data", "synth"), "training.data.synth_cmd", "write synthetic face-parsing samples to disk"),
    (("model", "info"), "training.models.info_cmd", "print parameters and MACs of a registered model"),
    (("model", "list"), "training.models.list_cmd", "list registered models"),
    (("model", "release"), "training.models.release_cmd", "slim a checkpoint for shipping and write its model card"),
    (("train",), "training.train_cmd", "train a student or teacher from a YAML recipe"),
    (("distill",), "training.distill.distill_cmd", "train a student by distillation from frozen teachers"),
    (("evaluate",), "training.evaluate_cmd", "evaluate a checkpoint on a dataset split"),
    (("quantize", "ptq"), "quantize.ptq_cmd", "post-training INT8 quantization to a QDQ ONNX (baseline)"),
    (("quantize", "qat"), "quantize.qat_cmd", "quantization-aware fine-tuning with KD to a QDQ ONNX"),
    (("validate",), "edge.validate_cmd", "per-class parity of a deploy bundle vs its FP32 reference"),
    (("bench",), "edge.bench_cmd", "latency and throughput of a deploy bundle on this device"),
    (("deploy",), "targets.deploy_cmd", "build, validate and benchmark deploy bundles (make target=cpu)"),
    (("predict",), "edge.predict_cmd", "parse photos, folders or videos into label PNGs, overlays and JSON"),
    (("demo",), "edge.video.demo_cmd", "parse faces in a video, camera or image folder into an annotated video"),
    (("demo-clip",), "edge.video.clip_cmd", "write the synthetic demo clip from public-domain photos"),
    (("build-engine",), "edge.build_engine_cmd", "on the Jetson: build the TensorRT engine of a jetson bundle"),
]


def add_bundle_arguments(parser: argparse.ArgumentParser) -> None:
    """The BUNDLE positional and ``--strict`` of the commands that run a bundle (validate, bench, predict, demo)."""
    parser.add_argument("bundle", type=Path,
                        help="deploy bundle folder (with manifest.json), or bundles/<model>_<target>_best: the "
                             "recommended bundle of a target (the pointer edgeparse deploy writes)")
    parser.add_argument("--strict", action="store_true",
                        help="refuse (exit 1) a bundle that failed parity or was never validated; without it "
                             "such a bundle runs with a warning")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgeparse",
        description="Face parsing from training to edge devices, with parity checks.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {}
    for words, module_name, help_text in COMMANDS:
        target = subparsers
        for word in words[:-1]:
            if word not in groups:
                group = subparsers.add_parser(word, help=f"{word} commands")
                groups[word] = group.add_subparsers(dest=f"{word}_command", metavar="SUBCOMMAND")
                group.set_defaults(_group_parser=group)
            target = groups[word]
        sub = target.add_parser(words[-1], help=help_text, description=help_text)
        module = importlib.import_module(module_name)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not hasattr(args, "_run"):
        (getattr(args, "_group_parser", None) or parser).print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("edgeparse: interrupted", file=sys.stderr)
        return 130
    except EdgeparseError as exc:
        print(f"edgeparse: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
