"""Frame sources: a video file, a camera, or a folder of images; every frame comes out RGB uint8.

Problems that make a source useless from the start (missing, empty, unreadable, undecodable
first frame) raise ``InputError``. Problems mid-stream (a truncated file, a camera unplugged,
an unreadable image) end the stream and set ``end_reason``, so the demo can finalize what
it wrote and report why it stopped.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from edge.errors import InputError
from edge.image_files import ImageFileError, read_image_file, require_regular_file
from edge.preprocess import as_rgb_uint8

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_FPS = 25.0
# The first frame sets the output size: a smaller one holds no face to parse, and the video writers
# refuse a 1-pixel side (with a misleading codec error).
MIN_FRAME_SIDE = 16
REENCODE_HINT = "re-encode it, e.g. `ffmpeg -i IN -c:v libx264 -pix_fmt yuv420p OUT.mp4`"


class FrameSource(Protocol):
    name: str
    fps: float
    frame_count: int | None  # None when unknown (cameras)
    end_reason: str | None  # why the stream stopped early; None after a normal end

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


class Downscaler:
    """Shrinks frames whose longer side exceeds ``max_side`` (INTER_AREA), warning once."""

    def __init__(self, max_side: int | None, where: str):
        self.max_side, self.where, self._warned = max_side, where, False

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        longest = max(frame.shape[:2])
        if not self.max_side or longest <= self.max_side:
            return frame
        scale = self.max_side / longest
        size = (max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale)))
        if not self._warned:
            log.warning("%s: frames are %dx%d; downscaled to %dx%d for detection, parsing and output "
                        "(max_side=%d)", self.where, frame.shape[1], frame.shape[0], *size, self.max_side)
            self._warned = True
        return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def check_first_frame(frame: np.ndarray, where: str) -> None:
    """``InputError`` when ``frame`` is smaller than ``MIN_FRAME_SIDE`` on a side."""
    height, width = frame.shape[:2]
    if min(height, width) < MIN_FRAME_SIDE:
        raise InputError(f"{where}: the frames are {width}x{height} pixels, too small to show a face; give frames of "
                         f"at least {MIN_FRAME_SIDE}x{MIN_FRAME_SIDE}")


def to_rgb(frame_bgr: np.ndarray, where: str) -> np.ndarray:
    """OpenCV's BGR/BGRA/grey uint8 frame -> RGB (grey and alpha handled by ``as_rgb_uint8``)."""
    if frame_bgr.ndim == 3 and frame_bgr.shape[2] == 3:
        frame_bgr = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
    elif frame_bgr.ndim == 3 and frame_bgr.shape[2] == 4:
        frame_bgr = cv2.cvtColor(frame_bgr, cv2.COLOR_BGRA2RGBA)
    return as_rgb_uint8(frame_bgr, where)


class CaptureSource:
    """A ``cv2.VideoCapture`` (or anything with ``read()``/``get()``/``release()``)."""

    def __init__(self, capture: Any, name: str, kind: str, max_side: int | None = None):
        self.capture, self.name, self.kind = capture, name, kind
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0.0 < fps < 1000.0 else DEFAULT_FPS
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if kind == "video" else 0
        self.frame_count = count if count > 0 else None
        self.end_reason: str | None = None
        self.frames_read = 0
        self._downscale = Downscaler(max_side, name)

    def read(self) -> np.ndarray | None:
        ok, frame = self.capture.read()
        if not ok or frame is None:
            if self.frames_read == 0:
                raise InputError(self._first_frame_error())
            self._note_early_end()
            return None
        self.frames_read += 1
        if self.frames_read == 1:
            check_first_frame(frame, self.name)
        return self._downscale(to_rgb(frame, f"{self.name} frame {self.frames_read - 1}"))

    def _first_frame_error(self) -> str:
        if self.kind == "camera":
            return f"{self.name} opened but delivered no frame (in use by another program, or no permission?)"
        return (f"{self.name}: the container opened but no frame could be decoded (codec {self.codec()!r}): "
                f"OpenCV's FFmpeg build does not support this codec, or the stream is corrupt; {REENCODE_HINT}")

    def _note_early_end(self) -> None:
        if self.kind == "camera":
            self.end_reason = f"{self.name} stopped delivering frames after {self.frames_read} (disconnected?)"
        elif self.frame_count and self.frames_read < self.frame_count - 1:  # counts can be off by one
            self.end_reason = (f"{self.name}: decoding failed after {self.frames_read} of {self.frame_count} "
                               f"frames: the file is truncated or corrupt")
        if self.end_reason:
            log.warning("%s", self.end_reason)

    def codec(self) -> str:
        """The stream's FOURCC as text (e.g. 'FMP4', 'avc1', 'AV01'), or '?'."""
        code = int(self.capture.get(cv2.CAP_PROP_FOURCC) or 0) & 0xFFFFFFFF
        text = code.to_bytes(4, "little").decode("latin-1")
        return text if code and text.isprintable() else "?"

    def close(self) -> None:
        self.capture.release()


