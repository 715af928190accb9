"""Painting cartoon faces part by part into an image and an exact label map at once.

NumPy + OpenCV only. ``Canvas`` draws every opaque part with the very same polygon
into an RGB image and a CelebAMask-HQ-id label map, back to front, so each label
pixel names the surface visible there. ``FacePainter`` holds one face's shape and
draws its parts; each part draws its own randomness, so a fixed call order keeps a
sample reproducible from its generator.

Geometry lives in "face units": origin at the face centre, 1 unit = half the face
width, v pointing down. Features are projected onto a turned unit sphere to fake yaw,
then one affine map (scale, in-plane rotation, translation) takes them to pixels.

Left/right convention, CelebAMask-HQ's: ``l_eye``/``l_brow``/``l_ear`` are the
SUBJECT's left, which is the image's right (larger x) of an upright, frontal face
(measured on real CelebAMask-HQ masks, ``tests/edge/data/test_left_right.py``). A
horizontal flip with ``schema.flip_lut()`` keeps this true: mirroring moves a part to
the other side of the image and the flip pairs swap its id to match.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.schemas import get_schema

CELEBA_ID = {name: i for i, name in enumerate(get_schema("celebamask_hq").class_names)}
LENS, FRAME = 1, 2  # values of the glasses map

_SUBPIXEL = 4  # cv2 drawing shift: coordinates carry 4 fractional bits
# (u sign, class prefix): u > 0 is the image right, where the subject's left (l_*) parts lie.
# Image-left side first, so a seed paints the same pixels as before the convention fix.
_SIDES = ((-1.0, "r"), (1.0, "l"))


def color(rgb) -> tuple[int, int, int]:
    """cv2 wants plain Python ints; clamp so shaded colours stay valid."""
    return tuple(min(255, max(0, int(v))) for v in rgb)


def mix(a, b, t: float) -> np.ndarray:
    return np.asarray(a, dtype=np.float64) * (1 - t) + np.asarray(b, dtype=np.float64) * t


def _arc(cu: float, cv: float, ru: float, rv: float, a0: float = 0.0, a1: float = 2 * np.pi,
         n: int = 36, tilt: float = 0.0) -> np.ndarray:
    """Points on an ellipse arc (angles in radians, v down), rotated by ``tilt``."""
    a = np.linspace(a0, a1, n, endpoint=abs(a1 - a0) < 2 * np.pi - 1e-9)
    pts = np.stack([ru * np.cos(a), rv * np.sin(a)], axis=1)
    c, s = np.cos(tilt), np.sin(tilt)
    return pts @ np.array([[c, s], [-s, c]]) + (cu, cv)


def _band(u: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Closed polygon between two curves sampled at the same u."""
    return np.concatenate([np.stack([u, top], 1), np.stack([u, bottom], 1)[::-1]])


