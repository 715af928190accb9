"""Person and hair probabilities for the annotator: where the background ends, and where hair is.

* ``PersonSegmenter``: MediaPipe's selfie segmentation (``selfie_segmentation.tflite``, Apache-2.0,
  shipped in ``edge/video/models/`` with BlazeFace). Input (1, 256, 256, 3) RGB in [0, 1] (the
  whole image, stretched); output (1, 256, 256, 1), the person probability.
* Hair, from one of:

  - ``TfliteHairSegmenter``: MediaPipe's hair segmentation (``hair_segmentation.tflite``,
    Apache-2.0; in no pip package, so never shipped here: ``../shared/models`` has it beside the
    repo, or the user points at a copy). Input (1, 512, 512, 4): RGB in [0, 1] plus the previous
    frame's hair mask (zeros for a still, as here: every frame is segmented on its own); output
    (1, 512, 512, 2) logits (background, hair). It runs on a square crop around each face.
  - ``BundleHairSegmenter``: the ``hair`` class of an edgeparse deploy bundle (any schema with a
    ``hair`` class), on the same kind of crop the video demo parses.

Each returns probabilities in [0, 1] at the image's size; where a crop does not reach, 0.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from edge.errors import ConfigError
from edge.video.crop import crop_transform, extract_crop, rescale_transform
from edge.video.tflite import MODELS_DIR, load_tflite, verified_model

log = logging.getLogger(__name__)

PERSON_MODEL_PATH = MODELS_DIR / "selfie_segmentation.tflite"
PERSON_MODEL_SHA256 = "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"
PERSON_INPUT = 256
HAIR_INPUT = 512
# The hair crop around a face: its landmark box grown by this much on each side (2.6 × the longer
# side: room for long hair), shifted and shrunk to stay inside the image.
HAIR_CROP_MARGIN = 0.8
# Beside the repository (the project's data and weights folder): the default hair model.
SHARED_HAIR_MODEL = Path(__file__).resolve().parents[2].parent / "shared" / "models" / "hair_segmentation.tflite"


def warp_back(crop_map: np.ndarray, transform: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """A float map defined on a crop (``transform``: image -> crop pixels) at image size; 0 outside."""
    h, w = image_hw
    return cv2.warpAffine(crop_map.astype(np.float32), transform, (w, h),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT)


class PersonSegmenter:
    def __init__(self, threads: int = 1):
        path = verified_model(PERSON_MODEL_PATH, PERSON_MODEL_SHA256, "selfie segmentation")
        self._invoke, self.runtime = load_tflite(path, threads, ("activation_10",), "the selfie segmentation model")
        self.name = f"selfie_segmentation/{self.runtime}"

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """(H, W) float32 person probability of an (H, W, 3) uint8 RGB image."""
        x = cv2.resize(image, (PERSON_INPUT, PERSON_INPUT), interpolation=cv2.INTER_AREA)
        (prob,) = self._invoke(x[None].astype(np.float32) / 255.0)
        h, w = image.shape[:2]
        return np.clip(cv2.resize(prob[0, :, :, 0], (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


class HairSegmenter(Protocol):
    name: str

    def __call__(self, image: np.ndarray, face_box: tuple[float, float, float, float]) -> np.ndarray: ...


class TfliteHairSegmenter:
    """MediaPipe's ``hair_segmentation.tflite`` (no checksum: the user's copy, any version with the
    same input and outputs)."""

    def __init__(self, path: Path, threads: int = 1):
        if not path.is_file():
            raise ConfigError(f"hair model {path} not found: give --hair PATH.tflite, an edgeparse bundle, or "
                              f"--hair none")
        self._invoke, self.runtime = load_tflite(path, threads, ("conv2d_transpose_4",), f"hair model {path}")
        self.name = f"{path.name}/{self.runtime}"

    def __call__(self, image: np.ndarray, face_box: tuple[float, float, float, float]) -> np.ndarray:
        transform = crop_transform(np.asarray(face_box), image.shape[:2], (HAIR_INPUT, HAIR_INPUT), HAIR_CROP_MARGIN)
        crop = extract_crop(image, transform, (HAIR_INPUT, HAIR_INPUT), border=cv2.BORDER_REPLICATE)
        x = np.zeros((1, HAIR_INPUT, HAIR_INPUT, 4), np.float32)
        x[0, :, :, :3] = crop.astype(np.float32) / 255.0
        (logits,) = self._invoke(x)
        background, hair = logits[0, :, :, 0], logits[0, :, :, 1]
        prob = 1.0 / (1.0 + np.exp(np.clip(background - hair, -50.0, 50.0)))  # softmax of two
        return warp_back(prob, transform, image.shape[:2])


class BundleHairSegmenter:
    """The ``hair`` probability of an edgeparse deploy bundle, on a demo-style crop of each face."""

    def __init__(self, bundle_path: Path, threads: int = 1, margin: float = 0.35):
        from edge.backends import open_runner
        from edge.parity import load_checked_bundle

        self.bundle = load_checked_bundle(bundle_path, strict=False)
        if "hair" not in self.bundle.schema.class_names:
            raise ConfigError(f"bundle {bundle_path} (schema {self.bundle.schema.name}) has no hair class: "
                              f"give a bundle that parses hair, a hair .tflite, or --hair none")
        self.hair_id = self.bundle.schema.index("hair")
        self.margin = margin
        self._runner = open_runner(self.bundle, threads=threads)
        self._runner.activate()
        self.input_hw = tuple(self._runner.input_spec.shape[2:4])
        self.name = f"bundle {self.bundle.path.name}"

    def __call__(self, image: np.ndarray, face_box: tuple[float, float, float, float]) -> np.ndarray:
        from edge.preprocess import normalize

        transform = crop_transform(np.asarray(face_box), image.shape[:2], self.input_hw, self.margin)
        x = normalize(extract_crop(image, transform, self.input_hw), self.bundle.manifest.input.normalization)
        batch = self._runner.input_spec.shape[0]
        logits = self._runner.infer(np.repeat(x[None], batch, axis=0))[0].astype(np.float64)
        logits -= logits.max(axis=0, keepdims=True)
        prob = np.exp(logits[self.hair_id]) / np.exp(logits).sum(axis=0)
        return warp_back(prob, rescale_transform(transform, self.input_hw, prob.shape), image.shape[:2])

    def close(self) -> None:
        if self._runner.is_active:
            self._runner.deactivate()


def open_hair_segmenter(source: str | None, threads: int = 1) -> HairSegmenter | None:
    """``source``: a ``.tflite`` hair model, a bundle folder (or ``*_best`` pointer), ``none``, or None
    for the default (``../shared/models/hair_segmentation.tflite`` when it exists, else no hair with a
    warning). None means hair is not labelled: hair pixels get the ignore label."""
    if source == "none":
        return None
    if source is None:
        if not SHARED_HAIR_MODEL.is_file():
            log.warning("no hair model: %s is absent and --hair was not given, so hair gets the ignore "
                        "label; give --hair BUNDLE (an edgeparse deploy bundle) or "
                        "--hair PATH.tflite (MediaPipe's hair_segmentation.tflite)", SHARED_HAIR_MODEL)
            return None
        return TfliteHairSegmenter(SHARED_HAIR_MODEL, threads)
    path = Path(source)
    if path.suffix == ".tflite":
        return TfliteHairSegmenter(path, threads)
    if path.is_dir() or path.suffix == ".json":
        return BundleHairSegmenter(path, threads)
    raise ConfigError(f"--hair {source}: expected a .tflite hair model, an edgeparse bundle folder, or none")
