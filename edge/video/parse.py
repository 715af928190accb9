"""One frame through detection, tracking, cropping, the bundle's runner and smoothing.

``FrameParser.prepare``, ``infer`` and ``finish`` are the work of three pipeline threads. The result holds
full-frame label maps:
``raw`` (each frame's own argmax) and, with smoothing on, ``smoothed``; both come from the
same crops, so their flicker can be compared pixel for pixel.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge.backends.base import BaseRunner
from edge.preprocess import Normalization, normalize
from edge.video.config import DemoCfg
from edge.video.crop import (
    NO_FACE,
    crop_transform,
    extract_crop,
    paste_labels,
    relative_transform,
    rescale_transform,
    transform_change,
)
from edge.video.detect import FaceDetector
from edge.video.stability import TemporalSmoother, channel_argmax
from edge.video.track import FaceTracker, Track

CUT_THUMB_WIDTH = 64


@dataclass(frozen=True, eq=False)
class FaceLogits:
    track_id: int
    box: np.ndarray  # x0 y0 x1 y1 in frame pixels
    transform: np.ndarray  # (2, 3) frame -> model-input crop
    logits: np.ndarray  # (C, h, w)


@dataclass(eq=False)
class PreparedFrame:
    """The first stage's result: tracked faces and their normalised crops, ready for the model."""

    index: int
    frame: np.ndarray
    tracks: list[tuple[int, np.ndarray, np.ndarray]]  # (track id, box, crop transform)
    crops: np.ndarray | None  # (faces, 3, h, w) float32, None without faces
    detected: bool
    cut: bool
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass(eq=False)
class InferredFrame:
    """The second stage's result: the model's logits per face, before smoothing and paste-back."""

    index: int
    frame: np.ndarray
    faces: list[FaceLogits]
    detected: bool  # the detector ran on this frame
    cut: bool  # a scene cut: smoothing starts over
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass(eq=False)
class ParsedFrame:
    index: int
    frame: np.ndarray  # (H, W, 3) uint8 RGB, as decoded
    raw: np.ndarray  # (H, W) uint8 labels, NO_FACE outside face crops
    smoothed: np.ndarray | None
    boxes: list[tuple[int, np.ndarray]]  # (track id, x0 y0 x1 y1)
    detected: bool
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        """What the demo shows: smoothed when smoothing is on."""
        return self.raw if self.smoothed is None else self.smoothed


