"""The heavy ResNet-101 teachers for distillation: BASS and AGRNet (docs/design.md#teachers).

They are training-side models only (never exported to an edge target), so unlike ``SegModel``
they accept any input size (473² in the papers), resizing inside their decoders. The contract is
otherwise the project's: eval ``forward(x)`` returns one logits tensor at the input size,
``forward_train(x)`` a ``SegOutputs`` (sub)class at 1/4 resolution whose ``features`` are the
penultimate features used by distillation, and ``forward_features(x)`` those features alone.
"""
from __future__ import annotations

TEACHER_ARCHITECTURES = ("bass", "agrnet")


def is_teacher(model_name: str) -> bool:
    """Whether a registered model name (``bass_r101``, ``agrnet_r18``...) is one of the teachers."""
    return model_name.split("_", 1)[0] in TEACHER_ARCHITECTURES