class ImageFolderSource:
    """Sorted image files of one folder; frames after the first are resized to its size."""

    def __init__(self, folder: Path, fps: float = DEFAULT_FPS, max_side: int | None = None):
        self.files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise InputError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        self.name, self.fps, self.frame_count = str(folder), fps, len(self.files)
        self.end_reason: str | None = None
        self._next = 0
        self._size: tuple[int, int] | None = None
        self._downscale = Downscaler(max_side, self.name)

    def read(self) -> np.ndarray | None:
        if self._next >= len(self.files) or self.end_reason:
            return None
        path = self.files[self._next]
        try:
            raw = cv2.imdecode(np.frombuffer(read_image_file(path), np.uint8), cv2.IMREAD_UNCHANGED)
        except ImageFileError as exc:
            self.end_reason = f"{exc}; stopped after {self._next} images"
            log.warning("%s", self.end_reason)
            return None
        if raw is None or raw.dtype != np.uint8:
            self.end_reason = (f"{path}: not a readable 8-bit image ({'undecodable' if raw is None else raw.dtype}); "
                               f"stopped after {self._next} images")
            log.warning("%s", self.end_reason)
            return None
        frame = self._downscale(to_rgb(raw, str(path)))
        self._next += 1
        if self._size is None:
            check_first_frame(frame, str(path))
            self._size = frame.shape[1], frame.shape[0]
        elif (frame.shape[1], frame.shape[0]) != self._size:
            log.warning("%s is %dx%d; resized to the first image's %dx%d", path, frame.shape[1],
                        frame.shape[0], *self._size)
            frame = cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
        return frame

    def close(self) -> None:
        """Nothing to release: images are read one by one."""


def open_source(spec: str, max_side: int | None = None, fps: float | None = None) -> FrameSource:
    """``spec`` is a camera index (``0``), a folder of images, or a video file."""
    if spec.isdigit():
        return open_camera(int(spec), max_side)
    path = Path(spec)
    if path.is_dir():
        return ImageFolderSource(path, fps or DEFAULT_FPS, max_side)
    return open_video(path, max_side)


def open_video(path: Path, max_side: int | None = None) -> CaptureSource:
    if path.exists() and not path.is_file():  # a FIFO or device: reading it could block forever
        require_regular_file(path)
    if not path.is_file():
        raise InputError(f"input {path} not found (expected a video file, an image folder or a camera index)")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes)")
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        raise InputError(f"{path}: OpenCV's FFmpeg cannot open it: not a video, or the file is truncated or "
                         f"corrupt (an .mp4 cut short loses its index, which is written last)")
    return CaptureSource(capture, str(path), "video", max_side)


def open_camera(index: int, max_side: int | None = None) -> CaptureSource:
    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        raise InputError(f"camera {index} cannot be opened (no such device, or in use); "
                         "list devices with `v4l2-ctl --list-devices` on Linux")
    return CaptureSource(capture, f"camera {index}", "camera", max_side)
