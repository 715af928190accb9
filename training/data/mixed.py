"""Several datasets as one training source in one label space, partial labels included.

A recipe's primary dataset defines the label space; ``data.extra_train`` adds sources labelled in
other schemas (translated through the schema mappings) or not labelled at all (distillation only).
A source class that maps to several target classes (LFW's ``face``: skin and every inner part) is
a *partial label*: its pixels get a set id ``PARTIAL_ID_BASE + k`` in the uint8 label, and
``label_codes`` turns that into the bitmask code the loss reads (``training.losses.pixel_nll``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.data import Sample
from edge.errors import ConfigError
from edge.schemas import IGNORE_INDEX, LabelSchema, get_schema, label_sets
from training.data.torch_dataset import SampleSource
from training.losses import PARTIAL_CODE_BASE

PARTIAL_ID_BASE = 200  # uint8 ids 200..254 name the partial-label sets of a mixed source
MAX_PARTIAL_SETS = IGNORE_INDEX - PARTIAL_ID_BASE


@dataclass
class PartialSets:
    """The partial-label sets met so far, in the target schema; set k has uint8 id 200 + k."""

    schema: LabelSchema
    sets: list[tuple[int, ...]] = field(default_factory=list)

    def id_of(self, classes: tuple[int, ...]) -> int:
        key = tuple(sorted(classes))
        flipped = tuple(sorted(int(c) for c in self.schema.flip_lut()[list(key)]))
        if flipped != key:  # a flip must map the set onto itself, or flipping would mislabel it
            names = [self.schema.class_names[c] for c in key]
            raise ConfigError(f"partial label {names} is not closed under left/right flips; add the "
                              "mirrored classes to it in the schema mapping")
        if key not in self.sets:
            if len(self.sets) == MAX_PARTIAL_SETS:
                raise ConfigError(f"more than {MAX_PARTIAL_SETS} partial-label sets in one training source")
            self.sets.append(key)
        return PARTIAL_ID_BASE + self.sets.index(key)

    def label_codes(self) -> np.ndarray:
        """A 256-entry int64 table from uint8 label ids to the loss's target codes."""
        codes = np.full(256, IGNORE_INDEX, dtype=np.int64)
        codes[: self.schema.num_classes] = np.arange(self.schema.num_classes)
        for k, classes in enumerate(self.sets):
            codes[PARTIAL_ID_BASE + k] = PARTIAL_CODE_BASE + sum(1 << c for c in classes)
        return codes


def translation_table(src: LabelSchema, partial: PartialSets) -> np.ndarray:
    """A 256-entry uint8 table from ``src`` ids to ids of ``partial.schema`` (sets included)."""
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for src_id, targets in enumerate(label_sets(src.name, partial.schema.name)):
        if len(targets) == 1:
            lut[src_id] = targets[0]
        elif targets:
            lut[src_id] = partial.id_of(targets)
    return lut


@dataclass(frozen=True)
class SourcePart:
    source: SampleSource
    repeat: float  # samples per epoch = round(len(source) * repeat)


class MixedSource:
    """The concatenation of ``parts``, every label translated into ``schema``.

    ``repeat`` < 1 takes an evenly spaced subset of a part, > 1 repeats it: the mix ratio of a
    recipe does not depend on how a folder happens to sort.
    """

    def __init__(self, parts: list[SourcePart], schema: LabelSchema | str):
        if not parts:
            raise ConfigError("a mixed training source needs at least one dataset")
        self.schema = get_schema(schema) if isinstance(schema, str) else schema
        self.partial = PartialSets(self.schema)
        self._parts = parts
        self._tables = [translation_table(p.source.schema, self.partial) for p in parts]
        self._counts = []
        for part in parts:
            if part.repeat <= 0:
                raise ConfigError(f"repeat must be > 0, got {part.repeat}")
            self._counts.append(max(1, round(len(part.source) * part.repeat)))
        self._starts = np.cumsum([0, *self._counts])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """(part, index within that part's source) of mixed sample ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} mixed samples")
        part = int(np.searchsorted(self._starts, index, side="right")) - 1
        offset, size = index - int(self._starts[part]), len(self._parts[part].source)
        return part, offset * size // self._counts[part] if self._counts[part] < size else offset % size

    def __getitem__(self, index: int) -> Sample:
        part, inner = self.locate(index)
        sample = self._parts[part].source[inner]
        label = self._tables[part][sample.label]
        return Sample(image=sample.image, label=label, name=sample.name, landmarks=sample.landmarks)

    def describe(self) -> str:
        return ", ".join(f"{p.source!r} x{p.repeat:g} ({n})" for p, n in zip(self._parts, self._counts, strict=True))
