"""Tiny video fixtures: clips of bright squares ("faces") written with cv2, and a detector
that finds those squares, so pipeline tests run in milliseconds with the tiny ONNX bundle of
tests/edge/conftest.py (``make_bundle``)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.video.detect import FaceDetection

CLIP_SIZE = (160, 120)  # width, height
FACE_SIDE = 36


def make_square_frame(corners: list[tuple[int, int]], index: int, size: tuple[int, int] = CLIP_SIZE) -> np.ndarray:
    """A dark textured RGB frame with a bright textured square at each (x, y) corner."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    frame = np.stack([(xx * 3 + index) % 40, (yy * 2) % 40, (xx + yy) % 40], axis=-1).astype(np.uint8) + 20
    for x, y in corners:
        patch = np.stack([200 + (xx[:FACE_SIDE, :FACE_SIDE] * 5) % 50, 180 + (yy[:FACE_SIDE, :FACE_SIDE] * 7) % 60,
                          150 + ((xx + yy)[:FACE_SIDE, :FACE_SIDE] * 3) % 80], axis=-1)
        frame[y:y + FACE_SIDE, x:x + FACE_SIDE] = patch.astype(np.uint8)
    return frame


@dataclass(frozen=True)
class TinyClip:
    path: Path
    frames: list[np.ndarray]  # RGB, as written (before compression)
    no_face_index: int


def write_video(path: Path, frames: list[np.ndarray], fourcc: str = "mp4v", fps: float = 10.0) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened(), f"cv2 cannot write {fourcc} to {path}"
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture
def tiny_clip(tmp_path) -> TinyClip:
    """8 frames, 160×120: one square drifting right; frame 5 holds no square."""
    frames = [make_square_frame([] if i == 5 else [(30 + 3 * i, 40)], i) for i in range(8)]
    return TinyClip(write_video(tmp_path / "tiny.mp4", frames), frames, 5)


@pytest.fixture
def square_frame():
    """``square_frame(corners, index, size=(160, 120))`` (test modules cannot import conftest)."""
    return make_square_frame


@pytest.fixture
def write_clip():
    """``write_clip(path, rgb_frames, fourcc="mp4v", fps=10.0) -> path``."""
    return write_video


class SquareDetector:
    """Finds the bright squares of ``square_frame`` (connected components of bright pixels)."""

    name = "squares"

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        self.calls += 1
        bright = (cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) > 120).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(bright)
        return [FaceDetection((float(x), float(y), float(x + w), float(y + h)), 0.9)
                for x, y, w, h, area in stats[1:count] if area >= 100]


@pytest.fixture
def square_detector() -> SquareDetector:
    return SquareDetector()


@pytest.fixture
def bundle(make_bundle):
    """The tiny ONNX bundle (32×32 input, 6 classes) loaded and verified."""
    from edge.bundle import load_bundle

    return load_bundle(make_bundle())
