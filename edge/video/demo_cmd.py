"""``edgeparse demo BUNDLE --input VIDEO|CAMERA|FOLDER --output OUT.mp4``: the annotated video demo.

Prints end-to-end FPS, model-only FPS and flicker with and without smoothing. Exit status 1
when the input stopped early (truncated file, camera gone); the output then holds every frame
processed until then.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.cli import add_bundle_arguments

DEFAULT_CONFIG = Path("configs/demo/default.yaml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_bundle_arguments(parser)
    parser.add_argument("--input", required=True, metavar="VIDEO|CAMERA_INDEX|IMAGE_DIR",
                        help="a video file, a camera index such as 0, or a folder of images")
    parser.add_argument("--output", type=Path, metavar="OUT.mp4", help="annotated video to write")
    parser.add_argument("--config", type=Path, help="demo YAML (default: dataclass defaults, as "
                                                    f"{DEFAULT_CONFIG})")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, repeatable (e.g. --set smooth.new_weight=0.3)")
    parser.add_argument("--detector", choices=("auto", "blazeface", "cascade"), help="face detector")
    parser.add_argument("--detect-every", type=int, metavar="K", help="run the detector every K frames")
    parser.add_argument("--margin", type=float, help="crop margin per side, fraction of the face box")
    parser.add_argument("--align", action="store_true", help="rotate crops so that the eyes are level")
    parser.add_argument("--alpha", type=float, help="overlay opacity in [0, 1]")
    parser.add_argument("--contours", action="store_true", help="draw class boundaries")
    parser.add_argument("--no-smooth", action="store_true", help="no temporal smoothing (raw per-frame masks)")
    parser.add_argument("--codec", choices=("mp4v", "h264"), help="mp4v (OpenCV) or h264 (needs PyAV)")
    parser.add_argument("--threads", type=int, help="inference threads of the bundle's runner")
    parser.add_argument("--fps", type=float, help="output frame rate (default: the input's; 25 for folders)")
    parser.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    parser.add_argument("--show", action="store_true", help="show frames in a window (q quits)")
    parser.add_argument("--strip", type=Path, metavar="PNG", help="also write a strip of annotated frames")
    parser.add_argument("--strip-frames", type=int, default=6, metavar="N", help="frames in the strip (6)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the result as JSON")


def flag_overrides(args: argparse.Namespace) -> list[str]:
    """Explicit flags as config overrides (they win over --config and --set)."""
    values = {"detect.detector": args.detector, "detect.every": args.detect_every, "crop.margin": args.margin,
              "overlay.alpha": args.alpha, "codec": args.codec, "threads": args.threads,
              "crop.align": True if args.align else None, "overlay.contours": True if args.contours else None,
              "smooth.enabled": False if args.no_smooth else None}
    return [f"{key}={str(value).lower() if isinstance(value, bool) else value}"
            for key, value in values.items() if value is not None]


def _window(title: str):
    """An ``on_frame`` callback showing frames; q or Esc stops."""
    import cv2

    from edge.errors import UnsupportedError

    try:
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)
    except cv2.error as exc:
        raise UnsupportedError("--show needs an OpenCV build with a GUI (opencv-python, not "
                               "opencv-python-headless); use --output instead") from exc

    def show(index: int, frame) -> bool:
        cv2.imshow(title, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        return cv2.waitKey(1) & 0xFF not in (ord("q"), 27)
    return show


def _callbacks(args, source):
    from edge.errors import ConfigError
    from edge.video.strip import StripCollector, strip_indices

    callbacks, strip = [], None
    if args.strip:
        total = min(filter(None, (source.frame_count, args.max_frames)), default=None)
        if total is None:
            raise ConfigError("--strip needs a known frame count: give --max-frames for a camera")
        strip = StripCollector(strip_indices(total, args.strip_frames))
        callbacks.append(strip)
    if args.show:
        callbacks.append(_window("edgeparse demo"))
    if not callbacks:
        return None, strip

    def on_frame(index: int, frame) -> bool:
        keep_going = [callback(index, frame) for callback in callbacks]  # every callback sees every frame
        return all(keep_going)
    return on_frame, strip


def run(args: argparse.Namespace) -> int:
    from edge.config import load_config
    from edge.errors import ConfigError, EdgeparseError
    from edge.parity import load_checked_bundle
    from edge.report import Report, command_block, write_json
    from edge.video.config import DemoCfg
    from edge.video.demo import format_result, run_bundle_demo
    from edge.video.sources import open_source

    if not (args.output or args.show or args.strip):
        raise ConfigError("nothing to do: give --output OUT.mp4, --show or --strip PNG")
    if args.max_frames is not None and args.max_frames < 1:
        raise ConfigError(f"--max-frames must be >= 1, got {args.max_frames}")
    cfg = load_config(DemoCfg, args.config, args.set + flag_overrides(args))
    bundle = load_checked_bundle(args.bundle, args.strict)
    source = open_source(args.input, cfg.max_side, args.fps)
    try:
        on_frame, strip = _callbacks(args, source)
    except EdgeparseError:
        source.close()
        raise
    try:
        result = run_bundle_demo(bundle, source, cfg, args.output, args.fps, args.max_frames, on_frame)
    except EdgeparseError:
        if args.output and args.output.is_file():
            print(f"edgeparse: {args.output} was finalized with the frames processed before the error",
                  file=sys.stderr)
        raise
    print(format_result(result, cfg.detect.every))
    if args.output:
        print(f"wrote {args.output} ({result.frames_written} frames, {cfg.codec})" if result.frames_written
              else f"no frame was processed: {args.output} was not written")
    if strip is not None:
        print(f"wrote {strip.save(args.strip)} ({len(strip.frames)} frames)")
    if args.json:
        details = {"demo": {k: v for k, v in result.to_dict().items() if k != "settings"}}
        write_json(args.json, Report(command_block(args), result.settings, [], details))
    return 1 if result.end_reason else 0
