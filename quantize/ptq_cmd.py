"""``edgeparse quantize ptq``: calibrate an FP32 checkpoint to the INT8 QDQ ONNX (the fast baseline)."""
from __future__ import annotations

import argparse

from quantize.cmd import add_arguments, run_method

__all__ = ["add_arguments", "run"]


def run(args: argparse.Namespace) -> int:
    return run_method(args, "ptq")
