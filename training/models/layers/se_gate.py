"""Squeeze-and-excitation channel gate."""
from __future__ import annotations

import torch
from torch import nn

from training.models.layers.pooling import global_mean_pool


class SEGate(nn.Module):
    """``x * sigmoid(W2 · relu(W1 · mean(x)))`` with bias-free 1×1 convs (EHANet's SCAM gate)."""

    def __init__(self, channels: int, hidden_channels: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, hidden_channels, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(hidden_channels, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.expand(self.relu(self.reduce(global_mean_pool(x)))))
        return x * gate
