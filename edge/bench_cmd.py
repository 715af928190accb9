"""``edgeparse bench BUNDLE``: latency/throughput of a deploy bundle on this device."""
from __future__ import annotations

import argparse
from pathlib import Path

from edge.cli import add_bundle_arguments


def _size(text: str) -> tuple[int, int]:
    height, sep, width = text.lower().partition("x")
    if not (sep and height.isdigit() and width.isdigit() and int(height) > 0 and int(width) > 0):
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 480x640, got {text!r}")
    return int(height), int(width)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_bundle_arguments(parser)
    parser.add_argument("--runs", type=int, default=200, help="timed inferences (default: 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed warm-up inferences (default: 20)")
    parser.add_argument("--threads", type=int, default=2, help="inference threads (default: 2)")
    parser.add_argument("--mode", choices=("latency", "throughput"), default="latency",
                        help="latency: one request at a time; "
                             "throughput: an async queue where the backend has one")
    parser.add_argument("--e2e-size", type=_size, default=(480, 640), metavar="HxW",
                        help="camera frame size for the end-to-end timing (default: 480x640)")
    parser.add_argument("--video", type=Path, metavar="CLIP",
                        help="also run the video demo pipeline on CLIP (no output written) with the demo's "
                             "settings (configs/demo/default.yaml: the model on its own core, decode, detection, "
                             "post-processing and encode on the others): end-to-end vs model-only FPS at that "
                             "thread count, CPU per stage, and flicker with and without smoothing")
    parser.add_argument("--profile", action="store_true",
                        help="also time every layer with the backend's own counters (OpenVINO PERF_COUNT, "
                             "onnxruntime's profiler; --runs inferences, latency mode): time, share and "
                             "achieved GFLOP/s per network part (backbone, neck, head) and per op type")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the JSON report here")


def _format_result(result) -> str:
    lines = [f"first inference {result.first_inference_ms:.2f} ms (excluded); {result.warmup} warm-up, "
             f"{result.runs} timed runs, mode {result.mode}"
             + (" (async queue)" if result.async_api else "")]
    if result.fallback:
        lines.append(f"note: {result.fallback}")
    stats = [("model", result.model)] + ([("end-to-end", result.e2e)] if result.e2e else [])
    lines.append(f"{'':<11} {'min':>8} {'median':>8} {'p90':>8} {'p99':>8} {'max':>8}  ms")
    for name, s in stats:
        lines.append(f"{name:<11} {s.min_ms:8.2f} {s.median_ms:8.2f} {s.p90_ms:8.2f} {s.p99_ms:8.2f} "
                     f"{s.max_ms:8.2f}")
    lines.append(f"throughput {result.fps:.1f} FPS; peak RSS {result.peak_rss_mb:.0f} MB")
    runner, host = result.settings["runner"], result.settings["host"]
    lines.append("applied: " + ", ".join(f"{k}={v}" for k, v in runner.items()))
    lines.append("host: " + ", ".join(f"{k}={v}" for k, v in host.items()))
    return "\n".join(lines)


def _video(bundle, args: argparse.Namespace):
    """The demo pipeline on a clip (edge.video) as ``edgeparse demo`` runs it: with the benchmark's thread
    count the model would take every core of a small device, and decode, detection and encode would
    preempt it."""
    from edge.video.config import DemoCfg
    from edge.video.demo import format_result, run_bundle_demo

    cfg = DemoCfg()
    result = run_bundle_demo(bundle, str(args.video), cfg)
    print(f"video {args.video}:\n{format_result(result, cfg.detect.every)}")
    return result


def _profile(bundle, x, args: argparse.Namespace):
    """A separate latency-mode runner with the per-layer counters on (they slow the timed benchmark)."""
    from edge.backends import open_runner
    from edge.profile import format_profile

    with open_runner(bundle, threads=args.threads, mode="latency", profiling=True) as runner:
        profile = runner.profile(x, runs=args.runs, warmup=args.warmup)
    print(format_profile(profile))
    return profile


def run(args: argparse.Namespace) -> int:
    from edge.backends import open_runner
    from edge.bench import benchmark
    from edge.parity import load_checked_bundle
    from edge.preprocess import normalize, resize_image
    from edge.report import Report, command_block, format_table, make_row, write_json

    bundle = load_checked_bundle(args.bundle, args.strict)
    norm = bundle.manifest.input.normalization
    frame = bundle.validation.images[0]
    x = normalize(frame, norm)[None]
    with open_runner(bundle, threads=args.threads, mode=args.mode) as runner:
        result = benchmark(runner, x, warmup=args.warmup, runs=args.runs, mode=args.mode,
                           e2e_image=resize_image(frame, args.e2e_size), normalization=norm)
    print(_format_result(result))
    rows = [make_row(bundle, bench=result)]
    print(format_table(rows))
    profile = _profile(bundle, x, args) if args.profile else None
    video = _video(bundle, args) if args.video else None
    if args.json:
        details = {"benchmark": result.to_dict()}
        if profile is not None:
            details["profile"] = profile.to_dict()
        if video is not None:
            details["video"] = {k: v for k, v in video.to_dict().items() if k != "settings"}
        write_json(args.json, Report(command_block(args), result.settings, rows, details))
    return 0
