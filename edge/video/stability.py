"""Temporal stability: motion-compensated smoothing of per-face logits, and a flicker metric.

Smoothing is an exponential moving average kept per track in the crop's frame of reference.
It averages logits, i.e. log-probabilities up to a per-pixel constant, so its argmax is that of
a log-linear (geometric) pool of the per-frame class probabilities with exponential forgetting;
it needs no softmax per frame. Before each update the previous state is warped into the current
crop with the exact affine map between the two crops (they differ when the tracker moves the
box), so camera pan and zoom do not smear the masks. Motion the crops do not explain is handled
per pixel: where the crop's grey level changed by more than ``pixel_reset`` the new frame is
taken as is. A crop that jumped or rescaled beyond ``max_shift`` / ``max_scale`` resets.

Flicker: among face pixels whose grey level did not change between two consecutive frames
(absolute difference of 3×3-blurred grey <= ``static_diff``), the share whose label changed.
Nothing in the image moved there, so any label change is the model's own instability.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.errors import ConfigError, InputError
from edge.video.crop import NO_FACE, relative_transform, transform_change

OUTSIDE = -1.0e4  # grey value warped in from outside the previous crop: always "changed"


def channel_argmax(logits: np.ndarray) -> np.ndarray:
    """(C, H, W) scores -> (H, W) uint8 argmax (first maximum, as numpy); ~8× faster than
    ``np.argmax(axis=0)`` because each step is a vectorised OpenCV pass over one plane."""
    if logits.ndim != 3 or logits.shape[0] > 255:
        raise InputError(f"expected (C <= 255, H, W) scores, got shape {logits.shape}")
    best = np.array(logits[0], dtype=np.float32, copy=True)
    labels = np.zeros(best.shape, np.uint8)
    plane = np.empty_like(labels)
    for c in range(1, logits.shape[0]):
        channel = np.ascontiguousarray(logits[c], dtype=np.float32)
        greater = cv2.compare(channel, best, cv2.CMP_GT)
        plane.fill(c)
        cv2.copyTo(plane, greater, labels)
        cv2.max(best, channel, dst=best)
    return labels


@dataclass
class _TrackState:
    logits: np.ndarray  # (C, h, w) float32, smoothed
    gray: np.ndarray  # (h, w) float32 crop grey at the output size
    transform: np.ndarray  # (2, 3) frame -> output-size crop


class TemporalSmoother:
    """Per-track EMA of logits with motion compensation and a motion-aware reset."""

    def __init__(self, new_weight: float = 0.5, pixel_reset: float = 24.0, max_shift: float = 0.25,
                 max_scale: float = 0.2):
        if not 0.0 < new_weight <= 1.0:
            raise ConfigError(f"smoothing new_weight must be in (0, 1] (1 = off), got {new_weight}")
        self.new_weight, self.pixel_reset = new_weight, pixel_reset
        self.max_shift, self.max_scale = max_shift, max_scale
        self._states: dict[int, _TrackState] = {}
        self.resets = 0  # full resets after a jump/rescale (for the report)

    def reset(self, keep: set[int] | None = None) -> None:
        """Drop every state (a scene cut), or all but the tracks in ``keep``."""
        self._states = {k: v for k, v in self._states.items() if keep is not None and k in keep}

    def smooth(self, key: int, logits: np.ndarray, gray: np.ndarray, transform: np.ndarray) -> np.ndarray:
        """Smoothed (C, h, w) logits of track ``key``; ``gray`` is this crop's (h, w) grey and
        ``transform`` maps frame pixels to the (h, w) logit grid."""
        gray = gray.astype(np.float32)
        state = self._states.get(key)
        if state is None or state.logits.shape != logits.shape:
            return self._store(key, logits.astype(np.float32, copy=True), gray, transform)
        relative = relative_transform(transform, state.transform)
        if self._jumped(relative, gray.shape):
            self.resets += 1
            return self._store(key, logits.astype(np.float32, copy=True), gray, transform)
        previous, previous_gray = _warp_state(state, relative, gray.shape)
        c, h, w = logits.shape
        # one multithreaded pass for the common weight, then changed pixels take the new frame
        out = cv2.addWeighted(np.ascontiguousarray(logits, np.float32).reshape(c * h, w), self.new_weight,
                              previous.reshape(c * h, w), 1.0 - self.new_weight, 0.0).reshape(c, h, w)
        changed = cv2.compare(cv2.absdiff(gray, previous_gray), self.pixel_reset, cv2.CMP_GT)
        if cv2.countNonZero(changed):  # a masked copy per plane: a third of the CPU of numpy's broadcast one
            for new_plane, out_plane in zip(np.asarray(logits, np.float32), out):
                cv2.copyTo(new_plane, changed, out_plane)
        return self._store(key, out, gray, transform)

    def _store(self, key: int, logits: np.ndarray, gray: np.ndarray, transform: np.ndarray) -> np.ndarray:
        self._states[key] = _TrackState(logits, gray, transform)
        return logits

    def _jumped(self, relative: np.ndarray, hw: tuple[int, int]) -> bool:
        shift, rescale = transform_change(relative, hw)
        return rescale > self.max_scale or shift > self.max_shift


def _warp_state(state: _TrackState, relative: np.ndarray, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The previous logits and grey resampled onto the current crop's grid."""
    if np.allclose(relative, np.eye(2, 3), atol=1e-4):
        return state.logits, state.gray
    size = (hw[1], hw[0])
    # each plane straight into one preallocated array: half the CPU time of stacking 19 fresh planes
    logits = np.empty((state.logits.shape[0], *hw), np.float32)
    for plane, out in zip(state.logits, logits):
        cv2.warpAffine(plane, relative, size, dst=out, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    gray = cv2.warpAffine(state.gray, relative, size, flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=OUTSIDE)
    return logits, gray


@dataclass(frozen=True)
class FlickerResult:
    """``changed`` of ``counted`` static face pixel pairs changed label; ``pct`` is None when
    no pixel qualified (no face, or the camera never held still)."""

    changed: int
    counted: int

    @property
    def pct(self) -> float | None:
        return 100.0 * self.changed / self.counted if self.counted else None


class FlickerMeter:
    """Accumulates flicker over consecutive frames for one or more label streams."""

    def __init__(self, static_diff: float = 6.0):
        self.static_diff = static_diff
        self._gray: np.ndarray | None = None
        self._labels: dict[str, np.ndarray] = {}
        self._changed: dict[str, int] = {}
        self._counted = 0

    def update(self, gray: np.ndarray, streams: dict[str, np.ndarray]) -> None:
        """Add one frame: its (H, W) uint8 grey and label maps (``NO_FACE`` outside faces)."""
        blurred = cv2.blur(gray, (3, 3)).astype(np.int16)
        if self._gray is not None and self._gray.shape == blurred.shape and set(streams) == set(self._labels):
            first = next(iter(streams))
            static = np.abs(blurred - self._gray) <= self.static_diff
            region = static & (streams[first] != NO_FACE) & (self._labels[first] != NO_FACE)
            self._counted += int(np.count_nonzero(region))
            for name, labels in streams.items():
                changed = np.count_nonzero(region & (labels != self._labels[name]))
                self._changed[name] = self._changed.get(name, 0) + int(changed)
        self._gray, self._labels = blurred, dict(streams)

    def results(self) -> dict[str, FlickerResult]:
        return {name: FlickerResult(self._changed.get(name, 0), self._counted) for name in self._labels}
