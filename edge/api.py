"""The Python API: parse a photo in three lines, with or without face crops.

    from edge import FaceParser
    parser = FaceParser("bundles/ehanet_mbv2_cpu_int8")   # or "bundles/ehanet_mbv2_cpu_best": the recommended one
    result = parser(image_rgb)        # result.labels, result.faces, result.overlay(), result.class_areas()

``FaceParser`` loads the bundle with the verified loader (``edge.bundle.load_bundle``) and runs it
on the runner the registry gives (``edge.backends.open_runner``). With faces on it does what the video
demo does for one frame (``edge.video.parse.FrameParser``: detect, crop with margin, parse each crop,
paste the labels back); with faces off it feeds the whole image through ``edge.preprocess``, as for
aligned crops. ``edgeparse predict`` is built on this class.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import cv2
import numpy as np

from edge.backends import open_runner
from edge.bundle import Bundle
from edge.errors import BackendUnavailable
from edge.parity import load_checked_bundle
from edge.preprocess import argmax_labels, as_rgb_uint8, labels_to_size, preprocess
from edge.schemas import LabelSchema
from edge.video.config import DemoCfg
from edge.video.crop import NO_FACE, paste_labels
from edge.video.detect import FaceDetector, open_detector
from edge.video.overlay import blend_labels, draw_legend, present_classes
from edge.video.parse import FaceLogits, FrameParser, crop_labels

if TYPE_CHECKING:
    from typing import Self  # Python >= 3.11; annotations are strings here

log = logging.getLogger(__name__)

Mode = Literal["faces", "whole"]


@dataclass(frozen=True)
class ClassArea:
    pixels: int  # image pixels of the class
    pct: float  # percentage of the parsed region (a face crop, or every crop together)


@dataclass(frozen=True, eq=False)
class Face:
    """One parsed face. ``labels`` covers the face's crop inside the image, from ``origin`` (x, y);
    ``NO_FACE`` (255) marks pixels of that box outside a rotated crop. In whole-image mode the
    image is the one face: its box is the image and its score None."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in image pixels (the detector's box)
    score: float | None
    labels: np.ndarray
    origin: tuple[int, int]

    @property
    def crop_box(self) -> tuple[int, int, int, int]:
        """x0, y0, x1, y1 of the image region the face's crop covers."""
        x, y = self.origin
        return x, y, x + self.labels.shape[1], y + self.labels.shape[0]


def areas_to_json(areas: dict[str, ClassArea]) -> dict[str, dict[str, float]]:
    return {name: {"pixels": a.pixels, "pct": round(a.pct, 3)} for name, a in areas.items()}


def class_areas(labels: np.ndarray, schema: LabelSchema) -> dict[str, ClassArea]:
    """Pixels and percentage of every class among the parsed (not ``NO_FACE``) pixels."""
    counts = np.bincount(labels.ravel(), minlength=256)[:schema.num_classes]
    total = int(counts.sum())
    return {name: ClassArea(int(n), 100.0 * int(n) / total if total else 0.0)
            for name, n in zip(schema.class_names, counts)}


