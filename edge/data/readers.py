"""Readers for the dataset layouts edgeparse understands, and ``open_dataset``.

* ``prepared``: the layout ``edgeparse data prepare`` writes (``{split}_img/{n}.jpg``,
  ``{split}_label/{n}.png`` and a ``dataset.json`` naming the label schema).
* ``celebamask_hq``: a prepared CelebAMask-HQ folder, including one made by the official
  ``g_partition.py`` (no ``dataset.json``).
* ``lapa``: LaPa as released, with 106-point landmarks.
* ``helen``: Smith et al.'s "SmithCVPR2013_dataset_resized", soft maps turned hard by argmax.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge.data.base import (
    FaceParsingReader,
    Sample,
    SampleError,
    natural_sorted,
    read_gray,
    read_image,
    read_pair,
    require_dir,
    stems,
)
from edge.errors import DataError, UnknownNameError
from edge.schemas import LabelSchema, get_schema

DATASET_FILE = "dataset.json"


def read_dataset_record(root: Path) -> dict | None:
    """The ``dataset.json`` that ``data prepare`` writes, or None when the folder has none."""
    path = root / DATASET_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable dataset record ({exc})") from exc
    if not isinstance(record, dict) or "schema" not in record or not isinstance(record.get("splits"), dict):
        raise DataError(
            f"{path}: expected a JSON object with 'schema' and 'splits'; re-run `edgeparse data prepare`"
        )
    return record


class PreparedReader(FaceParsingReader):
    """``root/{split}_img/{n}.jpg`` + ``root/{split}_label/{n}.png``; schema from ``dataset.json``."""

    layout = (
        "ROOT/dataset.json, ROOT/{split}_img/{n}.jpg, ROOT/{split}_label/{n}.png "
        "(written by `edgeparse data prepare`)"
    )

    def _schema_for(self, root: Path) -> LabelSchema:
        if self.record is None:
            raise DataError(
                f"{root} has no {DATASET_FILE}. Expected layout: {self.layout}. "
                "Run `edgeparse data prepare` first, or open a CelebAMask-HQ folder as 'celebamask_hq'"
            )
        return get_schema(self.record["schema"])

    def _list_names(self) -> list[str]:
        # The schema lives in the folder, so it is known only once the root is checked.
        self.record = read_dataset_record(self.root)
        self.schema = self._schema_for(self.root)
        self.image_dir = require_dir(self.root / f"{self.split}_img", self.layout)
        self.label_dir = require_dir(self.root / f"{self.split}_label", self.layout)
        names = natural_sorted(stems(self.image_dir, ".jpg") | stems(self.label_dir, ".png"))
        expected = (self.record or {}).get("splits", {}).get(self.split)
        if expected is not None and expected != len(names):
            raise DataError(
                f"{self.root / DATASET_FILE} records {expected} {self.split} samples but "
                f"{self.image_dir.name}/ and {self.label_dir.name}/ hold {len(names)}: the folder is "
                "incomplete or was changed. Re-run `edgeparse data prepare` into it"
            )
        return names

    def _read(self, name: str) -> Sample:
        image, label = read_pair(self.image_dir / f"{name}.jpg", self.label_dir / f"{name}.png", self.schema)
        return Sample(image=image, label=label, name=name)


class CelebAMaskHQReader(PreparedReader):
    """A prepared CelebAMask-HQ folder; ``dataset.json`` is optional (g_partition.py writes none)."""

    def _schema_for(self, root: Path) -> LabelSchema:
        schema = get_schema("celebamask_hq")
        if self.record is not None and get_schema(self.record["schema"]).name != schema.name:
            raise DataError(
                f"{root / DATASET_FILE} says this folder holds a {self.record['schema']!r} dataset, "
                "not CelebAMask-HQ; open it with format 'prepared'"
            )
        return schema


def read_landmarks(path: Path) -> np.ndarray:
    """LaPa landmark file: the point count, then that many ``x y`` pairs -> (K, 2) float32."""
    if not path.is_file():
        raise SampleError(path, "landmark file not found")
    try:
        values = np.array(path.read_text().split(), dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise SampleError(path, f"cannot parse landmarks ({exc})") from exc
    count = int(values[0]) if values.size and values[0] == int(values[0]) else -1
    if count <= 0 or values.size != 1 + 2 * count:
        raise SampleError(
            path, f"expected a point count then that many 'x y' pairs, got {values.size} numbers"
        )
    return values[1:].reshape(count, 2).astype(np.float32)


class LapaReader(FaceParsingReader):
    """LaPa: ``root/{split}/images/*.jpg``, ``labels/*.png``, ``landmarks/*.txt``.

    The landmarks folder is optional; when present every sample must have its file.
    """

    layout = (
        "ROOT/{split}/images/{name}.jpg, ROOT/{split}/labels/{name}.png, ROOT/{split}/landmarks/{name}.txt"
    )
    schema = get_schema("lapa")

    def _list_names(self) -> list[str]:
        split_dir = require_dir(self.root / self.split, self.layout)
        self.image_dir = require_dir(split_dir / "images", self.layout)
        self.label_dir = require_dir(split_dir / "labels", self.layout)
        landmark_dir = split_dir / "landmarks"
        self.landmark_dir = landmark_dir if landmark_dir.is_dir() else None
        return natural_sorted(stems(self.image_dir, ".jpg") | stems(self.label_dir, ".png"))

    def _read(self, name: str) -> Sample:
        image, label = read_pair(self.image_dir / f"{name}.jpg", self.label_dir / f"{name}.png", self.schema)
        landmarks = None
        if self.landmark_dir is not None:
            landmarks = read_landmarks(self.landmark_dir / f"{name}.txt")
        return Sample(image=image, label=label, name=name, landmarks=landmarks)


HELEN_SPLIT_FILES = {"train": "exemplars.txt", "val": "tuning.txt", "test": "testing.txt"}


def read_helen_list(path: Path) -> list[str]:
    """Ids from a Helen split list; lines are ``1 , 100032540_1`` or a bare id."""
    names = []
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) > 2 or not fields[-1] or " " in fields[-1]:
            raise DataError(f"{path}:{line_no}: expected 'N , ID' or 'ID', got {line.strip()!r}")
        names.append(fields[-1])
    return names


class HelenReader(FaceParsingReader):
    """Helen (Smith et al. 2013): 11 soft maps per image; the hard label is their argmax."""

    layout = (
        "ROOT/images/{id}.jpg, ROOT/labels/{id}/{id}_lbl00.png ... _lbl10.png, "
        "ROOT/exemplars.txt (train), tuning.txt (val), testing.txt (test)"
    )
    schema = get_schema("helen")

    def _list_names(self) -> list[str]:
        self.image_dir = require_dir(self.root / "images", self.layout)
        self.label_dir = require_dir(self.root / "labels", self.layout)
        list_file = self.root / HELEN_SPLIT_FILES[self.split]
        if not list_file.is_file():
            raise DataError(f"missing split list {list_file}. Expected layout: {self.layout}")
        return read_helen_list(list_file)

    def _read(self, name: str) -> Sample:
        image_path = self.image_dir / f"{name}.jpg"
        map_dir = self.label_dir / name
        if not image_path.is_file() and map_dir.is_dir():
            raise SampleError(map_dir, f"labels have no matching image (expected {image_path})")
        image = read_image(image_path)
        if not map_dir.is_dir():
            raise SampleError(map_dir, f"missing soft-label folder for image {image_path.name}")
        label = self._hard_label(map_dir, name, image.shape)
        return Sample(image=image, label=label, name=name)

    def _hard_label(self, map_dir: Path, name: str, image_shape: tuple[int, ...]) -> np.ndarray:
        maps = []
        for class_id in range(self.schema.num_classes):
            path = map_dir / f"{name}_lbl{class_id:02d}.png"
            soft = read_gray(path)
            if soft.shape != tuple(image_shape[:2]):
                raise SampleError(
                    path,
                    f"soft map is {soft.shape[1]}x{soft.shape[0]} but image is "
                    f"{image_shape[1]}x{image_shape[0]} (WxH)",
                )
            maps.append(soft)
        # Ties (e.g. all maps 0) go to the lowest id, i.e. background.
        return np.argmax(np.stack(maps), axis=0).astype(np.uint8)


_FORMATS: dict[str, Callable[[Path, str], FaceParsingReader]] = {
    "prepared": PreparedReader,
    "celebamask_hq": CelebAMaskHQReader,
    "lapa": LapaReader,
    "helen": HelenReader,
}


def list_formats() -> list[str]:
    return sorted(_FORMATS)


def open_dataset(fmt: str, root: str | Path, split: str) -> FaceParsingReader:
    """Open one split of a dataset folder; ``fmt`` is one of ``list_formats()``."""
    key = fmt.replace("-", "_").lower()
    if key not in _FORMATS:
        raise UnknownNameError("dataset format", fmt, _FORMATS)
    return _FORMATS[key](Path(root), split)
