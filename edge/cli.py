"""The ``edgeparse`` command line.

Each subcommand lives in its own module that exposes ``add_arguments(parser)`` and
``run(args) -> int``. Command modules import heavy libraries (torch, openvino...)
inside ``run`` only, so ``edgeparse --help`` and the torch-free edge commands work
on a device without torch. ``COMMANDS`` is the one place where ``edge`` names build-side
modules (training, quantize, targets): as strings, imported only when that command runs;
otherwise edge imports nothing above it (tests/test_layers.py).

One grammar for every command (the README's "Command reference" shows it):
what the command works on is positional (a bundle, a checkpoint, inputs); a dataset is
``--data FORMAT:PATH`` (with ``--schema NAME`` for a ``folder`` dataset); what it writes is
``--out``; config keys are ``key=value`` overrides, anywhere on the line.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from edge.errors import ConfigError, EdgeparseError, printable
from edge.io import OUTPUT_ERRNOS


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]  # more than one word: a command of a word group, e.g. `data check`
    module: str
    help: str
    section: str  # its heading in `edgeparse --help`


# The headings of `edgeparse --help`, in the order a model travels.
SECTIONS: dict[str, str] = {
    "data": "prepare, check and generate data",
    "train": "train, score and ship checkpoints (needs torch: pip install .[train])",
    "build": "turn a checkpoint into deploy bundles (needs .[deploy])",
    "device": "run bundles on this machine (torch-free: pip install .[edge])",
}

COMMANDS: list[Command] = [
    Command(("data", "prepare"), "training.data.prepare_cmd", "convert a raw dataset to the training layout", "data"),
    Command(("data", "check"), "training.data.check_cmd", "read every sample of a dataset and report bad files",
            "data"),
    Command(("data", "synth"), "training.data.synth_cmd", "write synthetic face-parsing samples to disk", "data"),
    Command(("demo-clip",), "edge.video.clip_cmd", "write the synthetic demo clip from public-domain photos", "data"),
    Command(("annotate",), "edge.annotate.annotate_cmd",
            "label your own face photos and videos from landmarks: images/ + masks/ for fine-tuning", "data"),
    Command(("train",), "training.train_cmd",
            "train a student or teacher from a YAML recipe (with teachers: distillation)", "train"),
    Command(("evaluate",), "training.evaluate_cmd", "per-class metrics of a checkpoint on a dataset split", "train"),
    Command(("model", "list"), "training.models.list_cmd", "list registered models", "train"),
    Command(("model", "info"), "training.models.info_cmd", "print parameters and MACs of a registered model", "train"),
    Command(("model", "release"), "training.models.release_cmd",
            "slim a checkpoint for shipping and write its model card", "train"),
    Command(("quantize", "ptq"), "quantize.ptq_cmd", "post-training INT8 quantization to a QDQ ONNX (baseline)",
            "build"),
    Command(("quantize", "qat"), "quantize.qat_cmd", "quantization-aware fine-tuning with KD to a QDQ ONNX", "build"),
    Command(("deploy",), "targets.deploy_cmd", "build, validate and benchmark deploy bundles (make target=cpu)",
            "build"),
    Command(("predict",), "edge.predict_cmd", "parse photos, folders or videos into label PNGs, overlays and JSON",
            "device"),
    Command(("validate",), "edge.validate_cmd", "per-class parity of a deploy bundle vs its FP32 reference",
            "device"),
    Command(("bench",), "edge.bench_cmd", "latency and throughput of a deploy bundle on this device", "device"),
    Command(("demo",), "edge.video.demo_cmd", "annotated video of the faces in a video, camera or frame folder, "
            "with FPS and flicker", "device"),
    Command(("build-engine",), "edge.build_engine_cmd", "on the Jetson: build the TensorRT engine of a jetson bundle",
            "device"),
]

# Old spellings, still accepted for a while: each is rewritten to today's and named on stderr.
# "{}" stands for the option's value; a template without it belongs to a flag.
RENAMED_COMMANDS: dict[str, str] = {"distill": "train"}
RENAMED_OPTIONS: dict[tuple[str, ...], dict[str, str]] = {
    ("demo",): {
        "--input": "{}", "--output": "--out {}", "--set": "{}", "--detector": "detect.detector={}",
        "--detect-every": "detect.every={}", "--margin": "crop.margin={}", "--align": "crop.align=true",
        "--alpha": "overlay.alpha={}", "--contours": "overlay.contours=true", "--no-smooth": "smooth.enabled=false",
        "--codec": "codec={}",
    },
    ("quantize", "ptq"): {"--checkpoint": "{}"},
    ("quantize", "qat"): {"--checkpoint": "{}"},
    ("validate",): {"--max-delta-miou": "max_delta_miou_pts={}", "--max-class-delta-f1": "max_class_delta_f1_pts={}",
                    "--min-agreement": "min_agreement_pct={}"},
}

# A dotted config key and "=": `train.epochs=2`, `distill=null`. An input file whose name looks
# like that goes after `--` (or as ./name).
OVERRIDE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*=")


def add_bundle_arguments(parser: argparse.ArgumentParser) -> None:
    """The BUNDLE positional and ``--strict`` of the commands that run a bundle (validate, bench, predict, demo)."""
    parser.add_argument("bundle", type=Path,
                        help="deploy bundle folder (with manifest.json), or bundles/<model>_<target>_best: the "
                             "recommended bundle of a target (the pointer edgeparse deploy writes)")
    parser.add_argument("--strict", action="store_true",
                        help="refuse (exit 1) a bundle that failed parity or was never validated; without it "
                             "such a bundle runs with a warning")


def add_overrides(parser: argparse.ArgumentParser, help: str) -> None:
    """``key=value`` overrides of the command's config; they may stand anywhere on the line."""
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help=help)
    parser.set_defaults(_takes_overrides=True)


