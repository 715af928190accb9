"""Video writers: MPEG-4 Part 2 (``mp4v``) through OpenCV, H.264 through PyAV.

The OpenCV wheels carry FFmpeg without libx264, so OpenCV cannot write H.264; PyAV's wheel
can. Writers open on the first frame (its size fixes the video's) and must be closed to
finalize the file: ``with open_sink(...) as sink`` does that even when processing fails.
"""
from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np

from edge.errors import BackendUnavailable, ConfigError, InputError, UnsupportedError

log = logging.getLogger(__name__)

Codec = Literal["mp4v", "h264"]
CODECS: tuple[str, ...] = ("mp4v", "h264")
CONTAINERS = (".mp4", ".mov", ".mkv", ".avi")
PYAV_HINT = "pip install av==18.1.0"


class FrameSink(Protocol):
    frames_written: int

    def write(self, frame: np.ndarray) -> None: ...

    def close(self) -> None: ...


class _SinkBase:
    def __init__(self, path: Path, fps: float):
        if path.suffix.lower() not in CONTAINERS:
            raise ConfigError(f"output {path}: unsupported container {path.suffix!r}; use one of "
                              f"{', '.join(CONTAINERS)}")
        if not path.parent.is_dir():
            raise InputError(f"output folder {path.parent} does not exist")
        if not fps > 0:
            raise ConfigError(f"output fps must be > 0, got {fps}")
        self.path, self.fps = path, fps
        self.frames_written = 0
        self._size: tuple[int, int] | None = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_size(self, frame: np.ndarray) -> None:
        size = (frame.shape[1], frame.shape[0])
        if self._size is None:
            self._size = size
        elif size != self._size:
            raise InputError(f"{self.path}: frame {self.frames_written} is {size[0]}x{size[1]}, "
                             f"the video is {self._size[0]}x{self._size[1]}")


class OpenCvSink(_SinkBase):
    """``mp4v`` via ``cv2.VideoWriter``."""

    codec = "mp4v"

    def __init__(self, path: Path, fps: float):
        super().__init__(path, fps)
        self._writer: cv2.VideoWriter | None = None

    def write(self, frame: np.ndarray) -> None:
        self._check_size(frame)
        if self._writer is None:
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self._size)
            if not self._writer.isOpened():
                raise UnsupportedError(f"{self.path}: OpenCV cannot write mp4v into {self.path.suffix!r} here")
        self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.frames_written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


class PyAvSink(_SinkBase):
    """H.264 (libx264, yuv420p, CRF 23) via PyAV. Odd frame sizes are padded by one pixel."""

    codec = "h264"

    def __init__(self, path: Path, fps: float, crf: int = 23):
        super().__init__(path, fps)
        try:
            import av
        except ImportError as exc:
            raise BackendUnavailable(f"--codec h264 needs PyAV: {PYAV_HINT} (or use --codec mp4v)") from exc
        if "libx264" not in av.codecs_available:
            raise UnsupportedError("this PyAV build has no libx264 encoder; use --codec mp4v")
        self._av, self.crf = av, crf
        self._container = self._stream = None

    def write(self, frame: np.ndarray) -> None:
        self._check_size(frame)
        if self._container is None:
            self._open()
        padded = np.pad(frame, ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0)), mode="edge")
        video_frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(padded), format="rgb24")
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.frames_written += 1

    def _open(self) -> None:
        self._container = self._av.open(str(self.path), mode="w")
        self._stream = self._container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
        self._stream.width, self._stream.height = (v + v % 2 for v in self._size)
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(self.crf), "preset": "veryfast"}

    def close(self) -> None:
        if self._container is None:
            return
        try:
            for packet in self._stream.encode():  # flush the encoder's delayed frames
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None


def open_sink(path: str | Path, codec: str = "mp4v", fps: float = 25.0) -> OpenCvSink | PyAvSink:
    if codec not in CODECS:
        raise ConfigError(f"unknown codec {codec!r}; valid: {', '.join(CODECS)}")
    path = Path(path)
    return OpenCvSink(path, fps) if codec == "mp4v" else PyAvSink(path, fps)