class Canvas:
    """An RGB image and a CelebAMask-HQ label map that are always painted together."""

    def __init__(self, image: np.ndarray, face_to_px: np.ndarray):
        self.image, self.affine = image, face_to_px
        self.unit_px = float(np.hypot(*face_to_px[:, 0]))
        self.label = np.zeros(image.shape[:2], np.uint8)
        self.glasses = np.zeros(image.shape[:2], np.uint8)

    def _px(self, pts: np.ndarray) -> np.ndarray:
        xy = pts @ self.affine[:, :2].T + self.affine[:, 2]
        return np.round(xy * (1 << _SUBPIXEL)).astype(np.int32)

    def _draw(self, target: np.ndarray, px: list[np.ndarray], value, width: float | None,
              closed: bool) -> None:
        if width is None:
            cv2.fillPoly(target, px, value, cv2.LINE_8, _SUBPIXEL)
        else:
            thickness = max(1, round(width * self.unit_px))
            cv2.polylines(target, px, closed, value, thickness, cv2.LINE_8, _SUBPIXEL)

    def fill(self, pts: np.ndarray, rgb, cls: str, width: float | None = None, closed: bool = False) -> None:
        """An opaque surface: colour in the image, its class in the label, no glass on top."""
        px = [self._px(pts)]
        self._draw(self.image, px, color(rgb), width, closed)
        self._draw(self.label, px, CELEBA_ID[cls], width, closed)
        self._draw(self.glasses, px, 0, width, closed)

    def paint(self, pts: np.ndarray | list[np.ndarray], rgb, within: tuple[str, ...],
              width: float | None = None, closed: bool = False) -> None:
        """Surface detail (iris, teeth, strands): image only, clipped to pixels of ``within``."""
        px = [self._px(p) for p in (pts if isinstance(pts, list) else [pts])]
        every = np.concatenate(px)
        pad = 2 + (0 if width is None else int(width * self.unit_px) + 1)
        h, w = self.label.shape
        x0, y0 = np.maximum((every.min(0) >> _SUBPIXEL) - pad, 0)
        x1, y1 = np.minimum((every.max(0) >> _SUBPIXEL) + pad + 1, (w, h))
        if x1 <= x0 or y1 <= y0:
            return
        roi = self.image[y0:y1, x0:x1]
        layer = roi.copy()
        origin = np.array([x0, y0], np.int32) << _SUBPIXEL
        self._draw(layer, [p - origin for p in px], color(rgb), width, closed)
        allowed = np.zeros(256, bool)
        allowed[[CELEBA_ID[c] for c in within]] = True
        np.copyto(roi, layer, where=allowed[self.label[y0:y1, x0:x1]][..., None])

    def glaze(self, pts: np.ndarray, rgb, alpha: float) -> None:
        """A tinted lens: blends the image, keeps the label, marks the glasses map."""
        mask = np.zeros_like(self.label)
        cv2.fillPoly(mask, [self._px(pts)], 1, cv2.LINE_8, _SUBPIXEL)
        inside = mask.astype(bool)
        self.image[inside] = mix(self.image[inside], rgb, alpha).astype(np.uint8)
        self.glasses[inside] = LENS

    def frame(self, pts: np.ndarray, rgb, width: float, closed: bool) -> None:
        """An opaque glasses frame: coloured, label kept, marked as frame."""
        px = [self._px(pts)]
        self._draw(self.image, px, color(rgb), width, closed)
        self._draw(self.glasses, px, FRAME, width, closed)


@dataclass(frozen=True)
class Look:
    """One face's palette (RGB floats; shades are derived from these)."""

    skin: np.ndarray
    hair: np.ndarray
    lips: np.ndarray
    iris: np.ndarray
    cloth: np.ndarray
    metal: np.ndarray


_SKIN_TONES = np.array([[255, 224, 200], [236, 188, 160], [214, 160, 110], [176, 118, 74],
                        [132, 84, 50], [88, 56, 38]], dtype=np.float64)
_HAIR_COLORS = np.array([[22, 17, 14], [62, 40, 26], [112, 74, 42], [205, 165, 100],
                         [150, 62, 30], [175, 175, 170], [60, 60, 140]], dtype=np.float64)
_IRIS_COLORS = np.array([[92, 58, 30], [64, 110, 165], [72, 120, 72], [110, 110, 120]], dtype=np.float64)
_METALS = np.array([[212, 175, 55], [200, 200, 205], [240, 235, 225]], dtype=np.float64)


