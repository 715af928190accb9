"""Segmentation metrics with the exact definitions of docs/design.md#metrics (NumPy only, no torch).

Everything is accumulated over the whole evaluation set ("micro") before dividing, as both
reference codebases do: a dataset-level confusion matrix for IoU/F1/accuracy, and dataset-level
matched/total counts for the boundary F-score. Averaging per-image scores gives different numbers.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge.boundary import dilate, neighbour_boundary
from edge.errors import ConfigError, InputError
from edge.io import json_safe
from edge.schemas import IGNORE_INDEX, LabelSchema


def _nanmean(values: np.ndarray) -> float:
    """Mean over the finite entries; NaN when there are none (without numpy's warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(values)) if values.size else math.nan


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den as float64, NaN where den == 0."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _check_pair(gt: np.ndarray, pred: np.ndarray, where: str) -> None:
    for name, arr in (("gt", gt), ("pred", pred)):
        if not isinstance(arr, np.ndarray):
            raise InputError(f"{where}: {name} must be a numpy array, got {type(arr).__name__}")
        if not np.issubdtype(arr.dtype, np.integer):
            raise InputError(f"{where}: {name} must hold integer class ids, got dtype {arr.dtype}")
    if gt.shape != pred.shape:
        raise InputError(f"{where}: gt shape {gt.shape} != pred shape {pred.shape}")


def _check_range(values: np.ndarray, num_classes: int, what: str, where: str) -> None:
    if values.size and (values.min() < 0 or values.max() >= num_classes):
        bad = values[(values < 0) | (values >= num_classes)]
        raise InputError(
            f"{where}: {what} holds class id {int(bad[0])} outside [0, {num_classes - 1}] "
            f"({bad.size} pixels); check the label schema or the model's class count"
        )


class ConfusionMatrix:
    """Dataset-level K×K confusion matrix; ``M[g, p]`` counts pixels with GT g, prediction p."""

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX):
        if num_classes < 1:
            raise ConfigError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self._matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    @classmethod
    def from_counts(cls, counts: np.ndarray, ignore_index: int = IGNORE_INDEX) -> ConfusionMatrix:
        """Rebuild a matrix from stored or all-reduced K×K counts."""
        counts = np.asarray(counts)
        if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or (counts < 0).any():
            raise InputError(f"confusion counts must be a non-negative K×K array, got shape {counts.shape}")
        matrix = cls(counts.shape[0], ignore_index)
        matrix._matrix += counts.astype(np.int64)
        return matrix

    def update(self, gt: np.ndarray, pred: np.ndarray, where: str = "sample") -> None:
        """Add one image or batch; pixels whose GT is ``ignore_index`` are skipped."""
        _check_pair(gt, pred, where)
        valid = gt != self.ignore_index
        g = gt[valid].astype(np.int64)
        p = pred[valid].astype(np.int64)
        _check_range(g, self.num_classes, "gt", where)
        _check_range(p, self.num_classes, "pred", where)
        k = self.num_classes
        self._matrix += np.bincount(g * k + p, minlength=k * k).reshape(k, k)

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add another matrix's counts (e.g. from a worker) into this one; returns self."""
        if (other.num_classes, other.ignore_index) != (self.num_classes, self.ignore_index):
            raise ConfigError(
                f"cannot merge a {other.num_classes}-class matrix (ignore {other.ignore_index}) into a "
                f"{self.num_classes}-class one (ignore {self.ignore_index})"
            )
        self._matrix += other._matrix
        return self

    @property
    def matrix(self) -> np.ndarray:
        """A read-only view of the counts."""
        view = self._matrix.view()
        view.flags.writeable = False
        return view

    @property
    def true_positives(self) -> np.ndarray:
        return np.diag(self._matrix)

    @property
    def gt_counts(self) -> np.ndarray:
        """G_c: GT pixels of each class."""
        return self._matrix.sum(axis=1)

    @property
    def pred_counts(self) -> np.ndarray:
        """P_c: predicted pixels of each class."""
        return self._matrix.sum(axis=0)

    def per_class_iou(self) -> np.ndarray:
        """IoU_c = TP / (G + P − TP); NaN for classes absent from both GT and prediction."""
        tp = self.true_positives
        return _safe_ratio(tp, self.gt_counts + self.pred_counts - tp)

    def per_class_f1(self) -> np.ndarray:
        """F1_c = 2·TP / (G + P) (the Dice coefficient); NaN where G + P = 0."""
        return _safe_ratio(2 * self.true_positives, self.gt_counts + self.pred_counts)

    def miou(self, include_background: bool = True) -> float:
        """NaN-mean IoU over all classes, or over ids 1.. when background is excluded."""
        start = 0 if include_background else 1
        return _nanmean(self.per_class_iou()[start:])

    def mean_f1(self, foreground_only: bool = True) -> float:
        """NaN-mean of the per-class F1, over ids 1.. by default."""
        start = 1 if foreground_only else 0
        return _nanmean(self.per_class_f1()[start:])

    def merged_f1(self, class_ids: Sequence[int]) -> float:
        """F1 of a merged set S: confusions inside S count as correct."""
        ids = sorted({int(c) for c in class_ids})
        if not ids or len(ids) != len(class_ids) or ids[0] < 0 or ids[-1] >= self.num_classes:
            raise ConfigError(
                f"merged set {list(class_ids)} must be distinct class ids in [0, {self.num_classes - 1}]"
            )
        tp = self._matrix[np.ix_(ids, ids)].sum()
        den = self.gt_counts[ids].sum() + self.pred_counts[ids].sum()
        return float(_safe_ratio(2 * tp, den))

    def pixel_accuracy(self) -> float:
        """Σ TP / Σ G over all evaluated pixels; NaN when nothing was evaluated."""
        return float(_safe_ratio(self.true_positives.sum(), self._matrix.sum()))

    def mean_accuracy(self) -> float:
        """NaN-mean over classes of TP_c / G_c (classes without GT are skipped)."""
        return _nanmean(_safe_ratio(self.true_positives, self.gt_counts))

    def fw_iou(self) -> float:
        """Frequency-weighted IoU: Σ_c (G_c / ΣG) · IoU_c over classes present in the GT."""
        gt = self.gt_counts
        present = gt > 0
        if not present.any():
            return math.nan
        return float((gt[present] / gt.sum() * self.per_class_iou()[present]).sum())

    def summary(self, schema: LabelSchema) -> MetricSummary:
        """All the metrics at once, with class names and the schema's merged sets."""
        if schema.num_classes != self.num_classes:
            raise ConfigError(
                f"schema {schema.name!r} has {schema.num_classes} classes, "
                f"the confusion matrix {self.num_classes}"
            )
        gt = self.gt_counts
        share = _safe_ratio(gt, gt.sum())
        return MetricSummary(
            class_names=tuple(schema.class_names),
            per_class_iou=_frozen(self.per_class_iou()),
            per_class_f1=_frozen(self.per_class_f1()),
            gt_share=_frozen(share),
            miou=self.miou(include_background=True),
            miou_fg=self.miou(include_background=False),
            mean_f1_fg=self.mean_f1(foreground_only=True),
            pixel_accuracy=self.pixel_accuracy(),
            mean_accuracy=self.mean_accuracy(),
            fw_iou=self.fw_iou(),
            merged_f1={name: self.merged_f1(ids) for name, ids in schema.merged_sets.items()},
            num_pixels=int(self._matrix.sum()),
        )


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class Comparison:
    """A candidate against a reference, both scored against the same labels: scores in %, and every
    delta is candidate − reference in percentage points (negative: the candidate is worse).

    A class is ``evaluated`` when the labels or either prediction hold it. A side that neither sees
    nor predicts an evaluated class scores 100 on it (it got nothing wrong), so a class only the other
    side predicts shows as that side's loss. Classes not evaluated are NaN in every array."""

    reference_miou: float
    candidate_miou: float
    evaluated: np.ndarray  # bool per class
    reference_f1: np.ndarray
    candidate_f1: np.ndarray
    reference_iou: np.ndarray
    candidate_iou: np.ndarray

    @property
    def delta_miou_pts(self) -> float:
        return self.candidate_miou - self.reference_miou

    @property
    def delta_f1_pts(self) -> np.ndarray:
        return self.candidate_f1 - self.reference_f1

    @property
    def delta_iou_pts(self) -> np.ndarray:
        return self.candidate_iou - self.reference_iou

    @property
    def worst_class(self) -> int | None:
        """The evaluated class with the most negative ΔF1 (None when no class is evaluated)."""
        delta = self.delta_f1_pts
        return int(np.nanargmin(delta)) if self.evaluated.any() else None


