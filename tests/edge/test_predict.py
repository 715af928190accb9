"""``edgeparse predict`` (edge/predict.py, edge/predict_cmd.py) on the tiny ONNX bundle: label PNGs
that read back as the runner's ids, overlays, JSON, bad files skipped with exit 1, inputs never
overwritten, a video through the demo's pipeline, and --faces vs --whole on a real portrait."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge.backends import open_runner
from edge.bundle import load_bundle
from edge.cli import main
from edge.errors import BackendUnavailable, InputError
from edge.predict import collect_inputs, read_image
from edge.preprocess import argmax_labels, labels_to_size, preprocess
from edge.video.crop import NO_FACE


def runner_labels(bundle_path: Path, image: np.ndarray) -> np.ndarray:
    bundle = load_bundle(bundle_path)
    with open_runner(bundle) as runner:
        logits = runner.infer(preprocess(image, runner.input_spec.shape[2:4], bundle.manifest.input.normalization))
    return labels_to_size(argmax_labels(logits)[0], image.shape[:2])


@pytest.fixture
def photos(tmp_path, tiny) -> Path:
    """a.png (32×32, the model size), c.png (40×56), a corrupt and a truncated PNG, and a text file."""
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(tiny.images[0]).save(folder / "a.png")
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(folder / "c.png")
    (folder / "broken.png").write_bytes(b"not an image at all")
    (folder / "cut.png").write_bytes((folder / "c.png").read_bytes()[:200])
    (folder / "notes.txt").write_text("not an input")
    return folder


def test_folder_writes_palette_label_pngs_overlays_and_json_and_skips_bad_files(make_bundle, photos, tiny,
                                                                                 tmp_path, capsys):
    bundle = make_bundle()
    out = tmp_path / "out"
    assert main(["predict", str(bundle), str(photos), "--out", str(out), "--whole", "--json"]) == 1
    captured = capsys.readouterr()
    assert f"skipped {photos / 'broken.png'}: cannot decode image" in captured.err
    assert f"skipped {photos / 'cut.png'}: truncated PNG" in captured.err
    assert "parsed 2 of 4 inputs" in captured.out and "(whole images)" in captured.out
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "a_labels.png", "a_overlay.png",
                                                     "c.json", "c_labels.png", "c_overlay.png"]
    for name in ("a", "c"):
        image = np.asarray(Image.open(photos / f"{name}.png"))
        labels = Image.open(out / f"{name}_labels.png")
        assert labels.mode == "P"  # viewers show colours, readers get the ids
        np.testing.assert_array_equal(np.asarray(labels), runner_labels(bundle, image))
        assert np.asarray(labels.getpalette()[:3 * tiny.num_classes]).reshape(-1, 3).tolist() == \
            [list(c) for c in tiny.schema.colors]
        assert Image.open(out / f"{name}_overlay.png").size == (image.shape[1], image.shape[0])
        summary = json.loads((out / f"{name}.json").read_text())
        assert summary["mode"] == "whole" and summary["image_size"] == [image.shape[1], image.shape[0]]
        (face,) = summary["faces"]
        assert sum(a["pixels"] for a in face["class_areas"].values()) == image.shape[0] * image.shape[1]
    np.testing.assert_array_equal(np.asarray(Image.open(out / "a_labels.png")),
                                  argmax_labels(tiny.reference_logits[:1])[0])


def test_a_clean_run_exits_0_without_json_and_takes_globs(make_bundle, photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["predict", str(make_bundle()), str(photos / "[ac].png"), "--out", str(out), "--whole"]) == 0
    assert "parsed 2 of 2 inputs" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["a_labels.png", "a_overlay.png", "c_labels.png",
                                                     "c_overlay.png"]


def test_demo_config_overrides_reach_the_images(make_bundle, photos, tmp_path):
    """key=value overrides (anywhere on the line) set the overlay: no colour and no legend leave the photo."""
    out = tmp_path / "out"
    assert main(["predict", str(make_bundle()), "overlay.alpha=0", str(photos / "c.png"), "--out", str(out),
                 "--whole", "--threads", "1", "overlay.legend=false"]) == 0
    overlay = np.asarray(Image.open(out / "c_overlay.png"))
    np.testing.assert_array_equal(overlay, np.asarray(Image.open(photos / "c.png")))
    assert main(["predict", str(make_bundle()), str(photos / "c.png"), "--out", str(out), "overlay.alpah=0"]) == 2


def test_out_must_not_be_an_input_folder_and_inputs_are_never_overwritten(make_bundle, photos, capsys):
    bundle = str(make_bundle())
    before = {p.name: p.read_bytes() for p in photos.iterdir()}
    assert main(["predict", bundle, str(photos), "--out", str(photos), "--whole"]) == 2
    assert "is an input folder" in capsys.readouterr().err
    Image.open(photos / "a.png").save(photos / "a_labels.png")
    before["a_labels.png"] = (photos / "a_labels.png").read_bytes()
    inputs = [str(photos / "a.png"), str(photos / "a_labels.png")]
    assert main(["predict", bundle, *inputs, "--out", str(photos), "--whole"]) == 2
    err = capsys.readouterr().err
    assert "is the input" in err and "never overwritten" in err
    assert {p.name: p.read_bytes() for p in photos.iterdir()} == before


def test_two_inputs_that_would_write_the_same_files_are_refused(make_bundle, photos, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.png").write_bytes((photos / "a.png").read_bytes())
    args = ["predict", str(make_bundle()), str(photos / "a.png"), str(other / "a.png"), "--out", str(tmp_path / "o")]
    assert main(args) == 2
    assert "would both write" in capsys.readouterr().err


def test_missing_inputs_fail_before_anything_is_written(make_bundle, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["predict", str(make_bundle()), str(tmp_path / "nope.jpg"), "--out", str(out)]) == 1
    assert "nope.jpg not found" in capsys.readouterr().err
    assert main(["predict", str(make_bundle()), str(tmp_path / "*.jpg"), "--out", str(out)]) == 1
    assert "matches no image or video file" in capsys.readouterr().err
    assert not out.exists()


def test_images_of_other_bit_depths_are_named(tmp_path):
    deep = tmp_path / "deep.png"
    Image.fromarray(np.full((8, 8), 40000, np.uint16)).save(deep)
    with pytest.raises(InputError, match=r"deep.png: I;16 pixels are not 8-bit"):
        read_image(deep)
    grey = tmp_path / "grey.png"
    Image.fromarray(np.full((8, 8), 7, np.uint8)).save(grey)
    assert read_image(grey).shape == (8, 8, 3)


def test_folders_take_images_and_videos_by_suffix(photos):
    (photos / "clip.mp4").write_bytes(b"")
    inputs = collect_inputs([str(photos), str(photos / "a.png")])
    assert [p.name for p in inputs.images] == ["a.png", "broken.png", "c.png", "cut.png"]  # a.png once
    assert [p.name for p in inputs.videos] == ["clip.mp4"] and inputs.folders == [photos]


def test_whole_is_refused_for_videos(make_bundle, photos, tmp_path, capsys):
    (photos / "clip.mp4").write_bytes(b"")
    assert main(["predict", str(make_bundle()), str(photos / "clip.mp4"), "--whole", "--out",
                 str(tmp_path / "o")]) == 2
    assert "--whole parses still images" in capsys.readouterr().err


# --- real faces: BlazeFace on the public-domain photos the demo uses ---------------------------

def _grace_hopper() -> Path:
    spec = importlib.util.find_spec("matplotlib")
    path = Path(spec.submodule_search_locations[0]) / "mpl-data" / "sample_data" / "grace_hopper.jpg" \
        if spec else None
    if path is None or not path.is_file():
        pytest.skip("matplotlib's grace_hopper.jpg is not installed (pip install matplotlib)")
    return path


def _blazeface_or_skip() -> None:
    from edge.video.detect import open_detector

    try:
        open_detector("blazeface")
    except BackendUnavailable as exc:
        pytest.skip(str(exc))


def test_faces_crops_the_portrait_and_whole_parses_every_pixel(make_bundle, tmp_path, capsys):
    photo = _grace_hopper()
    _blazeface_or_skip()
    bundle = str(make_bundle())
    runs = {}
    for mode in ("--faces", "--whole"):
        out = tmp_path / mode.strip("-")
        assert main(["predict", bundle, str(photo), "--out", str(out), mode, "--json"]) == 0
        runs[mode] = (json.loads((out / "grace_hopper.json").read_text()),
                      np.asarray(Image.open(out / "grace_hopper_labels.png")))
    assert "1 faces, 0 without a face" in capsys.readouterr().out
    summary, labels = runs["--faces"]
    (face,) = summary["faces"]
    x0, y0, x1, y1 = face["box"]
    assert summary["detector"].startswith("blazeface") and face["score"] > 0.6
    assert 120 < x0 < x1 < 400 and 100 < y0 < y1 < 380  # her face in the 512×600 photo
    cx0, cy0, cx1, cy1 = face["crop_box"]
    assert (labels[:cy0] == NO_FACE).all() and (labels[cy0:cy1, cx0:cx1] != NO_FACE).all()
    summary, labels = runs["--whole"]
    assert summary["faces"][0]["box"] == [0, 0, 512, 600] and summary["faces"][0]["score"] is None
    assert labels.shape == (600, 512) and (labels != NO_FACE).all()


def test_video_writes_the_overlay_mp4_and_per_frame_areas(make_bundle, tmp_path, capsys):
    import cv2

    from edge.video.clip import Shot, View, make_demo_clip

    _grace_hopper()
    _blazeface_or_skip()
    clip = tmp_path / "pan.mp4"
    make_demo_clip(clip, size=(160, 120), shots=(Shot("pan", "grace_hopper", 4, View(256, 320, 1.25),
                                                      View(262, 300, 1.3), 1),))
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 64)
    out = tmp_path / "out"
    args = ["predict", str(make_bundle()), str(clip), str(tmp_path / "bad.mp4"), "--out", str(out), "--json"]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert f"skipped {tmp_path / 'bad.mp4'}" in captured.err and "parsed 1 of 2 inputs" in captured.out
    assert int(cv2.VideoCapture(str(out / "pan_overlay.mp4")).get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    summary = json.loads((out / "pan.json").read_text())
    assert summary["frames"] == 4 and [f["frame"] for f in summary["per_frame"]] == [0, 1, 2, 3]
    assert summary["faces"] >= 3 and all(len(f["faces"]) <= 1 for f in summary["per_frame"])
    face_frame = next(f for f in summary["per_frame"] if f["faces"])
    assert sum(a["pct"] for a in face_frame["class_areas"].values()) == pytest.approx(100.0, abs=0.01)
    assert not (out / "bad_overlay.mp4").exists()
