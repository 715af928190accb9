"""``edgeparse annotate`` end to end on tiny inputs: a folder of real photos and a short video made
from a portrait, written as a dataset that ``data.format=folder`` reads, with overlays and JSON."""
from __future__ import annotations

import json
import os
import shutil

import cv2
import numpy as np
import pytest

from edge.annotate.landmarks import FaceMesh
from edge.annotate.outputs import Layout
from edge.annotate.pipeline import LandmarkSmoother
from edge.cli import main
from edge.data.readers import FolderReader
from edge.errors import DataError
from edge.schemas import IGNORE_INDEX, get_schema
from edge.video.clip import load_photo, photo_path

SCHEMA = get_schema("celebamask_hq")


@pytest.fixture
def photos(tmp_path, portrait_meshes):
    """A folder with the two portraits (as their wheels ship them) and a blank image (no face)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("grace_hopper", "astronaut"):
        source = photo_path(name)
        shutil.copyfile(source, folder / f"{name}{source.suffix}")
    cv2.imwrite(str(folder / "blank.png"), np.full((64, 64, 3), 127, np.uint8))
    return folder


def read_dataset(root):
    """Every sample of an annotate output, through the folder reader the trainer uses."""
    samples = {}
    for split in ("train", "val"):
        try:
            reader = FolderReader(root, split, "celebamask_hq")
        except DataError:  # a split may be empty in so small a folder
            continue
        samples.update({name: reader[i] for i, name in enumerate(reader.names())})
    return samples


def test_annotate_a_folder_of_photos_into_a_folder_dataset(photos, tmp_path, capsys):
    out = tmp_path / "labels"
    assert main(["annotate", str(photos), "--out", str(out), "--hair", "none"]) == 0
    assert "annotated 3 images" in capsys.readouterr().out
    samples = read_dataset(out)
    assert set(samples) == {"grace_hopper", "astronaut"}, "the blank image gets no sample"
    for name, sample in samples.items():
        ids = set(np.unique(sample.label).tolist())
        assert ids <= set(range(SCHEMA.num_classes)) | {IGNORE_INDEX}
        assert {SCHEMA.index(c) for c in ("skin", "nose", "l_eye", "r_eye", "u_lip", "l_lip")} <= ids
        assert SCHEMA.index("hair") not in ids, "--hair none: hair is left unknown"
        assert 0 in ids, "the person mask gives background"
        assert sample.image.shape[:2] == sample.label.shape
        assert (out / "overlays" / f"{name}.jpg").is_file()
    record = json.loads((out / "annotations" / "grace_hopper.json").read_text())
    (face,) = record["faces"]
    assert face["status"] == "labelled" and face["confidence"] > 0.99 and len(face["landmarks"]) == 468
    assert record["schema"] == "celebamask_hq" and record["hair"] is None
    summary = json.loads((out / "annotate.json").read_text())
    assert summary["images_without_labels"] == ["blank"] and summary["labelled_faces"] == 2


def test_a_second_run_resumes_and_overwrite_redoes(photos, tmp_path):
    out = tmp_path / "labels"
    main(["annotate", str(photos / "astronaut.png"), "--out", str(out), "--hair", "none", "--no-grabcut"])
    mask = Layout(out).mask("astronaut")
    os.utime(mask, (1, 1))
    main(["annotate", str(photos / "astronaut.png"), "--out", str(out), "--hair", "none", "--no-grabcut"])
    assert mask.stat().st_mtime == 1, "an annotated image is not redone"
    main(["annotate", str(photos / "astronaut.png"), "--out", str(out), "--hair", "none", "--no-grabcut", "--overwrite"])
    assert mask.stat().st_mtime > 1


def test_hair_from_an_edgeparse_bundle(photos, tmp_path, make_bundle):
    out = tmp_path / "labels"
    bundle = make_bundle()  # the tiny test model, whose schema has a hair class
    assert main(["annotate", str(photos / "grace_hopper.jpg"), "--out", str(out), "--hair", str(bundle),
                 "--no-grabcut"]) == 0
    record = json.loads(Layout(out).record("grace_hopper").read_text())
    assert record["hair"].startswith("bundle ")


def test_bad_inputs_get_one_line_errors(photos, tmp_path, capsys):
    assert main(["annotate", str(photos), "--out", str(photos), "--hair", "none"]) == 2
    assert "is an input folder" in capsys.readouterr().err
    other = tmp_path / "other"
    other.mkdir()
    shutil.copyfile(photos / "blank.png", other / "astronaut.png")
    assert main(["annotate", str(photos), str(other), "--out", str(tmp_path / "o"), "--hair", "none"]) == 2
    assert "have the same name 'astronaut'" in capsys.readouterr().err
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    out = tmp_path / "o2"
    assert main(["annotate", str(broken), str(photos / "astronaut.png"), "--out", str(out), "--hair", "none",
                 "--no-grabcut"]) == 1
    captured = capsys.readouterr()
    assert f"skipped {broken}" in captured.err and "unreadable" in captured.out
    assert Layout(out).mask("astronaut").is_file()
    assert main(["annotate", str(photos), "--out", str(out), "--hair", str(tmp_path / "missing.tflite")]) == 2
    assert "hair model" in capsys.readouterr().err


def test_annotate_a_short_video_smoothed_over_time(tmp_path, portrait_meshes):
    """A 6-frame clip of Grace Hopper drifting right by 2 px a frame; every 2nd frame is labelled."""
    photo = cv2.resize(load_photo("grace_hopper"), (256, 300), interpolation=cv2.INTER_AREA)
    path = tmp_path / "hopper.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (256, 300))
    for i in range(6):
        shifted = cv2.warpAffine(photo, np.float32([[1, 0, 2 * i], [0, 1, 0]]), (256, 300),
                                 borderMode=cv2.BORDER_REPLICATE)
        writer.write(cv2.cvtColor(shifted, cv2.COLOR_RGB2BGR))
    writer.release()
    out = tmp_path / "labels"
    assert main(["annotate", str(path), "--out", str(out), "--hair", "none", "--video-stride", "2",
                 "--no-grabcut"]) == 0
    samples = read_dataset(out)
    assert set(samples) == {"hopper_f000000", "hopper_f000002", "hopper_f000004"}
    nose = SCHEMA.index("nose")
    xs = [np.nonzero(samples[f"hopper_f{i:06d}"].label == nose)[1].mean() for i in (0, 2, 4)]
    assert xs[0] < xs[1] < xs[2], "the labels follow the face"
    records = [json.loads(Layout(out).record(f"hopper_f{i:06d}").read_text()) for i in (0, 2, 4)]
    assert [r["frame"] for r in records] == [0, 2, 4]
    assert len({r["faces"][0]["track"] for r in records}) == 1, "one track through the clip"


def test_landmark_smoothing_averages_small_motion_and_resets_on_jumps():
    points = np.stack(np.meshgrid(np.arange(0, 100.0, 5), np.arange(0, 100.0, 5)), -1).reshape(-1, 2)
    smoother = LandmarkSmoother(landmark_weight=0.5, reset_motion=0.08)
    roi = np.eye(2, 3)
    smoother(0, FaceMesh(points, 1.0, roi))
    moved = smoother(0, FaceMesh(points + 4.0, 1.0, roi))  # 4 px on a 95 px face: jitter, averaged
    np.testing.assert_allclose(moved.points, points + 2.0)
    jumped = smoother(0, FaceMesh(points + 50.0, 1.0, roi))  # a jump: taken as is
    np.testing.assert_allclose(jumped.points, points + 50.0)
