"""How well auto-annotations agree with human masks: per-class IoU, boundary F1 and coverage.

The annotator abstains on purpose (the ignore label on ears, neck, cloth, skipped faces...), so
the scores are taken where it labelled: a pixel it left as ignore is left out of both the IoU and
the boundary F-score, and how much of each human class it left out is reported beside them
(``coverage``). Faces it skipped are counted apart (``skipped``). Human classes it never draws
(ears, neck, glasses, ...) are still in the confusion matrix, so a skin label painted over a
human "ear" is an error of skin. Scores are dataset-level (edge.metrics), over the classes the
annotator labels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edge.metrics import BoundaryF1, ConfusionMatrix
from edge.schemas import IGNORE_INDEX, LabelSchema


def finite_mean(values: list[float]) -> float:
    """Mean of the values that are not NaN (a class absent from both sides has no score); NaN if none."""
    kept = [v for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else math.nan


@dataclass
class Agreement:
    schema: LabelSchema
    labelled_classes: tuple[str, ...]
    confusion: ConfusionMatrix = field(init=False)
    boundary: BoundaryF1 = field(init=False)
    human_pixels: np.ndarray = field(init=False)  # per class, all human-labelled pixels
    covered_pixels: np.ndarray = field(init=False)  # per class, those the annotator labelled
    images: int = 0
    images_without_labels: list[str] = field(default_factory=list)  # every face skipped or none found

    def __post_init__(self):
        k = self.schema.num_classes
        self.confusion = ConfusionMatrix(k)
        self.boundary = BoundaryF1(k)
        self.human_pixels = np.zeros(k, np.int64)
        self.covered_pixels = np.zeros(k, np.int64)

    def update(self, human: np.ndarray, auto: np.ndarray | None, name: str) -> None:
        """Add one image; ``auto`` None when the annotator wrote no label map for it."""
        self.images += 1
        k = self.schema.num_classes
        valid = human != IGNORE_INDEX
        self.human_pixels += np.bincount(human[valid].astype(np.int64), minlength=k)[:k]
        if auto is None:
            self.images_without_labels.append(name)
            return
        scored = np.where(auto == IGNORE_INDEX, IGNORE_INDEX, human).astype(np.uint8)
        covered = scored != IGNORE_INDEX
        self.covered_pixels += np.bincount(scored[covered].astype(np.int64), minlength=k)[:k]
        self.confusion.update(scored, auto, name)
        self.boundary.update(scored, auto, name)

    def rows(self) -> list[tuple[str, float, float, float]]:
        """(class, IoU %, boundary F1 %, coverage %) per labelled class."""
        iou, bf1 = self.confusion.per_class_iou(), self.boundary.per_class_f1()
        coverage = np.divide(self.covered_pixels, np.maximum(self.human_pixels, 1))
        out = []
        for name in self.labelled_classes:
            c = self.schema.index(name)
            out.append((name, 100 * float(iou[c]), 100 * float(bf1[c]), 100 * float(coverage[c])))
        return out

    def summary(self) -> dict[str, float]:
        rows = self.rows()
        total_covered = self.covered_pixels.sum() / max(int(self.human_pixels.sum()), 1)
        return {
            "mIoU": finite_mean([r[1] for r in rows]),
            "boundary F1": finite_mean([r[2] for r in rows]),
            "pixels labelled": 100 * float(total_covered),
            "images without labels": 100 * len(self.images_without_labels) / max(self.images, 1),
        }

    def table(self) -> str:
        lines = ["| class | IoU % | boundary F1 % | human pixels labelled % |", "|---|---|---|---|"]
        lines += [f"| {name} | {iou:.1f} | {bf1:.1f} | {cov:.1f} |" for name, iou, bf1, cov in self.rows()]
        s = self.summary()
        lines.append(f"| **mean** | **{s['mIoU']:.1f}** | **{s['boundary F1']:.1f}** | "
                     f"{s['pixels labelled']:.1f} (all classes) |")
        return "\n".join(lines)
