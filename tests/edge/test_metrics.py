"""Metric definitions of docs/design.md#metrics on hand-computed confusion matrices, and the boundary F-score."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from edge.errors import ConfigError, InputError
from edge.metrics import BoundaryF1, ConfusionMatrix, compare_matrices
from edge.schemas import get_schema


def _hand_matrix() -> ConfusionMatrix:
    """M = [[2,1,0],[0,1,1],[1,0,2]]; the last pixel is ignore and must not count."""
    gt = np.array([0, 0, 0, 1, 1, 2, 2, 2, 255], dtype=np.uint8)
    pred = np.array([0, 0, 1, 1, 2, 2, 2, 0, 1], dtype=np.int64)
    cm = ConfusionMatrix(3)
    cm.update(gt, pred)
    return cm


def test_confusion_matrix_counts_and_skips_ignore():
    cm = _hand_matrix()
    np.testing.assert_array_equal(cm.matrix, [[2, 1, 0], [0, 1, 1], [1, 0, 2]])
    assert not cm.matrix.flags.writeable


def test_iou_f1_and_means_by_hand():
    cm = _hand_matrix()
    # G = P = [3, 2, 3], TP = [2, 1, 2]
    np.testing.assert_allclose(cm.per_class_iou(), [2 / 4, 1 / 3, 2 / 4])
    np.testing.assert_allclose(cm.per_class_f1(), [4 / 6, 2 / 4, 4 / 6])
    assert cm.miou() == pytest.approx(4 / 9)
    assert cm.miou(include_background=False) == pytest.approx(5 / 12)
    assert cm.mean_f1() == pytest.approx(7 / 12)
    assert cm.mean_f1(foreground_only=False) == pytest.approx(11 / 18)


def test_accuracy_metrics_by_hand():
    cm = _hand_matrix()
    assert cm.pixel_accuracy() == pytest.approx(5 / 8)
    assert cm.mean_accuracy() == pytest.approx((2 / 3 + 1 / 2 + 2 / 3) / 3)
    assert cm.fw_iou() == pytest.approx(3 / 8 * 0.5 + 2 / 8 / 3 + 3 / 8 * 0.5)


def test_absent_class_is_nan_and_skipped_but_missed_class_counts_as_zero():
    cm = ConfusionMatrix(4)
    cm.update(np.array([0, 0, 0, 1, 1, 2, 2, 2]), np.array([0, 0, 1, 1, 2, 2, 2, 0]))
    iou = cm.per_class_iou()
    assert math.isnan(iou[3]) and math.isnan(cm.per_class_f1()[3])
    assert cm.miou() == pytest.approx(4 / 9)  # same as the 3-class case: class 3 is skipped
    cm.update(np.array([3]), np.array([0]))  # class 3 now in GT but never predicted
    assert cm.per_class_iou()[3] == 0.0
    assert cm.miou() < 4 / 9


def test_dataset_level_accumulation_differs_from_mean_of_per_image_scores():
    """Micro IoU of class 1 is 8/9; the mean of per-image IoUs is (1 + 0) / 2."""
    images = [(np.ones(8, np.uint8), np.ones(8, np.int64)), (np.array([1, 0]), np.array([0, 0]))]
    dataset = ConfusionMatrix(2)
    per_image = []
    for gt, pred in images:
        dataset.update(gt, pred)
        single = ConfusionMatrix(2)
        single.update(gt, pred)
        per_image.append(single.per_class_iou()[1])
    assert dataset.per_class_iou()[1] == pytest.approx(8 / 9)
    assert np.mean(per_image) == pytest.approx(0.5)


def test_any_shape_and_merge_equal_one_big_update():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 5, size=(2, 3, 7, 9))
    pred = rng.integers(0, 5, size=gt.shape)
    whole = ConfusionMatrix(5)
    whole.update(gt, pred)
    a, b = ConfusionMatrix(5), ConfusionMatrix(5)
    a.update(gt[0], pred[0])
    b.update(gt[1], pred[1])
    np.testing.assert_array_equal(a.merge(b).matrix, whole.matrix)
    assert whole.matrix.sum() == gt.size


@pytest.mark.parametrize(
    "gt, pred, match",
    [
        (np.array([0, 1]), np.array([0, 3]), "pred holds class id 3"),
        (np.array([0, 4]), np.array([0, 1]), "gt holds class id 4"),
        (np.array([0, 1]), np.array([0, -1]), "pred holds class id -1"),
        (np.array([0, 1]), np.array([0, 1, 2]), "shape"),
        (np.array([0, 1]), np.array([0.0, 1.0]), "integer"),
    ],
)
def test_bad_inputs_raise_naming_the_sample(gt, pred, match):
    with pytest.raises(InputError, match=match) as info:
        ConfusionMatrix(3).update(gt, pred, where="img_007.png")
    assert "img_007.png" in str(info.value)


def test_pred_at_ignored_pixels_is_not_range_checked():
    cm = ConfusionMatrix(2)
    cm.update(np.array([255, 1]), np.array([200, 1]))
    assert cm.matrix.sum() == 1


def test_merge_rejects_a_different_class_count():
    with pytest.raises(ConfigError, match="merge"):
        ConfusionMatrix(3).merge(ConfusionMatrix(4))


def _helen_matrix() -> ConfusionMatrix:
    """Helen ids: 1 skin, 4 l_eye, 5 r_eye, 6 nose. l_eye is partly predicted as r_eye."""
    pairs = {(4, 4): 6, (4, 5): 4, (5, 5): 10, (6, 6): 8, (6, 1): 2, (1, 1): 8, (1, 6): 2}
    gt = np.concatenate([np.full(n, g) for (g, _), n in pairs.items()])
    pred = np.concatenate([np.full(n, p) for (_, p), n in pairs.items()])
    cm = ConfusionMatrix(11)
    cm.update(gt, pred)
    return cm


def test_helen_overall_is_the_merged_set_f1_not_an_average():
    cm = _helen_matrix()
    overall = cm.merged_f1(get_schema("helen").merged_sets["overall"])
    # TP_S = 6 + 4 + 10 + 8 = 28, G_S = 30, P_S = 6 + 14 + 10 = 30
    assert overall == 2 * 28 / 60
    f1 = cm.per_class_f1()
    np.testing.assert_allclose(f1[[4, 5, 6]], [12 / 16, 20 / 24, 16 / 20])
    assert overall != pytest.approx(np.mean(f1[[4, 5, 6]]))
    eyes, nose = cm.merged_f1([4, 5]), f1[6]
    assert eyes == 1.0  # only l_eye/r_eye confusions: all correct for the merged set
    assert overall != pytest.approx((eyes + nose) / 2)


def test_merged_f1_is_one_when_only_intra_set_confusions():
    cm = ConfusionMatrix(11)
    cm.update(np.array([7, 7, 8, 9, 0]), np.array([9, 8, 7, 9, 0]))
    assert cm.merged_f1([7, 8, 9]) == 1.0
    assert cm.per_class_f1()[7] == 0.0


@pytest.mark.parametrize("ids", [[], [4, 4], [4, 11], [-1]])
def test_merged_f1_rejects_bad_sets(ids):
    with pytest.raises(ConfigError, match="merged set"):
        ConfusionMatrix(11).merged_f1(ids)


def test_summary_dict_and_table_for_helen():
    schema = get_schema("helen")
    summary = _helen_matrix().summary(schema)
    assert summary.merged_f1["overall"] == 2 * 28 / 60
    assert summary.miou == pytest.approx(_helen_matrix().miou())
    assert summary.gt_share[4] == pytest.approx(10 / 40)  # 40 labelled pixels in all
    data = json.loads(json.dumps(summary.to_dict()))  # NaN of absent classes must become null
    assert data["per_class"]["hair"]["iou"] is None
    assert data["per_class"]["l_eye"]["f1"] == pytest.approx(0.75)
    assert data["merged_f1"]["brows"] is None
    table = summary.format_table(schema)
    assert "l_eye" in table and "75.00" in table
    assert "overall" in table and "93.33" in table
    assert "mIoU (foreground)" in table and "pixel accuracy" in table


def test_summary_rejects_a_schema_of_another_size():
    with pytest.raises(ConfigError, match="classes"):
        _hand_matrix().summary(get_schema("helen"))
    with pytest.raises(ConfigError, match="does not match"):
        _helen_matrix().summary(get_schema("helen")).format_table(get_schema("lapa"))


def test_celebamask_table_has_no_merged_sets():
    schema = get_schema("celebamask_hq")
    cm = ConfusionMatrix(schema.num_classes)
    cm.update(np.arange(19), np.arange(19))
    assert "merged F1" not in cm.summary(schema).format_table(schema)


def _stripes(split: int, size: int = 6) -> np.ndarray:
    label = np.zeros((size, size), dtype=np.uint8)
    label[:, split:] = 1
    return label


def test_boundary_f1_hand_case_with_tolerance():
    """GT edge between columns 2|3, predicted between 3|4: a 1 px shift."""
    exact, tolerant = BoundaryF1(2, tolerance_px=0), BoundaryF1(2, tolerance_px=1)
    for metric in (exact, tolerant):
        metric.update(_stripes(3), _stripes(4))
    np.testing.assert_array_equal(exact.per_class_f1(), [0.0, 0.0])
    np.testing.assert_array_equal(tolerant.per_class_f1(), [1.0, 1.0])
    assert tolerant.f1() == 1.0


def test_boundary_f1_perfect_and_shifted_square():
    gt = np.zeros((2, 48, 48), dtype=np.uint8)
    gt[:, 12:36, 12:36] = 1
    gt[1, 20:28, 20:28] = 2
    perfect = BoundaryF1(3)
    perfect.update(gt, gt.astype(np.int64))
    assert perfect.f1() == 1.0 and perfect.mean_f1() == 1.0
    shifted = BoundaryF1(3, tolerance_px=2)
    shifted.update(gt, np.roll(gt, 4, axis=-1))
    assert 0.0 < shifted.f1() < 1.0
    near = BoundaryF1(3, tolerance_px=2)
    near.update(gt, np.roll(gt, 1, axis=-1))
    assert near.f1() == 1.0


def test_boundary_f1_missed_class_scores_zero_and_ignore_is_masked():
    gt = _stripes(3, size=8)
    gt[:, 6:] = 255
    pred = np.zeros_like(gt)
    pred[:, 3:] = 1
    pred[2:5, 6:] = 0  # garbage in the ignore region must not create boundaries
    metric = BoundaryF1(3)
    metric.update(gt, pred)
    assert metric.f1() == 1.0
    gt[0:2, 0:2] = 2  # a class the prediction misses entirely
    missed = BoundaryF1(3)
    missed.update(gt, pred)
    assert missed.per_class_f1()[2] == 0.0
    assert missed.f1() < 1.0


def test_boundary_f1_accumulates_like_a_batch_and_merges():
    rng = np.random.default_rng(3)
    gt = rng.integers(0, 3, size=(2, 16, 16)).astype(np.uint8)
    pred = rng.integers(0, 3, size=gt.shape)
    batch = BoundaryF1(3)
    batch.update(gt, pred)
    first, second = BoundaryF1(3), BoundaryF1(3)
    first.update(gt[0], pred[0])
    second.update(gt[1], pred[1])
    np.testing.assert_array_equal(first.merge(second).per_class_f1(), batch.per_class_f1())
    with pytest.raises(ConfigError, match="merge"):
        batch.merge(BoundaryF1(3, tolerance_px=1))


def test_boundary_f1_checks_inputs():
    with pytest.raises(InputError, match="pred holds class id 5"):
        BoundaryF1(3).update(_stripes(3), _stripes(3).astype(np.int64) * 5)
    with pytest.raises(ConfigError):
        BoundaryF1(3, tolerance_px=-1)


def _matrix(gt: list[int], pred: list[int], num_classes: int = 4) -> ConfusionMatrix:
    cm = ConfusionMatrix(num_classes)
    cm.update(np.array(gt, np.uint8), np.array(pred, np.int64))
    return cm


def test_the_comparator_reports_candidate_minus_reference():
    """One sign everywhere: a worse candidate has negative deltas (quantize, parity and the search share it)."""
    gt = [0, 0, 1, 1, 2, 2]
    reference = _matrix(gt, gt)  # perfect
    candidate = _matrix(gt, [0, 0, 1, 0, 2, 3])  # loses a class-1 pixel, predicts class 3 that nothing holds
    scores = compare_matrices(reference, candidate)
    assert scores.reference_miou == 100.0 and scores.delta_miou_pts < 0
    assert scores.delta_miou_pts == pytest.approx(scores.candidate_miou - 100.0)
    np.testing.assert_array_equal(scores.evaluated, [True, True, True, True])
    # class 3: the reference neither sees nor predicts it (100), the candidate's false positives score 0
    assert scores.reference_f1[3] == 100.0 and scores.candidate_f1[3] == 0.0 and scores.delta_f1_pts[3] == -100.0
    assert scores.worst_class == 3 and scores.delta_f1_pts[1] == pytest.approx(100 * 2 / 3 - 100)


def test_a_class_nobody_holds_is_not_compared_and_the_same_labels_are_required():
    scores = compare_matrices(_matrix([0, 1], [0, 1]), _matrix([0, 1], [0, 1]))
    assert scores.evaluated.tolist() == [True, True, False, False] and math.isnan(scores.delta_f1_pts[2])
    assert scores.delta_miou_pts == 0.0 and scores.worst_class in (0, 1)
    with pytest.raises(InputError, match="different labels"):
        compare_matrices(_matrix([0, 1], [0, 1]), _matrix([0, 0], [0, 1]))
