"""Per-class table of a two-arm ablation over seeds: (no-KD, KD) student pairs, one pair per seed, and
optionally their teacher.

Each student is scored on the validation split of its own recipe (the two arms of one seed share
it); the teacher is scored on each seed's split and averaged. Prints a markdown table of val IoU per
class, mIoU, mean F1 and pixel accuracy, with the mean Δ (KD − no KD) over seeds. ``--arms`` names
the arms of another ablation (``make autolabel-ablation``: without and with auto-labelled faces).

    python scripts/kd_ablation_report.py --teacher runs/kd_ablation/teacher_stage2/best.pt \
        --pair 2020 runs/kd_ablation/n2_nokd_2020/best.pt runs/kd_ablation/n2_kd_2020/best.pt \
        --pair 2021 runs/kd_ablation/n2_nokd_2021/best.pt runs/kd_ablation/n2_kd_2021/best.pt

``make kd-ablation`` trains every run this needs, then prints the table.
"""
from __future__ import annotations

import argparse
import statistics
import sys

from training.distill.config import NO_TTA, TtaCfg
from training.evaluate_cmd import evaluate_checkpoint


def scores(checkpoint: str, overrides: list[str], tta: TtaCfg = NO_TTA) -> dict[str, float]:
    summary, _, schema = evaluate_checkpoint(checkpoint, overrides, tta=tta)
    metrics = summary.to_dict()
    row = {name: 100 * metrics["per_class"][name]["iou"] for name in schema.class_names}
    row.update({"**mIoU**": 100 * metrics["miou"], "mean F1 (fg)": 100 * metrics["mean_f1_fg"],
                "pixel acc.": 100 * metrics["pixel_accuracy"]})
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", help="teacher checkpoint (a KD ablation's; left out of the table if absent)")
    parser.add_argument("--pair", nargs=3, action="append", required=True, metavar=("SEED", "NO_KD", "KD"),
                        help="a seed and its two student checkpoints (repeat per seed)")
    parser.add_argument("--arms", nargs=2, default=("no KD", "KD"), metavar=("BASE", "TREATED"),
                        help="names of the two arms (default: 'no KD' 'KD')")
    parser.add_argument("--data", nargs="*", default=[], metavar="KEY=VALUE",
                        help="extra data overrides for the teacher's evaluation (e.g. data.size=128)")
    parser.add_argument("--teacher-tta-flip", action="store_true",
                        help="score the teacher with its mirror averaged in, as it labels (distill.teacher_tta)")
    args = parser.parse_args(argv)

    base, treated = args.arms
    columns: dict[str, dict[str, float]] = {}
    teacher_rows = []
    for seed, no_kd, kd in args.pair:
        columns[f"{base}, seed {seed}"] = scores(no_kd, [])
        columns[f"{treated}, seed {seed}"] = scores(kd, [])
        if args.teacher:
            teacher_rows.append(scores(args.teacher, [f"data.seed={seed}", *args.data],
                                       TtaCfg(flip=args.teacher_tta_flip)))
    keys = list(columns[f"{base}, seed {args.pair[0][0]}"])
    deltas = {k: statistics.mean(columns[f"{treated}, seed {s}"][k] - columns[f"{base}, seed {s}"][k]
                                 for s, _, _ in args.pair) for k in keys}
    teacher = {k: statistics.mean(r[k] for r in teacher_rows) for k in keys} if teacher_rows else None
    header = ["val IoU %", *(["teacher"] if teacher else []), *columns, f"mean Δ ({treated} − {base})"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for key in keys:
        cells = [*([f"{teacher[key]:.2f}"] if teacher else []), *(f"{col[key]:.2f}" for col in columns.values()),
                 f"{deltas[key]:+.2f}"]
        print(f"| {key} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