def compare_matrices(reference: ConfusionMatrix, candidate: ConfusionMatrix) -> Comparison:
    """The one comparator of two predictions of the same images (``edgeparse quantize``, ``validate``,
    ``deploy`` and the mixed-precision search all use it): see ``Comparison`` for the conventions."""
    if not np.array_equal(reference.gt_counts, candidate.gt_counts):
        raise InputError("the reference and the candidate were scored against different labels "
                         f"({int(reference.gt_counts.sum())} vs {int(candidate.gt_counts.sum())} pixels)")
    evaluated = (reference.gt_counts + reference.pred_counts + candidate.pred_counts) > 0

    def scores(per_class: np.ndarray) -> np.ndarray:
        return _frozen(np.where(evaluated, np.where(np.isnan(per_class), 100.0, 100.0 * per_class), np.nan))

    return Comparison(100.0 * reference.miou(), 100.0 * candidate.miou(), _frozen(evaluated),
                      scores(reference.per_class_f1()), scores(candidate.per_class_f1()),
                      scores(reference.per_class_iou()), scores(candidate.per_class_iou()))


def _pct(value: float) -> str:
    return f"{'-':>6}" if math.isnan(value) else f"{100 * value:6.2f}"


@dataclass(frozen=True, eq=False)
class MetricSummary:
    """The metrics of one evaluation; scores are fractions in [0, 1], NaN when undefined."""

    class_names: tuple[str, ...]
    per_class_iou: np.ndarray
    per_class_f1: np.ndarray
    gt_share: np.ndarray
    miou: float
    miou_fg: float
    mean_f1_fg: float
    pixel_accuracy: float
    mean_accuracy: float
    fw_iou: float
    merged_f1: dict[str, float] = field(default_factory=dict)
    num_pixels: int = 0

    def to_dict(self) -> dict:
        """A JSON-ready dict (NaN → None), keyed by class name."""
        per_class = {
            name: {"iou": self.per_class_iou[i], "f1": self.per_class_f1[i], "gt_share": self.gt_share[i]}
            for i, name in enumerate(self.class_names)
        }
        scalars = ("miou", "miou_fg", "mean_f1_fg", "pixel_accuracy", "mean_accuracy", "fw_iou")
        out: dict = {key: getattr(self, key) for key in scalars}
        out.update(merged_f1=self.merged_f1, num_pixels=self.num_pixels, per_class=per_class)
        return json_safe(out)

    def format_table(self, schema: LabelSchema) -> str:
        """A per-class text table (values in %), then the summary metrics and merged F1s."""
        if tuple(schema.class_names) != self.class_names or set(schema.merged_sets) != set(self.merged_f1):
            raise ConfigError(
                f"schema {schema.name!r} does not match the classes or merged sets of this summary"
            )
        width = max(len("class"), *(len(n) for n in self.class_names))
        lines = [f"{'id':>3}  {'class':<{width}}  {'IoU':>6}  {'F1':>6}  {'GT %':>6}"]
        for i, name in enumerate(self.class_names):
            lines.append(
                f"{i:>3}  {name:<{width}}  {_pct(self.per_class_iou[i])}  "
                f"{_pct(self.per_class_f1[i])}  {_pct(self.gt_share[i])}"
            )
        lines += [
            "",
            f"mIoU (all classes)     {_pct(self.miou)}",
            f"mIoU (foreground)      {_pct(self.miou_fg)}",
            f"mean F1 (foreground)   {_pct(self.mean_f1_fg)}",
            f"pixel accuracy         {_pct(self.pixel_accuracy)}",
        ]
        for set_name, ids in schema.merged_sets.items():
            members = ",".join(self.class_names[i] for i in ids)
            lines.append(f"merged F1 {set_name:<12} {_pct(self.merged_f1[set_name])}  {{{members}}}")
        return "\n".join(lines)


