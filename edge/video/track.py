"""Face tracks between detections: the detector runs every k frames, tracks fill the gaps.

A track keeps a smoothed box (and eye/nose keypoints for alignment) and a constant-velocity
estimate. Detections are matched to predicted tracks greedily by IoU; matched tracks move
towards the detection by ``box_weight`` (an EMA that damps detector jitter, the main source of
crop jitter and thus of mask flicker); unmatched detections start tracks; tracks unmatched for
more than ``max_misses`` detection rounds end. A track missed by the last detection is
*lost*: it is not drawn (a face that left shows no stale mask) and the caller should detect
again on the next frame rather than k frames later.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.errors import ConfigError
from edge.video.detect import FaceDetection, box_iou


@dataclass(eq=False)
class Track:
    id: int
    box: np.ndarray  # (4,) x0 y0 x1 y1, float64
    keypoints: np.ndarray | None
    score: float
    velocity: np.ndarray  # (4,) box change per frame
    detected_box: np.ndarray  # the box after the last matched detection
    detected_frame: int
    misses: int = 0


class FaceTracker:
    """Greedy IoU tracker with box smoothing and constant-velocity prediction."""

    def __init__(self, match_iou: float = 0.3, box_weight: float = 0.6, max_misses: int = 1):
        if not 0.0 < box_weight <= 1.0:
            raise ConfigError(f"box_weight must be in (0, 1] (1 = no smoothing), got {box_weight}")
        self.match_iou, self.box_weight, self.max_misses = match_iou, box_weight, max_misses
        self.tracks: list[Track] = []
        self._next_id = 0

    @property
    def visible(self) -> list[Track]:
        """Tracks confirmed by the last detection round."""
        return [t for t in self.tracks if not t.misses]

    @property
    def has_lost(self) -> bool:
        return any(t.misses for t in self.tracks)

    def reset(self) -> None:
        """Forget every face (a scene cut)."""
        self.tracks = []

    def predict(self) -> None:
        """Advance every track by one frame of its velocity."""
        for track in self.tracks:
            track.box = track.box + track.velocity
            if track.keypoints is not None:
                shift = np.array([track.velocity[0] + track.velocity[2], track.velocity[1] + track.velocity[3]]) / 2
                track.keypoints = track.keypoints + shift

    def update(self, detections: list[FaceDetection], frame_index: int) -> None:
        """Match this frame's detections to the (predicted) tracks."""
        matches, new = self._match(detections)
        matched_ids = set()
        for track, det in matches:
            self._correct(track, det, frame_index)
            matched_ids.add(track.id)
        for track in self.tracks:
            if track.id not in matched_ids:
                track.misses += 1
        self.tracks = [t for t in self.tracks if t.misses <= self.max_misses]
        for det in new:
            box = np.asarray(det.box, np.float64)
            self.tracks.append(Track(self._next_id, box, det.keypoints, det.score, np.zeros(4), box, frame_index))
            self._next_id += 1

    def _match(self, detections: list[FaceDetection]) -> tuple[list[tuple[Track, FaceDetection]],
                                                               list[FaceDetection]]:
        if not detections or not self.tracks:
            return [], list(detections)
        ious = box_iou(np.stack([t.box for t in self.tracks]), np.array([d.box for d in detections]))
        matches, used_tracks, used_dets = [], set(), set()
        for flat in np.argsort(-ious, axis=None):
            ti, di = np.unravel_index(flat, ious.shape)
            if ious[ti, di] < self.match_iou:
                break
            if ti in used_tracks or di in used_dets:
                continue
            used_tracks.add(ti)
            used_dets.add(di)
            matches.append((self.tracks[ti], detections[di]))
        return matches, [d for i, d in enumerate(detections) if i not in used_dets]

    def _correct(self, track: Track, det: FaceDetection, frame_index: int) -> None:
        w = self.box_weight
        track.box = track.box + w * (np.asarray(det.box, np.float64) - track.box)
        if det.keypoints is not None:
            track.keypoints = det.keypoints if track.keypoints is None else \
                track.keypoints + w * (det.keypoints - track.keypoints)
        frames = max(1, frame_index - track.detected_frame)
        measured = (track.box - track.detected_box) / frames
        track.velocity = measured if track.misses else 0.5 * (track.velocity + measured)
        track.detected_box, track.detected_frame = track.box.copy(), frame_index
        track.score, track.misses = det.score, 0
