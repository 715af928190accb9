"""How sharp a teacher's targets are where distillation matters: borders and thin parts.

For each checkpoint, on the validation split of its own recipe (or ``--data`` overrides), prints the
mean top-class probability and the mean probability of the true class on boundary pixels, and the
argmax accuracy on thin-class pixels. A teacher trained on noisy labels can match a clean one's argmax
while splitting its probability at borders; as a KD target it then teaches less
(docs/distillation.md, "Measured").

    python scripts/teacher_confidence.py runs/kd_ablation/teacher_stage2/best.pt \\
        runs/kd_ablation/teacher_n2/best.pt --data data.seed=2020
"""
from __future__ import annotations

import argparse
import sys

import torch
from tqdm import tqdm

from edge.errors import ConfigError
from edge.schemas import IGNORE_INDEX, LabelSchema
from training.evaluate_cmd import load_for_evaluation

DEFAULT_THIN = ("l_brow", "r_brow", "u_lip")


def thin_class_ids(schema: LabelSchema, names: list[str]) -> list[int]:
    unknown = [n for n in names if n not in schema.class_names]
    if unknown:
        raise ConfigError(f"--thin: {', '.join(unknown)} not in schema {schema.name!r} ({', '.join(schema.class_names)})")
    return [schema.class_names.index(n) for n in names]


@torch.no_grad()
def border_confidence(checkpoint: str, overrides: list[str], thin: list[str]) -> dict[str, float]:
    model, loader, _, schema = load_for_evaluation(checkpoint, overrides)
    thin_ids = torch.tensor(thin_class_ids(schema, thin))
    model.eval()
    sums = dict.fromkeys(("top", "true", "border", "thin_hit", "thin"), 0.0)
    for batch in tqdm(loader, desc=checkpoint, unit="batch", leave=False, file=sys.stderr):
        probs = model(batch["image"]).float().softmax(1)
        label = batch["label"].long()
        valid = label != IGNORE_INDEX
        border = (batch["boundary"] > 0) & valid
        true = probs.gather(1, label.clamp_max(probs.shape[1] - 1)[:, None])[:, 0]
        sums["top"] += probs.max(1).values[border].sum().item()
        sums["true"] += true[border].sum().item()
        sums["border"] += border.sum().item()
        is_thin = torch.isin(label, thin_ids)
        sums["thin_hit"] += (probs.argmax(1) == label)[is_thin].sum().item()
        sums["thin"] += is_thin.sum().item()
    if not sums["border"] or not sums["thin"]:
        raise ConfigError(f"{checkpoint}: the split has no boundary or no {'/'.join(thin)} pixels to score")
    return {"top-class prob., borders": sums["top"] / sums["border"],
            "true-class prob., borders": sums["true"] / sums["border"],
            "argmax accuracy, thin parts": sums["thin_hit"] / sums["thin"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", help="teacher checkpoints")
    parser.add_argument("--data", nargs="*", default=[], metavar="KEY=VALUE",
                        help="data overrides on each checkpoint's recipe (e.g. data.seed=2020)")
    parser.add_argument("--thin", nargs="+", default=list(DEFAULT_THIN), help="the thin classes, by name")
    args = parser.parse_args(argv)
    rows = {path: border_confidence(path, args.data, args.thin) for path in args.checkpoints}
    columns = list(next(iter(rows.values())))
    print("| teacher | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for path, row in rows.items():
        print(f"| {path} | " + " | ".join(f"{row[c]:.3f}" for c in columns) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
