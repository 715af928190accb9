"""Face detectors for the demo, all from files that pip packages ship (nothing downloads).

``open_detector("auto")`` prefers BlazeFace (``edge.video.blazeface``) and falls back, with a
warning, to an OpenCV cascade: OpenCV 4.x wheels ship Haar cascades in ``cv2.data``; OpenCV 5
dropped ``CascadeClassifier``, so there the fallback is unavailable and the error says what to
install.
"""
from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np

from edge.errors import BackendUnavailable, UnknownNameError

log = logging.getLogger(__name__)

DetectorName = Literal["auto", "blazeface", "cascade"]
DETECTORS: tuple[str, ...] = ("auto", "blazeface", "cascade")
CASCADE_MAX_SIDE = 640  # the cascade scans every scale: bound its input size


@dataclass(frozen=True, eq=False)
class FaceDetection:
    """One face in frame pixels. ``keypoints`` (6, 2) (x, y): right eye, left eye, nose tip,
    mouth, right and left ear tragion (the subject's right: the image's left); None when the
    detector gives no landmarks."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    score: float
    keypoints: np.ndarray | None = None


class FaceDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[FaceDetection]: ...


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N, 4) and (M, 4) x0 y0 x1 y1 boxes -> (N, M)."""
    a, b = np.asarray(a, np.float64)[:, None], np.asarray(b, np.float64)[None]
    inter_w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    inter_h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = inter_w * inter_h
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


def cascade_files() -> list[Path]:
    """Frontal-face cascades shipped by installed wheels, best first."""
    candidates = []
    data = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if data:
        candidates.append(Path(data) / "haarcascade_frontalface_default.xml")
    spec = importlib.util.find_spec("skimage")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidates.append(Path(folder) / "data" / "lbpcascade_frontalface_opencv.xml")
    return [path for path in candidates if path.is_file()]


class CascadeDetector:
    """OpenCV Viola-Jones cascade: no landmarks, weaker on rotated or profile faces."""

    name = "cascade"

    def __init__(self, path: Path | None = None, min_size_frac: float = 0.08):
        if not hasattr(cv2, "CascadeClassifier"):
            raise BackendUnavailable(f"OpenCV {cv2.__version__} has no CascadeClassifier (removed in OpenCV 5): "
                                     "use the BlazeFace detector (its model ships in edge/video/models/; it runs on "
                                     "ai-edge-litert or openvino) or an OpenCV 4.x build")
        files = [path] if path else cascade_files()
        if not files:
            raise BackendUnavailable("no face cascade file found (opencv-python 4.x ships them in cv2.data)")
        self.path = files[0]
        self._cascade = cv2.CascadeClassifier(str(self.path))
        if self._cascade.empty():
            raise BackendUnavailable(f"OpenCV cannot load the cascade {self.path}")
        self.min_size_frac = min_size_frac

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        scale = min(1.0, CASCADE_MAX_SIDE / max(image.shape[:2]))
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        min_side = max(16, int(self.min_size_frac * min(gray.shape)))
        found, _, weights = self._cascade.detectMultiScale3(
            cv2.equalizeHist(gray), scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side),
            outputRejectLevels=True)
        return [FaceDetection((x / scale, y / scale, (x + w) / scale, (y + h) / scale), float(score))
                for (x, y, w, h), score in zip(np.asarray(found).reshape(-1, 4), np.ravel(weights))]


def open_detector(name: str = "auto", min_score: float = 0.5, nms_iou: float = 0.3,
                  threads: int = 1) -> FaceDetector:
    """A detector by name; ``auto`` = BlazeFace, else the cascade with a warning."""
    if name not in DETECTORS:
        raise UnknownNameError("face detector", name, DETECTORS)
    if name in ("auto", "blazeface"):
        from edge.video.blazeface import BlazeFaceDetector
        try:
            return BlazeFaceDetector(min_score=min_score, nms_iou=nms_iou, threads=threads)
        except BackendUnavailable as exc:
            if name == "blazeface":
                raise
            log.warning("BlazeFace unavailable (%s); falling back to the OpenCV cascade, which finds fewer "
                        "faces and gives no eye landmarks for alignment", exc)
            try:
                return CascadeDetector()
            except BackendUnavailable as cascade_exc:
                raise BackendUnavailable(f"no face detector available: {exc}; and {cascade_exc}") from cascade_exc
    return CascadeDetector()
