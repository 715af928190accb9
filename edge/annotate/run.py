"""``edgeparse annotate``'s work over many inputs: open the models, loop, resume, summarise."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from edge.annotate.compose import AnnotateCfg
from edge.annotate.landmarks import FaceLandmarker
from edge.annotate.outputs import Layout, read_records, write_sample, write_summary
from edge.annotate.pipeline import Annotator, annotate_frames
from edge.annotate.segmenters import PersonSegmenter, open_hair_segmenter
from edge.data.readers import IMAGE_SUFFIXES as DATASET_SUFFIXES
from edge.errors import ConfigError, InputError
from edge.predict import Inputs, read_image
from edge.schemas import get_schema
from edge.video.detect import open_detector
from edge.video.sources import open_video

EXIF_ORIENTATION = 0x0112


def open_annotator(schema: str, hair: str | None, cfg: AnnotateCfg, threads: int = 1) -> Annotator:
    """The annotator with BlazeFace, the face mesh, the person mask and the hair source ``hair``
    (see ``edge.annotate.segmenters.open_hair_segmenter``)."""
    return Annotator(get_schema(schema), open_detector("blazeface", threads=threads), FaceLandmarker(threads),
                     PersonSegmenter(threads), open_hair_segmenter(hair, threads), cfg)


def frame_name(video: Path, index: int) -> str:
    return f"{video.stem}_f{index:06d}"


def check_names(inputs: Inputs, out: Path) -> None:
    """Refuse an ``--out`` that is an input folder and two inputs with one name (one would overwrite
    the other's mask)."""
    for folder in inputs.folders:
        if folder.resolve() == out.resolve():
            raise ConfigError(f"--out {out} is an input folder: give another folder, e.g. {out / 'annotated'}")
    seen: dict[str, Path] = {}
    for path in [*inputs.images, *inputs.videos]:
        if path.stem in seen:
            raise ConfigError(f"{seen[path.stem]} and {path} have the same name {path.stem!r}: their labels would "
                              f"overwrite each other in {out}; rename one or annotate them into different folders")
        seen[path.stem] = path


def dataset_copy_source(path: Path) -> Path | None:
    """``path`` when the dataset can hold it byte for byte: a suffix ``data.format=folder`` reads and
    no EXIF rotation (the dataset reader ignores EXIF, the annotator applies it); else None (saved
    as PNG)."""
    if path.suffix.lower() not in DATASET_SUFFIXES:
        return None
    with Image.open(path) as image:
        return None if image.getexif().get(EXIF_ORIENTATION, 1) != 1 else path


def annotate_inputs(annotator: Annotator, inputs: Inputs, out: Path, video_stride: int,
                    overwrite: bool) -> tuple[dict[str, Any], list[Path]]:
    """Annotate every input into ``out``; returns the run summary and the inputs that could not be read."""
    from tqdm import tqdm

    check_names(inputs, out)
    layout = Layout(out)
    describe = annotator.describe()
    names: list[str] = []
    unreadable: list[Path] = []
    with tqdm(total=len(inputs), unit="file", desc="annotate", file=sys.stderr) as bar:
        for path in inputs.images:
            names.append(path.stem)
            if overwrite or not layout.done(path.stem):
                try:
                    image = read_image(path)
                    source = dataset_copy_source(path)
                except InputError as exc:
                    unreadable.append(path)
                    names.pop()
                    bar.write(f"edgeparse: skipped {path}: {str(exc).removeprefix(f'{path}: ')}", file=sys.stderr)
                else:
                    write_sample(layout, path.stem, source, image, annotator(image), annotator.schema,
                                 {"name": path.stem, "input": str(path), **describe})
            bar.update()
        for path in inputs.videos:
            try:
                names += annotate_video(annotator, path, layout, video_stride, overwrite, describe)
            except InputError as exc:
                unreadable.append(path)
                bar.write(f"edgeparse: skipped {path}: {exc}", file=sys.stderr)
            bar.update()
    return write_summary(layout, read_records(layout, names), describe), unreadable


def annotate_video(annotator: Annotator, path: Path, layout: Layout, stride: int, overwrite: bool,
                   describe: dict[str, Any]) -> list[str]:
    """Every ``stride``-th frame of a video, tracked and smoothed; returns the frame names. A video
    is redone as a whole (tracking needs the frames before), unless all its frames are done."""
    source = open_video(path)
    try:
        count = source.frame_count
        expected = [frame_name(path, i) for i in range(0, count, stride)] if count else []
        if expected and not overwrite and all(layout.done(n) for n in expected):
            return expected

        def frames():
            while (frame := source.read()) is not None:
                yield frame

        names = []
        for index, frame, annotation in annotate_frames(annotator, frames(), stride):
            name = frame_name(path, index)
            write_sample(layout, name, None, np.ascontiguousarray(frame), annotation, annotator.schema,
                         {"name": name, "input": str(path), "frame": index, **describe})
            names.append(name)
        if source.end_reason:
            raise InputError(f"{source.end_reason}; the {len(names)} frames before that are annotated")
        return names
    finally:
        source.close()
