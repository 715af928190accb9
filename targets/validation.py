"""The images of a deploy run: one validation set (with FP32 reference outputs) for every bundle,
and the calibration images the INT8 lowerings share.

The reference outputs are those of onnxruntime on the FP32 ONNX, so every bundle is compared with
the same numbers, and the device can re-check parity from the bundle alone. Images go through the
training pipeline's resize and normalisation (``edge.preprocess``), at the deploy input size.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from edge.backends import TensorSpec, runner_class
from edge.bundle import ValidationSet, ValidationSource
from edge.data import open_dataset
from edge.errors import BackendUnavailable, CheckpointError, ConfigError, DataError
from edge.preprocess import as_rgb_uint8, normalize, resize_image, resize_label
from edge.schemas import LabelSchema, remap_labels
from targets.config import REPO_ROOT, DeployCfg, DeployDataCfg

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeploySources:
    """Where validation and calibration samples come from (``SampleSource``-like readers)."""

    validation: Any
    calibration: Any
    kind: str  # a ValidationSource kind: dataset | portraits | synthetic
    description: str

    def record(self, validation: ValidationSet) -> ValidationSource:
        """What the bundles' manifests say about their validation set."""
        return ValidationSource(self.kind, self.description, validation.has_ground_truth)


def open_sources(payload: dict[str, Any], cfg: DeployCfg) -> DeploySources:
    """The deploy data, first match wins:

    1. ``cfg.data`` names a dataset: the user's labelled data (a missing folder is an error);
    2. the checkpoint's recipe is synthetic: its val split (seed + 1), as the test suite's tiny models;
    3. the recipe names a real dataset folder that exists: its val split, with ground truth;
    4. that folder is absent (a fresh clone without ``../shared``): views of real portraits that
       wheels ship (``edge.data.portraits``, no ground truth), never synthetic cartoons.
    """
    data = cfg.data
    if data.format is not None:
        return _explicit_sources(data)
    if "config" not in payload:
        raise CheckpointError("the checkpoint stores no training recipe ('config'); give the deploy data "
                              "explicitly: data.format=FORMAT data.root=DIR")
    from edge.config import from_dict
    from training.config import RecipeCfg
    from training.data.factory import build_source

    recipe = from_dict(RecipeCfg, payload["config"])
    data_cfg = dataclasses.replace(recipe.data, size=cfg.input_size)
    if data_cfg.format == "synthetic":
        log.info("validation data: the checkpoint's recipe is synthetic (schema %s)", data_cfg.schema)
        return DeploySources(build_source(data_cfg, data.val_split), build_source(data_cfg, data.calib_split),
                             "synthetic", f"the checkpoint's synthetic data (schema {data_cfg.schema}, "
                             f"split {data.val_split})")
    root = _recipe_root(data_cfg.root)
    if root is None:
        from training.checkpoint import schema_of

        why = f"the checkpoint's {data_cfg.format} data {data_cfg.root} is absent here"
        return portrait_sources(schema_of(payload), cfg, why)
    # calibration reads the primary dataset only: extra_train folders may be absent where it is not
    data_cfg = dataclasses.replace(data_cfg, root=str(root), extra_train=())
    log.info("validation data: the checkpoint's %s data at %s, split %s", data_cfg.format, root, data.val_split)
    return DeploySources(build_source(data_cfg, data.val_split), build_source(data_cfg, data.calib_split),
                         "dataset", f"the checkpoint's {data_cfg.format} data at {root}, split {data.val_split}")


def _explicit_sources(data: DeployDataCfg) -> DeploySources:
    """The deploy data the user named; never a fallback, since they asked for it."""
    if not data.root:
        raise ConfigError(f"data.root is required with data.format={data.format!r}")
    root = Path(data.root)
    if not root.is_dir():
        raise DataError(f"deploy data folder data.root={data.root} does not exist; fix the path, or drop "
                        f"data.format and data.root to validate on the checkpoint's own data")
    log.info("validation data: %s at %s, split %s (deploy data)", data.format, root, data.val_split)
    return DeploySources(open_dataset(data.format, root, data.val_split, data.schema),
                         open_dataset(data.format, root, data.calib_split, data.schema),
                         "dataset", f"{data.format} data at {root}, split {data.val_split}")


def _recipe_root(root: str | None) -> Path | None:
    """The recipe's dataset folder as given (relative to the working directory), else relative to
    the repository (recipes name ``../shared/data/...`` from there); None when neither exists."""
    if not root:
        return None
    path = Path(root)
    candidates = [path] if path.is_absolute() else [path, REPO_ROOT / path]
    return next((p for p in candidates if p.is_dir()), None)


def portrait_sources(schema: LabelSchema, cfg: DeployCfg, why: str) -> DeploySources:
    """Views of the public-domain portraits at the input size: validation and calibration differ."""
    from edge.data.portraits import CALIBRATION_SEED, VALIDATION_SEED, PortraitViews, find_portraits

    try:
        portraits = find_portraits()
    except (BackendUnavailable, DataError) as exc:
        raise DataError(f"{why} and the portrait fallback is unavailable ({exc}); give labelled deploy data: "
                        f"data.format=FORMAT data.root=DIR") from exc
    size = cfg.input_size
    validation = PortraitViews(portraits, schema, size, cfg.validation_images, VALIDATION_SEED)
    calibration = PortraitViews(portraits, schema, size, cfg.calibration_images, CALIBRATION_SEED)
    log.warning("validation data: %s, so a real-face model is validated on real portraits, not synthetic "
                "cartoons: %s. Parity is measured against the FP32 labels (no ground truth).",
                why, validation.description)
    return DeploySources(validation, calibration, "portraits", f"{validation.description} ({why})")


def _limit(source: Any, count: int, what: str) -> int:
    available = len(source)
    if available == 0:
        raise DataError(f"the {what} split is empty")
    if available < count:
        log.warning("%s: only %d images available, %d requested", what, available, count)
    return min(count, available)


def _sample_at(source: Any, index: int, schema: LabelSchema, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 image and (H, W) label at ``size``x``size``, labels in ``schema``'s ids."""
    sample = source[index]
    label = sample.label
    if source.schema.name != schema.name:
        label = remap_labels(label, source.schema.name, schema.name)
    image = resize_image(as_rgb_uint8(sample.image, where=sample.name), (size, size))
    return image, resize_label(label, (size, size))


def build_validation_set(source: Any, schema: LabelSchema, onnx_path: Path, size: int, count: int,
                         threads: int | None = None) -> ValidationSet:
    """``count`` images of ``source`` with GT and the onnxruntime FP32 reference logits."""
    count = _limit(source, count, "validation")
    images, labels, logits = [], [], []
    spec = TensorSpec("input", (1, 3, size, size), "float32")
    with runner_class("onnxruntime")(onnx_path, spec, threads=threads) as reference:
        for i in tqdm(range(count), desc="FP32 reference", unit="img", leave=False):
            image, label = _sample_at(source, i, schema, size)
            images.append(image)
            labels.append(label)
            logits.append(reference.infer(normalize(image)[None]))
    return ValidationSet.from_reference(np.stack(images), np.stack(labels), np.concatenate(logits))


def calibration_images(source: Any, size: int, count: int) -> list[np.ndarray]:
    """The first ``count`` images of the calibration split as normalised (1, 3, S, S) float32 arrays."""
    count = _limit(source, count, "calibration")
    return [normalize(resize_image(as_rgb_uint8(source[i].image), (size, size)))[None]
            for i in tqdm(range(count), desc="calibration images", unit="img", leave=False)]
