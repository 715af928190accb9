"""Turn a ``DataCfg`` into sample sources and data loaders."""
from __future__ import annotations

import logging
from pathlib import Path

from torch.utils.data import DataLoader

from edge.data import check_split, open_dataset
from edge.errors import ConfigError, DataError
from training.config import DataCfg
from training.data.augment import Augmenter
from training.data.mixed import MixedSource, SourcePart
from training.data.synthetic import SyntheticFaces
from training.data.torch_dataset import EpochSampler, SampleSource, SegmentationDataset
from training.distributed import DistInfo

log = logging.getLogger(__name__)


def limit_worker_threads(worker_id: int) -> None:
    """One thread per data worker: OpenCV and torch would otherwise each start a pool per
    worker and oversubscribe the cores the training step needs."""
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def build_source(cfg: DataCfg, split: str) -> SampleSource:
    """The samples of one split: synthetic faces or a dataset on disk, plus ``extra_train``
    datasets on the train split."""
    primary = _primary_source(cfg, split)
    if split != cfg.train_split or not cfg.extra_train:
        return primary
    extras = [SourcePart(_open(e.format, e.root, e.split, e.schema), e.repeat) for e in cfg.extra_train]
    mixed = MixedSource([SourcePart(primary, 1.0), *extras], primary.schema)
    log.info("training mix: %s", mixed.describe())
    return mixed


def _open(fmt: str, root: str, split: str, schema: str) -> SampleSource:
    if not Path(root).is_dir():
        hint = (" (recipes find the real face data at ../shared/data, beside the repository: see its README)"
                if "shared/data" in Path(root).as_posix() else "")
        raise DataError(f"dataset folder {root} does not exist{hint}")
    return open_dataset(fmt, root, split, schema if fmt == "folder" else None)


def _primary_source(cfg: DataCfg, split: str) -> SampleSource:
    if cfg.format == "synthetic":
        if check_split(split) not in (cfg.train_split, cfg.val_split):  # any other name would get val's faces
            raise ConfigError(f"synthetic data has a {cfg.train_split} and a {cfg.val_split} split only (faces drawn "
                              f"from data.seed and data.seed + 1), no {split!r} split; score {cfg.val_split}, or a "
                              f"dataset on disk with data.format=... data.root=...")
        train = split == cfg.train_split
        return SyntheticFaces(
            cfg.schema,
            size=cfg.size,
            length=cfg.synthetic_train if train else cfg.synthetic_val,
            seed=cfg.seed if train else cfg.seed + 1,  # val never overlaps train
        )
    if not cfg.root:
        raise ConfigError(f"data.root is required for data.format={cfg.format!r} (the dataset folder)")
    return _open(cfg.format, cfg.root, split, cfg.schema)


def build_loader(cfg: DataCfg, split: str, batch_size: int, seed: int, info: DistInfo,
                 train: bool) -> tuple[DataLoader, EpochSampler, SampleSource]:
    source = build_source(cfg, split)
    augmenter = Augmenter(cfg.augment, source.schema) if train and cfg.augment.enabled else None
    dataset = SegmentationDataset(source, cfg.size, augmenter, seed=seed, boundary=cfg.boundary)
    if len(dataset) == 0:  # training would run without validation, an evaluation would score nothing
        raise DataError(f"the {split} split of {cfg.root} ({cfg.format}) has no samples; add samples to it (an "
                        f"unsplit folder sends about 1 name in 8 to val, by a hash of the name), give the folder "
                        f"its own train/ and val/ subfolders, or choose another split")
    sampler = EpochSampler(len(dataset), batch_size, seed, shuffle=train, rank=info.rank,
                           world_size=info.world_size, drop_last=train)
    if train and sampler.batches_per_epoch() == 0:
        raise ConfigError(
            f"split {split!r} has {len(dataset)} samples: too few for one batch of {batch_size} "
            f"on {info.world_size} process(es)"
        )
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=cfg.workers,
                        pin_memory=info.device.type == "cuda", drop_last=False,
                        persistent_workers=False, worker_init_fn=limit_worker_threads)
    return loader, sampler, source
