"""Training augmentation: flip with left/right swap, rotation + scale, colour jitter.

NumPy + OpenCV only. The geometry is a single affine warp applied to image and label
alike, so the two cannot drift apart; the label is resampled with nearest neighbour
and pixels that come from outside the frame are marked ignore (255). Colour jitter
touches the image only. Defaults follow EHANet (flip p=0.5, jitter ±0.1) plus AGRNet's rotation/scale (±30° with p=0.6,
scale 0.75–1.25): docs/design.md#training-recipe.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.errors import ConfigError, InputError
from edge.schemas import IGNORE_INDEX, LabelSchema


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation strengths. Jitter factors are drawn from U(1 - x, 1 + x); hue is a
    fraction of the hue circle, shifted by U(-hue, hue)."""

    flip_prob: float = 0.5
    rotate_deg: float = 30.0
    rotate_prob: float = 0.6
    scale_range: tuple[float, float] = (0.75, 1.25)
    brightness: float = 0.1
    contrast: float = 0.1
    saturation: float = 0.1
    hue: float = 0.1
    # Annotation-noise simulation for the synthetic proxy (0 = off): every foreground class is
    # grown by a random 0..k pixels, in random order, so shared borders move either way by up to
    # k pixels, as between two hurried annotators. Real masks carry such noise; synthetic ones do
    # not, and it is part of what distillation is for (docs/distillation.md).
    label_noise_px: int = 0
    enabled: bool = True

    def __post_init__(self) -> None:
        for name in ("flip_prob", "rotate_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"augment.{name} must be a probability in [0, 1], "
                                  f"got {getattr(self, name)}")
        if self.rotate_deg < 0:
            raise ConfigError(f"augment.rotate_deg must be >= 0, got {self.rotate_deg}")
        for name in ("brightness", "contrast", "saturation"):  # factors U(1-x, 1+x) must stay >= 0
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"augment.{name} must be in [0, 1], got {getattr(self, name)}")
        if self.label_noise_px < 0:
            raise ConfigError(f"augment.label_noise_px must be >= 0, got {self.label_noise_px}")
        if not 0.0 <= self.hue <= 0.5:
            raise ConfigError(f"augment.hue is a fraction of the hue circle in [0, 0.5], got {self.hue}")
        low, high = self.scale_range
        if not 0 < low <= high:
            raise ConfigError(f"augment.scale_range must be (low, high) with 0 < low <= high, "
                              f"got {self.scale_range}")


@dataclass(frozen=True)
class _Draw:
    """Every random number of one call, drawn up front so each choice is independent of the others."""

    flip: bool
    angle_deg: float
    scale: float
    brightness: float
    contrast: float
    saturation: float
    hue_shift: float  # fraction of the hue circle

    @classmethod
    def sample(cls, cfg: AugmentConfig, rng: np.random.Generator) -> _Draw:
        u = rng.random(8)
        angle = (2 * u[2] - 1) * cfg.rotate_deg if u[1] < cfg.rotate_prob else 0.0
        low, high = cfg.scale_range
        return cls(
            flip=bool(u[0] < cfg.flip_prob),
            angle_deg=float(angle),
            scale=float(low + (high - low) * u[3]),
            brightness=float(1 + (2 * u[4] - 1) * cfg.brightness),
            contrast=float(1 + (2 * u[5] - 1) * cfg.contrast),
            saturation=float(1 + (2 * u[6] - 1) * cfg.saturation),
            hue_shift=float((2 * u[7] - 1) * cfg.hue),
        )


class Augmenter:
    """``(image, label, rng) -> (image, label)`` for (H, W, 3) uint8 RGB and (H, W) uint8 ids."""

    def __init__(self, cfg: AugmentConfig, schema: LabelSchema):
        self.cfg, self.schema = cfg, schema
        self._flip_lut = schema.flip_lut()

    def __call__(self, image: np.ndarray, label: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        _check_pair(image, label)
        if not self.cfg.enabled:
            return image, label
        draw = _Draw.sample(self.cfg, rng)
        if draw.flip:
            # The left eye of the mirrored face is the old right one: swap the paired ids.
            image, label = image[:, ::-1], self._flip_lut[label[:, ::-1]]
        image, label = _warp(image, label, draw.angle_deg, draw.scale)
        if self.cfg.label_noise_px:
            label = perturb_borders(label, self.cfg.label_noise_px, rng)
        return _jitter(image, draw), np.ascontiguousarray(label)


def perturb_borders(label: np.ndarray, max_px: int, rng: np.random.Generator) -> np.ndarray:
    """Grow each foreground class (id 1..254 present in ``label``) by U{0..max_px} pixels, in a random
    order, into its neighbours; background and ignore never grow, ignore pixels never change."""
    out = label.copy()
    classes = [c for c in np.unique(label) if 0 < c < IGNORE_INDEX]
    for c in rng.permutation(classes):
        radius = int(rng.integers(0, max_px + 1))
        if radius == 0:
            continue
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        grown = cv2.dilate((out == c).view(np.uint8), kernel).astype(bool)
        out[grown & (out != IGNORE_INDEX)] = c
    return out


def _describe(array: object) -> str:
    return f"{getattr(array, 'shape', None)} {getattr(array, 'dtype', type(array).__name__)}"


def _check_pair(image: np.ndarray, label: np.ndarray) -> None:
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
            and image.shape[2] == 3):
        raise InputError(f"augment: image must be an (H, W, 3) uint8 array, got {_describe(image)}")
    if not (isinstance(label, np.ndarray) and label.dtype == np.uint8 and label.shape == image.shape[:2]):
        raise InputError(f"augment: label must be an (H, W) uint8 array matching image "
                         f"{image.shape[:2]}, got {_describe(label)}")


def _warp(image: np.ndarray, label: np.ndarray, angle_deg: float,
          scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate and scale about the image centre with one matrix for both arrays."""
    if angle_deg == 0.0 and scale == 1.0:
        return image, label
    h, w = label.shape
    # Pixel centres run 0..w-1, so the true centre is (w-1)/2: this keeps a flip and a
    # warp commuting exactly instead of drifting by half a pixel.
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle_deg, scale)
    image = cv2.warpAffine(np.ascontiguousarray(image), matrix, (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    label = cv2.warpAffine(np.ascontiguousarray(label), matrix, (w, h), flags=cv2.INTER_NEAREST,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=IGNORE_INDEX)
    return image, label


def _jitter(image: np.ndarray, draw: _Draw) -> np.ndarray:
    """Brightness, contrast, saturation, then hue, in EHANet's fixed order (docs/design.md#training-recipe)."""
    if (draw.brightness, draw.contrast, draw.saturation, draw.hue_shift) == (1.0, 1.0, 1.0, 0.0):
        return np.ascontiguousarray(image)
    out = image.astype(np.float32) * np.float32(draw.brightness)
    grey = out @ np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601 luma, as torchvision
    out = (out - grey.mean()) * np.float32(draw.contrast) + grey.mean()
    grey = out @ np.array([0.299, 0.587, 0.114], np.float32)
    out = grey[..., None] + (out - grey[..., None]) * np.float32(draw.saturation)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if draw.hue_shift != 0.0:
        # The _FULL variants map the whole hue circle to 0..255, so the shift wraps modulo 256.
        hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV_FULL)
        shift = round(draw.hue_shift * 256)
        hsv[..., 0] = (hsv[..., 0].astype(np.int16) + shift) % 256
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)
    return out
