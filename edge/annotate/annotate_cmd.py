"""``edgeparse annotate INPUT... --out DIR``: label your own faces from landmarks, for fine-tuning.

Writes a folder that ``data.format=folder`` reads (images/ + masks/), review overlays and JSON
records (``edge.annotate.outputs``). A file that cannot be read is named on stderr and skipped;
the exit status is then 1, after every other input has been written and the summary printed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.annotate.compose import AnnotateCfg

DEFAULTS = AnnotateCfg()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="photos, videos, folders (their photos and videos, not recursive) or quoted glob "
                             "patterns")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="output folder: images/ + masks/ (a data.format=folder dataset), overlays/, "
                             "annotations/*.json and annotate.json (the run's summary). Never an input folder")
    parser.add_argument("--schema", choices=("celebamask_hq", "lapa"), default="celebamask_hq",
                        help="label schema of the masks (default: celebamask_hq; l_* is the subject's left, the "
                             "image right)")
    parser.add_argument("--hair", metavar="SOURCE",
                        help="hair from MediaPipe's hair_segmentation.tflite (a path), from an edgeparse deploy "
                             "bundle (a folder or *_best pointer) or 'none' (hair gets the ignore label). Default: "
                             "../shared/models/hair_segmentation.tflite beside the repository when present, else none")
    parser.add_argument("--video-stride", type=int, default=10, metavar="N",
                        help="label every N-th video frame (default 10: neighbouring frames are near copies); "
                             "every frame is still tracked and smoothed")
    parser.add_argument("--min-confidence", type=float, default=DEFAULTS.min_confidence,
                        help=f"skip faces whose landmark face-presence score is lower (default "
                             f"{DEFAULTS.min_confidence})")
    parser.add_argument("--min-symmetry", type=float, default=DEFAULTS.min_symmetry,
                        help="skip faces turned towards profile: nearer / farther half-face width below this "
                             f"(default {DEFAULTS.min_symmetry}; 1 = frontal)")
    parser.add_argument("--min-face-px", type=float, default=DEFAULTS.min_face_px,
                        help=f"skip faces narrower than this, cheek to cheek (default {DEFAULTS.min_face_px:.0f})")
    parser.add_argument("--no-grabcut", action="store_true",
                        help="skip the GrabCut refinement of skin (faster; skin is then the landmark region)")
    parser.add_argument("--threads", type=int, default=1, help="interpreter threads of each model (default 1)")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo inputs already annotated in DIR (default: resume, skipping them)")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from edge.annotate.run import annotate_inputs, open_annotator
    from edge.predict import collect_inputs

    cfg = dataclasses.replace(DEFAULTS, min_confidence=args.min_confidence, min_symmetry=args.min_symmetry,
                              min_face_px=args.min_face_px, grabcut=not args.no_grabcut)
    inputs = collect_inputs(args.inputs)
    annotator = open_annotator(args.schema, args.hair, cfg, args.threads)
    summary, unreadable = annotate_inputs(annotator, inputs, args.out, args.video_stride, args.overwrite)
    line = (f"annotated {summary['images']} images into {args.out}: {summary['labelled_images']} labelled "
            f"({summary['labelled_faces']} of {summary['faces']} faces); {len(summary['skipped_faces'])} faces "
            f"skipped, {len(summary['images_without_labels'])} images without labels (listed in "
            f"{args.out / 'annotate.json'})")
    if annotator.hair is None:
        line += "; hair not labelled (no hair model)"
    if unreadable:
        line += f"; unreadable: {', '.join(str(p) for p in unreadable)}"
    print(line, file=sys.stdout)
    return 1 if unreadable else 0
