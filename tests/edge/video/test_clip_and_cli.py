"""The synthetic demo clip and the `edgeparse demo`, `demo-clip` and `bench --video` commands."""
from __future__ import annotations

import importlib.util
import json

import cv2
import numpy as np
import pytest

from edge.cli import main, parse_args
from edge.errors import BackendUnavailable, DataError
from edge.video import blazeface, clip
from edge.video.clip import SHOTS, Shot, View, clip_frames, make_demo_clip
from edge.video.demo_cmd import demo_config
from edge.video.strip import strip_indices

SMALL = (160, 120)
SHORT = (Shot("pan", "grace_hopper", 4, View(256, 320, 1.25), View(262, 300, 1.3), 1),
         Shot("no-face", "rocket", 2, View(300, 210, 1.15), View(310, 210, 1.15), 0))


@pytest.fixture
def face_clip(tmp_path):
    """6 frames at 160×120 of the demo's own photos: 4 with Grace Hopper, 2 of a rocket."""
    try:
        blazeface.find_model()
        clip.photo_path("rocket")
    except (BackendUnavailable, DataError) as exc:  # the wheels that ship the model or the photos are absent
        pytest.skip(str(exc))
    path = tmp_path / "face.mp4"
    make_demo_clip(path, size=SMALL, shots=SHORT)
    return path


def test_make_clip_is_deterministic_and_sized(tmp_path):
    pytest.importorskip("matplotlib")
    if importlib.util.find_spec("skimage") is None:
        pytest.skip("scikit-image (demo photos) not installed")
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    assert make_demo_clip(a, size=SMALL, shots=SHORT) == 6 == make_demo_clip(b, size=SMALL, shots=SHORT)
    assert a.read_bytes() == b.read_bytes()
    capture = cv2.VideoCapture(str(a))
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == SMALL
    first = [f for _, f in clip_frames(seed=0, size=SMALL, shots=SHORT)]
    other = [f for _, f in clip_frames(seed=1, size=SMALL, shots=SHORT)]
    assert not np.array_equal(first[0], other[0])  # the seed drives the sensor noise


def test_a_missing_photo_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match="scikit-image==0.26.0"):
        clip.photo_path("astronaut")


@pytest.mark.slow
def test_full_clip_shows_the_faces_each_shot_promises():
    from edge.video.detect import open_detector

    detector = open_detector("blazeface")
    for index, (shot, frame) in enumerate(clip_frames()):
        if index % 4 == 0:
            assert len(detector.detect(frame)) == shot.faces, (shot.name, index)
    assert sum(s.frames for s in SHOTS) == 100


