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
from edge.bundle import ValidationSet
from edge.data import open_dataset
from edge.errors import CheckpointError, ConfigError, DataError
from edge.preprocess import as_rgb_uint8, normalize, resize_image, resize_label
from edge.schemas import LabelSchema, remap_labels
from targets.config import DeployCfg

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeploySources:
    """Where validation and calibration samples come from (``SampleSource``-like readers)."""

    validation: Any
    calibration: Any
    description: str


def open_sources(payload: dict[str, Any], cfg: DeployCfg) -> DeploySources:
    """``cfg.data`` when it names a dataset, else the data recipe stored in the checkpoint."""
    data = cfg.data
    if data.format is not None:
        if not data.root:
            raise ConfigError(f"data.root is required with data.format={data.format!r}")
        return DeploySources(open_dataset(data.format, Path(data.root), data.val_split),
                             open_dataset(data.format, Path(data.root), data.calib_split),
                             f"{data.format} at {data.root}")
    if "config" not in payload:
        raise CheckpointError("the checkpoint stores no training recipe ('config'); give the deploy data "
                              "explicitly: data.format=FORMAT data.root=DIR")
    from edge.config import from_dict
    from training.config import RecipeCfg
    from training.data.factory import build_source

    recipe = from_dict(RecipeCfg, payload["config"])
    data_cfg = dataclasses.replace(recipe.data, size=cfg.input_size)
    where = f"schema {data_cfg.schema}" if data_cfg.format == "synthetic" else f"at {data_cfg.root}"
    return DeploySources(build_source(data_cfg, data.val_split), build_source(data_cfg, data.calib_split),
                         f"the checkpoint's {data_cfg.format} data ({where})")


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