class FrameParser:
    """Stateful per-video parser in three stages that may run in three threads: ``prepare``
    (detect, track, crop, normalise), ``infer`` (the model alone, so nothing else delays it) and
    ``finish`` (smooth, argmax, paste back). Each stage must see the frames in order; ``process``
    runs all three."""

    def __init__(self, runner: BaseRunner, normalization: Normalization, detector: FaceDetector, cfg: DemoCfg):
        self.runner, self.normalization, self.detector, self.cfg = runner, normalization, detector, cfg
        self.input_hw = tuple(runner.input_spec.shape[2:4])
        self.batch = int(runner.input_spec.shape[0])
        t = cfg.track
        self.tracker = FaceTracker(t.match_iou, t.box_weight if cfg.smooth.enabled else 1.0, t.max_misses)
        s = cfg.smooth
        self.smoother = TemporalSmoother(s.new_weight, s.pixel_reset, s.max_shift, s.max_scale) \
            if s.enabled else None
        self._last_detect: int | None = None
        self._crops: dict[int, np.ndarray] = {}  # track id -> the crop transform in use
        self._thumb: np.ndarray | None = None
        self.cuts = 0
        self.inferences = 0

    def process(self, frame: np.ndarray, index: int) -> ParsedFrame:
        return self.finish(self.infer(self.prepare(frame, index)))

    def prepare(self, frame: np.ndarray, index: int) -> PreparedFrame:
        timings: dict[str, float] = {}
        start = time.perf_counter()
        cut = self._is_cut(frame)
        detected = self._update_tracks(frame, index, cut)
        if detected:  # tracking alone costs microseconds; the median should describe detections
            timings["detect"] = _ms_since(start)
        tracks = self.tracker.visible
        self._crops = {k: v for k, v in self._crops.items() if k in {t.id for t in tracks}}
        faces = [(t.id, t.box.copy(), self._transform(t, frame.shape[:2])) for t in tracks]
        crops = np.stack([normalize(extract_crop(frame, m, self.input_hw), self.normalization)
                          for _, _, m in faces]) if faces else None
        timings["prepare"] = _ms_since(start)
        return PreparedFrame(index, frame, faces, crops, detected, cut, timings)

    def infer(self, prepared: PreparedFrame) -> InferredFrame:
        logits, model_ms = self._infer(prepared.crops)
        timings = dict(prepared.timings_ms)
        if logits:
            timings["model"] = model_ms
        faces = [FaceLogits(i, box, m, z) for (i, box, m), z in zip(prepared.tracks, logits)]
        return InferredFrame(prepared.index, prepared.frame, faces, prepared.detected, prepared.cut, timings)

    def finish(self, inferred: InferredFrame) -> ParsedFrame:
        start = time.perf_counter()
        frame = inferred.frame
        if self.smoother:
            self.smoother.reset(keep=None if inferred.cut else {f.track_id for f in inferred.faces})
        raw = np.full(frame.shape[:2], NO_FACE, np.uint8)
        smoothed = raw.copy() if self.smoother else None
        for face in inferred.faces:
            self._paste(frame, face, raw, smoothed)
        timings = {**inferred.timings_ms, "post": _ms_since(start)}
        return ParsedFrame(inferred.index, frame, raw, smoothed, [(f.track_id, f.box) for f in inferred.faces],
                           inferred.detected, timings)

    def _update_tracks(self, frame: np.ndarray, index: int, cut: bool) -> bool:
        """Predict tracks; detect on every k-th frame, after a scene cut, and while a track is lost."""
        if cut:
            self.cuts += 1
            self.tracker.reset()
        self.tracker.predict()
        due = self._last_detect is None or index - self._last_detect >= self.cfg.detect.every
        if not (cut or due or self.tracker.has_lost):
            return False
        self.tracker.update(self.detector.detect(frame), index)
        self._last_detect = index
        return True

    def _is_cut(self, frame: np.ndarray) -> bool:
        h, w = frame.shape[:2]
        size = (CUT_THUMB_WIDTH, max(1, round(h * CUT_THUMB_WIDTH / w)))
        thumb = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
        previous, self._thumb = self._thumb, thumb.astype(np.int16)
        return previous is not None and previous.shape == self._thumb.shape and \
            float(np.abs(self._thumb - previous).mean()) > self.cfg.track.cut_diff

    def _transform(self, track: Track, frame_hw: tuple[int, int]) -> np.ndarray:
        """This frame's crop of a track, or its previous crop while within ``crop.hold``."""
        crop = self.cfg.crop
        new = crop_transform(track.box, frame_hw, self.input_hw, crop.margin, track.keypoints, crop.align)
        old = self._crops.get(track.id)
        if old is not None and crop.hold > 0:
            relative = relative_transform(new, old)
            shift, rescale = transform_change(relative, self.input_hw)
            roll = abs(math.atan2(relative[1, 0], relative[0, 0]))
            if max(shift, rescale, roll) < crop.hold:
                return old
        self._crops[track.id] = new
        return new

    def _infer(self, x: np.ndarray | None) -> tuple[list[np.ndarray], float]:
        """Logits (C, h, w) per normalised crop, in batches of the runner's static batch size."""
        if x is None:
            return [], 0.0
        outputs, model_ms = [], 0.0
        for start in range(0, len(x), self.batch):
            chunk = x[start:start + self.batch]
            padded = np.concatenate([chunk, np.repeat(chunk[-1:], self.batch - len(chunk), axis=0)])
            outputs.extend(self.runner.infer(padded)[:len(chunk)])
            model_ms += self.runner.last_latency_ms or 0.0
        self.inferences += len(x)
        return outputs, model_ms

    def _paste(self, frame: np.ndarray, face: FaceLogits, raw: np.ndarray, smoothed: np.ndarray | None) -> None:
        labels, out_transform = crop_labels(face, self.input_hw)
        paste_labels(raw, labels, out_transform)
        if self.smoother is None or smoothed is None:
            return
        gray = cv2.cvtColor(extract_crop(frame, out_transform, labels.shape), cv2.COLOR_RGB2GRAY)
        logits = self.smoother.smooth(face.track_id, face.logits, gray, out_transform)
        paste_labels(smoothed, channel_argmax(logits), out_transform)


def crop_labels(face: FaceLogits, input_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A face's (h, w) argmax labels at the model's output size, and the (2, 3) frame -> label-map
    transform that ``paste_labels`` takes (the model may output at another size than its input)."""
    return channel_argmax(face.logits), rescale_transform(face.transform, input_hw, face.logits.shape[1:])


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1e3