@dataclass(frozen=True)
class DataSpec:
    """``--data FORMAT:PATH``: a dataset layout and its folder."""

    format: str
    root: Path

    def overrides(self, schema: str | None = None) -> list[str]:
        """The same dataset as ``data.*`` overrides of a recipe or deploy config."""
        pairs = [("format", self.format), ("root", str(self.root))] + ([("schema", schema)] if schema else [])
        return [f"data.{key}={_yaml_string(value)}" for key, value in pairs]


def parse_data_spec(text: str) -> DataSpec:
    """``FORMAT:PATH`` -> ``DataSpec``; the argparse type of every ``--data``."""
    fmt, sep, root = text.partition(":")
    if OVERRIDE.match(text) and "=" in fmt:
        raise argparse.ArgumentTypeError(f"expected FORMAT:PATH, got {text!r}; recipe data keys are overrides "
                                         f"now: write data.{text}")
    if not (sep and fmt and root):
        raise argparse.ArgumentTypeError(f"expected FORMAT:PATH such as folder:../shared/data/lfw_parts or "
                                         f"lapa:/data/LaPa, got {text!r}")
    return DataSpec(fmt, Path(root))


def add_data_arguments(parser: argparse.ArgumentParser, help: str, required: bool = False,
                       formats: str = "folder, prepared, celebamask_hq, lapa, helen") -> None:
    """``--data FORMAT:PATH`` and ``--schema NAME``, the one way a command names a dataset."""
    parser.add_argument("--data", type=parse_data_spec, required=required, metavar="FORMAT:PATH",
                        help=f"{help} (FORMAT: {formats})")
    parser.add_argument("--schema", metavar="NAME",
                        help="label schema of a 'folder' dataset, e.g. celebamask_hq or lfw_parts (the other "
                             "formats carry their own)")


def data_overrides(args: argparse.Namespace) -> list[str]:
    """``--data``/``--schema`` as ``data.*`` overrides (before the command's own, which win)."""
    if args.data is None:
        if args.schema:
            raise ConfigError("--schema names the labels of a --data dataset; give --data FORMAT:PATH too")
        return []
    return args.data.overrides(args.schema)


def _yaml_string(value: str) -> str:
    """``value`` as a quoted YAML scalar: overrides are parsed as YAML, and a path such as ``on`` or
    ``1e3`` must stay a string."""
    return "'" + value.replace("'", "''") + "'"


