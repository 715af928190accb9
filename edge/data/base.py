"""The sample record, the reader base class and the file checks every reader shares.

NumPy + OpenCV only: the on-device side reads datasets for validation and parity runs.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.errors import ConfigError, DataError, suggest
from edge.image_files import ImageFileError, read_image_file
from edge.schemas import IGNORE_INDEX, LabelSchema

SPLITS = ("train", "val", "test")

# EXIF rotation would turn the photo but not its label PNG, so pixels are read as stored.
_IMAGE_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION


class SampleError(DataError):
    """One dataset file is missing, unreadable or inconsistent; ``path`` names it."""

    def __init__(self, path: Path | str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason


@dataclass(frozen=True, eq=False)
class Sample:
    """One annotated face. ``label`` holds schema ids, 255 = ignore."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    label: np.ndarray  # (H, W) uint8
    name: str
    landmarks: np.ndarray | None = None  # (K, 2) float32 x, y in image pixels


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ConfigError(
            f"unknown split {split!r}.{suggest(split, SPLITS)} Valid splits: {', '.join(SPLITS)}"
        )
    return split


def read_file_bytes(path: Path) -> np.ndarray:
    """The bytes of an image file that is safe to decode (``edge.image_files``), else ``SampleError``."""
    try:
        data = read_image_file(path)
    except ImageFileError as exc:
        raise SampleError(exc.path, exc.reason) from None
    return np.frombuffer(data, dtype=np.uint8)


def read_image(path: Path) -> np.ndarray:
    """Decode a photo into (H, W, 3) uint8 RGB; grey photos are expanded to RGB."""
    image = cv2.imdecode(read_file_bytes(path), _IMAGE_FLAGS)
    if image is None:
        raise SampleError(path, "cannot decode image (corrupt, truncated or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_gray(path: Path) -> np.ndarray:
    """Decode a single-channel 8-bit map (label ids, soft masks, part masks).

    A 3-channel file is accepted only when its channels are equal, so nothing is
    silently thrown away.
    """
    array = cv2.imdecode(read_file_bytes(path), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise SampleError(path, "cannot decode image (corrupt, truncated or not an image)")
    if array.dtype != np.uint8:
        raise SampleError(path, f"expected 8-bit pixels, got {array.dtype}")
    if array.ndim == 3:
        if array.shape[2] == 4:
            array = array[:, :, :3]
        if not (array == array[:, :, :1]).all():
            raise SampleError(path, f"expected a single-channel map, got {array.shape[2]} differing channels")
        array = array[:, :, 0]
    return np.ascontiguousarray(array)


def read_mask(path: Path) -> np.ndarray:
    """A label PNG as class ids: palette PNGs give their indices (OpenCV would expand them to colours)."""
    from PIL import Image, UnidentifiedImageError

    data = read_file_bytes(path)
    try:
        with Image.open(io.BytesIO(data.tobytes())) as image:
            mode = image.mode
            array = np.asarray(image) if mode in ("P", "L") else None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise SampleError(path, f"cannot decode mask (corrupt, truncated or not an image: {exc})") from exc
    if array is None:
        if mode not in ("RGB", "RGBA", "LA"):
            raise SampleError(path, f"expected an 8-bit id or palette PNG, got PIL mode {mode!r}")
        return read_gray(path)  # grey saved as RGB: accepted only when the channels agree
    return np.ascontiguousarray(array, dtype=np.uint8)


def check_label(
    label: np.ndarray, image_shape: tuple[int, ...], schema: LabelSchema, label_path: Path, image_path: Path
) -> None:
    """Raise ``SampleError`` on a size mismatch or an id outside the schema (255 allowed)."""
    if label.shape[:2] != tuple(image_shape[:2]):
        raise SampleError(
            label_path,
            f"label is {label.shape[1]}x{label.shape[0]} but image "
            f"{image_path.name} is {image_shape[1]}x{image_shape[0]} (WxH)",
        )
    ids = np.unique(label)
    bad = ids[(ids >= schema.num_classes) & (ids != IGNORE_INDEX)]
    if bad.size:
        raise SampleError(
            label_path,
            f"label ids {bad.tolist()} are outside schema {schema.name!r} "
            f"(0..{schema.num_classes - 1}, {IGNORE_INDEX} = ignore)",
        )


def read_pair(image_path: Path, label_path: Path, schema: LabelSchema) -> tuple[np.ndarray, np.ndarray]:
    """Read a photo and its label map, naming whichever side is missing or bad."""
    if not image_path.is_file() and label_path.is_file():
        raise SampleError(label_path, f"label has no matching image (expected {image_path})")
    if not label_path.is_file() and image_path.is_file():
        raise SampleError(image_path, f"image has no matching label (expected {label_path})")
    image = read_image(image_path)
    label = read_gray(label_path)
    check_label(label, image.shape, schema, label_path, image_path)
    return image, label


def require_dir(path: Path, layout: str) -> Path:
    if not path.is_dir():
        raise DataError(f"missing folder {path}. Expected layout: {layout}")
    return path


def stems(folder: Path, suffix: str) -> set[str]:
    return {p.stem for p in folder.iterdir() if p.suffix.lower() == suffix and not p.name.startswith(".")}


def natural_sorted(names: set[str] | list[str]) -> list[str]:
    """Numeric names in numeric order ("2" before "10"), others after, alphabetically."""
    return sorted(names, key=lambda n: (0, int(n), "") if n.isdigit() else (1, 0, n))


class FaceParsingReader(ABC):
    """Random access to one split of a dataset on disk.

    Opening checks the folder layout; every file is checked when its sample is read,
    and a bad one raises ``SampleError`` (never a silent skip). ``scan`` reads them all.
    """

    schema: LabelSchema
    layout: str = ""

    def __init__(self, root: str | Path, split: str):
        # (path, reason) of files that belong to no sample, e.g. a mask without its image.
        self.orphans: list[tuple[str, str]] = []
        self.root = Path(root)
        self.split = check_split(split)
        if not self.root.is_dir():
            raise DataError(f"dataset root {self.root} does not exist. Expected layout: {self.layout}")
        self._names = self._list_names()

    @abstractmethod
    def _list_names(self) -> list[str]:
        """Sample names of this split, in a fixed order."""

    @abstractmethod
    def _read(self, name: str) -> Sample:
        """Read and check one sample."""

    def names(self) -> list[str]:
        return list(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, index: int) -> Sample:
        if not -len(self._names) <= index < len(self._names):
            raise IndexError(f"sample {index} out of range for {len(self._names)} samples in {self.root}")
        return self._read(self._names[index])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, samples={len(self)})"