class BoundaryF1:
    """Per-class boundary F-score (docs/design.md#metrics) with a tolerance of ``tolerance_px`` pixels.

    A class's boundary pixels are its pixels with a 4-neighbour of another (non-ignore) class,
    as in ``neighbour_boundary``. A predicted boundary pixel is correct when a GT boundary pixel
    of the same class lies within a disc of radius ``tolerance_px`` (precision), and vice versa
    (recall). Pixels whose GT is ignore are ignored in both maps. Counts are dataset-level.
    """

    def __init__(self, num_classes: int, tolerance_px: int = 2, ignore_index: int = IGNORE_INDEX):
        if num_classes < 1 or tolerance_px < 0:
            raise ConfigError(
                f"BoundaryF1 needs num_classes >= 1 and tolerance_px >= 0, got {num_classes}, {tolerance_px}"
            )
        self.num_classes = num_classes
        self.tolerance_px = tolerance_px
        self.ignore_index = ignore_index
        size = 2 * tolerance_px + 1
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        # Rows: pred matched, pred total, gt matched, gt total; one column per class.
        self._counts = np.zeros((4, num_classes), dtype=np.int64)

    def update(self, gt: np.ndarray, pred: np.ndarray, where: str = "sample") -> None:
        """Add one (H, W) image or an (N, H, W) batch."""
        _check_pair(gt, pred, where)
        if gt.ndim not in (2, 3):
            raise InputError(f"{where}: expected (H, W) or (N, H, W) label maps, got shape {gt.shape}")
        ignored = gt == self.ignore_index
        _check_range(gt[~ignored], self.num_classes, "gt", where)
        _check_range(pred[~ignored], self.num_classes, "pred", where)
        # Give pred the GT's ignore region so both maps have boundaries in the same places only.
        pred = np.where(ignored, self.ignore_index, pred)
        gt_edge = neighbour_boundary(gt, self.ignore_index, where) > 0
        pred_edge = neighbour_boundary(pred, self.ignore_index, where) > 0
        for c in np.union1d(gt[gt_edge], pred[pred_edge]):
            gt_c = (gt_edge & (gt == c)).astype(np.uint8)
            pred_c = (pred_edge & (pred == c)).astype(np.uint8)
            self._counts[:, c] += (
                np.count_nonzero(pred_c & dilate(gt_c, self._kernel)),
                np.count_nonzero(pred_c),
                np.count_nonzero(gt_c & dilate(pred_c, self._kernel)),
                np.count_nonzero(gt_c),
            )

    def merge(self, other: BoundaryF1) -> BoundaryF1:
        """Add another accumulator's counts into this one; returns self."""
        mine = (self.num_classes, self.tolerance_px, self.ignore_index)
        theirs = (other.num_classes, other.tolerance_px, other.ignore_index)
        if mine != theirs:
            raise ConfigError(f"cannot merge BoundaryF1 {theirs} into {mine} (classes, tolerance, ignore)")
        self._counts += other._counts
        return self

    @staticmethod
    def _f1(counts: np.ndarray) -> np.ndarray:
        precision = _safe_ratio(counts[0], counts[1])
        recall = _safe_ratio(counts[2], counts[3])
        f1 = _safe_ratio(2 * precision * recall, precision + recall)
        # One side without any boundary while the other has some is a score of 0, not undefined.
        one_sided = (counts[1] > 0) != (counts[3] > 0)
        return np.where(one_sided | ((precision == 0) & (recall == 0)), 0.0, f1)

    def per_class_f1(self) -> np.ndarray:
        """Boundary F per class; NaN for classes with no boundary in GT or prediction."""
        return self._f1(self._counts)

    def f1(self) -> float:
        """Boundary F from the counts summed over all classes."""
        return float(self._f1(self._counts.sum(axis=1, keepdims=True))[0])

    def mean_f1(self, foreground_only: bool = True) -> float:
        """NaN-mean of the per-class boundary F, over ids 1.. by default."""
        return _nanmean(self.per_class_f1()[1 if foreground_only else 0 :])
