"""Where ``edgeparse annotate`` writes, in the layout ``data.format=folder`` reads.

    OUT/images/NAME.ext        the photo (a copy), or a video frame (NAME = <video>_f<frame>, .png)
    OUT/masks/NAME.png         class ids of the schema in a palette PNG; 255 = ignore
    OUT/overlays/NAME.jpg      for review: labels blended over the photo, faces boxed (red: skipped)
    OUT/annotations/NAME.json  each face's 468 landmarks, confidence, box, verdict; models, settings
    OUT/annotate.json          the run: inputs, counts, every skipped face and image, models, settings

An image whose faces were all skipped (or that has none) gets an annotation JSON and an overlay but
no image or mask, so the folder holds only labelled samples. Every file is written atomically and
the annotation JSON last: a run stopped midway resumes where it stopped (``--overwrite`` redoes all).
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from edge.annotate.pipeline import Annotation
from edge.io import atomic_write_bytes, atomic_write_text, json_safe
from edge.schemas import IGNORE_INDEX, LabelSchema
from edge.video.overlay import FONT, blend_labels, draw_legend, present_classes, text_scale

OVERLAY_ALPHA = 0.5
IGNORED_DIM = 0.55  # ignored pixels are darkened, so reviewers see what is left unknown
SUMMARY_FILE = "annotate.json"


@dataclass(frozen=True)
class Layout:
    root: Path

    def images(self, name: str, suffix: str) -> Path:
        return self.root / "images" / f"{name}{suffix}"

    def mask(self, name: str) -> Path:
        return self.root / "masks" / f"{name}.png"

    def overlay(self, name: str) -> Path:
        return self.root / "overlays" / f"{name}.jpg"

    def record(self, name: str) -> Path:
        return self.root / "annotations" / f"{name}.json"

    @property
    def summary(self) -> Path:
        return self.root / SUMMARY_FILE

    def done(self, name: str) -> bool:
        return self.record(name).is_file()


def png_bytes(image: Image.Image, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **params)
    return buffer.getvalue()


def mask_png(labels: np.ndarray, schema: LabelSchema) -> bytes:
    """A palette PNG whose pixel values are the class ids (ignore 255 shows transparent)."""
    image = Image.fromarray(np.ascontiguousarray(labels, np.uint8))
    image.putpalette(schema.palette().tobytes())
    return png_bytes(image, transparency=IGNORE_INDEX)


def overlay_image(image: np.ndarray, annotation: Annotation, schema: LabelSchema) -> np.ndarray:
    """Labels blended over the photo with class boundaries and a legend, ignored pixels dimmed;
    labelled faces boxed green with their confidence, skipped ones red with the reason."""
    labels = annotation.labels
    out = blend_labels(image, labels, schema.palette(), OVERLAY_ALPHA, contours=True)
    ignored = labels == IGNORE_INDEX
    out[ignored] = (out[ignored] * IGNORED_DIM).astype(np.uint8)
    scale = text_scale(out.shape[0])
    for face in annotation.faces:
        x0, y0, x1, y1 = (round(v) for v in face.mesh.box)
        skipped = face.verdict.skip_reason
        colour = (255, 40, 40) if skipped else (40, 220, 40)
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, max(1, int(2 * scale)))
        text = skipped or f"{face.mesh.score:.2f}"
        cv2.putText(out, text, (x0, max(12, y0 - 4)), FONT, scale, colour, 1, cv2.LINE_AA)
    draw_legend(out, schema, present_classes(labels, schema.num_classes))
    return out


def write_sample(layout: Layout, name: str, source: Path | None, image: np.ndarray, annotation: Annotation,
                 schema: LabelSchema, record: dict[str, Any]) -> bool:
    """Write one image's outputs; ``source`` is copied as the dataset image (None: ``image`` is saved
    as PNG, for video frames and rotated photos). Returns whether a labelled sample was written."""
    labelled = bool(annotation.labelled)
    if labelled:
        if source is not None:
            atomic_write_bytes(layout.images(name, source.suffix.lower()), source.read_bytes(), durable=False)
        else:
            atomic_write_bytes(layout.images(name, ".png"), png_bytes(Image.fromarray(image)), durable=False)
        atomic_write_bytes(layout.mask(name), mask_png(annotation.labels, schema), durable=False)
    overlay = cv2.cvtColor(overlay_image(image, annotation, schema), cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", overlay, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if ok:
        atomic_write_bytes(layout.overlay(name), encoded.tobytes(), durable=False)
    record = {**record, "labelled": labelled, "faces": [f.to_dict() for f in annotation.faces]}
    atomic_write_text(layout.record(name), json.dumps(json_safe(record)) + "\n")
    return labelled


def read_records(layout: Layout, names: list[str]) -> list[dict[str, Any]]:
    return [json.loads(layout.record(n).read_text()) for n in names if layout.done(n)]


def write_summary(layout: Layout, records: list[dict[str, Any]], describe: dict[str, Any]) -> dict[str, Any]:
    """``annotate.json``: counts, and every skipped face (with its reason) and image without labels."""
    skipped_faces = [{"name": r["name"], "input": r["input"], "box": f["box"], "reason": f["reason"]}
                     for r in records for f in r["faces"] if f["status"] == "skipped"]
    faces = sum(len(r["faces"]) for r in records)
    summary = {
        **describe,
        "images": len(records),
        "labelled_images": sum(r["labelled"] for r in records),
        "faces": faces,
        "labelled_faces": faces - len(skipped_faces),
        "skipped_faces": skipped_faces,
        "images_without_labels": [r["name"] for r in records if not r["labelled"]],
    }
    atomic_write_text(layout.summary, json.dumps(json_safe(summary), indent=1) + "\n")
    return summary