def test_demo_command_prints_speed_and_flicker_and_writes_video_strip_json(make_bundle, face_clip, tmp_path,
                                                                          capsys):
    out, strip, report = tmp_path / "out.mp4", tmp_path / "strip.png", tmp_path / "demo.json"
    rc = main(["demo", str(make_bundle()), str(face_clip), "--out", str(out), "--strip", str(strip),
               "--strip-frames", "3", "--json", str(report), "overlay.contours=true", "crop.align=true", "model_runs=3"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "end-to-end" in text and "model-only" in text and "raw" in text and "smoothed" in text
    assert "detector blazeface" in text and "0.67 faces/frame" in text
    assert int(cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    assert cv2.imread(str(strip)).shape == (240, 960, 3)  # one row of three 320-px tiles
    demo = json.loads(report.read_text())["results"]["demo"]
    assert demo["frames"] == 6 and demo["flicker_pct"]["raw"] is not None


def test_demo_command_reports_a_truncated_input_with_exit_1(make_bundle, face_clip, tmp_path, capsys):
    cut = tmp_path / "cut.avi"
    frames = [f for _, f in clip_frames(size=SMALL, shots=SHORT)]
    writer = cv2.VideoWriter(str(cut), cv2.VideoWriter_fourcc(*"MJPG"), 10, SMALL)
    for frame in frames:
        writer.write(frame)
    writer.release()
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    rc = main(["demo", str(make_bundle()), str(cut), "--out", str(tmp_path / "o.mp4"), "smooth.enabled=false",
               "model_runs=2"])
    text = capsys.readouterr().out
    assert rc == 1 and "stopped early" in text and "truncated" in text
    assert "smoothed" not in text.split("flicker")[1]
    written = int(cv2.VideoCapture(str(tmp_path / "o.mp4")).get(cv2.CAP_PROP_FRAME_COUNT))
    assert 1 <= written < 6 and f"({written} frames" in text


def test_bench_video_reports_the_same_numbers(make_bundle, face_clip, capsys):
    assert main(["bench", str(make_bundle()), "--runs", "3", "--warmup", "1", "--threads", "1",
                 "--video", str(face_clip)]) == 0
    text = capsys.readouterr().out
    assert "video " in text and "end-to-end" in text and "flicker" in text and "smoothed" in text


def test_demo_clip_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(clip, "SHOTS", SHORT)
    pytest.importorskip("matplotlib")
    try:
        clip.photo_path("rocket")
    except DataError as exc:
        pytest.skip(str(exc))
    assert main(["demo-clip", "--out", str(tmp_path / "clips" / "demo.mp4")]) == 0
    assert "6 frames" in capsys.readouterr().out


def test_demo_command_needs_something_to_do(make_bundle, capsys):
    assert main(["demo", str(make_bundle()), "0"]) == 2
    assert "nothing to do" in capsys.readouterr().err


def test_overrides_and_old_flags_give_the_same_config(capsys):
    """Config keys are key=value overrides; the demo's old flags are rewritten to them, with a note."""
    new = parse_args(["demo", "b", "0", "detect.every=3", "crop.margin=0.4", "smooth.enabled=false",
                      "overlay.contours=true", "--threads", "2", "overlay.alpha=0.7"])
    old = parse_args(["demo", "b", "--input", "0", "--detect-every", "3", "--margin", "0.4", "--no-smooth",
                      "--contours", "--threads", "2", "--set", "overlay.alpha=0.7"])
    assert "--detect-every is deprecated; write detect.every=3" in capsys.readouterr().err
    assert demo_config(new) == demo_config(old)
    cfg = demo_config(new)
    assert (cfg.detect.every, cfg.crop.margin, cfg.smooth.enabled, cfg.overlay.contours, cfg.threads,
            cfg.overlay.alpha) == (3, 0.4, False, True, 2, 0.7)


def test_strip_indices_spread_evenly():
    assert strip_indices(100, 6) == [0, 20, 40, 59, 79, 99]
    assert strip_indices(2, 6) == [0, 1]


def test_show_without_a_gui_build_is_a_clear_error(make_bundle, tiny_clip, capsys):
    try:
        cv2.namedWindow("probe")
        cv2.destroyWindow("probe")
        pytest.skip("this OpenCV build has a GUI")
    except cv2.error:
        pass
    assert main(["demo", str(make_bundle()), str(tiny_clip.path), "--show"]) == 1
    assert "needs an OpenCV build with a GUI" in capsys.readouterr().err


def test_the_shipped_demo_config_is_the_dataclass_default_and_bad_values_fail():
    from pathlib import Path

    from edge.config import load_config
    from edge.errors import ConfigError
    from edge.video.config import DemoCfg

    shipped = Path(__file__).resolve().parents[3] / "configs" / "demo" / "default.yaml"
    assert load_config(DemoCfg, shipped) == DemoCfg()
    with pytest.raises(ConfigError, match="detect.every"):
        load_config(DemoCfg, None, ["detect.every=0"])
    with pytest.raises(ConfigError, match="Did you mean 'new_weight'"):
        load_config(DemoCfg, None, ["smooth.new_wieght=0.3"])
