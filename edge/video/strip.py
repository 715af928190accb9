"""A strip of annotated demo frames in one PNG (the README's picture of the demo)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.errors import ConfigError, InputError


def strip_indices(total: int, count: int) -> list[int]:
    """``count`` frame indices spread evenly over ``total`` frames, first and last included."""
    if count < 1 or total < 1:
        raise ConfigError(f"a strip needs >= 1 frame of >= 1, got {count} of {total}")
    count = min(count, total)
    return sorted({round(i * (total - 1) / max(1, count - 1)) for i in range(count)})


def tile_frames(frames: list[np.ndarray], columns: int, tile_width: int) -> np.ndarray:
    """RGB frames (same size) scaled to ``tile_width`` and laid out in rows of ``columns``."""
    if not frames:
        raise InputError("no frames to put in the strip")
    h, w = frames[0].shape[:2]
    size = (tile_width, round(h * tile_width / w))
    tiles = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % columns)
    rows = [np.concatenate(tiles[i:i + columns], axis=1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows, axis=0)


class StripCollector:
    """An ``on_frame`` callback for ``run_demo`` that keeps the frames at ``indices``."""

    def __init__(self, indices: list[int]):
        self.indices = set(indices)
        self.frames: dict[int, np.ndarray] = {}

    def __call__(self, index: int, frame: np.ndarray) -> bool:
        if index in self.indices:
            self.frames[index] = frame.copy()
        return True

    def save(self, path: str | Path, columns: int = 3, tile_width: int = 320) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        image = tile_frames([self.frames[i] for i in sorted(self.frames)], columns, tile_width)
        if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            raise InputError(f"cannot write the strip image {path} (use .png or .jpg)")
        return path
