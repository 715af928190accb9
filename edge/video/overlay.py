"""Drawing on RGB frames: class colours, contours, a legend and the timing HUD.

Only face pixels of a non-background class are recoloured, so a frame with no face comes
out unchanged (the HUD, when on, is the only addition).
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edge.schemas import LabelSchema
from edge.video.crop import BACKGROUND, NO_FACE

FONT = cv2.FONT_HERSHEY_SIMPLEX
CONTOUR_COLOR = (255, 255, 255)


def blend_labels(frame: np.ndarray, labels: np.ndarray, palette: np.ndarray, alpha: float,
                 contours: bool = False) -> np.ndarray:
    """A copy of ``frame`` with class colours blended in at ``alpha`` (background and
    ``NO_FACE`` pixels untouched); optional white class boundaries. Works on the bounding
    box of the face pixels with OpenCV calls (boolean-mask NumPy costs ~15× more)."""
    out = frame.copy()
    mask = ((labels != NO_FACE) & (labels != BACKGROUND)).astype(np.uint8)
    x, y, w, h = cv2.boundingRect(mask)
    if w and h:
        roi = labels[y:y + h, x:x + w]
        colored = cv2.LUT(cv2.merge([roi, roi, roi]), palette.reshape(256, 1, 3))
        blended = cv2.addWeighted(frame[y:y + h, x:x + w], 1.0 - alpha, colored, alpha, 0.0)
        cv2.copyTo(blended, mask[y:y + h, x:x + w], out[y:y + h, x:x + w])
    if contours:
        _draw_boundaries(out, labels)
    return out


def class_boundaries(labels: np.ndarray) -> np.ndarray:
    """(H, W) uint8 mask (1) of face pixels whose 3×3 neighbourhood holds another class; the
    rim of a face crop is not a boundary."""
    kernel = np.ones((3, 3), np.uint8)
    face = cv2.compare(labels, NO_FACE, cv2.CMP_NE)
    edges = cv2.compare(cv2.dilate(labels, kernel), cv2.erode(labels, kernel), cv2.CMP_NE)
    return cv2.bitwise_and(edges, cv2.erode(face, kernel)) // 255


def _draw_boundaries(out: np.ndarray, labels: np.ndarray) -> None:
    x, y, w, h = cv2.boundingRect((labels != NO_FACE).astype(np.uint8))
    if w and h:
        roi = out[y:y + h, x:x + w]
        cv2.copyTo(np.full_like(roi, CONTOUR_COLOR), class_boundaries(labels[y:y + h, x:x + w]), roi)


def text_scale(frame_height: int) -> float:
    return max(0.35, frame_height / 960)


def draw_legend(frame: np.ndarray, schema: LabelSchema, classes: Sequence[int]) -> None:
    """Swatches and names of ``classes`` in a panel at the top right (in place)."""
    if not len(classes):
        return
    scale = text_scale(frame.shape[0])
    line = int(22 * scale / 0.5)
    names = [schema.class_names[c] for c in classes]
    width = max(cv2.getTextSize(n, FONT, scale, 1)[0][0] for n in names) + line + 12
    x0 = frame.shape[1] - width - 6
    _panel(frame, (x0, 6), (frame.shape[1] - 6, 6 + line * len(names) + 6))
    for i, (cls, name) in enumerate(zip(classes, names)):
        y = 12 + i * line
        color = tuple(int(v) for v in schema.colors[cls])
        cv2.rectangle(frame, (x0 + 6, y), (x0 + line - 2, y + line - 6), color, -1)
        cv2.putText(frame, name, (x0 + line + 4, y + line - 8), FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)


def draw_hud(frame: np.ndarray, lines: Sequence[str]) -> None:
    """White text lines on a dark panel at the bottom left (in place; the legend is top right)."""
    scale = text_scale(frame.shape[0])
    line = int(22 * scale / 0.5)
    width = max(cv2.getTextSize(t, FONT, scale, 1)[0][0] for t in lines) + 12
    top = frame.shape[0] - 6 - line * len(lines) - 4
    _panel(frame, (6, top), (6 + width, frame.shape[0] - 6))
    for i, text in enumerate(lines):
        cv2.putText(frame, text, (12, top + line * (i + 1) - 4), FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)


def _panel(frame: np.ndarray, top_left: tuple[int, int], bottom_right: tuple[int, int]) -> None:
    (x0, y0), (x1, y1) = top_left, bottom_right
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(frame.shape[1], x1), min(frame.shape[0], y1)
    if x1 > x0 and y1 > y0:
        frame[y0:y1, x0:x1] = (frame[y0:y1, x0:x1] * 0.35).astype(np.uint8)


def present_classes(labels: np.ndarray, num_classes: int) -> list[int]:
    """Non-background classes that occur in a frame's face pixels, in id order."""
    counts = np.bincount(labels.ravel(), minlength=256)[:num_classes]
    return [c for c in np.flatnonzero(counts).tolist() if c != BACKGROUND]
