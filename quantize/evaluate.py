"""Score FP32 and INT8 models on the same images and compare them per class.

The INT8 rows are measured by running the exported QDQ ONNX in onnxruntime (or OpenVINO),
never the fake-quant torch graph: by default with exact QDQ arithmetic (``onnxruntime-qdq``), and
optionally with a runtime's own fused int8 kernels (``onnxruntime``, ``openvino``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from edge.backends import runner_class, segmentation_io
from edge.errors import DataError, UnknownNameError
from edge.metrics import ConfusionMatrix, compare_matrices
from edge.preprocess import argmax_labels, normalize, resize_image, resize_label
from edge.schemas import LabelSchema
from quantize.config import EVAL_BACKENDS, EXACT_QDQ
from training.data.torch_dataset import SampleSource


@dataclass(frozen=True)
class EvalSet:
    """Preprocessed images (1, 3, S, S) float32 and their labels (S, S) at the deployment size."""

    images: list[np.ndarray]
    labels: list[np.ndarray]
    schema: LabelSchema

    def __len__(self) -> int:
        return len(self.images)


def _prepared(source: SampleSource, index: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    # The training path (SegmentationDataset): bilinear image resize, nearest label resize, normalize.
    sample = source[index]
    image = normalize(resize_image(sample.image, (size, size)))[None]
    return image, resize_label(sample.label, (size, size))


def load_eval_set(source: SampleSource, size: int, limit: int | None = None, desc: str = "load val") -> EvalSet:
    count = len(source) if limit is None else min(limit, len(source))
    if count == 0:
        raise DataError("the evaluation split is empty")
    pairs = [_prepared(source, i, size) for i in tqdm(range(count), desc=desc, leave=False)]
    return EvalSet([p[0] for p in pairs], [p[1] for p in pairs], source.schema)


def calibration_batches(source: SampleSource, size: int, count: int, batch_size: int) -> list[torch.Tensor]:
    """The first ``count`` samples (no augmentation) as normalised (N, 3, S, S) batches."""
    images = load_eval_set(source, size, count, desc="load calibration").images
    return [torch.from_numpy(np.concatenate(images[i:i + batch_size])) for i in range(0, len(images), batch_size)]


@torch.no_grad()
def score_torch(model: nn.Module, data: EvalSet) -> ConfusionMatrix:
    """Confusion matrix of a torch model (eval mode, CPU) on ``data``."""
    model.eval()
    matrix = ConfusionMatrix(data.schema.num_classes)
    for image, label in tqdm(zip(data.images, data.labels), total=len(data), desc="score fp32", leave=False):
        matrix.update(label, argmax_labels(model(torch.from_numpy(image)).numpy())[0])
    return matrix


def score_onnx(path: str | Path, data: EvalSet, backend: str = EXACT_QDQ,
               threads: int | None = None) -> ConfusionMatrix:
    """Confusion matrix of an ONNX file run by ``backend``: ``onnxruntime-qdq`` (exact QDQ arithmetic)
    or an ``edge.backends`` name (``onnxruntime``, ``openvino``: their deployed int8 kernels)."""
    if backend not in EVAL_BACKENDS:
        raise UnknownNameError("eval backend", backend, EVAL_BACKENDS)
    batch, _, height, width = data.images[0].shape
    inputs, outputs = segmentation_io("input", (height, width), data.schema.num_classes, batch=batch)
    runner = runner_class(backend)
    # The float parts run f32 wherever the backend can pin it (OpenVINO picks bf16 on bf16 CPUs).
    pinned = "f32" if "f32" in runner.inference_precisions else None
    matrix = ConfusionMatrix(data.schema.num_classes)
    with runner(path, inputs, threads=threads, inference_precision=pinned, outputs=outputs) as active:
        for image, label in tqdm(zip(data.images, data.labels), total=len(data), desc=f"score {backend}",
                                 leave=False):
            matrix.update(label, argmax_labels(active.infer(image))[0])
    return matrix


@dataclass(frozen=True)
class ComparisonRow:
    """One row of the quantize table; deltas are row − reference (``edge.metrics.compare_matrices``)."""

    name: str
    miou: float  # %
    delta_miou_pts: float
    per_class_f1: tuple[float, ...]  # %, NaN for a class neither the labels nor either prediction hold
    delta_f1_pts: tuple[float, ...]
    worst_class: str
    worst_delta_f1_pts: float


def compare(schema: LabelSchema, rows: Sequence[tuple[str, ConfusionMatrix]]) -> list[ComparisonRow]:
    """mIoU and per-class F1 of each row with deltas against the first row (the FP32 reference)."""
    reference = rows[0][1]
    out = []
    for name, matrix in rows:
        scores = compare_matrices(reference, matrix)
        worst = scores.worst_class
        out.append(ComparisonRow(name, scores.candidate_miou, scores.delta_miou_pts,
                                 tuple(map(float, scores.candidate_f1)), tuple(map(float, scores.delta_f1_pts)),
                                 schema.class_names[worst] if worst is not None else "-",
                                 float(scores.delta_f1_pts[worst]) if worst is not None else math.nan))
    return out


def _cell(value: float, width: int = 7) -> str:
    return f"{'-':>{width}}" if math.isnan(value) else f"{value:{width}.2f}"


def format_comparison(schema: LabelSchema, rows: Sequence[ComparisonRow]) -> str:
    """Per-class F1 (%) per row with Δ (row − first row, points), then mIoU and the worst per-class ΔF1."""
    width = max(len("class"), *(len(n) for n in schema.class_names), len("worst ΔF1"))
    header = f"{'class':<{width}}  " + "  ".join(
        f"{r.name:>16}" if i == 0 else f"{r.name:>16} {'Δ':>7}" for i, r in enumerate(rows))
    lines = ["per-class F1 (%)", header, "-" * len(header)]
    for c, name in enumerate(schema.class_names):
        cells = [f"{_cell(r.per_class_f1[c], 16)}" if i == 0 else
                 f"{_cell(r.per_class_f1[c], 16)} {_cell(r.delta_f1_pts[c])}" for i, r in enumerate(rows)]
        lines.append(f"{name:<{width}}  " + "  ".join(cells))
    lines.append("-" * len(header))
    lines.append(f"{'mIoU':<{width}}  " + "  ".join(
        f"{_cell(r.miou, 16)}" if i == 0 else f"{_cell(r.miou, 16)} {_cell(r.delta_miou_pts)}"
        for i, r in enumerate(rows)))
    lines.append(f"{'worst ΔF1':<{width}}  " + "  ".join(
        f"{'':>16}" if i == 0 else f"{r.worst_class:>16} {_cell(r.worst_delta_f1_pts)}" for i, r in enumerate(rows)))
    return "\n".join(lines)


def format_deltas(rows: Sequence[ComparisonRow]) -> str:
    """One line per row: mIoU, ΔmIoU and the worst per-class ΔF1 against the reference."""
    width = max(len(r.name) for r in rows)
    lines = [f"{'':<{width}}  {'mIoU':>7}  {'ΔmIoU':>7}  worst ΔF1"]
    lines += [f"{r.name:<{width}}  {_cell(r.miou)}  {_cell(r.delta_miou_pts)}  {r.worst_class} "
              f"{_cell(r.worst_delta_f1_pts).strip()}" for r in rows]
    return "\n".join(lines)
