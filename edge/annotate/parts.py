"""Face parts as smooth contours fitted through the mesh points (LaPa's category-wise contour fitting).

Each part is a closed centripetal Catmull-Rom spline through its ordered mesh points
(``edge.annotate.mesh``): the curve passes through every landmark, bends smoothly between them and,
being centripetal, never loops or overshoots at the sharp eye and mouth corners. The lips are two
open splines each (outer and inner edge) joined at the mouth corners, so the corners stay sharp.
Brows are widened about their centre line (``brow_scale``): the mesh's brow points sit on a thin
strip, while annotators paint the whole hair of the brow.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.annotate import mesh

SAMPLES_PER_SEGMENT = 8
# Part names, in their merge order (later parts are drawn over earlier ones; see edge.annotate.compose).
PART_NAMES = ("nose", "r_brow", "l_brow", "r_eye", "l_eye", "u_lip", "l_lip", "mouth")
# Annotators' conventions differ from the mesh's: measured on celebamask_mini's train split (frontal
# faces, medians of human / mesh extent), human eyes are 0.87 as wide as the mesh's eye contour (the
# mesh's corners reach into the canthus), noses 0.85 as wide, and the inner mouth 0.87 as tall (the
# lips are thicker). Parts are scaled about their centre by (along the eye line, across it); the
# inner lip lines move towards each other by MOUTH_OPENING.
PART_SCALE = {"r_eye": (0.88, 1.0), "l_eye": (0.88, 1.0), "nose": (0.88, 1.0)}
MOUTH_OPENING = 0.8


def catmull_rom(points: np.ndarray, closed: bool, samples: int = SAMPLES_PER_SEGMENT) -> np.ndarray:
    """(N, 2) control points -> (M, 2) points on the centripetal Catmull-Rom spline through them."""
    pts = np.asarray(points, np.float64)
    if closed:
        ext = np.vstack([pts[-1:], pts, pts[:2]])
    else:  # mirror the end points so the curve reaches both ends
        ext = np.vstack([2 * pts[0] - pts[1], pts, 2 * pts[-1] - pts[-2]])
    segments = len(pts) if closed else len(pts) - 1
    t = np.linspace(0.0, 1.0, samples, endpoint=False)[:, None]
    out = []
    for i in range(segments):
        p0, p1, p2, p3 = ext[i], ext[i + 1], ext[i + 2], ext[i + 3]
        # centripetal knots: t_{k+1} = t_k + |p_{k+1} - p_k|^0.5
        d01, d12, d23 = (max(float(np.linalg.norm(b - a)) ** 0.5, 1e-6) for a, b in ((p0, p1), (p1, p2), (p2, p3)))
        t0, t1, t2, t3 = 0.0, d01, d01 + d12, d01 + d12 + d23
        u = t1 + t * (t2 - t1)
        a1 = (t1 - u) / (t1 - t0) * p0 + (u - t0) / (t1 - t0) * p1
        a2 = (t2 - u) / (t2 - t1) * p1 + (u - t1) / (t2 - t1) * p2
        a3 = (t3 - u) / (t3 - t2) * p2 + (u - t2) / (t3 - t2) * p3
        b1 = (t2 - u) / (t2 - t0) * a1 + (u - t0) / (t2 - t0) * a2
        b2 = (t3 - u) / (t3 - t1) * a2 + (u - t1) / (t3 - t1) * a3
        out.append((t2 - u) / (t2 - t1) * b1 + (u - t1) / (t2 - t1) * b2)
    if not closed:
        out.append(pts[-1:])
    return np.vstack(out)


def widen(contour: np.ndarray, scale: float) -> np.ndarray:
    """A brow-like loop (first half one edge, second half the other, reversed) pushed away from its
    centre line by ``scale`` (1 = unchanged)."""
    half = len(contour) // 2
    upper, lower = contour[:half], contour[half:][::-1]
    n = min(len(upper), len(lower))
    centre = (upper[:n] + lower[:n]) / 2
    return np.vstack([centre + (upper[:n] - centre) * scale, (centre + (lower[:n] - centre) * scale)[::-1]])


def eye_axes(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors along the eye line (subject's right to left) and down the face."""
    axis = points[mesh.LEFT_EYE_OUTER] - points[mesh.RIGHT_EYE_OUTER]
    along = axis / max(float(np.linalg.norm(axis)), 1e-9)
    return along, np.array([-along[1], along[0]])


def scale_part(contour: np.ndarray, along: np.ndarray, down: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    """``contour`` scaled about its centre by ``scale`` (along the eye line, down the face)."""
    centre = contour.mean(axis=0)
    offset = contour - centre
    return centre + np.outer(offset @ along * scale[0], along) + np.outer(offset @ down * scale[1], down)


@dataclass(frozen=True)
class PartContours:
    """Closed polygons (float (M, 2), frame pixels) of the face oval and every part."""

    oval: np.ndarray
    parts: dict[str, np.ndarray]


def fit_parts(points: np.ndarray, brow_scale: float = 1.0) -> PartContours:
    """Contours of one face from its (468, 2) mesh points."""
    def loop(indices: tuple[int, ...]) -> np.ndarray:
        return catmull_rom(points[list(indices)], closed=True)

    def curve(indices: tuple[int, ...]) -> np.ndarray:
        return catmull_rom(points[list(indices)], closed=False)

    upper_outer, lower_outer = curve(mesh.UPPER_LIP_OUTER), curve(mesh.LOWER_LIP_OUTER)
    # the two inner lines run corner to corner point for point, so their mean is the mouth's mid line
    inner_upper, inner_lower = points[list(mesh.UPPER_LIP_INNER)], points[list(mesh.LOWER_LIP_INNER)]
    middle = (inner_upper + inner_lower) / 2
    upper_inner = catmull_rom(middle + (inner_upper - middle) * MOUTH_OPENING, closed=False)
    lower_inner = catmull_rom(middle + (inner_lower - middle) * MOUTH_OPENING, closed=False)
    brows = {name: catmull_rom(widen(points[list(indices)], brow_scale), closed=True)
             for name, indices in (("r_brow", mesh.RIGHT_BROW), ("l_brow", mesh.LEFT_BROW))}
    parts = {
        "nose": loop(mesh.NOSE),
        **brows,
        "r_eye": loop(mesh.RIGHT_EYE),
        "l_eye": loop(mesh.LEFT_EYE),
        "u_lip": np.vstack([upper_outer, upper_inner[::-1]]),
        "l_lip": np.vstack([lower_outer, lower_inner[::-1]]),
        "mouth": np.vstack([upper_inner, lower_inner[::-1]]),
    }
    along, down = eye_axes(points)
    for name, scale in PART_SCALE.items():
        parts[name] = scale_part(parts[name], along, down, scale)
    return PartContours(loop(mesh.FACE_OVAL), parts)


def fill(contour: np.ndarray, hw: tuple[int, int], offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """(h, w) bool mask of a closed contour, drawn in a window whose top-left is ``offset`` (x, y)."""
    mask = np.zeros(hw, np.uint8)
    shift = 4  # sub-pixel vertices: 1/16 px
    vertices = np.round((contour - np.asarray(offset, np.float64)) * (1 << shift)).astype(np.int32)
    cv2.fillPoly(mask, [vertices], 1, lineType=cv2.LINE_8, shift=shift)
    return mask.astype(bool)
