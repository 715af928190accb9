"""The demo clip: public-domain photos that pip packages ship, filmed by a synthetic camera.

Photos, all public domain: Grace Hopper (US Navy portrait; matplotlib's
``mpl-data/sample_data/grace_hopper.jpg``), astronaut Eileen Collins (NASA;
scikit-image's ``skimage/data/astronaut.png``) and a rocket on its pad (SpaceX, released into
the public domain; ``skimage/data/rocket.jpg``). Files are located without importing the
packages (scikit-image is installed with ``--no-deps`` only for its data). The camera pans,
zooms and rolls; shots are joined by hard cuts; one shot holds still (where flicker is
measured), one has no face and one has two. Sensor noise is drawn from a fixed seed, so the
same call writes the same frames.
"""
from __future__ import annotations

import importlib.util
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.errors import DataError
from edge.image_files import read_image_file
from edge.video.sinks import open_sink

PHOTOS = {  # name: (package, path inside the package)
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    "astronaut": ("skimage", "data/astronaut.png"),
    "rocket": ("skimage", "data/rocket.jpg"),
}
INSTALL = {"matplotlib": "pip install matplotlib==3.11.2",
           "skimage": "pip install --no-deps scikit-image==0.26.0 (requirements/weights.txt; `make setup`)"}
SIZE = (640, 480)  # width, height
FPS = 20.0
NOISE_AMPLITUDE = 4  # uniform sensor noise in grey levels (σ ≈ 2.6)


@dataclass(frozen=True)
class View:
    """A camera pose on a photo: the photo point at the frame centre, pixels per photo pixel, roll."""

    cx: float
    cy: float
    zoom: float
    roll_deg: float = 0.0


@dataclass(frozen=True)
class Shot:
    name: str
    photo: str  # a PHOTOS key, or "pair" (Grace Hopper and the astronaut side by side)
    frames: int
    start: View
    end: View
    faces: int  # faces in view (what a detector should find)


SHOTS = (
    Shot("zoom-in", "grace_hopper", 30, View(256, 320, 1.25), View(262, 255, 1.50), 1),
    Shot("hold", "grace_hopper", 12, View(262, 255, 1.50), View(262, 255, 1.50), 1),
    Shot("roll-pan", "astronaut", 30, View(215, 130, 2.2, -8.0), View(235, 125, 2.2, 8.0), 1),
    Shot("no-face", "rocket", 8, View(300, 210, 1.15), View(340, 215, 1.15), 0),
    Shot("two-faces", "pair", 20, View(320, 240, 1.0), View(320, 250, 1.08), 2),
)


def photo_path(name: str) -> Path:
    package, rel = PHOTOS[name]
    spec = importlib.util.find_spec(package)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / rel
        if path.is_file():
            return path
    raise DataError(f"demo photo {rel} of the {package!r} package is not installed: {INSTALL[package]}")


def load_photo(name: str) -> np.ndarray:
    """An RGB uint8 photo; ``pair`` (640×480) is Grace Hopper beside the astronaut, faces of similar size."""
    if name == "pair":
        hopper = cv2.resize(load_photo("grace_hopper")[:, 56:456], (320, 480), interpolation=cv2.INTER_AREA)
        astronaut = cv2.resize(load_photo("astronaut")[10:370, 110:350], (320, 480), interpolation=cv2.INTER_LINEAR)
        return np.concatenate([hopper, astronaut], axis=1)
    image = cv2.imdecode(np.frombuffer(read_image_file(photo_path(name)), np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"cannot decode the demo photo {photo_path(name)}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def camera_matrix(view: View, size: tuple[int, int] = SIZE) -> np.ndarray:
    """(2, 3) photo -> frame map for a view; views are framed for 640×480 and scale with ``size``."""
    angle = math.radians(view.roll_deg)
    zoom = view.zoom * size[0] / SIZE[0]
    cos, sin = math.cos(angle) * zoom, math.sin(angle) * zoom
    linear = np.array([[cos, -sin], [sin, cos]])
    offset = np.array([size[0] / 2, size[1] / 2]) - linear @ np.array([view.cx, view.cy])
    return np.hstack([linear, offset[:, None]])


def _ease(t: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * t)  # smooth start and stop, like a hand-held move


def _interpolate(a: View, b: View, t: float) -> View:
    e = _ease(t)
    return View(*(x + (y - x) * e for x, y in zip((a.cx, a.cy, a.zoom, a.roll_deg),
                                                     (b.cx, b.cy, b.zoom, b.roll_deg))))


def clip_frames(seed: int = 0, size: tuple[int, int] = SIZE, shots: tuple[Shot, ...] = SHOTS
                ) -> Iterator[tuple[Shot, np.ndarray]]:
    """Every (shot, RGB frame) of the clip, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    photos: dict[str, np.ndarray] = {}
    for shot in shots:
        photo = photos.setdefault(shot.photo, load_photo(shot.photo))
        for i in range(shot.frames):
            view = _interpolate(shot.start, shot.end, i / max(1, shot.frames - 1))
            frame = cv2.warpAffine(photo, camera_matrix(view, size), size, flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT_101)
            noise = rng.integers(-NOISE_AMPLITUDE, NOISE_AMPLITUDE + 1, frame.shape, dtype=np.int16)
            yield shot, np.clip(frame + noise, 0, 255).astype(np.uint8)


def make_demo_clip(path: str | Path, seed: int = 0, codec: str = "mp4v", fps: float = FPS,
                   size: tuple[int, int] = SIZE, shots: tuple[Shot, ...] = SHOTS) -> int:
    """Write the clip; returns the number of frames."""
    with open_sink(path, codec, fps) as sink:
        for _, frame in clip_frames(seed, size, shots):
            sink.write(frame)
    return sink.frames_written
