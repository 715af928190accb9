"""Dataset-level evaluation of a model: one confusion matrix over the whole split."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from edge.metrics import ConfusionMatrix
from training.distributed import DistInfo, all_reduce_sum


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, num_classes: int, info: DistInfo,
             progress: bool = True, prediction_map: np.ndarray | None = None) -> ConfusionMatrix:
    """Argmax predictions at the loader's size against its labels; summed over DDP ranks.

    ``prediction_map`` (a 256-entry uint8 table, ``edge.schemas.class_mapping``) scores a model in a
    coarser label space than its own, e.g. a 19-class model on LFW's background/face/hair;
    ``num_classes`` is then the dataset's.
    """
    was_training = model.training
    model.eval()
    matrix = ConfusionMatrix(num_classes)
    for batch in tqdm(loader, desc="eval", leave=False, disable=not (progress and info.is_main)):
        logits = model(batch["image"].to(info.device, non_blocking=True))
        pred = logits.argmax(1).cpu().numpy().astype(np.uint8)
        if prediction_map is not None:
            pred = prediction_map[pred]
        matrix.update(batch["label"].numpy(), pred)
    model.train(was_training)
    counts = all_reduce_sum(torch.from_numpy(matrix.matrix.astype(np.int64)).to(info.device), info)
    return ConfusionMatrix.from_counts(counts.cpu().numpy())
