"""Procedural cartoon faces with exact face-parsing labels, for tests and smoke training.

NumPy + OpenCV only (no torch). ``face_painter`` paints each face into an RGB image
and a CelebAMask-HQ label map at once; this module adds the background and camera,
and derives the requested schema from that map by the visible-surface rule
(``_VISIBLE_AS``). Synthetic labels never hold 255. Left/right is CelebAMask-HQ's:
``l_*`` is the subject's left, on the image right, as documented in ``face_painter``.
"""
from __future__ import annotations

import operator
from functools import lru_cache

import cv2
import numpy as np

from edge.data import Sample
from edge.errors import ConfigError
from edge.schemas import LabelSchema, get_schema
from training.data.face_painter import CELEBA_ID, FRAME, LENS, Canvas, FacePainter, color, mix, sample_look

# What a LaPa/Helen annotator sees where CelebAMask-HQ has a class they lack.
_VISIBLE_AS = {"l_ear": "skin", "r_ear": "skin", "hat": "background", "ear_r": "background",
               "neck_l": "background", "neck": "background", "cloth": "background"}
_SEEN_THROUGH_LENSES = [CELEBA_ID[c] for c in ("l_eye", "r_eye", "l_brow", "r_brow")]


@lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates scaled to [-1, 1], shared by backgrounds and lighting."""
    axis = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    return np.meshgrid(axis, axis)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Gradient, stripes, smooth noise or blobs, so the model cannot key on a flat colour."""
    kind = rng.integers(4)
    c1, c2 = rng.uniform(0, 255, (2, 3))
    xx, yy = _grid(size)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = float(np.cos(angle)) * xx + float(np.sin(angle)) * yy
    if kind == 0:
        t = (ramp + 1.5) / 3.0
    elif kind == 1:
        t = 0.5 + 0.5 * np.sin(float(rng.uniform(6, 30)) * ramp + float(rng.uniform(0, 2 * np.pi)))
    else:
        k = int(rng.integers(3, 9))
        t = cv2.resize(rng.random((k, k), dtype=np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    # Blend the two colours through a 256-entry table (cv2.LUT) instead of float maths per channel.
    table = mix(c1, c2, np.linspace(0, 1, 256)[:, None]).astype(np.uint8).reshape(256, 1, 3)
    level = cv2.convertScaleAbs(t, alpha=255.0)
    image = cv2.LUT(cv2.merge([level, level, level]), table)
    if kind == 3:
        for _ in range(int(rng.integers(3, 9))):
            centre = tuple(int(v) for v in rng.integers(0, size, 2))
            radius = int(rng.integers(size // 16, size // 4))
            cv2.circle(image, centre, radius, color(rng.uniform(0, 255, 3)), -1)
    return image


def _face_to_px(rng: np.random.Generator, size: int) -> np.ndarray:
    """Scale, in-plane rotation and translation of the face frame, as a 2x3 affine."""
    # Framing close to CelebAMask-HQ and LaPa crops, where the face fills most of the image.
    unit = size * rng.uniform(0.25, 0.33)
    angle = np.deg2rad(rng.uniform(-25, 25))
    cx = size * (0.5 + rng.uniform(-0.08, 0.08))
    cy = size * (0.47 + rng.uniform(-0.05, 0.07))
    c, s = unit * np.cos(angle), unit * np.sin(angle)
    return np.array([[c, -s, cx], [s, c, cy]])


def _render(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paint one face; returns (image, CelebAMask-HQ label, glasses map)."""
    canvas = Canvas(_background(rng, size), _face_to_px(rng, size))
    p = FacePainter(canvas, rng, sample_look(rng))
    style = ("short", "long", "bun", "bald")[rng.choice(4, p=[0.35, 0.35, 0.15, 0.15])]
    if style == "long":
        p.back_hair(rng.uniform(1.4, 3.0))
    p.neck_and_cloth()
    if rng.random() < 0.45:
        p.necklace()
    ear_widths = p.ears()
    p.face()
    p.nose()
    p.eyes()
    p.brows()
    p.mouth()
    p.hair(style)
    if rng.random() < 0.45:
        p.earrings(ear_widths)
    if rng.random() < 0.3:
        p.hat()
    if rng.random() < 0.4:
        p.glasses()
    if rng.random() < 0.2:
        p.occluder()
    return _camera(canvas.image, rng), canvas.label, canvas.glasses


def _camera(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Directional light, blur, sensor noise, gamma and JPEG-like artefacts."""
    xx, yy = _grid(image.shape[0])
    angle, strength, gain = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.3), rng.uniform(0.8, 1.15)
    if rng.random() < 0.6:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.4, 1.2))
    light = gain * (1 + strength * (float(np.cos(angle)) * xx + float(np.sin(angle)) * yy))
    lit = image.astype(np.float32)
    lit *= light[..., None]
    if rng.random() < 0.6:  # grey (luminance) noise: a third of the random numbers of per-channel noise
        lit += (rng.standard_normal(light.shape, dtype=np.float32) * np.float32(rng.uniform(1, 8)))[..., None]
    gamma = rng.uniform(0.7, 1.4)
    lut = np.clip(255 * (np.arange(256) / 255.0) ** gamma, 0, 255).astype(np.uint8)
    out = cv2.LUT(np.clip(lit, 0, 255).astype(np.uint8), lut)
    if rng.random() < 0.5:
        quality = int(rng.integers(30, 95))
        bgr = np.ascontiguousarray(out[..., ::-1])
        _, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        out = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return out


def _schema_lut(schema: LabelSchema) -> np.ndarray:
    """CelebAMask-HQ id -> ``schema`` id under the visible-surface rule."""
    lut = np.zeros(256, np.uint8)
    for cid, name in enumerate(CELEBA_ID):
        if name == "eye_g":  # never painted into the label map: glasses live in their own map
            continue
        target = name if name in schema.class_names else _VISIBLE_AS.get(name, name)
        if target not in schema.class_names:
            raise ConfigError(f"synthetic faces cannot label {name!r} in schema {schema.name!r} "
                              f"(classes: {', '.join(schema.class_names)})")
        lut[cid] = schema.class_names.index(target)
    return lut


class SyntheticFaces:
    """A deterministic, endless-looking dataset of cartoon faces with exact labels.

    Sample ``i`` depends only on ``(seed, i)``, never on access order.
    """

    def __init__(self, schema: str | LabelSchema, size: int = 256, length: int = 1000, seed: int = 0):
        self.schema = schema if isinstance(schema, LabelSchema) else get_schema(schema)
        if size < 32:
            raise ConfigError(f"synthetic image size must be at least 32 pixels, got {size}")
        if length < 0:
            raise ConfigError(f"synthetic dataset length must be >= 0, got {length}")
        self.size, self.length, self.seed = int(size), int(length), int(seed)
        self._lut = _schema_lut(self.schema)
        self._eye_g = self.schema.class_names.index("eye_g") if "eye_g" in self.schema.class_names else None

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Sample:
        index = operator.index(index)
        if not -self.length <= index < self.length:
            raise IndexError(f"synthetic sample {index} out of range for length {self.length}")
        index %= self.length
        image, celeba, glasses = _render(np.random.default_rng([self.seed, index]), self.size)
        label = self._relabel(celeba, glasses)
        return Sample(image=image, label=label, name=f"synthetic_{self.seed}_{index}")

    def _relabel(self, celeba: np.ndarray, glasses: np.ndarray) -> np.ndarray:
        label = self._lut[celeba]
        if self._eye_g is not None:
            # Like CelebAMask-HQ, eyes and brows seen through a lens keep their class; frames never do.
            lens = (glasses == LENS) & ~np.isin(celeba, _SEEN_THROUGH_LENSES)
            label[lens | (glasses == FRAME)] = self._eye_g
        return label
