"""Raw dataset layouts that ``edgeparse data prepare`` converts, one class per dataset.

A source plans the work (which raw sample goes to which ``{split}_img/{n}.jpg``) and
converts one planned item into JPEG bytes plus a label map. ``prepare.py`` runs the
plan: workers, resume, atomic writes. NumPy + OpenCV only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from edge.data.base import SPLITS, SampleError, read_file_bytes, read_image
from edge.data.readers import HELEN_SPLIT_FILES, HelenReader
from edge.errors import ConfigError, DataError
from edge.preprocess import resize_image, resize_label
from edge.schemas import LabelSchema, get_schema

JPEG_QUALITY = 95  # re-encoding only happens when resizing; 95 keeps artefacts below label noise


@dataclass(frozen=True)
class PrepareItem:
    """One output sample: ``{split}_img/{index}.jpg`` made from raw sample ``key``."""

    split: str
    index: int
    key: str


@dataclass(frozen=True)
class ConvertedSample:
    image_jpeg: bytes
    label: np.ndarray  # (H, W) uint8 schema ids


class RawSource(Protocol):
    """What ``prepare_dataset`` needs from a raw dataset."""

    name: str
    schema: LabelSchema

    def settings(self) -> dict:
        """Everything that changes the output files; a resumed run must match it."""

    def plan(self) -> list[PrepareItem]:
        """Check the raw layout and list every output sample, in a fixed order."""

    def convert(self, item: PrepareItem) -> ConvertedSample:
        """Read one raw sample; raise ``SampleError`` naming the bad file."""


def encode_jpeg(image_rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:
        raise DataError(f"OpenCV could not encode a {image_rgb.shape} image as JPEG")
    return buf.tobytes()


# --- CelebAMask-HQ -------------------------------------------------------------------

CELEBA_LAYOUT = (
    "SRC/CelebA-HQ-img/{k}.jpg, SRC/CelebAMask-HQ-mask-anno/{k//2000}/{k:05d}_{part}.png, "
    "SRC/CelebA-HQ-to-CelebA-mapping.txt"
)
# g_partition.py compares 0-based orig_idx with CelebA's 1-based first val/test file
# numbers; kept literally so the split matches the published 24,183 / 2,993 / 2,824.
CELEBA_VAL_FIRST, CELEBA_TEST_FIRST = 162771, 182638
CELEBA_FULL_SIZE = 30000
CELEBA_EXPECTED_COUNTS = {"train": 24183, "val": 2993, "test": 2824}
CELEBA_MASK_SIZE = 512


def celeba_split(orig_idx: int) -> str:
    """The split g_partition.py assigns to a CelebA original index."""
    if CELEBA_VAL_FIRST <= orig_idx < CELEBA_TEST_FIRST:
        return "val"
    return "test" if orig_idx >= CELEBA_TEST_FIRST else "train"


def read_celeba_mapping(path: Path) -> list[tuple[int, int]]:
    """(CelebA-HQ index, CelebA orig_idx) rows of CelebA-HQ-to-CelebA-mapping.txt, in file order."""
    rows, seen = [], set()
    lines = path.read_text().splitlines()
    for line_no, line in enumerate(lines[1:], start=2):  # line 1 is the 'idx orig_idx orig_file' header
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 3 or not fields[0].isdigit() or not fields[1].isdigit():
            raise DataError(f"{path}:{line_no}: expected 'idx orig_idx orig_file', got {line.strip()!r}")
        hq_idx, orig_idx = int(fields[0]), int(fields[1])
        if hq_idx in seen:
            raise DataError(f"{path}:{line_no}: CelebA-HQ index {hq_idx} appears twice")
        seen.add(hq_idx)
        rows.append((hq_idx, orig_idx))
    if not rows:
        raise DataError(f"{path}: no mapping rows after the header")
    return rows


def read_part_mask(path: Path) -> np.ndarray:
    """Boolean foreground of one part PNG: non-zero in the first channel, as g_mask.py tests."""
    array = cv2.imdecode(read_file_bytes(path), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise SampleError(path, "cannot decode part mask (corrupt, truncated or not an image)")
    return (array[:, :, 0] if array.ndim == 3 else array) != 0


class CelebAMaskHQSource:
    """Raw CelebAMask-HQ: 1024² photos, per-part 512² masks, the CelebA mapping file."""

    name = "celebamask_hq"
    schema = get_schema("celebamask_hq")

    def __init__(self, src: Path, image_size: int | None):
        self.src = src
        self.image_size = image_size or CELEBA_MASK_SIZE
        self.image_dir = src / "CelebA-HQ-img"
        self.mask_dir = src / "CelebAMask-HQ-mask-anno"
        self.mapping_file = src / "CelebA-HQ-to-CelebA-mapping.txt"
        # Schema ids are the official g_mask.py list order (+1), so painting in id order
        # reproduces its overlap rule: later parts (neck, cloth) overwrite earlier ones.
        self.parts = self.schema.class_names[1:]

    def settings(self) -> dict:
        return {"source": self.name, "image_size": self.image_size}

    def plan(self) -> list[PrepareItem]:
        for path in (self.image_dir, self.mask_dir):
            if not path.is_dir():
                raise DataError(f"missing folder {path}. Expected raw CelebAMask-HQ layout: {CELEBA_LAYOUT}")
        if not self.mapping_file.is_file():
            raise DataError(
                f"missing {self.mapping_file}. Expected raw CelebAMask-HQ layout: {CELEBA_LAYOUT}"
            )
        rows = read_celeba_mapping(self.mapping_file)
        counts = dict.fromkeys(SPLITS, 0)
        items = []
        for hq_idx, orig_idx in rows:
            split = celeba_split(orig_idx)
            items.append(PrepareItem(split, counts[split], str(hq_idx)))
            counts[split] += 1
        if len(rows) == CELEBA_FULL_SIZE and counts != CELEBA_EXPECTED_COUNTS:
            raise DataError(
                f"{self.mapping_file}: split counts {counts} differ from the published "
                f"{CELEBA_EXPECTED_COUNTS}; the mapping file is not the official one"
            )
        return items

    def convert(self, item: PrepareItem) -> ConvertedSample:
        k = int(item.key)
        image_path = self.image_dir / f"{k}.jpg"
        image = read_image(image_path)
        label = self.merged_label(k)
        if image.shape[0] * label.shape[1] != image.shape[1] * label.shape[0]:
            raise SampleError(
                image_path,
                f"image is {image.shape[1]}x{image.shape[0]} but its masks are "
                f"{label.shape[1]}x{label.shape[0]} (different aspect ratio)",
            )
        size = (self.image_size, self.image_size)
        if image.shape[:2] == size:  # already the asked size: keep the original bytes, no re-encoding
            image_jpeg = read_file_bytes(image_path).tobytes()
        else:
            image_jpeg = encode_jpeg(resize_image(image, size))
        return ConvertedSample(image_jpeg, resize_label(label, size))

    def merged_label(self, k: int) -> np.ndarray:
        """Paint the part masks of image ``k`` in official order onto a background map."""
        folder = self.mask_dir / str(k // 2000)
        label = None
        for class_id, part in enumerate(self.parts, start=1):
            path = folder / f"{k:05d}_{part}.png"
            if not path.is_file():  # a part file exists only when the part is present
                continue
            mask = read_part_mask(path)
            if label is None:
                label = np.zeros(mask.shape, dtype=np.uint8)
            elif mask.shape != label.shape:
                raise SampleError(
                    path,
                    f"mask is {mask.shape[1]}x{mask.shape[0]}, other parts of image "
                    f"{k} are {label.shape[1]}x{label.shape[0]}",
                )
            label[mask] = class_id
        if label is None:
            raise SampleError(folder / f"{k:05d}_*.png", f"no part masks found for CelebA-HQ image {k}")
        return label


# --- Helen ---------------------------------------------------------------------------


class HelenSource:
    """Helen soft maps to hard labels; photos keep their size (scores use original labels)."""

    name = "helen"
    schema = get_schema("helen")

    def __init__(self, src: Path, image_size: int | None):
        if image_size is not None:
            raise ConfigError(
                "helen keeps each photo's own size (faces are aligned later and scored on "
                "the original labels); drop --image-size"
            )
        self.src = src
        self.readers: dict[str, HelenReader] = {}

    def settings(self) -> dict:
        return {"source": self.name, "image_size": None}

    def plan(self) -> list[PrepareItem]:
        items = []
        for split in HELEN_SPLIT_FILES:
            reader = self.readers[split] = HelenReader(self.src, split)
            items += [PrepareItem(split, n, name) for n, name in enumerate(reader.names())]
        return items

    def convert(self, item: PrepareItem) -> ConvertedSample:
        sample = self.readers[item.split][item.index]
        image_jpeg = read_file_bytes(self.readers[item.split].image_dir / f"{item.key}.jpg").tobytes()
        return ConvertedSample(image_jpeg, sample.label)


SOURCES: dict[str, type[RawSource]] = {"celebamask_hq": CelebAMaskHQSource, "helen": HelenSource}
