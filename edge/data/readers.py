"""Readers for the dataset layouts edgeparse understands, and ``open_dataset``.

* ``prepared``: the layout ``edgeparse data prepare`` writes (``{split}_img/{n}.jpg``,
  ``{split}_label/{n}.png`` and a ``dataset.json`` naming the label schema).
* ``celebamask_hq``: a prepared CelebAMask-HQ folder, including one made by the official
  ``g_partition.py`` (no ``dataset.json``).
* ``lapa``: LaPa as released, with 106-point landmarks.
* ``helen``: Smith et al.'s "SmithCVPR2013_dataset_resized", soft maps turned hard by argmax.
* ``folder``: any images folder with a masks folder of class ids and a named schema; users' own data.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge.data.base import (
    FaceParsingReader,
    Sample,
    SampleError,
    check_label,
    natural_sorted,
    read_gray,
    read_image,
    read_mask,
    read_pair,
    require_dir,
    stems,
)
from edge.errors import ConfigError, DataError, registered_name
from edge.schemas import IGNORE_INDEX, LabelSchema, get_schema, list_schemas

log = logging.getLogger(__name__)

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


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
# The share of an unsplit folder that is val. Fixed once, never tuned: a name's split is a hash of
# the name alone, so adding or removing files never moves the others between train and val.
FOLDER_VAL_FRACTION = 1 / 8


def hashed_split(name: str) -> str:
    """``val`` for about ``FOLDER_VAL_FRACTION`` of all names, ``train`` for the rest."""
    value = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") / 2**32
    return "val" if value < FOLDER_VAL_FRACTION else "train"


class FolderReader(FaceParsingReader):
    """Users' own data: images, masks holding class ids (palette PNGs read as ids) and a schema.

    Either ``ROOT/{split}/images`` + ``ROOT/{split}/masks`` (the folder's own splits), or
    ``ROOT/images`` + ``ROOT/masks`` split by ``hashed_split`` (no test split). A folder without
    masks is unlabelled: every label pixel is ignore (255) and all images are ``train``.
    """

    layout = ("ROOT/images/NAME.{jpg,png} + ROOT/masks/NAME.png, or ROOT/{train,val,test}/images + masks/; "
              "no masks folder = unlabelled images (also images directly in ROOT)")

    def __init__(self, root: str | Path, split: str, schema: str):
        self.schema = get_schema(schema)
        super().__init__(root, split)

    @property
    def labelled(self) -> bool:
        return self.mask_dir is not None

    def _list_names(self) -> list[str]:
        split_dir = self.root / self.split
        if (split_dir / "images").is_dir():
            base, own_splits = split_dir, True
        elif any((self.root / s / "images").is_dir() for s in ("train", "val", "test")):
            raise DataError(f"{self.root} has no {self.split}/images folder. Expected layout: {self.layout}")
        else:
            base, own_splits = self.root, False
        self.image_dir = base / "images" if (base / "images").is_dir() else base
        self.mask_dir = base / "masks" if (base / "masks").is_dir() else None
        images = {p.stem: p for p in sorted(self.image_dir.iterdir())
                  if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")}
        if not images:
            raise DataError(f"{self.image_dir} holds no images (*.jpg, *.png). Expected layout: {self.layout}")
        self._images = images
        names = set(images)
        if self.mask_dir is not None:
            masks = stems(self.mask_dir, ".png")
            # A file without its partner is no sample: listed as bad (``data check`` exits non-zero),
            # warned about once here, and left out rather than failing a long run at its first batch.
            self.orphans = [(str(self.mask_dir / f"{n}.png"), "mask has no matching image") for n in sorted(masks - names)]
            self.orphans += [(str(images[n]), "image has no matching mask") for n in sorted(names - masks)]
            names &= masks
        if not own_splits and self.mask_dir is not None:
            self.orphans = [o for o in self.orphans if hashed_split(Path(o[0]).stem) == self.split]
        for path, reason in self.orphans:
            log.warning("%s: %s; left out (run `edgeparse data check` for the full list)", path, reason)
        if own_splits:
            return natural_sorted(names)
        if self.mask_dir is None:
            if self.split != "train":
                raise DataError(f"{self.root} holds unlabelled images: it has only a train split, not "
                                f"{self.split!r}")
            return natural_sorted(names)
        if self.split == "test":
            raise DataError(f"{self.root} has no splits of its own, so edgeparse splits it into train and val "
                            "(by a hash of each name); there is no test split")
        return natural_sorted(n for n in names if hashed_split(n) == self.split)

    def _read(self, name: str) -> Sample:
        image = read_image(self._images[name])
        if self.mask_dir is None:
            return Sample(image=image, label=np.full(image.shape[:2], IGNORE_INDEX, np.uint8), name=name)
        mask_path = self.mask_dir / f"{name}.png"
        label = read_mask(mask_path)
        check_label(label, image.shape, self.schema, mask_path, self._images[name])
        return Sample(image=image, label=label, name=name)


_FORMATS: dict[str, Callable[[Path, str], FaceParsingReader]] = {
    "prepared": PreparedReader,
    "celebamask_hq": CelebAMaskHQReader,
    "lapa": LapaReader,
    "helen": HelenReader,
}
FOLDER_FORMAT = "folder"


def list_formats() -> list[str]:
    return sorted([*_FORMATS, FOLDER_FORMAT])


def open_dataset(fmt: str, root: str | Path, split: str, schema: str | None = None) -> FaceParsingReader:
    """Open one split of a dataset folder; ``fmt`` is one of ``list_formats()``.

    ``schema`` names the label schema of a ``folder`` dataset (required there); the other
    formats carry their own and refuse a different one.
    """
    key = registered_name("dataset format", fmt, list_formats())
    if key == FOLDER_FORMAT:
        if not schema:
            raise ConfigError(f"the folder format needs a label schema (data.schema), one of: "
                              f"{', '.join(list_schemas())}")
        return FolderReader(Path(root), split, schema)
    reader = _FORMATS[key](Path(root), split)
    if schema and get_schema(schema).name != reader.schema.name:
        raise ConfigError(f"a {key} dataset holds {reader.schema.name!r} labels, not {schema!r}; "
                          "remove the schema or use data.format=folder")
    return reader
