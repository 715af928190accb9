"""The annotator: photos and video frames in, label maps and per-face records out.

Per image: BlazeFace finds the faces (``edge.video.detect``), the face mesh places 468 landmarks
on each (``edge.annotate.landmarks``), faces the mesh is unsure of, in profile or too small are
skipped (``edge.annotate.compose.assess``), the person mask and hair model give the coarse
regions (``edge.annotate.segmenters``), and ``compose`` merges everything into one label map.

On video the demo's tracker (``edge.video.track.FaceTracker``) follows each face: its smoothed
box and eye keypoints place the mesh's region of interest, and each track's landmarks are
averaged over time (an exponential moving average with weight ``landmark_weight`` on the new
frame) so that contours, and hence labels, do not jitter from frame to frame. A track whose face
moved by more than ``reset_motion`` of its width in one frame restarts its average.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.annotate.compose import AnnotateCfg, FaceVerdict, assess, base_labels, blank_skipped, draw_face
from edge.annotate.landmarks import FaceLandmarker, FaceMesh
from edge.annotate.segmenters import HairSegmenter, PersonSegmenter
from edge.errors import ConfigError
from edge.schemas import LabelSchema
from edge.video.detect import FaceDetection, FaceDetector
from edge.video.track import FaceTracker

log = logging.getLogger(__name__)

SCHEMAS = ("celebamask_hq", "lapa")
LABELLED_CLASSES = ("background", "skin", "hair", "nose", "l_brow", "r_brow", "l_eye", "r_eye", "u_lip", "l_lip",
                    "mouth")


@dataclass(frozen=True, eq=False)
class AnnotatedFace:
    mesh: FaceMesh
    verdict: FaceVerdict
    track: int | None = None  # video only

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "status": "skipped" if self.verdict.skip_reason else "labelled",
            "confidence": round(self.mesh.score, 4),
            "box": [round(v, 1) for v in self.mesh.box],
            "width_px": self.verdict.width_px,
            "symmetry": self.verdict.symmetry,
        }
        if self.verdict.skip_reason:
            record["reason"] = self.verdict.skip_reason
        if self.track is not None:
            record["track"] = self.track
        record["landmarks"] = np.round(self.mesh.points, 1).tolist()
        return record


@dataclass(frozen=True, eq=False)
class Annotation:
    labels: np.ndarray  # (H, W) uint8 class ids of the schema, 255 = ignore
    faces: list[AnnotatedFace] = field(default_factory=list)

    @property
    def labelled(self) -> list[AnnotatedFace]:
        return [f for f in self.faces if not f.verdict.skip_reason]


class Annotator:
    """Everything needed to label one image; ``hair=None`` leaves hair unlabelled (ignore)."""

    def __init__(self, schema: LabelSchema, detector: FaceDetector, landmarker: FaceLandmarker,
                 person: PersonSegmenter | None, hair: HairSegmenter | None, cfg: AnnotateCfg | None = None):
        missing = [c for c in LABELLED_CLASSES if c not in schema.class_names]
        if missing:
            raise ConfigError(f"schema {schema.name} lacks the classes {missing} the annotator draws; "
                              f"use one of {', '.join(SCHEMAS)}")
        self.schema, self.detector, self.landmarker = schema, detector, landmarker
        self.person, self.hair, self.cfg = person, hair, cfg or AnnotateCfg()

    def describe(self) -> dict[str, Any]:
        """The models and settings, for the JSON records."""
        return {"schema": self.schema.name, "detector": self.detector.name, "landmarks": self.landmarker.name,
                "person": None if self.person is None else self.person.name,
                "hair": None if self.hair is None else self.hair.name, "settings": vars(self.cfg)}

    def meshes(self, image: np.ndarray) -> list[FaceMesh]:
        return [self.landmarker(image, face) for face in self.detector.detect(image)]

    def label(self, image: np.ndarray, meshes: list[FaceMesh], tracks: list[int] | None = None) -> Annotation:
        """Label an (H, W, 3) uint8 RGB image whose faces' meshes are known."""
        faces = [AnnotatedFace(m, assess(m, self.cfg), None if tracks is None else tracks[i])
                 for i, m in enumerate(meshes)]
        person = self.person(image) if self.person is not None else None
        labels = base_labels(image.shape[:2], person, self.cfg)
        # Smaller (farther) faces first, so a nearer face's parts are drawn over a farther one's.
        for face in sorted((f for f in faces if not f.verdict.skip_reason), key=lambda f: f.verdict.width_px):
            hair = None if self.hair is None else self.hair(image, face.mesh.box)
            draw_face(labels, image, face.mesh, self.schema, hair, person, self.cfg)
        for face in faces:
            if face.verdict.skip_reason:
                blank_skipped(labels, face.mesh)
        return Annotation(labels, faces)

    def __call__(self, image: np.ndarray) -> Annotation:
        return self.label(image, self.meshes(image))


class LandmarkSmoother:
    """Per-track exponential moving average of mesh points, reset on fast motion."""

    def __init__(self, landmark_weight: float = 0.5, reset_motion: float = 0.08):
        if not 0.0 < landmark_weight <= 1.0:
            raise ConfigError(f"landmark_weight must be in (0, 1] (1 = off), got {landmark_weight}")
        self.weight, self.reset_motion = landmark_weight, reset_motion
        self._points: dict[int, np.ndarray] = {}

    def __call__(self, track: int, face: FaceMesh) -> FaceMesh:
        previous = self._points.get(track)
        points = face.points
        if previous is not None:
            width = float(np.ptp(points[:, 0]))
            motion = float(np.linalg.norm(points.mean(axis=0) - previous.mean(axis=0)))
            if motion <= self.reset_motion * width:
                points = previous + self.weight * (points - previous)
        self._points[track] = points
        return FaceMesh(points, face.score, face.roi)

    def keep(self, tracks: set[int]) -> None:
        self._points = {k: v for k, v in self._points.items() if k in tracks}


def annotate_frames(annotator: Annotator, frames: Iterator[np.ndarray], stride: int = 1,
                    smoother: LandmarkSmoother | None = None,
                    tracker: FaceTracker | None = None) -> Iterator[tuple[int, np.ndarray, Annotation]]:
    """(index, frame, annotation) of every ``stride``-th frame of a video; every frame is tracked
    and its landmarks smoothed, so the labelled ones benefit from the frames between them."""
    if stride < 1:
        raise ConfigError(f"stride must be >= 1, got {stride}")
    tracker = tracker or FaceTracker()
    smoother = smoother or LandmarkSmoother()
    for index, frame in enumerate(frames):
        tracker.predict()
        tracker.update(annotator.detector.detect(frame), index)
        visible = tracker.visible
        smoother.keep({t.id for t in visible})
        meshes = [smoother(t.id, annotator.landmarker(frame, FaceDetection(tuple(t.box), t.score, t.keypoints)))
                  for t in visible]
        if index % stride == 0:
            yield index, frame, annotator.label(frame, meshes, [t.id for t in visible])
