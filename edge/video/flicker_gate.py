"""Flicker of a bundle on a clip of real faces, gated against the FP32 reference's (the deploy table's
flicker columns).

A precision can keep every per-image parity gate and still make the video less stable: its small
logit errors change from frame to frame, and near a class border the argmax follows them. So the
deploy runs each bundle through the demo's own parsing (detection, tracking, crops, smoothing:
``FrameParser``) on one clip and compares its flicker (``FlickerMeter``: static face pixels whose
label changed between consecutive frames), raw and smoothed, with the FP32 reference's on the same
frames. Detection and crops do not depend on the bundle, so the difference is the precision's alone.

The clip: no real-face video ships with the project or is in ``../shared/data``, so it is the demo
clip's frames (``edge.video.clip``): public-domain portraits (Grace Hopper; NASA's Eileen Collins)
filmed by a synthetic camera that zooms, holds still, pans and rolls smoothly, with fixed sensor noise,
generated in memory (no codec), identical in every run.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from edge.backends.base import BaseRunner
from edge.parity import ParityCheck
from edge.preprocess import Normalization
from edge.video.config import DemoCfg
from edge.video.detect import FaceDetector, open_detector
from edge.video.parse import FrameParser
from edge.video.stability import FlickerMeter

CLIP = "the demo clip's frames: public-domain portraits with a smooth synthetic camera (edge.video.clip)"
STREAMS = ("raw", "smoothed")


@dataclass(frozen=True)
class ClipFlicker:
    """Flicker in % of the static face pixel pairs, per label stream; None where no pixel qualified."""

    raw_pct: float | None
    smoothed_pct: float | None
    pixel_pairs: int
    frames: int

    def of(self, stream: str) -> float | None:
        return {"raw": self.raw_pct, "smoothed": self.smoothed_pct}[stream]


@functools.cache
def clip(frames: int = 0) -> tuple[np.ndarray, ...]:
    """The clip's RGB frames (all of them for ``frames`` 0), generated once per process."""
    from edge.video.clip import clip_frames

    out = tuple(frame for _, frame in clip_frames())
    return out[:frames] if frames else out


def clip_flicker(runner: BaseRunner, normalization: Normalization, frames: Sequence[np.ndarray],
                 cfg: DemoCfg | None = None, detector: FaceDetector | None = None) -> ClipFlicker:
    """Raw and smoothed flicker of ``runner`` (active, a bundle's model) over ``frames``, parsed as the
    demo parses them (smoothing on, whatever ``cfg`` says, so both streams exist)."""
    cfg = cfg or DemoCfg()
    if not cfg.smooth.enabled:
        cfg = replace(cfg, smooth=replace(cfg.smooth, enabled=True))
    d = cfg.detect
    detector = detector or open_detector(d.detector, d.min_score, d.nms_iou, d.threads)
    parser = FrameParser(runner, normalization, detector, cfg)
    meter = FlickerMeter(cfg.flicker_static_diff)
    for index, frame in enumerate(frames):
        parsed = parser.process(frame, index)
        meter.update(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), {"raw": parsed.raw, "smoothed": parsed.smoothed})
    results = meter.results()
    raw = results.get("raw")
    return ClipFlicker(raw.pct if raw else None, results["smoothed"].pct if raw else None,
                       raw.counted if raw else 0, len(frames))


def flicker_checks(candidate: ClipFlicker, reference: ClipFlicker, max_increase_pts: float
                   ) -> tuple[ParityCheck, ...]:
    """One gate per stream: the bundle's flicker may exceed the FP32 reference's by at most
    ``max_increase_pts`` points; not gated (reported) where the clip gave no static face pixel."""
    checks = []
    for stream in STREAMS:
        cand, ref = candidate.of(stream), reference.of(stream)
        if cand is None or ref is None:
            checks.append(ParityCheck(f"Δflicker {stream}", float("nan"), "pts", f"<= +{max_increase_pts:g}", None,
                                      "no static face pixel on the clip"))
            continue
        delta = cand - ref
        checks.append(ParityCheck(f"Δflicker {stream}", delta, "pts", f"<= +{max_increase_pts:g}",
                                  delta <= max_increase_pts,
                                  f"{ref:.2f} % (FP32 reference) → {cand:.2f} % over {candidate.frames} frames"))
    return tuple(checks)
