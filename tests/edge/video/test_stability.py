"""Temporal smoothing (EMA, motion compensation, resets) and the flicker metric."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from edge.errors import ConfigError
from edge.video.crop import NO_FACE
from edge.video.stability import FlickerMeter, TemporalSmoother, channel_argmax

IDENTITY = np.eye(2, 3)


def noisy_sequence(frames: int = 30, seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """A fixed 3-class 'truth' with per-frame logit noise strong enough to flip labels."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((3, 32, 32), np.float32)
    truth[0, :, :12] = truth[1, :, 12:22] = truth[2, :, 22:] = 1.0
    return truth, [truth + rng.normal(0, 0.8, truth.shape).astype(np.float32) for _ in range(frames)]


def test_channel_argmax_matches_numpy_including_ties():
    rng = np.random.default_rng(0)
    logits = rng.integers(0, 4, (19, 17, 23)).astype(np.float32)  # many ties
    np.testing.assert_array_equal(channel_argmax(logits), logits.argmax(axis=0))


def test_smoothing_reduces_flicker_on_a_noisy_static_sequence():
    truth, frames = noisy_sequence()
    gray = np.full((32, 32), 100, np.uint8)
    smoother = TemporalSmoother(new_weight=0.3)
    raw = [channel_argmax(f) for f in frames]
    smooth = [channel_argmax(smoother.smooth(0, f, gray, IDENTITY)) for f in frames]

    def flicker(seq):
        return np.mean([np.mean(a != b) for a, b in itertools.pairwise(seq)])

    assert flicker(smooth) < 0.4 * flicker(raw)
    assert np.mean(smooth[-1] == channel_argmax(truth)) > np.mean(raw[-1] == channel_argmax(truth))


def test_ema_weight_and_per_pixel_reset_where_the_image_changed():
    smoother = TemporalSmoother(new_weight=0.25, pixel_reset=20)
    first, second = np.zeros((2, 4, 4), np.float32), np.ones((2, 4, 4), np.float32)
    gray = np.full((4, 4), 50, np.uint8)
    smoother.smooth(7, first, gray, IDENTITY)
    changed = gray.copy()
    changed[0, 0] = 200  # something moved into this pixel
    out = smoother.smooth(7, second, changed, IDENTITY)
    assert out[0, 0, 0] == pytest.approx(1.0)  # took the new frame as is
    assert out[0, 1, 1] == pytest.approx(0.25)  # EMA elsewhere


def test_a_jump_of_the_crop_resets_the_state():
    smoother = TemporalSmoother(new_weight=0.1, max_shift=0.25)
    gray = np.full((8, 8), 50, np.uint8)
    smoother.smooth(0, np.zeros((2, 8, 8), np.float32), gray, IDENTITY)
    jumped = IDENTITY.copy()
    jumped[0, 2] = 4.0  # the crop moved by half its size
    current = np.ones((2, 8, 8), np.float32)
    np.testing.assert_array_equal(smoother.smooth(0, current, gray, jumped), current)
    assert smoother.resets == 1


def test_motion_compensation_keeps_the_state_on_the_moving_content():
    """The crop follows a pan by 2 px: the old state must be shifted, not blended in place."""
    smoother = TemporalSmoother(new_weight=0.5, pixel_reset=1000)
    logits = np.zeros((2, 16, 16), np.float32)
    logits[1, :, 4:8] = 5.0  # class 1 in columns 4..7 of the first crop
    gray = np.full((16, 16), 50, np.uint8)
    smoother.smooth(0, logits, gray, IDENTITY)
    panned = IDENTITY.copy()
    panned[0, 2] = -2.0  # frame x -> crop x - 2: the content moved 2 px left in the new crop
    moved = np.roll(logits, -2, axis=2)
    out = smoother.smooth(0, moved, gray, panned)
    np.testing.assert_array_equal(channel_argmax(out)[:, 2:6], 1)
    assert (channel_argmax(out)[:, 7:] == 0).all()


def test_states_are_per_track_and_reset_keeps_only_live_tracks():
    smoother = TemporalSmoother(new_weight=0.5)
    gray = np.full((4, 4), 50, np.uint8)
    a, b = np.zeros((2, 4, 4), np.float32), np.ones((2, 4, 4), np.float32)
    smoother.smooth(1, a, gray, IDENTITY)
    smoother.smooth(2, b, gray, IDENTITY)
    smoother.reset(keep={2})
    np.testing.assert_array_equal(smoother.smooth(1, b, gray, IDENTITY), b)  # track 1 started over
    np.testing.assert_allclose(smoother.smooth(2, a, gray, IDENTITY), 0.5)
    with pytest.raises(ConfigError, match="new_weight"):
        TemporalSmoother(new_weight=0.0)


def test_flicker_counts_label_changes_on_static_face_pixels_only():
    meter = FlickerMeter(static_diff=6)
    gray = np.full((10, 10), 100, np.uint8)
    labels = np.full((10, 10), NO_FACE, np.uint8)
    labels[:, :6] = 1
    meter.update(gray, {"raw": labels, "smoothed": labels})
    moved_gray = gray.copy()
    moved_gray[:, :2] = 200  # columns 0-1 moved (and 2, through the 3×3 blur): not counted
    raw = labels.copy()
    raw[:, :4] = 2  # changes on 2 moving + 1 blurred + 1 static column
    raw[:, 8:] = 3  # changes outside the face: not counted
    meter.update(moved_gray, {"raw": raw, "smoothed": labels})
    result = meter.results()
    assert result["raw"].counted == 10 * 3  # columns 3, 4, 5
    assert result["raw"].changed == 10 and result["smoothed"].changed == 0
    assert result["raw"].pct == pytest.approx(100 / 3)


def test_flicker_is_undefined_without_static_face_pixels():
    meter = FlickerMeter()
    empty = np.full((4, 4), NO_FACE, np.uint8)
    meter.update(np.zeros((4, 4), np.uint8), {"raw": empty})
    meter.update(np.zeros((4, 4), np.uint8), {"raw": empty})
    assert meter.results()["raw"].pct is None
