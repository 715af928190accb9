"""The one image pre/post-processing path, shared by training and every runtime.

NumPy + OpenCV only. Training feeds models through ``normalize`` too, so a deployed
bundle sees exactly the inputs the model was trained on.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.config import above
from edge.errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Normalization:
    """RGB mean/std in [0, 1] units, applied after dividing uint8 by 255."""

    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = above(0, IMAGENET_STD)  # a 0 would divide by zero


def as_rgb_uint8(image: np.ndarray, where: str = "image") -> np.ndarray:
    """Return an (H, W, 3) uint8 RGB view; grey and RGBA are converted, others rejected."""
    if not isinstance(image, np.ndarray) or image.size == 0:
        raise InputError(f"{where}: expected a non-empty numpy image, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InputError(f"{where}: expected uint8 pixels, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_RGBA2RGB)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise InputError(f"{where}: expected 1, 3 or 4 channels (H, W, C), got shape {image.shape}")


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize to (height, width); matches torch's align_corners=False sampling."""
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)


def resize_label(label: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a label map to (height, width)."""
    h, w = size
    if label.shape[:2] == (h, w):
        return label
    return cv2.resize(label, (w, h), interpolation=cv2.INTER_NEAREST)


def normalize(image: np.ndarray, norm: Normalization = Normalization()) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32, mean/std normalised.

    One fused OpenCV pass per channel, x·1/(255σ) − μ/σ, straight into the planar output: ~18×
    faster than the NumPy expression at 256², which matters on the video demo's second core.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"normalize expects an (H, W, 3) image, got shape {image.shape}")
    out = np.empty((3, *image.shape[:2]), np.float32)
    for c, plane in enumerate(cv2.split(image)):
        cv2.addWeighted(plane, 1.0 / (255.0 * norm.std[c]), plane, 0.0, -norm.mean[c] / norm.std[c],
                        dst=out[c], dtype=cv2.CV_32F)
    return out


def preprocess(image: np.ndarray, size: tuple[int, int], norm: Normalization = Normalization()) -> np.ndarray:
    """Any supported image -> a (1, 3, H, W) float32 batch at ``size``."""
    return normalize(resize_image(as_rgb_uint8(image), size), norm)[None]


def argmax_labels(logits: np.ndarray) -> np.ndarray:
    """(N, C, H, W) logits -> (N, H, W) uint8 labels."""
    if logits.ndim != 4:
        raise InputError(f"expected (N, C, H, W) logits, got shape {logits.shape}")
    return logits.argmax(axis=1).astype(np.uint8)


def labels_to_size(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an (H, W) label map back to the original image size (nearest)."""
    return resize_label(labels, size)
