"""Tracking between detections, crop transforms and paste-back."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from edge.errors import ConfigError
from edge.preprocess import resize_image, resize_label
from edge.video.crop import (
    NO_FACE,
    crop_transform,
    extract_crop,
    paste_labels,
    relative_transform,
    rescale_transform,
    transform_change,
)
from edge.video.detect import FaceDetection
from edge.video.track import FaceTracker


def det(x0: float, y0: float, x1: float, y1: float) -> FaceDetection:
    return FaceDetection((x0, y0, x1, y1), 0.9)


def test_tracker_keeps_ids_smooths_boxes_and_ends_lost_tracks():
    tracker = FaceTracker(match_iou=0.3, box_weight=0.5, max_misses=1)
    tracker.update([det(0, 0, 10, 10), det(50, 50, 60, 60)], frame_index=0)
    ids = [t.id for t in tracker.tracks]
    tracker.update([det(2, 0, 12, 10)], frame_index=5)
    first = next(t for t in tracker.tracks if t.id == ids[0])
    np.testing.assert_allclose(first.box, [1, 0, 11, 10])  # halfway to the detection
    assert [t.misses for t in tracker.tracks] == [0, 1]
    tracker.update([det(2, 0, 12, 10)], frame_index=10)
    assert [t.id for t in tracker.tracks] == [ids[0]]  # the second face was missed twice
    tracker.update([det(100, 100, 110, 110)], frame_index=15)
    assert max(t.id for t in tracker.tracks) == 2  # a new face gets a new id


def test_tracker_predicts_constant_velocity_between_detections():
    tracker = FaceTracker(box_weight=1.0)
    tracker.update([det(0, 0, 20, 20)], 0)
    tracker.update([det(10, 0, 30, 20)], 5)  # 2 px per frame; velocity = mean of 0 and 2
    for _ in range(5):
        tracker.predict()
    np.testing.assert_allclose(tracker.tracks[0].box, [15, 0, 35, 20])


def test_tracker_rejects_bad_weight():
    with pytest.raises(ConfigError, match="box_weight"):
        FaceTracker(box_weight=0.0)


def test_axis_aligned_crop_equals_resizing_the_box_region():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    # a 40×40 box with margin 0.25 -> a 60×60 region at (30, 20)
    transform = crop_transform(np.array([40, 30, 80, 70]), (120, 160), (30, 30), margin=0.25)
    crop = extract_crop(frame, transform, (30, 30))
    expected = resize_image(frame[20:80, 30:90], (30, 30))
    assert np.abs(crop.astype(int) - expected).max() <= 1


def test_crop_is_shifted_inside_the_frame_and_shrinks_when_larger():
    frame_hw = (100, 200)
    transform = crop_transform(np.array([0, 0, 40, 40]), frame_hw, (64, 64), margin=0.5)  # region 80 px
    corners = cv2.transform(np.array([[[-0.5, -0.5], [199.5, 99.5]]]), transform)[0]
    assert corners[0, 0] <= 0.5 and corners[0, 1] <= 0.5  # the frame's corner maps inside the crop
    huge = crop_transform(np.array([0, 0, 300, 300]), frame_hw, (64, 64), margin=0.25)
    assert 64 / huge[0, 0] == pytest.approx(100)  # the region shrank to the frame's height


def test_aligned_crop_levels_the_eyes():
    keypoints = np.array([[60.0, 50.0], [100.0, 70.0], [80, 70], [80, 90], [50, 60], [110, 80]])
    transform = crop_transform(np.array([50, 40, 110, 100]), (200, 200), (64, 64), 0.25, keypoints, align=True)
    eyes = cv2.transform(keypoints[None, :2], transform)[0]
    assert eyes[0, 1] == pytest.approx(eyes[1, 1], abs=1e-6)
    assert eyes[0, 0] < eyes[1, 0]
    region_side = 60 * 1.5  # box 60 px + 25 % margin per side
    assert math.dist(*eyes) == pytest.approx(math.dist(*keypoints[:2]) * 64 / region_side)  # rotation only


def test_paste_back_puts_each_label_where_its_crop_pixel_came_from():
    frame_labels = np.full((120, 160), NO_FACE, np.uint8)
    transform = crop_transform(np.array([40, 30, 80, 70]), (120, 160), (30, 30), margin=0.25)
    labels = np.arange(900, dtype=np.uint8).reshape(30, 30) % 7
    paste_labels(frame_labels, labels, transform)
    region = frame_labels[20:80, 30:90]
    np.testing.assert_array_equal(region, resize_label(labels, (60, 60)))
    assert (np.delete(frame_labels, np.s_[30:90], axis=1) == NO_FACE).all()


def test_transform_algebra():
    a = crop_transform(np.array([40, 30, 80, 70]), (120, 160), (32, 32), 0.25)
    b = crop_transform(np.array([44, 30, 84, 70]), (120, 160), (32, 32), 0.25)
    rel = relative_transform(b, a)
    point = np.array([[[55.0, 45.0]]])
    np.testing.assert_allclose(cv2.transform(cv2.transform(point, a), rel), cv2.transform(point, b), atol=1e-9)
    shift, rescale = transform_change(rel, (32, 32))
    assert shift == pytest.approx(4 / 60) and rescale == pytest.approx(0.0, abs=1e-12)
    half = rescale_transform(a, (32, 32), (16, 16))
    centre = cv2.transform(np.array([[[59.5, 49.5]]]), half)[0, 0]  # box centre (60, 50) in pixel-index units
    np.testing.assert_allclose(centre, [7.5, 7.5])  # the region's centre stays the centre at any size


def test_overlapping_crops_keep_both_faces_classes():
    frame_labels = np.full((40, 40), NO_FACE, np.uint8)
    left = crop_transform(np.array([0, 10, 20, 30]), (40, 40), (20, 20), margin=0.0)  # frame x 0..20
    right = crop_transform(np.array([12, 10, 32, 30]), (40, 40), (20, 20), margin=0.0)  # frame x 12..32
    left_face, right_face = np.zeros((20, 20), np.uint8), np.zeros((20, 20), np.uint8)
    left_face[:, 2:8] = 1
    right_face[:, 12:18] = 2
    paste_labels(frame_labels, left_face, left)
    paste_labels(frame_labels, right_face, right)
    assert (frame_labels[10:30, 2:8] == 1).all() and (frame_labels[10:30, 24:30] == 2).all()
    assert (frame_labels[10:30, 12:20] == 0).all()  # the overlap is background in both crops
    left_face[:, 2:18] = 1  # now the left face reaches into the overlap...
    paste_labels(frame_labels, left_face, left)
    paste_labels(frame_labels, np.zeros((20, 20), np.uint8), right)  # ...which the right crop calls background
    assert (frame_labels[10:30, 12:18] == 1).all()
