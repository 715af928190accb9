"""``edgeparse demo BUNDLE VIDEO|CAMERA|FOLDER --out OUT.mp4``: the annotated video demo.

Prints end-to-end FPS, model-only FPS and flicker with and without smoothing. Exit status 1
when the input stopped early (truncated file, camera gone); the output then holds every frame
processed until then.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from edge.cli import add_bundle_arguments, add_overrides

if TYPE_CHECKING:
    from edge.video.config import DemoCfg

DEFAULT_DEMO_CONFIG = Path("configs/demo/default.yaml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_bundle_arguments(parser)
    parser.add_argument("input", metavar="VIDEO|CAMERA|FOLDER",
                        help="a video file, a camera index such as 0, or a folder of frames (one video; to parse "
                             "photos, use edgeparse predict)")
    parser.add_argument("--out", type=Path, metavar="OUT.mp4", help="annotated video to write")
    parser.add_argument("--config", type=Path, help="demo YAML (default: dataclass defaults, as "
                                                    f"{DEFAULT_DEMO_CONFIG})")
    add_threads_argument(parser)
    parser.add_argument("--fps", type=float, help="output frame rate (default: the input's; 25 for folders)")
    parser.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    parser.add_argument("--show", action="store_true", help="show frames in a window (q quits)")
    parser.add_argument("--strip", type=Path, metavar="PNG", help="also write a strip of annotated frames")
    parser.add_argument("--strip-frames", type=int, default=6, metavar="N", help="frames in the strip (6)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the result as JSON")
    add_overrides(parser, "demo config overrides, e.g. detect.every=3 crop.align=true overlay.contours=true "
                          "smooth.enabled=false codec=h264 (every key: configs/demo/default.yaml)")


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads N``: the demo config's ``threads`` key, named as a flag like the other commands
    that run a bundle."""
    parser.add_argument("--threads", type=int, metavar="N",
                        help="inference threads of the bundle's runner (the same as threads=N; default 1)")


def demo_config(args: argparse.Namespace) -> DemoCfg:
    """``DemoCfg`` from ``--config``, ``--threads`` and the overrides (which win)."""
    from edge.config import load_config
    from edge.video.config import DemoCfg

    threads = [f"threads={args.threads}"] if args.threads is not None else []
    return load_config(DemoCfg, args.config, threads + args.overrides)


def _window(title: str):
    """An ``on_frame`` callback showing frames; q or Esc stops."""
    import cv2

    from edge.errors import UnsupportedError

    try:
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)
    except cv2.error as exc:
        raise UnsupportedError("--show needs an OpenCV build with a GUI (opencv-python, not "
                               "opencv-python-headless); use --out instead") from exc

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


def _refuse_writing_over_the_input(args: argparse.Namespace) -> None:
    """An output that is the input file (also through a symlink or another spelling) would destroy it."""
    from edge.errors import ConfigError
    from edge.io import same_file

    if args.input.isdigit() or not Path(args.input).is_file():
        return  # a camera or a folder of images: no output path can be it
    for flag, path in (("--out", args.out), ("--strip", args.strip), ("--json", args.json)):
        if path is not None and same_file(path, args.input):
            raise ConfigError(f"{flag} {path} is the input video {args.input}: writing it would destroy the "
                              f"input; choose another {flag} path")


def run(args: argparse.Namespace) -> int:
    from edge.errors import ConfigError, EdgeparseError
    from edge.parity import load_checked_bundle
    from edge.report import Report, command_block, write_json
    from edge.video.demo import format_result, run_bundle_demo
    from edge.video.sources import open_source

    if not (args.out or args.show or args.strip):
        raise ConfigError("nothing to do: give --out OUT.mp4, --show or --strip PNG")
    if args.max_frames is not None and args.max_frames < 1:
        raise ConfigError(f"--max-frames must be >= 1, got {args.max_frames}")
    _refuse_writing_over_the_input(args)
    cfg = demo_config(args)
    bundle = load_checked_bundle(args.bundle, args.strict)
    source = open_source(args.input, cfg.max_side, args.fps)
    try:
        on_frame, strip = _callbacks(args, source)
    except EdgeparseError:
        source.close()
        raise
    try:
        result = run_bundle_demo(bundle, source, cfg, args.out, args.fps, args.max_frames, on_frame)
    except EdgeparseError:
        if args.out and args.out.is_file():
            print(f"edgeparse: {args.out} was finalized with the frames processed before the error",
                  file=sys.stderr)
        raise
    print(format_result(result, cfg.detect.every))
    if args.out:
        print(f"wrote {args.out} ({result.frames_written} frames, {cfg.codec})" if result.frames_written
              else f"no frame was processed: {args.out} was not written")
    if strip is not None:
        print(f"wrote {strip.save(args.strip)} ({len(strip.frames)} frames)")
    if args.json:
        details = {"demo": {k: v for k, v in result.to_dict().items() if k != "settings"}}
        write_json(args.json, Report(command_block(args), result.settings, [], details))
    return 1 if result.end_reason else 0
