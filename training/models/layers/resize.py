"""The one feature-map resize used by every model."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def resize_to(x: torch.Tensor, ref_or_size: torch.Tensor | Sequence[int]) -> torch.Tensor:
    """Bilinearly resize ``x`` to the spatial size of a reference tensor or to ``(h, w)``.

    The original EHANet code uses ``align_corners=True``. We deliberately use
    ``align_corners=False`` (developers' guide, graph hygiene): it is the ONNX/TFLite/TensorRT
    default ("half_pixel") and the mode that every edge backend implements identically.
    """
    size = tuple(ref_or_size.shape[-2:]) if isinstance(ref_or_size, torch.Tensor) else tuple(ref_or_size)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
