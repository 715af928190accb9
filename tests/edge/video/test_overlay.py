"""Overlay drawing: colours only on face classes, contours, legend, HUD."""
from __future__ import annotations

import numpy as np

from edge.schemas import get_schema
from edge.video.crop import NO_FACE
from edge.video.overlay import blend_labels, class_boundaries, draw_hud, draw_legend, present_classes

SCHEMA = get_schema("lapa")


def frame_and_labels() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    labels = np.full((60, 80), NO_FACE, np.uint8)
    labels[10:50, 20:60] = 0  # background inside the crop
    labels[20:40, 30:50] = 1  # skin
    labels[25:30, 35:40] = 4  # an eye
    return frame, labels


def test_no_face_leaves_the_frame_unchanged():
    frame, _ = frame_and_labels()
    out = blend_labels(frame, np.full((60, 80), NO_FACE, np.uint8), SCHEMA.palette(), 0.5, contours=True)
    np.testing.assert_array_equal(out, frame)
    assert out is not frame


def test_classes_are_blended_at_alpha_and_background_is_untouched():
    frame, labels = frame_and_labels()
    out = blend_labels(frame, labels, SCHEMA.palette(), 0.5)
    skin = np.asarray(SCHEMA.colors[1], np.float64)
    expected = frame[22, 32] * 0.5 + skin * 0.5
    assert np.abs(out[22, 32] - expected).max() <= 1
    np.testing.assert_array_equal(out[labels == 0], frame[labels == 0])
    np.testing.assert_array_equal(out[labels == NO_FACE], frame[labels == NO_FACE])


def test_boundaries_separate_classes_but_not_the_crop_rim():
    _, labels = frame_and_labels()
    edges = class_boundaries(labels).astype(bool)
    assert edges[20, 40] and edges[27, 35]  # skin/background and eye/skin borders
    assert not edges[10, 20] and not edges[30, 45]  # crop corner; inside the skin
    frame, _ = frame_and_labels()
    out = blend_labels(frame, labels, SCHEMA.palette(), 0.0, contours=True)
    assert (out[edges] == 255).all() and np.array_equal(out[~edges], frame[~edges])


def test_legend_top_right_lists_present_classes_and_hud_sits_bottom_left():
    _, labels = frame_and_labels()
    assert present_classes(labels, SCHEMA.num_classes) == [1, 4]
    canvas = np.zeros((240, 320, 3), np.uint8)
    draw_legend(canvas, SCHEMA, [1, 4])
    assert canvas[:60, 220:].any() and not canvas[60:].any() and not canvas[:, :200].any()
    canvas[:] = 0
    draw_hud(canvas, ["ms: model 1.0", "e2e 10 FPS"])
    assert canvas[200:, :120].any() and not canvas[:180].any()
