"""Torch view of any sample source: resize, augment, normalise, boundary GT.

Randomness is keyed by (seed, epoch, index), so a resumed run replays exactly the
samples and augmentations it would have seen, whatever the worker count.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from edge.boundary import ce2p_boundary, neighbour_boundary
from edge.data import Sample
from edge.errors import UnknownNameError
from edge.preprocess import normalize, resize_image, resize_label
from edge.schemas import LabelSchema
from training.data.augment import Augmenter


class SampleSource(Protocol):
    schema: LabelSchema

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Sample: ...


# Boundary ground truth by ``DataCfg.boundary``: CE2P's for EHANet and BASS, AGRNet's own for AGRNet.
BOUNDARY_GT = {"ce2p": ce2p_boundary, "neighbour": neighbour_boundary}


class SegmentationDataset(Dataset):
    """Yields dicts with ``image`` (3,H,W float), ``label`` (H,W long), ``boundary`` (H,W float),
    and the sample key ``index``, ``epoch`` (ints; they key the distillation teacher cache)."""

    def __init__(self, source: SampleSource, size: int, augmenter: Augmenter | None, seed: int = 0,
                 boundary: str = "ce2p"):
        if boundary not in BOUNDARY_GT:
            raise UnknownNameError("boundary", boundary, BOUNDARY_GT)
        self.source, self.size, self.augmenter, self.seed = source, (size, size), augmenter, seed
        self.boundary_gt = BOUNDARY_GT[boundary]  # computed on the augmented label at the training size
        # Mixed sources hold partial-label ids; the loss reads them as bitmask codes.
        partial = getattr(source, "partial", None)
        self.label_codes = partial.label_codes() if partial is not None else None

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        sample = self.source[index]
        image = resize_image(sample.image, self.size)
        label = resize_label(sample.label, self.size)
        if self.augmenter is not None:
            rng = np.random.default_rng([self.seed, epoch, index])
            image, label = self.augmenter(image, label, rng)
        target = self.label_codes[label] if self.label_codes is not None else label.astype(np.int64)
        return {
            "image": torch.from_numpy(normalize(image)),
            "label": torch.from_numpy(target),
            "boundary": torch.from_numpy(self.boundary_gt(label).astype(np.float32)),
            "index": index,
            "epoch": epoch,
        }


class EpochSampler(Sampler):
    """Seeded per-epoch shuffle, sharded across DDP ranks, resumable mid-epoch.

    Yields ``(index, epoch)`` keys so the dataset can seed augmentation per epoch.
    """

    def __init__(self, length: int, batch_size: int, seed: int, shuffle: bool = True,
                 rank: int = 0, world_size: int = 1, drop_last: bool = True):
        self.length, self.batch_size, self.seed, self.shuffle = length, batch_size, seed, shuffle
        self.rank, self.world_size, self.drop_last = rank, world_size, drop_last
        self.epoch, self.skip_batches = 0, 0

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.epoch, self.skip_batches = epoch, skip_batches

    def _rank_indices(self) -> Sequence[int]:
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.length)
        else:
            order = np.arange(self.length)
        if self.drop_last:  # equal shards, so DDP ranks run the same number of steps
            order = order[: self.length // self.world_size * self.world_size]
        return order[self.rank::self.world_size].tolist()

    def batches_per_epoch(self) -> int:
        n = len(self._rank_indices())
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __len__(self) -> int:
        return max(0, self.batches_per_epoch() - self.skip_batches) * self.batch_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        indices = self._rank_indices()
        usable = self.batches_per_epoch() * self.batch_size
        for i in indices[self.skip_batches * self.batch_size:usable]:
            yield int(i), self.epoch
