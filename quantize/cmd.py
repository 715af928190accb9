"""Shared arguments and entry of ``edgeparse quantize ptq|qat`` (no torch import at module level)."""
from __future__ import annotations

import argparse
import logging

from edge.cli import add_data_arguments, add_overrides, data_overrides
from quantize.config import EVAL_BACKENDS, EXACT_QDQ


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="FP32 checkpoint written by `edgeparse train`")
    parser.add_argument("--config", help="QuantCfg YAML, e.g. configs/quantize/qat_default.yaml")
    parser.add_argument("--out", required=True, help="output folder (created; existing outputs are replaced)")
    add_data_arguments(parser, "calibrate and score on this dataset instead of the checkpoint recipe's")
    parser.add_argument("--eval-backend", default=EXACT_QDQ, choices=EVAL_BACKENDS,
                        help="runtime scoring the QDQ ONNX for the table and the parity target: onnxruntime-qdq "
                             "= onnxruntime with exact QDQ arithmetic (default); onnxruntime/openvino = "
                             "their own fused int8 kernels")
    parser.add_argument("--also-score", type=_backend_list, default="onnxruntime,openvino", metavar="A,B",
                        help="also report the chosen ONNX's ΔmIoU under these runtimes, comma-separated "
                             "(default: onnxruntime,openvino; 'none' for no extra runs)")
    parser.add_argument("--threads", type=int, help="inference threads of the eval backend (default: its own)")
    add_overrides(parser, "QuantCfg overrides, e.g. family=openvino calib_images=32 qat.iters=100; data.* keys "
                          "override the checkpoint recipe's data section, e.g. data.val_split=test")


def _backend_list(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip() and n.strip() != "none")
    unknown = [n for n in names if n not in EVAL_BACKENDS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown backend {unknown[0]!r}; choose from {', '.join(EVAL_BACKENDS)}")
    return names


def run_method(args: argparse.Namespace, method: str) -> int:
    from edge.errors import ParityError
    from quantize.config import load_quant_config
    from quantize.pipeline import QuantizeSession, run_ptq, run_qat

    # The ONNX exporter's helpers log every pass at INFO; keep the command's output readable.
    for name in ("onnx_ir", "onnxscript"):
        logging.getLogger(name).setLevel(logging.WARNING)
    recipe = [o.removeprefix("data.") for o in data_overrides(args) + args.overrides if o.startswith("data.")]
    cfg = load_quant_config(args.config, [o for o in args.overrides if not o.startswith("data.")], method=method)
    session = QuantizeSession(cfg, args.checkpoint, args.out, recipe, args.eval_backend, args.threads,
                              args.also_score)
    report = (run_qat if method == "qat" else run_ptq)(session)
    print(report.text)
    if not report.met_target:
        raise ParityError(
            f"INT8 misses the parity target: ΔmIoU {report.delta_miou_pts:+.2f} < −{report.target_pts} pts even with "
            f"{len(report.float_layers)} float layer(s); outputs kept in {args.out}. Try `quantize qat`, more "
            "calibration images or a larger mixed_precision.max_float_layers")
    return 0
