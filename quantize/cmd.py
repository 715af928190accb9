"""Shared arguments and entry of ``edgeparse quantize ptq|qat`` (no torch import at module level)."""
from __future__ import annotations

import argparse
import logging

# Names only (the module is torch-free): quantize.evaluate.EVAL_BACKENDS must list the same.
EVAL_BACKENDS = ("onnxruntime-qdq", "onnxruntime", "openvino")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="FP32 checkpoint written by `edgeparse train`")
    parser.add_argument("--config", help="QuantCfg YAML, e.g. configs/quantize/qat_default.yaml")
    parser.add_argument("--out", required=True, help="output folder (created; existing outputs are replaced)")
    parser.add_argument("--data", action="append", default=[], metavar="KEY=VALUE",
                        help="override the checkpoint recipe's data section, e.g. --data root=/data/LaPa")
    parser.add_argument("--eval-backend", default="onnxruntime-qdq", choices=EVAL_BACKENDS,
                        help="runtime scoring the QDQ ONNX for the table and the parity target: onnxruntime-qdq "
                             "= onnxruntime with exact QDQ arithmetic (default); onnxruntime/openvino = "
                             "their own fused int8 kernels")
    parser.add_argument("--also-score", type=_backend_list, default="onnxruntime,openvino", metavar="A,B",
                        help="also report the chosen ONNX's ΔmIoU under these runtimes, comma-separated "
                             "(default: onnxruntime,openvino; 'none' for no extra runs)")
    parser.add_argument("--threads", type=int, help="inference threads of the eval backend (default: its own)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="QuantCfg overrides, e.g. family=openvino calib_images=32 qat.iters=100")


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
    cfg = load_quant_config(args.config, args.overrides, method=method)
    session = QuantizeSession(cfg, args.checkpoint, args.out, args.data, args.eval_backend, args.threads,
                              args.also_score)
    report = (run_qat if method == "qat" else run_ptq)(session)
    print(report.text)
    if not report.met_target:
        raise ParityError(
            f"INT8 misses the parity target: ΔmIoU {report.delta_miou_pts:.2f} > {report.target_pts} pts even with "
            f"{len(report.float_layers)} float layer(s); outputs kept in {args.out}. Try `quantize qat`, more "
            "calibration images or a larger mixed_precision.max_float_layers")
    return 0
