"""``edgeparse demo-clip --out OUT.mp4``: write the synthetic demo clip (public-domain photos, camera motion)."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, metavar="OUT.mp4",
                        help="video to write (.mp4, .mov, .mkv or .avi)")
    parser.add_argument("--seed", type=int, default=0, help="sensor-noise seed (default: 0)")
    parser.add_argument("--codec", choices=("mp4v", "h264"), default="mp4v",
                        help="mp4v (OpenCV, default) or h264 (needs PyAV)")


def run(args: argparse.Namespace) -> int:
    from edge.video.clip import FPS, SHOTS, SIZE, make_demo_clip

    args.out.parent.mkdir(parents=True, exist_ok=True)
    frames = make_demo_clip(args.out, seed=args.seed, codec=args.codec, shots=SHOTS)
    shots = ", ".join(f"{s.name} ({s.frames})" for s in SHOTS)
    print(f"wrote {args.out}: {frames} frames, {SIZE[0]}x{SIZE[1]} at {FPS:g} fps, {args.codec}; shots: {shots}")
    return 0
