"""Label schemas (class ids, names, colours, flip pairs) and mappings between them.

All of it is data in ``schemas.yaml``; this module only loads and checks it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import yaml

from edge.errors import ConfigError, UnknownNameError, printable, registered_name

IGNORE_INDEX = 255
_SCHEMA_FILE = Path(__file__).with_name("schemas.yaml")


@dataclass(frozen=True)
class LabelSchema:
    """One dataset's label space. Class ids are positions in ``class_names``."""

    name: str
    class_names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]
    merged_sets: dict[str, tuple[int, ...]] = field(default_factory=dict)
    description: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def index(self, class_name: str) -> int:
        if class_name not in self.class_names:
            raise UnknownNameError(f"class of schema {self.name!r}", class_name, self.class_names)
        return self.class_names.index(class_name)

    def flip_lut(self) -> np.ndarray:
        """A 256-entry uint8 table that swaps left/right ids (ignore stays 255)."""
        lut = np.arange(256, dtype=np.uint8)
        for a, b in self.flip_pairs:
            lut[a], lut[b] = b, a
        return lut

    def palette(self) -> np.ndarray:
        """(256, 3) uint8 RGB palette; unknown ids and ignore are white."""
        pal = np.full((256, 3), 255, dtype=np.uint8)
        pal[: self.num_classes] = np.asarray(self.colors, dtype=np.uint8)
        return pal

    def colorize(self, label: np.ndarray) -> np.ndarray:
        """Map an (H, W) label map to an (H, W, 3) RGB image."""
        return self.palette()[label.astype(np.uint8)]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "class_names": list(self.class_names),
            "colors": [list(c) for c in self.colors],
            "flip_pairs": [list(p) for p in self.flip_pairs],
            "merged_sets": {k: list(v) for k, v in self.merged_sets.items()},
        }

    @classmethod
    def from_dict(cls, data: dict) -> LabelSchema:
        """Rebuild a schema stored in a checkpoint or bundle manifest."""
        try:
            schema = cls(
                name=str(data["name"]),
                class_names=tuple(data["class_names"]),
                colors=tuple(tuple(int(v) for v in c) for c in data["colors"]),
                flip_pairs=tuple(tuple(p) for p in data.get("flip_pairs", [])),
                merged_sets={k: tuple(v) for k, v in data.get("merged_sets", {}).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"malformed label schema record: {exc!r}") from exc
        schema._check()
        return schema

    def _check(self) -> None:
        """``ConfigError`` unless every class has a printable name and one RGB colour, and flip pairs
        name classes: what the overlay, palette and mirroring index by class id."""
        where = f"label schema {printable(self.name)!r}"
        if not all(isinstance(n, str) and n and n.isprintable() for n in self.class_names):
            raise ConfigError(f"{where}: class names must be printable text, got "
                              f"{[printable(str(n)) for n in self.class_names]}")
        if len(self.colors) != self.num_classes or any(len(c) != 3 or not all(0 <= v <= 255 for v in c)
                                                        for c in self.colors):
            raise ConfigError(f"{where}: {len(self.colors)} colours for {self.num_classes} classes; every class "
                              "needs one colour of 3 values in 0..255")
        ids = [i for pair in self.flip_pairs for i in pair]
        if any(len(pair) != 2 for pair in self.flip_pairs) or not all(0 <= i < self.num_classes for i in ids):
            raise ConfigError(f"{where}: flip pairs {[list(p) for p in self.flip_pairs]} must be pairs of class ids "
                              f"0..{self.num_classes - 1}")


@lru_cache(maxsize=1)
def _load() -> dict:
    return yaml.safe_load(_SCHEMA_FILE.read_text())


def list_schemas() -> list[str]:
    return sorted(_load()["schemas"])


@cache
def get_schema(name: str) -> LabelSchema:
    """Return the named schema (``celebamask_hq``, ``lapa``, ``helen``)."""
    schemas = _load()["schemas"]
    key = registered_name("label schema", name, schemas)
    raw = schemas[key]
    names = tuple(c["name"] for c in raw["classes"])
    colors = tuple(tuple(c["color"]) for c in raw["classes"])
    pairs = tuple((names.index(a), names.index(b)) for a, b in raw.get("flip_pairs", []))
    merged = {k: tuple(names.index(n) for n in v) for k, v in raw.get("merged_sets", {}).items()}
    return LabelSchema(key, names, colors, pairs, merged, raw.get("description", ""))


@cache
def label_sets(src: str, dst: str) -> tuple[tuple[int, ...], ...]:
    """For each ``src`` class, the ``dst`` classes it may be: one id (an exact mapping), several
    (a partial label: the pixel is one of them, which one is unknown) or none (``ignore``).

    Identity when ``src == dst``. Raises ``ConfigError`` when no mapping is defined.
    """
    s, d = get_schema(src), get_schema(dst)
    if s.name == d.name:
        return tuple((i,) for i in range(s.num_classes))
    mappings = _load()["mappings"]
    key = f"{s.name}->{d.name}"
    if key not in mappings:
        known = ", ".join(sorted(mappings))
        raise ConfigError(f"no label mapping from {s.name!r} to {d.name!r}. Defined mappings: {known}")
    explicit = mappings[key] or {}
    unknown = sorted(set(explicit) - set(s.class_names))
    if unknown:
        raise ConfigError(f"mapping {key}: source classes {unknown} are not in {s.name!r}")
    sets = []
    for cls_name in s.class_names:
        target = explicit.get(cls_name, cls_name)
        names = [] if target == "ignore" else [target] if isinstance(target, str) else list(target)
        missing = [n for n in names if n not in d.class_names]
        if missing:
            raise ConfigError(f"mapping {key}: class {cls_name!r} has no counterpart {missing} in {d.name!r}")
        sets.append(tuple(d.class_names.index(n) for n in names))
    return tuple(sets)


@cache
def class_mapping(src: str, dst: str) -> np.ndarray:
    """A 256-entry uint8 lookup table from ``src`` ids to ``dst`` ids (255 = ignore).

    Raises ``ConfigError`` when no mapping is defined or when it holds partial labels
    (a class that maps to several targets has no single id: use ``label_sets``).
    """
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for src_id, targets in enumerate(label_sets(src, dst)):
        if len(targets) > 1:
            raise ConfigError(f"mapping {src}->{dst} maps class {get_schema(src).class_names[src_id]!r} to "
                              f"several classes (a partial label): it has no one-to-one label map")
        if targets:
            lut[src_id] = targets[0]
    return lut


def probability_mapping(src: str, dst: str) -> np.ndarray:
    """A (C_src, C_dst) 0/1 matrix that sums source probabilities into target classes.

    Source classes mapped to ``ignore`` have an all-zero row: their mass is dropped,
    and callers renormalise over what is left.
    """
    s, d = get_schema(src), get_schema(dst)
    lut = class_mapping(src, dst)
    matrix = np.zeros((s.num_classes, d.num_classes), dtype=np.float32)
    for i in range(s.num_classes):
        if lut[i] != IGNORE_INDEX:
            matrix[i, lut[i]] = 1.0
    return matrix


def remap_labels(label: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Translate a label map between schemas; ignore (255) stays ignore."""
    return class_mapping(src, dst)[label]
