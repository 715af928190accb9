"""``edgeparse predict BUNDLE INPUT... --out DIR``: label maps and overlays of photos and videos.

Built on the Python API (``edge.api.FaceParser``) and, for videos, the video demo's pipeline.
A file that cannot be read is named on stderr and skipped; the exit status is then 1, after
every other input has been written and a summary line printed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.cli import add_bundle_arguments, add_overrides
from edge.video.demo_cmd import DEFAULT_DEMO_CONFIG, add_threads_argument, demo_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_bundle_arguments(parser)
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="image or video files, folders (their images and videos, not recursive) or quoted "
                             "glob patterns such as 'photos/*.jpg'")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="output folder: <stem>_labels.png (class ids, palette PNG), <stem>_overlay.png; "
                             "<stem>_overlay.mp4 for a video. Never an input folder")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--faces", dest="faces", action="store_const", const=True,
                      help="detect faces, parse a crop around each and paste the labels back, as the video demo "
                           "does. The default when a face detector is available (otherwise whole images are "
                           "parsed, with a warning)")
    mode.add_argument("--whole", dest="faces", action="store_const", const=False,
                      help="parse the whole image as one face: for aligned face crops (CelebAMask-HQ style); "
                           "images only")
    parser.add_argument("--json", action="store_true",
                        help="also write <stem>.json: per-face boxes and class areas (pixels and %% of the face "
                             "crop); per-frame boxes and areas for a video")
    add_threads_argument(parser)
    parser.add_argument("--config", type=Path, help="demo YAML for detection, crop and overlay settings "
                                                    f"(default: the dataclass defaults, as {DEFAULT_DEMO_CONFIG})")
    add_overrides(parser, "demo config overrides, e.g. crop.margin=0.5 overlay.contours=true detect.min_score=0.5")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from edge.api import FaceParser
    from edge.errors import ConfigError, InputError
    from edge.parity import load_checked_bundle
    from edge.paths import output_folder
    from edge.predict import check_outputs, collect_inputs, predict_image, predict_video, video_cfg

    inputs = collect_inputs(args.inputs)
    if inputs.videos and args.faces is False:
        raise ConfigError(f"--whole parses still images; videos ({inputs.videos[0]}) go through the video "
                          f"demo's face pipeline: drop --whole or the videos")
    check_outputs(inputs, args.out, args.json)
    cfg = demo_config(args)
    bundle = load_checked_bundle(args.bundle, args.strict)
    output_folder(args.out, "--out")
    skipped: list[Path] = []
    faces, faceless, mode = 0, 0, None
    with tqdm(total=len(inputs), unit="file", desc="predict", file=sys.stderr) as bar:
        def skip(path: Path, exc: InputError) -> None:
            skipped.append(path)
            bar.write(f"edgeparse: skipped {path}: {str(exc).removeprefix(f'{path}: ')}", file=sys.stderr)

        if inputs.images:
            with FaceParser(bundle, threads=cfg.threads, faces=args.faces, cfg=cfg) as parser:
                mode = parser.mode if parser.detector is None else f"faces, detector {parser.detector_name}"
                for path in inputs.images:
                    try:
                        found = len(predict_image(parser, path, args.out, args.json)["faces"])
                    except InputError as exc:
                        skip(path, exc)
                    else:
                        faces, faceless = faces + found, faceless + (found == 0)
                    bar.update()
        for path in inputs.videos:
            try:
                predict_video(bundle, path, args.out, video_cfg(cfg), args.json)
            except InputError as exc:
                skip(path, exc)
            bar.update()
    print(_summary(len(inputs), skipped, args.out, mode, faces, faceless))
    return 1 if skipped else 0


def _summary(total: int, skipped: list[Path], out: Path, mode: str | None, faces: int, faceless: int) -> str:
    """One line; ``mode`` is None when no image was given (videos only)."""
    parsed = f"parsed {total - len(skipped)} of {total} inputs into {out}"
    if mode == "whole":
        parsed += " (whole images)"
    elif mode is not None:
        parsed += f" ({mode}; images: {faces} faces, {faceless} without a face)"
    if skipped:
        parsed += f"; skipped {len(skipped)}: {', '.join(str(p) for p in skipped)}"
    return parsed
