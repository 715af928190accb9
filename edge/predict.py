"""``edgeparse predict``'s work, apart from the command line: which files to parse, reading them,
and writing the label PNG, overlay and JSON of each (``edge.predict_cmd`` loops and reports).

Per image ``<stem>``: ``<stem>_labels.png`` (class ids in a palette PNG: viewers show the schema's
colours, readers get the ids; ``NO_FACE`` 255 is transparent), ``<stem>_overlay.png`` and, with
``--json``, ``<stem>.json``. Per video: ``<stem>_overlay.mp4`` through the video demo's pipeline and,
with ``--json``, per-frame boxes and class areas.
"""
from __future__ import annotations

import dataclasses
import glob
import io
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from edge.api import FaceParser, areas_to_json, class_areas
from edge.bundle import Bundle
from edge.errors import ConfigError, InputError
from edge.image_files import read_image_file, require_regular_file
from edge.io import atomic_open, atomic_write_text
from edge.schemas import LabelSchema
from edge.video.config import DemoCfg
from edge.video.crop import NO_FACE
from edge.video.demo import run_bundle_demo
from edge.video.parse import ParsedFrame
from edge.video.sinks import CONTAINERS
from edge.video.sources import IMAGE_SUFFIXES

VIDEO_SUFFIXES = (*CONTAINERS, ".webm", ".m4v")
# Pillow modes with 8-bit samples, which convert("RGB") maps without losing range.
EIGHT_BIT_MODES = ("1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV")
# What Pillow raises on a corrupt, truncated or unknown file (some plugins raise SyntaxError or
# struct.error on broken headers).
_PIL_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


@dataclass(frozen=True)
class Inputs:
    images: list[Path]
    videos: list[Path]
    folders: list[Path]  # the folders given, which --out must not be

    def __len__(self) -> int:
        return len(self.images) + len(self.videos)