def build_parser() -> tuple[argparse.ArgumentParser, dict[tuple[str, ...], argparse.ArgumentParser]]:
    """The ``edgeparse`` parser and each command's own parser, by its words."""
    parser = argparse.ArgumentParser(
        prog="edgeparse", usage="edgeparse [-h] [-v] COMMAND ...",
        description="Face parsing from training to edge devices, with parity checks.",
        epilog=_command_list(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND ...", help=argparse.SUPPRESS)
    groups: dict[str, argparse._SubParsersAction] = {}
    commands: dict[tuple[str, ...], argparse.ArgumentParser] = {}
    for command in COMMANDS:
        target = subparsers
        for word in command.words[:-1]:
            if word not in groups:
                group = subparsers.add_parser(word, help=f"{word} commands", prog=f"edgeparse {word}")
                groups[word] = group.add_subparsers(dest=f"{word}_command", metavar="SUBCOMMAND")
                group.set_defaults(_group_parser=group)
            target = groups[word]
        sub = target.add_parser(command.words[-1], help=command.help, description=command.help,
                                prog=f"edgeparse {' '.join(command.words)}")
        sub.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging")
        module = importlib.import_module(command.module)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
        commands[command.words] = sub
    return parser, commands


def _command_list() -> str:
    width = max(len(" ".join(c.words)) for c in COMMANDS) + 2
    lines = ["commands (edgeparse COMMAND --help for each):"]
    for section, what in SECTIONS.items():
        lines.append(f"\n{section}: {what}")
        lines += [f"  {' '.join(c.words):<{width}}{c.help}" for c in COMMANDS if c.section == section]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse a command line. Options and positionals may be intermixed, and ``key=value``
    overrides may stand anywhere (``train a=1 --config X b=2``); old spellings are rewritten
    with a one-line note on stderr."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, commands = build_parser()
    lead = 0
    while lead < len(argv) and argv[lead] in ("-v", "--verbose"):
        lead += 1
    if lead < len(argv) and argv[lead] in RENAMED_COMMANDS:
        new = RENAMED_COMMANDS[argv[lead]]
        _note(f"`{argv[lead]}` is now `{new}`")
        argv[lead] = new
    words = next((c.words for c in COMMANDS if tuple(argv[lead:lead + len(c.words)]) == c.words), None)
    if words is None:  # no full command: --help, a word group alone (its help) or an error
        return parser.parse_args(argv)
    sub = commands[words]
    tokens = _renamed(words, argv[lead + len(words):])
    overrides: list[str] = []
    if sub.get_default("_takes_overrides"):
        overrides, tokens = _split_overrides(sub, tokens)
    args = sub.parse_intermixed_args(tokens)
    args.verbose = lead > 0 or getattr(args, "verbose", False)
    if sub.get_default("_takes_overrides"):
        args.overrides = overrides
    return args


def _renamed(words: tuple[str, ...], tokens: list[str]) -> list[str]:
    renames = RENAMED_OPTIONS.get(words, {})
    out: list[str] = []
    i = 0
    while i < len(tokens):
        option, has_inline, inline = tokens[i].partition("=")
        template = renames.get(option) if tokens[i].startswith("--") else None
        if template is None:
            out.append(tokens[i])
            i += 1
            continue
        value = None
        if "{}" in template:
            if has_inline:
                value = inline
            elif i + 1 < len(tokens):
                value, i = tokens[i + 1], i + 1
            else:
                out.append(tokens[i])  # let argparse report the missing value
                break
        new = template.replace("{}", value) if value is not None else template
        new_words = new.split(" ", 1) if new.startswith("--") else [new]
        _note(f"{option} is deprecated; write {' '.join(new_words)}")
        out += new_words
        i += 1
    return out


def _split_overrides(parser: argparse.ArgumentParser, tokens: list[str]) -> tuple[list[str], list[str]]:
    """(``key=value`` overrides, the other tokens); option values and everything after ``--`` stay."""
    overrides, rest = [], []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "--":
            rest += tokens[i:]
            break
        if OVERRIDE.match(token):
            overrides.append(token)
        else:
            rest.append(token)
            values = _values_taken(parser, token)
            rest += tokens[i + 1:i + 1 + values]
            i += values
        i += 1
    return overrides, rest


def _values_taken(parser: argparse.ArgumentParser, token: str) -> int:
    """How many of the next tokens are the value(s) of option ``token`` (0 for a flag or positional)."""
    if not token.startswith("-") or "=" in token:
        return 0
    known = parser._option_string_actions  # argparse's own table, abbreviations resolved as it does
    matches = [known[token]] if token in known else [a for o, a in known.items() if o.startswith(token)]
    if len({id(a) for a in matches}) != 1:
        return 0
    nargs = matches[0].nargs
    return 1 if nargs is None else nargs if isinstance(nargs, int) else 0


def _note(text: str) -> None:
    print(f"edgeparse: {text}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not hasattr(args, "_run"):
        parser = getattr(args, "_group_parser", None) or build_parser()[0]
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("edgeparse: interrupted", file=sys.stderr)
        return 130
    except EdgeparseError as exc:
        print(f"edgeparse: error: {printable(str(exc))}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else exc.exit_code
    except OSError as exc:
        if exc.errno not in OUTPUT_ERRNOS:  # anything else is a bug: keep its traceback
            raise
        logging.getLogger(__name__).debug("%s", exc, exc_info=True)
        print(f"edgeparse: error: {printable(str(exc.filename or 'a file'))}: {exc.strerror}; free space or fix "
              f"the permissions, then rerun (files edgeparse writes atomically keep their previous version)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
