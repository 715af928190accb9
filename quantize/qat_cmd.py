"""``edgeparse quantize qat``: PTQ baseline, then quantization-aware fine-tuning with distillation."""
from __future__ import annotations

import argparse

from quantize.cmd import add_arguments, run_method

__all__ = ["add_arguments", "run"]


def run(args: argparse.Namespace) -> int:
    return run_method(args, "qat")
