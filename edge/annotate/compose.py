"""One label map from a photo's face meshes, person mask and hair probabilities.

Which faces are labelled (``assess``): a face is skipped, and listed with the reason, when the
landmark model is unsure of it (face presence below ``min_confidence``), when it is in profile
(the nose tip is off-centre between the cheeks: the nearer half is less than ``min_symmetry`` of
the farther) or when it is too small to outline its parts (face width below ``min_face_px``).

Skin, coarse to fine (``skin_mask``): the coarse region is the mesh's face oval with its upper half
stretched by ``forehead`` up to the hairline (the oval stops on the forehead). GrabCut then refines
it in a window around the face with colour models seeded from the landmarks: the oval's eroded
interior without the parts is sure skin, the stretched oval probable skin, pixels outside it or
confidently hair or background sure non-skin.

The merge order (``MERGE_ORDER``), fixed; each layer is drawn over the ones before it:

1. background where the person mask says background, the ignore label (255) on the person: ears,
   neck, cloth, hats and accessories are classes no landmark outlines, so they stay unknown;
2. hair, where the hair model says hair; never inside the face oval below the brows, where it
   would be a beard, which CelebAMask-HQ labels skin;
3. skin;
4. nose, brows, eyes, upper lip, lower lip, inner mouth, each over the ones before.

A skipped face's region (its landmark box, grown by half its size) is set to the ignore label
afterwards, so an unlabelled face never reads as background.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edge.annotate import mesh
from edge.annotate.landmarks import FaceMesh
from edge.annotate.parts import PART_NAMES, PartContours, eye_axes, fill, fit_parts
from edge.errors import ConfigError
from edge.schemas import IGNORE_INDEX, LabelSchema

MERGE_ORDER = ("background", "ignore (person)", "hair", "skin", *PART_NAMES)
SKIPPED_FACE_GROWTH = 0.5  # each side, of the face box's size


@dataclass(frozen=True)
class AnnotateCfg:
    """Thresholds and sizes of the annotator; the defaults are the ones measured in the README."""

    min_confidence: float = 0.9  # face presence below this: skipped as unsure
    min_symmetry: float = 0.15  # nearer / farther half-face width below this: skipped as profile
    min_face_px: float = 48.0  # face width (cheek to cheek) below this: skipped as too small
    brow_scale: float = 1.3  # brow thickness as a multiple of the mesh's brow strip
    forehead: float = 0.25  # the coarse skin region's upper half stretched by this (of its height)
    grabcut: bool = True  # refine skin with GrabCut (False: the coarse region as it is)
    grabcut_iters: int = 4
    work_side: int = 200  # GrabCut's window is resized to this longer side
    hair_threshold: float = 0.5
    person_threshold: float = 0.5

    def __post_init__(self):
        if not 0.0 <= self.min_confidence <= 1.0 or not 0.0 <= self.min_symmetry <= 1.0:
            raise ConfigError("min_confidence and min_symmetry must be in [0, 1]")
        if self.brow_scale <= 0 or self.forehead < 0 or self.work_side < 32 or self.grabcut_iters < 1:
            raise ConfigError("brow_scale must be > 0, forehead >= 0, work_side >= 32 and grabcut_iters >= 1")


@dataclass(frozen=True)
class FaceVerdict:
    """Whether a face is labelled, and the measurements that decided it."""

    symmetry: float  # nearer / farther half-face width, 1 = frontal
    width_px: float  # cheek to cheek
    skip_reason: str | None  # None: labelled


def face_geometry(points: np.ndarray) -> tuple[float, float]:
    """(face width in pixels, symmetry) from mesh points: the widths are taken along the eye line,
    from the nose tip to each cheek."""
    along, _ = eye_axes(points)
    right = float((points[mesh.NOSE_TIP] - points[mesh.RIGHT_CHEEK]) @ along)
    left = float((points[mesh.LEFT_CHEEK] - points[mesh.NOSE_TIP]) @ along)
    symmetry = max(0.0, min(right, left)) / max(right, left, 1e-9)
    return right + left, symmetry


def assess(face: FaceMesh, cfg: AnnotateCfg) -> FaceVerdict:
    width, symmetry = face_geometry(face.points)
    reason = None
    if face.score < cfg.min_confidence:
        reason = f"unsure: face presence {face.score:.2f} < {cfg.min_confidence}"
    elif symmetry < cfg.min_symmetry:
        reason = f"profile: half-face width ratio {symmetry:.2f} < {cfg.min_symmetry}"
    elif width < cfg.min_face_px:
        reason = f"too small: face width {width:.0f} px < {cfg.min_face_px:.0f}"
    return FaceVerdict(round(symmetry, 3), round(width, 1), reason)


def brow_depth(points: np.ndarray, down: np.ndarray) -> float:
    """Where the brow line lies along ``down`` (the mean of the brows' lower edges)."""
    brow_lower = list(mesh.RIGHT_BROW[5:]) + list(mesh.LEFT_BROW[5:])
    return float((points[brow_lower] @ down).mean())


def stretch_forehead(oval: np.ndarray, down: np.ndarray, amount: float) -> np.ndarray:
    """The oval with every point above its centre moved up by ``amount`` × its height × how far
    above the centre it is (the chin and jaw stay)."""
    depth = oval @ down
    centre, height = (depth.max() + depth.min()) / 2, depth.max() - depth.min()
    above = np.clip((centre - depth) / max(height / 2, 1e-9), 0.0, None)
    return oval - np.outer(above * amount * height, down)


@dataclass(frozen=True)
class Window:
    """An axis-aligned image region x0:x1, y0:y1."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def hw(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @classmethod
    def around(cls, contour: np.ndarray, grow: float, image_hw: tuple[int, int]) -> Window:
        x0, y0 = contour.min(axis=0)
        x1, y1 = contour.max(axis=0)
        pad = grow * max(x1 - x0, y1 - y0)
        h, w = image_hw
        return cls(max(0, int(x0 - pad)), max(0, int(y0 - pad)), min(w, math.ceil(x1 + pad) + 1),
                   min(h, math.ceil(y1 + pad) + 1))


def skin_mask(image: np.ndarray, window: Window, contours: PartContours, coarse: np.ndarray,
              lower_face: np.ndarray, hair: np.ndarray | None, person: np.ndarray | None,
              cfg: AnnotateCfg) -> np.ndarray:
    """(h, w) bool skin of the window: ``coarse`` refined by GrabCut (see the module docstring)."""
    offset = (window.x0, window.y0)
    hw = window.hw
    oval = fill(contours.oval, hw, offset)
    not_skin = np.zeros(hw, bool)
    if hair is not None:
        not_skin |= (hair >= cfg.hair_threshold) & ~lower_face
    if person is not None:
        not_skin |= person < cfg.person_threshold / 2
    if not cfg.grabcut:
        return coarse & ~not_skin
    face_width = float(np.ptp(contours.oval[:, 0]))
    erode = max(1, int(0.04 * face_width))
    sure = cv2.erode(oval.astype(np.uint8), np.ones((2 * erode + 1, 2 * erode + 1), np.uint8)).astype(bool)
    parts = np.zeros(hw, bool)
    for contour in contours.parts.values():
        parts |= fill(contour, hw, offset)
    parts = cv2.dilate(parts.astype(np.uint8), np.ones((2 * erode + 1, 2 * erode + 1), np.uint8)).astype(bool)
    seeds = np.full(hw, cv2.GC_BGD, np.uint8)
    seeds[coarse] = cv2.GC_PR_FGD
    seeds[coarse & not_skin] = cv2.GC_PR_BGD
    seeds[sure & ~parts & ~not_skin] = cv2.GC_FGD
    if not (seeds == cv2.GC_FGD).any() or not np.isin(seeds, (cv2.GC_BGD, cv2.GC_PR_BGD)).any():
        return coarse & ~not_skin  # GrabCut needs samples of both sides
    scale = min(1.0, cfg.work_side / max(hw))
    small_hw = (max(1, round(hw[0] * scale)), max(1, round(hw[1] * scale)))
    small_image = cv2.resize(np.ascontiguousarray(image[window.slices]), small_hw[::-1], interpolation=cv2.INTER_AREA)
    small_seeds = cv2.resize(seeds, small_hw[::-1], interpolation=cv2.INTER_NEAREST)
    background_model, foreground_model = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut's GMM initialisation draws from OpenCV's RNG: same input, same labels
    cv2.grabCut(cv2.cvtColor(small_image, cv2.COLOR_RGB2BGR), small_seeds, None, background_model,
                foreground_model, cfg.grabcut_iters, cv2.GC_INIT_WITH_MASK)
    refined = np.isin(small_seeds, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    return (cv2.resize(refined, hw[::-1], interpolation=cv2.INTER_LINEAR) >= 0.5) & coarse


def draw_face(labels: np.ndarray, image: np.ndarray, face: FaceMesh, schema: LabelSchema,
              hair: np.ndarray | None, person: np.ndarray | None, cfg: AnnotateCfg) -> None:
    """Draw one face's hair, skin and parts into ``labels`` (in place), in the merge order."""
    contours = fit_parts(face.points, cfg.brow_scale)
    _, down = eye_axes(face.points)
    coarse_contour = stretch_forehead(contours.oval, down, cfg.forehead)
    window = Window.around(coarse_contour, 0.15, labels.shape)
    offset, hw = (window.x0, window.y0), window.hw
    ys, xs = np.mgrid[window.y0:window.y1, window.x0:window.x1]
    lower_face = fill(contours.oval, hw, offset) & (xs * down[0] + ys * down[1] > brow_depth(face.points, down))
    coarse = fill(coarse_contour, hw, offset)
    hair_w = None if hair is None else hair[window.slices]
    person_w = None if person is None else person[window.slices]
    skin = skin_mask(image, window, contours, coarse, lower_face, hair_w, person_w, cfg)
    out = labels[window.slices]
    if hair_w is not None:
        out[(hair_w >= cfg.hair_threshold) & ~lower_face] = schema.index("hair")
    out[skin] = schema.index("skin")
    for name in PART_NAMES:
        out[fill(contours.parts[name], hw, offset)] = schema.index(name)
    if hair is not None:  # long hair beyond the window: only on the person, never over another label
        beyond = hair >= cfg.hair_threshold
        beyond[window.slices] = False
        labels[beyond & (labels == IGNORE_INDEX)] = schema.index("hair")


def base_labels(image_hw: tuple[int, int], person: np.ndarray | None, cfg: AnnotateCfg) -> np.ndarray:
    """Step 1 of the merge: background where the person mask says so, ignore elsewhere (all ignore
    without a person mask)."""
    if person is None:
        return np.full(image_hw, IGNORE_INDEX, np.uint8)
    return np.where(person >= cfg.person_threshold, IGNORE_INDEX, 0).astype(np.uint8)


def blank_skipped(labels: np.ndarray, face: FaceMesh) -> None:
    """Set a skipped face's grown box to the ignore label (in place)."""
    x0, y0, x1, y1 = face.box
    pad = SKIPPED_FACE_GROWTH * max(x1 - x0, y1 - y0)
    h, w = labels.shape
    labels[max(0, int(y0 - pad)):min(h, int(y1 + pad) + 1), max(0, int(x0 - pad)):min(w, int(x1 + pad) + 1)] = \
        IGNORE_INDEX
