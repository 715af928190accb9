"""``edgeparse model list [PATTERN]``: registered model names and the overrides each accepts."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pattern", nargs="?", default="*",
                        help="shell-style filter, e.g. 'ehanet_*' (default: all)")


def run(args: argparse.Namespace) -> int:
    from training.models.registry import list_models, model_overrides

    names = list_models(args.pattern)
    if not names:
        print(f"no model matches {args.pattern!r}; run `edgeparse model list` to see all")
        return 1
    for name in names:
        print(f"{name:<16} overrides: {', '.join(model_overrides(name))}")
    return 0
