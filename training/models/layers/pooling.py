"""Pooling written so every backend lowers it the same way."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def global_mean_pool(x: torch.Tensor) -> torch.Tensor:
    """Global average pool as a plain mean (one ReduceMean), never AdaptiveAvgPool (graph hygiene)."""
    return x.mean((2, 3), keepdim=True)


class ZeroPadMaxPool2d(nn.Module):
    """Equals ``nn.MaxPool2d(kernel, stride, padding)`` on inputs that are >= 0 (post-ReLU).

    MaxPool pads with -inf. LiteRT lowers that padding to a PADV2 with a -inf constant, which
    some delegates and int8 kernels reject. After a ReLU every value is >= 0 and every pooling
    window holds at least one real value, so padding with 0 gives identical results; it lowers
    to a plain zero Pad followed by an unpadded MaxPool.
    """

    def __init__(self, kernel_size: int = 3, stride: int = 2, padding: int = 1):
        super().__init__()
        self.padding = padding
        self.pool = nn.MaxPool2d(kernel_size, stride, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.padding
        return self.pool(F.pad(x, (p, p, p, p)))