def sample_look(rng: np.random.Generator) -> Look:
    """Skin tone on a light-to-dark ramp, natural or dyed hair, lips tinted from the skin."""
    t = rng.uniform(0, len(_SKIN_TONES) - 1)
    lo = int(t)
    skin = mix(_SKIN_TONES[lo], _SKIN_TONES[min(lo + 1, len(_SKIN_TONES) - 1)], t - lo)
    skin = skin + rng.normal(0, 8, 3)
    lip_tint = rng.choice([[190, 60, 70], [150, 40, 60], [200, 100, 110], [120, 30, 90]])
    return Look(
        skin=skin,
        hair=_HAIR_COLORS[rng.integers(len(_HAIR_COLORS))] * rng.uniform(0.8, 1.2),
        lips=mix(skin, lip_tint, rng.uniform(0.45, 0.8)),
        iris=_IRIS_COLORS[rng.integers(len(_IRIS_COLORS))] * rng.uniform(0.8, 1.2),
        cloth=rng.uniform(20, 235, 3),
        metal=_METALS[rng.integers(len(_METALS))],
    )


class FacePainter:
    """Paints one face layer by layer; each method is one part, drawing its own randomness."""

    def __init__(self, canvas: Canvas, rng: np.random.Generator, look: Look):
        self.c, self.rng, self.look = canvas, rng, look
        r = rng.uniform
        self.yaw = r(-0.3, 0.3)
        self.face_w, self.face_h, self.jaw = r(0.92, 1.05), r(1.22, 1.4), r(0.1, 0.3)
        self.eye_u, self.eye_v = r(0.34, 0.42), r(-0.22, -0.1)
        self.brow_v = self.eye_v - r(0.17, 0.24)
        self.mouth_v, self.ear_v = r(0.55, 0.72), r(-0.12, 0.02)
        self.neck_w, self.shoulder_v = r(0.4, 0.55), r(1.55, 1.95)

    def _turn(self, pts: np.ndarray, depth: float | np.ndarray = 0.0) -> np.ndarray:
        """Project canonical points drawn on a unit sphere after turning it by yaw."""
        a = np.arcsin(np.clip(pts[:, 0], -0.99, 0.99)) + self.yaw
        return np.stack([np.sin(a) + depth * np.sin(self.yaw), pts[:, 1]], axis=1)

    def neck_and_cloth(self) -> None:
        skin, sv, r = self.look.skin, self.shoulder_v, self.rng.uniform
        nw = self.neck_w
        self.c.fill(np.array([[-nw, 0.6], [nw, 0.6], [nw, 6.0], [-nw, 6.0]]), skin * 0.85, "neck")
        sw, dip = r(1.9, 2.6), r(0.1, 0.6)
        cloth = np.array([[-sw, 6.0], [-sw, sv + 0.45], [-1.6, sv + 0.05], [-nw - 0.1, sv - 0.05],
                          [0.0, sv + dip], [nw + 0.1, sv - 0.05], [1.6, sv + 0.05], [sw, sv + 0.45],
                          [sw, 6.0]])
        self.c.fill(cloth, self.look.cloth, "cloth")
        if self.rng.random() < 0.4:
            stripe = self.look.cloth * r(0.4, 0.7)
            for v in np.arange(sv + r(0.1, 0.3), 4.0, r(0.2, 0.45)):
                self.c.paint(np.array([[-sw, v], [sw, v]]), stripe, ("cloth",), width=0.07)

    def necklace(self) -> None:
        t = np.linspace(-1, 1, 21)
        top, drop = self.shoulder_v - self.rng.uniform(0.1, 0.25), self.rng.uniform(0.15, 0.45)
        chain = np.stack([t * (self.neck_w + 0.06), top + drop * (1 - t ** 2)], 1)
        self.c.fill(chain, self.look.metal, "neck_l", width=self.rng.uniform(0.05, 0.09))
        radius = self.rng.uniform(0.05, 0.1)
        self.c.fill(_arc(0, top + drop + radius * 0.8, radius, radius * 1.2, n=16), self.look.metal, "neck_l")

    def back_hair(self, length: float) -> None:
        dome = _arc(0, -0.15, 1.22, 1.4, np.pi * 0.97, np.pi * 2.03, 24)
        sides = np.array([[1.25, 0.3], [1.35, length], [0.62, length], [0.62, 0.5],
                          [-0.62, 0.5], [-0.62, length], [-1.35, length], [-1.25, 0.3]])
        self.c.fill(np.concatenate([dome, sides]), self.look.hair, "hair")

    def ears(self) -> list[float]:
        """Draws both ears (before the face hides their inner half); returns their widths."""
        widths = []
        for side, prefix in _SIDES:
            width = float(np.clip(1 + 1.6 * self.yaw * -side, 0.25, 1.7))
            u = side * self.face_w * 0.97
            self.c.fill(_arc(u, self.ear_v, 0.15 * width, 0.27, n=24), self.look.skin * 0.93, f"{prefix}_ear")
            self.c.paint(_arc(u + side * 0.03, self.ear_v, 0.07 * width, 0.16, n=16), self.look.skin * 0.75,
                         (f"{prefix}_ear",))
            widths.append(width)
        return widths

    def earrings(self, ear_widths: list[float]) -> None:
        hoop = self.rng.random() < 0.4
        radius = self.rng.uniform(0.05, 0.09)
        for (side, _), width in zip(_SIDES, ear_widths):
            if width < 0.5:  # that ear is mostly behind the head
                continue
            ring_r = radius * (1.6 if hoop else 1.0)
            ring = _arc(side * self.face_w, self.ear_v + 0.27 + radius, ring_r, ring_r, n=20)
            self.c.fill(ring, self.look.metal, "ear_r", width=0.045 if hoop else None, closed=hoop)

    def face(self) -> None:
        a = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        narrow = 1 - self.jaw * np.clip(np.sin(a), 0, 1) ** 2
        oval = np.stack([self.face_w * np.cos(a) * narrow, self.face_h * np.sin(a)], 1)
        self.c.fill(oval, self.look.skin, "skin")
        if self.rng.random() < 0.5:  # blush: texture inside the skin class only
            blush = mix(self.look.skin, (230, 80, 90), self.rng.uniform(0.1, 0.25))
            for side, _ in _SIDES:
                self.c.paint(self._turn(_arc(side * 0.55, 0.3, 0.2, 0.12, n=16)), blush, ("skin",))

    def nose(self) -> None:
        r = self.rng.uniform
        top, tip, bridge, base = self.eye_v + 0.05, r(0.22, 0.34), r(0.04, 0.07), r(0.13, 0.2)
        t = np.linspace(0, 1, 8)
        left = np.stack([-(bridge + (base - bridge) * t ** 2), top + (tip - top) * t], 1)
        bottom = _arc(0, tip, base, r(0.06, 0.1), np.pi, 0, 12)
        outline = np.concatenate([left, bottom, left[::-1] * (-1, 1)])
        depth = 0.3 * (outline[:, 1] - top) / (tip - top)
        self.c.fill(self._turn(outline, depth), self.look.skin * r(0.82, 0.93), "nose")
        self.c.paint(self._turn(np.array([[0.0, top + 0.05], [0.0, tip - 0.02]]), 0.25),
                     mix(self.look.skin, (255, 255, 255), 0.3), ("nose",), width=0.04)
        for side, _ in _SIDES:
            nostril = _arc(side * base * 0.5, tip + 0.03, 0.045, 0.025, n=12)
            self.c.paint(self._turn(nostril, 0.3), self.look.skin * 0.45, ("nose",))

    def eyes(self) -> None:
        r = self.rng.uniform
        rx, ry, tilt = r(0.16, 0.22), r(0.07, 0.12), r(-0.15, 0.2)
        gaze, iris_r = r(-0.35, 0.35) * rx, ry * r(0.9, 1.3)
        white = np.array([240, 238, 232]) * r(0.85, 1.0)
        for side, prefix in _SIDES:
            cls, u = f"{prefix}_eye", side * self.eye_u
            almond = _arc(0, 0, rx, ry, n=24, tilt=side * tilt)
            almond[almond[:, 1] > 0, 1] *= 0.75  # lower lid flatter than the upper
            outline = self._turn(almond + (u, self.eye_v), 0.05)
            self.c.fill(outline, white, cls)
            iris = (u + gaze, self.eye_v + ry * 0.1)
            self.c.paint(self._turn(_arc(*iris, iris_r, iris_r, n=20), 0.05), self.look.iris, (cls,))
            pupil = _arc(*iris, iris_r * 0.45, iris_r * 0.45, n=16)
            self.c.paint(self._turn(pupil, 0.05), (15, 12, 12), (cls,))
            glint = _arc(iris[0] + iris_r * 0.3, iris[1] - iris_r * 0.3, iris_r * 0.2, iris_r * 0.2, n=8)
            self.c.paint(self._turn(glint, 0.05), (250, 250, 250), (cls,))
            self.c.paint(outline, (30, 20, 20), (cls,), width=0.035, closed=True)  # lid line

    def brows(self) -> None:
        r = self.rng.uniform
        length, arch, thick = r(0.35, 0.5), r(0.02, 0.1), r(0.06, 0.12)
        colour = self.look.hair * 0.8 if self.rng.random() < 0.8 else self.look.skin * 0.35
        t = np.linspace(0, 1, 12)
        centre = self.brow_v - arch * np.sin(np.pi * (0.3 + 0.7 * t))
        half = thick * (1 - 0.45 * t) / 2
        for side, prefix in _SIDES:
            u = side * (self.eye_u - length * 0.45 + length * t)
            self.c.fill(self._turn(_band(u, centre - half, centre + half)), colour, f"{prefix}_brow")

    def mouth(self) -> None:
        r = self.rng.uniform
        w, upper, lower, smile = r(0.24, 0.4), r(0.05, 0.11), r(0.07, 0.14), r(-0.03, 0.08)
        gap = r(0.05, 0.22) if self.rng.random() < 0.6 else 0.0
        t = np.linspace(-1, 1, 17)
        u, bend, lift = t * w, 1 - t ** 2, self.mouth_v - smile * t ** 2
        top = lift - upper * bend ** 0.6 + 0.35 * upper * np.exp(-(t / 0.2) ** 2) * bend
        inner_top, inner_bottom = lift - gap / 2 * bend, lift + gap / 2 * bend
        bottom = inner_bottom + lower * bend ** 0.7
        lips = self.look.lips
        self.c.fill(self._turn(_band(u, top, inner_top), 0.1), lips * 0.9, "u_lip")
        if gap > 0:
            self.c.fill(self._turn(_band(u, inner_top, inner_bottom), 0.1), (70, 18, 28), "mouth")
            teeth = _band(u, inner_top, inner_top + gap * r(0.25, 0.45) * bend)
            self.c.paint(self._turn(teeth, 0.1), (235, 232, 220), ("mouth",))
        self.c.fill(self._turn(_band(u, inner_bottom, bottom), 0.1), lips, "l_lip")
        if gap == 0:
            self.c.paint(self._turn(np.stack([u, lift], 1), 0.1), lips * 0.5, ("u_lip", "l_lip"), width=0.025)

    def hair(self, style: str) -> None:
        if style == "bald":
            return
        r, hair = self.rng.uniform, self.look.hair
        line_v = r(-0.95, -0.65)
        outer = _arc(0, -0.15, 1.1, 1.38, np.pi, 2 * np.pi, 24)
        hairline = np.array([[1.02, -0.02], [0.9, -0.02], [0.9, -0.4], [0.5, line_v + 0.1], [0.0, line_v],
                             [-0.5, line_v + 0.1], [-0.9, -0.4], [-0.9, -0.02], [-1.02, -0.02]])
        self.c.fill(np.concatenate([outer, hairline]), hair, "hair")
        if style == "bun":
            rad = r(0.3, 0.45)
            self.c.fill(_arc(0, -1.35 - rad * 0.6, rad, rad, n=24), hair, "hair")
        if self.rng.random() < 0.3:  # fringe: strands ending above the brows
            t = np.linspace(-0.85, 0.85, 15)
            tips = self.brow_v - r(0.1, 0.2) - 0.08 * (np.arange(15) % 2)
            self.c.fill(_band(t, np.full(15, line_v - 0.1), tips), hair, "hair")
        shade = hair * r(0.55, 0.75) if hair.mean() > 60 else hair + 45
        strands = []
        for _ in range(8):
            a0 = r(np.pi * 1.05, np.pi * 1.7)
            strands.append(_arc(0, -0.1, r(0.6, 1.25), r(0.8, 1.4), a0, a0 + r(0.3, 0.9), 10))
        self.c.paint(strands, shade, ("hair",), width=0.03)

    def hat(self) -> None:
        r = self.rng.uniform
        v = r(-0.95, -0.7)
        colour = r(20, 235, 3)
        self.c.fill(_arc(0, v, 1.15, r(0.75, 1.0), np.pi, 2 * np.pi, 24), colour, "hat")
        if self.rng.random() < 0.6:
            self.c.fill(_arc(0, v, r(1.35, 1.8), r(0.1, 0.2), n=32), colour * 0.8, "hat")
        self.c.paint(np.array([[-1.2, v - 0.15], [1.2, v - 0.15]]), colour * 0.5, ("hat",), width=0.1)

    def glasses(self) -> None:
        r = self.rng.uniform
        ru, rv, width = r(0.22, 0.29), r(0.15, 0.21), r(0.03, 0.06)
        frame, tint = self.rng.uniform(0, 120, 3), self.rng.uniform(0, 255, 3)
        alpha = r(0.1, 0.45)
        inner, outer = [], []
        for side, _ in _SIDES:
            lens = self._turn(_arc(side * self.eye_u, self.eye_v - 0.02, ru, rv, n=28), 0.08)
            self.c.glaze(lens, tint, alpha)
            self.c.frame(lens, frame, width, closed=True)
            inner.append(side * (self.eye_u - ru))
            outer.append((side * (self.eye_u + ru), side * self.face_w * 0.97))
        bridge = self._turn(np.array([[inner[0], self.eye_v - 0.06], [inner[1], self.eye_v - 0.06]]), 0.1)
        self.c.frame(bridge, frame, width, closed=False)
        for start, end in outer:
            temple = self._turn(np.array([[start, self.eye_v - 0.05], [end, self.ear_v - 0.1]]), 0.05)
            self.c.frame(temple, frame, width, closed=False)

    def occluder(self) -> None:
        """A hand, bar or blob in front of the face; labelled background, as datasets do."""
        r = self.rng.uniform
        centre = np.array([r(-1.1, 1.1), r(-0.3, 1.4)])
        angle = r(0, 2 * np.pi)
        kind = self.rng.integers(3)
        if kind == 0:
            colour = _SKIN_TONES[self.rng.integers(len(_SKIN_TONES))]
            self.c.fill(_arc(*centre, 0.3, 0.36, n=24, tilt=angle), colour, "background")
            for k in range(4):
                a = angle - np.pi / 2 + (k - 1.5) * 0.3
                tip = centre + r(0.5, 0.7) * np.array([np.cos(a), np.sin(a)])
                self.c.fill(np.stack([centre, tip]), colour, "background", width=0.13)
        elif kind == 1:
            direction = np.array([np.cos(angle), np.sin(angle)])
            self.c.fill(np.stack([centre - direction * 3, centre]), r(0, 255, 3), "background",
                        width=r(0.15, 0.3))
        else:
            a = np.linspace(0, 2 * np.pi, 9, endpoint=False)
            radii = r(0.15, 0.4, 9)
            blob = centre + np.stack([radii * np.cos(a), radii * np.sin(a)], 1)
            self.c.fill(blob, r(0, 255, 3), "background")