@dataclass(frozen=True, eq=False)
class ParseResult:
    """``labels``: (H, W) uint8 class ids at the image size; ``NO_FACE`` (255) outside every face crop
    (faces mode only). ``faces``: one ``Face`` per parsed crop."""

    image: np.ndarray  # (H, W, 3) uint8 RGB, as parsed
    labels: np.ndarray
    faces: list[Face]
    schema: LabelSchema
    mode: Mode
    cfg: DemoCfg

    def overlay(self, alpha: float | None = None, contours: bool | None = None,
                legend: bool | None = None) -> np.ndarray:
        """(H, W, 3) uint8 RGB: class colours blended over the image (the demo's overlay; defaults
        from the parser's ``cfg.overlay``). Background and unparsed pixels stay as they were."""
        o = self.cfg.overlay
        out = blend_labels(self.image, self.labels, self.schema.palette(), o.alpha if alpha is None else alpha,
                           o.contours if contours is None else contours)
        if (o.legend if legend is None else legend) and self.faces:
            draw_legend(out, self.schema, present_classes(self.labels, self.schema.num_classes))
        return out

    def class_areas(self, face: int | None = None) -> dict[str, ClassArea]:
        """Class name -> pixels and % of face ``face``'s crop, or of all parsed pixels when None."""
        return class_areas(self.labels if face is None else self.faces[face].labels, self.schema)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: per-face boxes and class areas, and the areas over all faces."""
        return {"image_size": [int(self.image.shape[1]), int(self.image.shape[0])], "mode": self.mode,
                "schema": self.schema.name,
                "faces": [{"box": [round(v, 2) for v in f.box], "score": f.score, "crop_box": list(f.crop_box),
                           "class_areas": areas_to_json(self.class_areas(i))} for i, f in enumerate(self.faces)],
                "class_areas": areas_to_json(self.class_areas())}


def still_image_cfg(cfg: DemoCfg) -> DemoCfg:
    """The demo's settings for independent photos: detect on every image, no crop hold, no
    temporal smoothing (there is no previous frame) and no timing HUD."""
    return dataclasses.replace(cfg, detect=dataclasses.replace(cfg.detect, every=1),
                               crop=dataclasses.replace(cfg.crop, hold=0.0),
                               smooth=dataclasses.replace(cfg.smooth, enabled=False),
                               overlay=dataclasses.replace(cfg.overlay, hud=False))


class FaceParser:
    """A deploy bundle ready to parse RGB images; ``parser(image)`` returns a ``ParseResult``.

    ``faces``: True detects faces and parses a crop around each (as the video demo does); False
    parses the whole image (aligned face crops); None (default) detects faces when a detector is
    available and otherwise parses the whole image, with a warning. ``detector`` replaces the
    demo's (``cfg.detect.detector``) with any object that has ``detect(image)``. ``threads``: the
    runner's inference threads (None: the backend's default). Close with ``close()`` or use it
    as a context manager; the runner stays loaded between calls.

    A bundle given as a path (a bundle folder or a ``<model>_<target>_best`` pointer) is loaded with its
    parity verdict checked: one that failed or was never validated logs a warning, or with ``strict``
    raises ``BundleError``. A ``Bundle`` object is taken as its caller checked it.
    """

    def __init__(self, bundle: str | Path | Bundle, *, threads: int | None = None, faces: bool | None = None,
                 cfg: DemoCfg | None = None, detector: FaceDetector | None = None, strict: bool = False):
        self.bundle = bundle if isinstance(bundle, Bundle) else load_checked_bundle(bundle, strict)
        self.schema = self.bundle.schema
        self.cfg = still_image_cfg(cfg or DemoCfg())
        if faces is False:
            self.detector: FaceDetector | None = None
        else:
            self.detector = detector if detector is not None else self._open_detector(faces)
        self.mode: Mode = "whole" if self.detector is None else "faces"
        self._runner = open_runner(self.bundle, threads=threads)
        self._runner.activate()

    def _open_detector(self, faces: bool | None) -> FaceDetector | None:
        d = self.cfg.detect
        try:
            return open_detector(d.detector, d.min_score, d.nms_iou, d.threads)
        except BackendUnavailable as exc:
            if faces:
                raise
            log.warning("no face detector (%s): parsing whole images, which suits aligned face crops only", exc)
            return None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._runner.is_active:
            self._runner.deactivate()

    @property
    def detector_name(self) -> str | None:
        return None if self.detector is None else getattr(self.detector, "name", type(self.detector).__name__)

    def __call__(self, image: np.ndarray) -> ParseResult:
        """Parse an (H, W, 3) uint8 RGB image (grey and RGBA are converted)."""
        image = as_rgb_uint8(image, "FaceParser input")
        labels, faces = self._parse_whole(image) if self.detector is None else self._parse_faces(image)
        return ParseResult(image, labels, faces, self.schema, self.mode, self.cfg)

    def _parse_whole(self, image: np.ndarray) -> tuple[np.ndarray, list[Face]]:
        h, w = image.shape[:2]
        spec = self._runner.input_spec
        x = preprocess(image, tuple(spec.shape[2:4]), self.bundle.manifest.input.normalization)
        logits = self._runner.infer(np.repeat(x, spec.shape[0], axis=0))  # a static batch > 1 gets copies
        labels = labels_to_size(argmax_labels(logits[:1])[0], (h, w))
        return labels, [Face((0.0, 0.0, float(w), float(h)), None, labels, (0, 0))]

    def _parse_faces(self, image: np.ndarray) -> tuple[np.ndarray, list[Face]]:
        # A fresh FrameParser per image: tracks and crops of one photo must not carry over to the next.
        frame_parser = FrameParser(self._runner, self.bundle.manifest.input.normalization, self.detector, self.cfg)
        inferred = frame_parser.infer(frame_parser.prepare(image, 0))
        scores = {track.id: track.score for track in frame_parser.tracker.visible}
        labels = frame_parser.finish(inferred).raw
        faces = [self._face(image.shape[:2], face, frame_parser.input_hw, scores.get(face.track_id))
                 for face in inferred.faces]
        return labels, faces

    @staticmethod
    def _face(image_hw: tuple[int, int], face: FaceLogits, input_hw: tuple[int, int],
              score: float | None) -> Face:
        """The face's own labels in image pixels, apart from the other faces (crops may overlap)."""
        own = np.full(image_hw, NO_FACE, np.uint8)
        paste_labels(own, *crop_labels(face, input_hw))
        x, y, w, h = cv2.boundingRect(cv2.compare(own, NO_FACE, cv2.CMP_NE))
        box = tuple(float(v) for v in face.box)
        return Face(box, score, own[y:y + h, x:x + w].copy(), (x, y))
