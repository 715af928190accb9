"""Turn a ``DataCfg`` into sample sources and data loaders."""
from __future__ import annotations

from torch.utils.data import DataLoader

from edge.data import open_dataset
from edge.errors import ConfigError
from training.config import DataCfg
from training.data.augment import Augmenter
from training.data.synthetic import SyntheticFaces
from training.data.torch_dataset import EpochSampler, SampleSource, SegmentationDataset
from training.distributed import DistInfo


def limit_worker_threads(worker_id: int) -> None:
    """One thread per data worker: OpenCV and torch would otherwise each start a pool per
    worker and oversubscribe the cores the training step needs."""
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def build_source(cfg: DataCfg, split: str) -> SampleSource:
    """The samples of one split: synthetic faces, or a real dataset on disk."""
    if cfg.format == "synthetic":
        train = split == cfg.train_split
        return SyntheticFaces(
            cfg.schema,
            size=cfg.size,
            length=cfg.synthetic_train if train else cfg.synthetic_val,
            seed=cfg.seed if train else cfg.seed + 1,  # val never overlaps train
        )
    if not cfg.root:
        raise ConfigError(f"data.root is required for data.format={cfg.format!r} (the dataset folder)")
    return open_dataset(cfg.format, cfg.root, split)


def build_loader(cfg: DataCfg, split: str, batch_size: int, seed: int, info: DistInfo,
                 train: bool) -> tuple[DataLoader, EpochSampler, SampleSource]:
    source = build_source(cfg, split)
    augmenter = Augmenter(cfg.augment, source.schema) if train and cfg.augment.enabled else None
    dataset = SegmentationDataset(source, cfg.size, augmenter, seed=seed, boundary=cfg.boundary)
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
