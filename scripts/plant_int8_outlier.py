"""Plant an int8 failure that mixed precision can repair: activation outlier channels, FP32 unchanged.

Two ReLU activations of an EHANet-MBV2 checkpoint get one channel scaled ×``--scale`` (the producer's
weights, or its BatchNorm's affine, times the scale; ReLU is positively homogeneous) and their one
consumer convolution reads that channel ÷ the scale, so the FP32 network computes the same logits. A
per-tensor int8 quantizer at each consumer's input now spends its range on the outlier channel and
rounds every other channel to zero: the int8 model fails its parity gate, and keeping the two
consumers float repairs it. This is the failure mixed precision exists for (outlier channels are a
known trait of trained networks), planted where it can be checked:

    python scripts/plant_int8_outlier.py runs/planted/student_outlier.pt
    edgeparse deploy --target cpu --precisions int8 --checkpoint runs/planted/student_outlier.pt --out runs/planted

A bad calibration (``calibration_images=1``) is no such failure: it narrows every range a little, and
no few float layers repair it (README, "Mixed-precision fallback").
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

# (ReLU producer's scaled parameters, the one consumer conv's weight): the SGCB branch at 1/4 resolution and
# the fine boundary projection, both read by the logits.
PLANTS = (
    (("neck.gap_compensation.0.branches.0.0.weight",), "neck.gap_compensation.0.branches.0.2.0.weight"),
    (("head.boundary.fine.0.1.weight", "head.boundary.fine.0.1.bias"), "head.boundary.fine.1.0.weight"),
)


def plant(state: dict[str, torch.Tensor], scale: float, channel: int = 0) -> list[str]:
    """Scale ``channel`` of each producer by ``scale`` and its consumer's input by 1/``scale``; returns the
    consumer module paths (the layers the fallback should keep float)."""
    for producers, consumer in PLANTS:
        for name in producers:
            state[name][channel] *= scale
        state[consumer][:, channel] /= scale
    return [consumer.removesuffix(".weight") for _, consumer in PLANTS]


def main() -> None:
    from targets.config import DEFAULT_CHECKPOINT
    from training.checkpoint import build_model_from_checkpoint, load_checkpoint, save_checkpoint

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="planted checkpoint to write")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="an EHANet-MBV2 checkpoint")
    parser.add_argument("--scale", type=float, default=1000.0, help="outlier factor (default 1000)")
    args = parser.parse_args()
    payload = load_checkpoint(args.checkpoint)
    x = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = build_model_from_checkpoint(payload).eval()(x)
        layers = plant(payload["state_dict"], args.scale)
        after = build_model_from_checkpoint(payload).eval()(x)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(payload, args.out)
    print(f"wrote {args.out}: outlier channels read by {', '.join(layers)}; FP32 max |Δlogit| "
          f"{float((after - before).abs().max()):.2e}")


if __name__ == "__main__":
    main()
