"""The quantize table compares with edge.metrics.compare_matrices: the same numbers and sign as parity."""
from __future__ import annotations

import numpy as np
import pytest

from edge.metrics import ConfusionMatrix, compare_matrices
from edge.schemas import LabelSchema
from quantize.evaluate import compare, format_deltas

SCHEMA = LabelSchema("four", ("bg", "skin", "hair", "hat"), ((0, 0, 0),) * 4, ())


def _matrix(pred: list[int]) -> ConfusionMatrix:
    cm = ConfusionMatrix(4)
    cm.update(np.array([0, 0, 1, 1, 2, 2], np.uint8), np.array(pred, np.int64))
    return cm


def test_rows_are_row_minus_reference_as_in_parity() -> None:
    fp32, int8 = _matrix([0, 0, 1, 1, 2, 2]), _matrix([0, 0, 1, 0, 2, 3])
    reference_row, int8_row = compare(SCHEMA, [("FP32", fp32), ("INT8", int8)])
    scores = compare_matrices(fp32, int8)
    assert reference_row.delta_miou_pts == 0.0 and int8_row.delta_miou_pts == scores.delta_miou_pts < 0
    assert int8_row.delta_f1_pts == pytest.approx(tuple(scores.delta_f1_pts))
    assert (int8_row.worst_class, int8_row.worst_delta_f1_pts) == ("hat", -100.0)
    assert "INT8" in format_deltas([int8_row]) and f"{int8_row.delta_miou_pts:.2f}" in format_deltas([int8_row])
