"""Test-time augmentation: a model's probabilities averaged over input scales and a mirror view.

Used when a teacher labels (``distill.teacher_tta``) and by ``edgeparse evaluate --tta``, so the
teacher's reported scores are those of the outputs the student learns from. The mirrored view's
left/right classes are swapped back with the schema's flip pairs before averaging.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import Tensor, nn

from training.distill.config import TtaCfg
from training.models.layers.resize import resize_to
from training.models.seg_model import SegOutputs

# Floor of the averaged probability before the log: keeps the returned logits finite.
_MIN_PROB = 1e-8


def flip_channel_order(num_classes: int, flip_pairs: Sequence[Sequence[int]]) -> list[int]:
    """The channel order that turns a mirrored image's class scores into the original's."""
    order = list(range(num_classes))
    for a, b in flip_pairs:
        order[a], order[b] = b, a
    return order


class TestTimeAugmented(nn.Module):
    """Wraps a segmenter: returns log of the mean softmax over the views, at the input's size.

    The log of averaged probabilities is a proper logit: its softmax (T = 1) is the average.
    """

    def __init__(self, model: nn.Module, cfg: TtaCfg, flip_pairs: Sequence[Sequence[int]], num_classes: int):
        super().__init__()
        self.model, self.cfg = model, cfg
        self.channel_order = flip_channel_order(num_classes, flip_pairs)

    def forward_train(self, image: Tensor) -> SegOutputs:
        """The wrapped model's training outputs with the averaged logits on its logit grid
        (features stay the plain view's: they are not averaged over views)."""
        out = self.model.forward_train(image)
        averaged = self._average(image, plain_logits=out.logits)
        return replace(out, logits=resize_to(averaged, tuple(out.logits.shape[-2:])))

    def forward(self, image: Tensor) -> Tensor:
        return self._average(image)

    def _average(self, image: Tensor, plain_logits: Tensor | None = None) -> Tensor:
        """Log of the mean softmax over the views; ``plain_logits`` (already computed for the
        unscaled, unmirrored view) saves that view's forward pass."""
        height, width = image.shape[-2:]
        total = None
        for scale in self.cfg.scales:
            # Multiples of 32 keep every stride of the backbone whole.
            size = (max(32, round(height * scale / 32) * 32), max(32, round(width * scale / 32) * 32))
            view = image if size == (height, width) else resize_to(image, size)
            mirrors = (False, True) if self.cfg.flip else (False,)
            for mirrored in mirrors:
                if plain_logits is not None and view is image and not mirrored:
                    logits = plain_logits
                else:
                    logits = self.model(view.flip(-1) if mirrored else view)
                if mirrored:
                    logits = logits.flip(-1)[:, self.channel_order]
                probs = torch.softmax(resize_to(logits.float(), (height, width)), dim=1)
                total = probs if total is None else total + probs
        return (total / self.cfg.views).clamp_min(_MIN_PROB).log()