def kind_of(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else None


def collect_inputs(specs: list[str]) -> Inputs:
    """Files, folders (their images and videos, not recursive) and globs -> sorted inputs.

    A file given by name is taken whatever its suffix (a bad one is then named when read); files
    found in folders or by globs are taken by suffix. Missing paths and empty matches are errors."""
    images: list[Path] = []
    videos: list[Path] = []
    folders: list[Path] = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            folders.append(path)
            found = sorted(p for p in path.iterdir() if p.is_file() and kind_of(p))
            what = f"folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)}) or videos"
        elif path.is_file():
            found = [path]
            what = ""
        elif path.exists():  # a FIFO or device: reading it could block forever
            require_regular_file(path)
        elif any(char in spec for char in "*?["):  # a pattern the shell left quoted
            found = sorted(p for p in map(Path, glob.glob(spec)) if p.is_file() and kind_of(p))
            what = f"pattern {spec!r} matches no image or video file"
        else:
            raise InputError(f"input {spec} not found (give image or video files, folders or glob patterns)")
        if not found:
            raise InputError(what)
        for file in found:
            (videos if kind_of(file) == "video" else images).append(file)
    return Inputs(_unique(images), _unique(videos), folders)


def _unique(paths: list[Path]) -> list[Path]:
    seen: set[Path] = set()
    return [p for p in paths if not (p.resolve() in seen or seen.add(p.resolve()))]


def output_paths(path: Path, out_dir: Path, kind: str, json_out: bool) -> dict[str, Path]:
    """What one input writes: ``labels`` and ``overlay`` (PNG; mp4 for a video) and ``json``."""
    stem = out_dir / path.stem
    paths = {"overlay": stem.with_name(f"{path.stem}_overlay.mp4")} if kind == "video" else \
        {"labels": stem.with_name(f"{path.stem}_labels.png"), "overlay": stem.with_name(f"{path.stem}_overlay.png")}
    if json_out:
        paths["json"] = stem.with_name(f"{path.stem}.json")
    return paths


def check_outputs(inputs: Inputs, out_dir: Path, json_out: bool) -> None:
    """Refuse an ``--out`` that is an input folder (the outputs would become inputs of the next
    run), an output that is an input file, and two inputs that would write the same files."""
    out = out_dir.resolve()
    for folder in inputs.folders:
        if folder.resolve() == out:
            raise ConfigError(f"--out {out_dir} is an input folder: its outputs would sit among the images "
                              f"and be parsed by the next run; give another folder, e.g. {out_dir / 'parsed'}")
    sources = {p.resolve(): p for p in [*inputs.images, *inputs.videos]}
    writers: dict[Path, Path] = {}
    for path in [*inputs.images, *inputs.videos]:
        for target in output_paths(path, out_dir, kind_of(path) or "image", json_out).values():
            resolved = target.resolve()
            if resolved in sources:
                raise ConfigError(f"the output {target} of {path} is the input {sources[resolved]}: inputs are "
                                  f"never overwritten; give another --out folder")
            if resolved in writers:
                raise ConfigError(f"{writers[resolved]} and {path} would both write {target}: rename one or "
                                  f"parse them into different --out folders")
            writers[resolved] = path


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB, upright as the camera's EXIF orientation says; ``InputError`` names a
    corrupt, truncated, unreadable or non-8-bit file."""
    data = read_image_file(path)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            image = ImageOps.exif_transpose(opened)  # phones store portrait shots sideways plus a tag
            if image.mode not in EIGHT_BIT_MODES:
                raise InputError(f"{path}: {image.mode} pixels are not 8-bit RGB, grey or RGBA; convert it to an "
                                 f"8-bit image")
            return np.asarray(image.convert("RGB"))
    except _PIL_ERRORS as exc:
        raise InputError(f"{path}: not a readable image ({exc})") from exc


def write_label_png(path: Path, labels: np.ndarray, schema: LabelSchema) -> Path:
    """A palette PNG: pixel values are the class ids, the palette the schema's colours."""
    image = Image.fromarray(np.ascontiguousarray(labels, np.uint8))  # mode L: one byte per pixel
    image.putpalette(schema.palette().tobytes())  # L + palette = mode P, the bytes unchanged
    with atomic_open(path) as handle:
        image.save(handle, format="PNG", transparency=NO_FACE)  # unparsed pixels show the viewer's background
    return path


def predict_image(parser: FaceParser, path: Path, out_dir: Path, json_out: bool) -> dict[str, Any]:
    """Parse one image file and write its outputs; returns the JSON summary (also when not written)."""
    result = parser(read_image(path))
    paths = output_paths(path, out_dir, "image", json_out)
    write_label_png(paths["labels"], result.labels, result.schema)
    with atomic_open(paths["overlay"]) as handle:
        Image.fromarray(result.overlay()).save(handle, format="PNG")
    summary = {"input": str(path), "bundle": str(parser.bundle.path), "detector": parser.detector_name,
               **{f"{name}_file": p.name for name, p in paths.items() if name != "json"}, **result.to_dict()}
    if json_out:
        atomic_write_text(paths["json"], json.dumps(summary, indent=2) + "\n")
    return summary


class FrameAreas:
    """An ``on_parsed`` callback: per-frame face boxes and class areas of the labels the video shows."""

    def __init__(self, schema: LabelSchema):
        self.schema = schema
        self.frames: list[dict[str, Any]] = []

    def __call__(self, parsed: ParsedFrame) -> None:
        self.frames.append({"frame": parsed.index,
                            "faces": [{"track": int(i), "box": [round(float(v), 2) for v in box]}
                                      for i, box in parsed.boxes],
                            "class_areas": areas_to_json(class_areas(parsed.labels, self.schema))})


def video_cfg(cfg: DemoCfg) -> DemoCfg:
    """The demo's settings for a predict video: no timing HUD on the overlay, and one timed run
    of the isolated model benchmark that the demo reports and predict does not."""
    return dataclasses.replace(cfg, overlay=dataclasses.replace(cfg.overlay, hud=False), model_runs=1)


def predict_video(bundle: Bundle, path: Path, out_dir: Path, cfg: DemoCfg, json_out: bool) -> dict[str, Any]:
    """The video demo's pipeline on one file, without the timing HUD; ``InputError`` when the file
    cannot be decoded or stops early (the overlay video then holds the frames before that)."""
    paths = output_paths(path, out_dir, "video", json_out)
    areas = FrameAreas(bundle.schema)
    result = run_bundle_demo(bundle, str(path), cfg, paths["overlay"], on_parsed=areas)
    summary = {"input": str(path), "bundle": str(bundle.path), "detector": result.detector,
               "overlay_file": paths["overlay"].name, "frames": result.frames, "faces": result.faces,
               "schema": bundle.schema.name, "per_frame": areas.frames}
    if json_out:
        atomic_write_text(paths["json"], json.dumps(summary, indent=2) + "\n")
    if result.end_reason:
        raise InputError(f"{result.end_reason}; {paths['overlay']} holds the {result.frames} frames before that")
    return summary
