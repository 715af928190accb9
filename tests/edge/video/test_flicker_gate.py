"""The flicker gate: a bundle's raw and smoothed flicker on a clip against the FP32 reference's."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edge.backends import open_runner
from edge.video.flicker_gate import ClipFlicker, clip_flicker, flicker_checks

REFERENCE = ClipFlicker(raw_pct=3.86, smoothed_pct=2.0, pixel_pairs=1000, frames=100)


def test_an_increase_within_the_limit_passes_and_one_beyond_it_fails_per_stream():
    worse = ClipFlicker(raw_pct=4.54, smoothed_pct=2.3, pixel_pairs=1000, frames=100)  # +0.68 raw, +0.30 smoothed
    raw, smoothed = flicker_checks(worse, REFERENCE, max_increase_pts=0.5)
    assert (raw.name, raw.passed, raw.value) == ("Δflicker raw", False, pytest.approx(0.68))
    assert (smoothed.name, smoothed.passed) == ("Δflicker smoothed", True)
    assert "3.86 % (FP32 reference) → 4.54 %" in raw.detail


def test_less_flicker_than_the_reference_passes():
    steadier = ClipFlicker(raw_pct=3.0, smoothed_pct=1.0, pixel_pairs=1000, frames=100)
    assert all(check.passed for check in flicker_checks(steadier, REFERENCE, max_increase_pts=0.0))


def test_a_clip_without_static_face_pixels_reports_and_gates_nothing():
    empty = ClipFlicker(None, None, 0, 10)
    checks = flicker_checks(empty, REFERENCE, 0.5)
    assert all(c.passed is None and math.isnan(c.value) for c in checks)


def test_the_same_model_as_reference_has_zero_delta_and_flicker_on_a_noisy_clip(bundle, square_detector,
                                                                                 square_frame):
    rng = np.random.default_rng(0)
    base = square_frame([(60, 40)], 0)
    frames = [np.clip(base + rng.integers(-6, 7, base.shape), 0, 255).astype(np.uint8) for _ in range(8)]
    with open_runner(bundle, threads=1) as runner:
        first = clip_flicker(runner, bundle.manifest.input.normalization, frames, detector=square_detector)
        again = clip_flicker(runner, bundle.manifest.input.normalization, frames, detector=square_detector)
    assert first == again and first.frames == 8 and first.pixel_pairs > 0
    assert first.raw_pct is not None and first.smoothed_pct is not None
    assert all(c.passed and c.value == 0 for c in flicker_checks(again, first, 0.0))
