"""Face crops as affine transforms, and pasting label maps back into the frame.

A crop is a 2×3 matrix mapping frame pixels to model-input pixels (pixel centres at
i + 0.5, as ``edge.preprocess.resize_image``). Crops are boxes grown by ``margin`` on each
side, shaped like the model input, shifted to stay inside the frame, and optionally rotated
so that the eyes are level. Keeping the transform, not just a box, lets paste-back and
temporal smoothing map pixels between the frame and any two crops exactly.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from edge.errors import ConfigError

NO_FACE = 255  # label of frame pixels outside every face crop
BACKGROUND = 0  # class 0 is background in every schema


def crop_transform(box: np.ndarray, frame_hw: tuple[int, int], input_hw: tuple[int, int], margin: float,
                   keypoints: np.ndarray | None = None, align: bool = False, keep_inside: bool = True) -> np.ndarray:
    """(2, 3) float64 frame -> crop matrix for a face ``box`` (x0, y0, x1, y1). ``keep_inside=False``
    keeps the crop centred on the box even where it leaves the frame (MediaPipe's landmark ROI)."""
    if margin < 0:
        raise ConfigError(f"crop margin must be >= 0, got {margin}")
    (frame_h, frame_w), (in_h, in_w) = frame_hw, input_hw
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0, 1.0) * (1.0 + 2.0 * margin)
    region_w, region_h = side * in_w / min(in_h, in_w), side * in_h / min(in_h, in_w)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if keep_inside:
        fit = min(1.0, frame_w / region_w, frame_h / region_h)  # a crop larger than the frame shrinks
        region_w, region_h = region_w * fit, region_h * fit
        cx = float(np.clip(cx, region_w / 2, frame_w - region_w / 2))
        cy = float(np.clip(cy, region_h / 2, frame_h - region_h / 2))
    angle = eye_angle(keypoints) if align and keypoints is not None else 0.0
    scale = in_w / region_w
    cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
    # crop = R(-angle)·scale·(frame + 0.5 - centre) + input/2 - 0.5, in pixel-index coordinates
    linear = np.array([[cos, sin], [-sin, cos]])
    offset = np.array([in_w / 2 - 0.5, in_h / 2 - 0.5]) - linear @ np.array([cx - 0.5, cy - 0.5])
    return np.hstack([linear, offset[:, None]])


def eye_angle(keypoints: np.ndarray) -> float:
    """Roll of the eye line in radians (0 = level); keypoints 0/1 are the right/left eye."""
    (rx, ry), (lx, ly) = keypoints[0], keypoints[1]
    return math.atan2(ly - ry, lx - rx)


def extract_crop(frame: np.ndarray, transform: np.ndarray, input_hw: tuple[int, int],
                 border: int = cv2.BORDER_CONSTANT) -> np.ndarray:
    """The (H, W, 3) crop a transform describes (bilinear; black outside the frame unless ``border``
    says otherwise, e.g. ``cv2.BORDER_REPLICATE``)."""
    h, w = input_hw
    return cv2.warpAffine(frame, transform, (w, h), flags=cv2.INTER_LINEAR, borderMode=border)


def rescale_transform(transform: np.ndarray, from_hw: tuple[int, int], to_hw: tuple[int, int]) -> np.ndarray:
    """The same crop expressed at another resolution (e.g. the model's output size)."""
    sy, sx = to_hw[0] / from_hw[0], to_hw[1] / from_hw[1]
    scale = np.array([[sx, 0.0], [0.0, sy]])
    out = scale @ transform
    out[:, 2] += np.array([sx, sy]) * 0.5 - 0.5  # keep pixel centres aligned
    return out


def relative_transform(current: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """(2, 3) map from the previous crop's pixels to the current crop's pixels."""
    prev_inv = cv2.invertAffineTransform(previous)
    return current[:, :2] @ prev_inv + np.hstack([np.zeros((2, 2)), current[:, 2:]])


def transform_change(relative: np.ndarray, hw: tuple[int, int]) -> tuple[float, float]:
    """How far a relative crop transform moves the crop's centre (fraction of the crop's
    longer side) and how much it rescales (|scale - 1|)."""
    scale = float(np.sqrt(abs(np.linalg.det(relative[:, :2]))))
    centre = np.array([hw[1] / 2 - 0.5, hw[0] / 2 - 0.5])
    shift = float(np.linalg.norm(relative[:, :2] @ centre + relative[:, 2] - centre)) / max(hw)
    return shift, abs(scale - 1.0)


def paste_labels(frame_labels: np.ndarray, labels: np.ndarray, transform: np.ndarray) -> None:
    """Write a crop's (h, w) label map into ``frame_labels`` in place (nearest neighbour);
    ``transform`` maps frame pixels to this label map's pixels. Where crops of two faces
    overlap, one face's background does not erase the other face's classes."""
    h, w = labels.shape
    frame_h, frame_w = frame_labels.shape
    inverse = cv2.invertAffineTransform(transform)
    corners = np.array([[-0.5, -0.5, 1], [w - 0.5, -0.5, 1], [-0.5, h - 0.5, 1], [w - 0.5, h - 0.5, 1]])
    xy = corners @ inverse.T
    x0, y0 = np.clip(np.floor(xy.min(0)).astype(int), 0, [frame_w, frame_h])
    x1, y1 = np.clip(np.ceil(xy.max(0)).astype(int) + 1, 0, [frame_w, frame_h])
    if x1 <= x0 or y1 <= y0:
        return
    roi_transform = transform.copy()
    roi_transform[:, 2] += transform[:, :2] @ np.array([x0, y0], np.float64)
    warped = cv2.warpAffine(labels, roi_transform, (int(x1 - x0), int(y1 - y0)),
                            flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=NO_FACE)
    roi = frame_labels[y0:y1, x0:x1]
    np.copyto(roi, warped, where=(warped != NO_FACE) & ((warped != BACKGROUND) | (roi == NO_FACE)))
