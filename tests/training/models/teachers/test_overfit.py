"""Each teacher, trained by its own loss, fits one synthetic sample: the loss falls within a few steps.

Reduced-width ResNet-18 variants at 64² keep it to a second or two on CPU; the batch repeats the
sample twice because the pyramid pooling's 1×1 bin needs two images to batch-normalise.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edge.boundary import ce2p_boundary, neighbour_boundary
from training.config import LossCfg
from training.losses import build_criterion
from training.models import create_model

SIZE = 64
STEPS = 8


def _sample(boundary_gt) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A face-like label (background, a disk, two 'eyes', a 'mouth') and an image that shows it."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    label = np.zeros((SIZE, SIZE), np.uint8)
    label[(yy - 32) ** 2 + (xx - 32) ** 2 < 24 ** 2] = 1
    label[22:28, 20:28] = 2
    label[22:28, 36:44] = 2
    label[40:45, 24:40] = 3
    g = torch.Generator().manual_seed(0)
    image = torch.from_numpy(label).float()[None].repeat(3, 1, 1) / 3 + 0.1 * torch.randn(3, SIZE, SIZE, generator=g)
    boundary = torch.from_numpy(boundary_gt(label).astype(np.float32))
    target = torch.from_numpy(label.astype(np.int64))
    return image[None].repeat(2, 1, 1, 1), target[None].repeat(2, 1, 1), boundary[None].repeat(2, 1, 1)


@pytest.mark.parametrize("model_name, loss_name, boundary_gt", [
    ("bass_r18", "bass", ce2p_boundary),
    ("agrnet_r18", "agrnet", neighbour_boundary),
])
def test_loss_falls_when_overfitting_one_sample(model_name, loss_name, boundary_gt):
    torch.manual_seed(0)
    model = create_model(model_name, num_classes=4, width=16, deep_stem=False).train()
    criterion = build_criterion(LossCfg(name=loss_name))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images, target, boundary = _sample(boundary_gt)
    totals = []
    for _ in range(STEPS):
        losses = criterion(model.forward_train(images), target, boundary)
        optimizer.zero_grad()
        losses["total"].backward()
        optimizer.step()
        totals.append(losses["total"].item())
    assert totals[-1] < 0.8 * totals[0], totals
