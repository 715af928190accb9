"""Agreement of ``edgeparse annotate`` with human masks, on a labelled ``folder`` dataset.

Runs ``edgeparse annotate`` over the images of one split (resumable: annotated images are kept in
--out) and scores its masks against the human ones with ``edge.annotate.agreement.Agreement``:
IoU and boundary F1 per class it labels (over the pixels it labelled), the share of human pixels
it labelled, and the images it wrote no labels for (every face skipped, or none found), with the
reasons.

    python scripts/annotate_agreement.py --data ../shared/data/celebamask_mini --split val \\
        --out runs/annotate/celebamask_mini_val
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

from edge.annotate.agreement import Agreement
from edge.annotate.outputs import Layout
from edge.annotate.pipeline import LABELLED_CLASSES
from edge.cli import main as edgeparse
from edge.data.base import read_mask
from edge.data.readers import FolderReader


def split_images(reader: FolderReader) -> list[Path]:
    images = []
    for name in reader.names():
        (path,) = [p for p in reader.image_dir.glob(f"{name}.*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
        images.append(path)
    return images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a labelled data.format=folder dataset")
    parser.add_argument("--schema", default="celebamask_hq")
    parser.add_argument("--split", choices=("train", "val", "all"), default="val",
                        help="the folder's hashed split, or all its labelled images")
    parser.add_argument("--out", type=Path, required=True, help="where annotate writes (kept: runs resume)")
    parser.add_argument("annotate_args", nargs="*", help="more `edgeparse annotate` arguments, after --")
    args = parser.parse_args(argv)

    splits = ("train", "val") if args.split == "all" else (args.split,)
    readers = [FolderReader(args.data, split, args.schema) for split in splits]
    images = [path for reader in readers for path in split_images(reader)]
    status = edgeparse(["annotate", *map(str, images), "--out", str(args.out), "--schema", args.schema,
                        *args.annotate_args])
    if status not in (0, 1):
        return status
    layout = Layout(args.out)
    agreement = Agreement(readers[0].schema, LABELLED_CLASSES)
    reasons: collections.Counter[str] = collections.Counter()
    faces = 0
    for reader in readers:
        for index, name in enumerate(reader.names()):
            record = json.loads(layout.record(name).read_text())
            faces += len(record["faces"])
            reasons.update(f["reason"].split(":")[0] for f in record["faces"] if f["status"] == "skipped")
            mask = read_mask(layout.mask(name)) if record["labelled"] else None
            agreement.update(reader[index].label, mask, name)
    summary = agreement.summary()
    print(f"\n{args.data} ({args.split}: {agreement.images} images, {faces} faces found), annotate vs human masks; "
          f"IoU and boundary F1 over the pixels annotate labelled:\n")
    print(agreement.table())
    print(f"\nimages without labels: {len(agreement.images_without_labels)} of {agreement.images} "
          f"({summary['images without labels']:.1f} %); faces skipped by reason: "
          f"{dict(reasons) or 'none'}; human pixels labelled (all classes): {summary['pixels labelled']:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
