"""TensorFlow "SAME" padding as a fixed, explicit pad (static graphs, no shape arithmetic)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SamePad2d(nn.Module):
    """Zero padding that reproduces TF ``padding="SAME"`` for a square conv on even-sized inputs.

    TF pads ``max((ceil(n / s) - 1) * s + k - n, 0)`` pixels per axis, the odd pixel going to the
    bottom/right. For stride 1 that is ``k - 1``; for stride 2 and an even ``n`` it is ``k - 2``
    whatever ``n`` is, so the pad can be fixed at build time and the exported graph stays static.
    Models using it require input sizes divisible by their output stride (``SegModel`` checks).
    """

    def __init__(self, kernel_size: int, stride: int):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"SamePad2d supports stride 1 or 2, got {stride}")
        total = max(kernel_size - stride, 0)
        before = total // 2
        self.pad = (before, total - before, before, total - before)  # (left, right, top, bottom)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, self.pad)
