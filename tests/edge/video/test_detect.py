"""Face detection: BlazeFace decoding pieces, the detector on real public-domain photos, fallbacks."""
from __future__ import annotations

import importlib.util
import os
import sys

import cv2
import numpy as np
import pytest

from edge.errors import BackendUnavailable, UnknownNameError
from edge.video import blazeface
from edge.video.detect import CascadeDetector, box_iou, open_detector


def grace_hopper() -> np.ndarray:
    spec = importlib.util.find_spec("matplotlib")
    path = os.path.join(spec.submodule_search_locations[0], "mpl-data", "sample_data", "grace_hopper.jpg")
    return cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)


def _blazeface_or_skip():
    try:
        blazeface.find_model()
    except BackendUnavailable as exc:
        pytest.skip(str(exc))


def test_anchors_follow_mediapipe_short_range_layout():
    anchors = blazeface.ssd_anchors()
    assert anchors.shape == (896, 2)
    # 16×16 cells × 2 anchors, then 8×8 cells × 6 anchors, row-major, centred in their cells
    np.testing.assert_allclose(anchors[0], anchors[1])
    np.testing.assert_allclose(anchors[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(anchors[2], [1.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(anchors[512:518], np.tile([0.5 / 8, 0.5 / 8], (6, 1)))
    np.testing.assert_allclose(anchors[-1], [7.5 / 8, 7.5 / 8])


def test_decode_maps_offsets_to_boxes_and_keypoints_around_the_anchor():
    anchors = blazeface.ssd_anchors()
    regressors = np.zeros((1, 896, 16), np.float32)
    scores = np.full((1, 896, 1), -10.0, np.float32)
    regressors[0, 600, :4] = [12.8, -6.4, 32.0, 64.0]  # centre offset (+0.1, -0.05), size (0.25, 0.5)
    regressors[0, 600, 4:6] = [-12.8, 0.0]  # right eye 0.1 left of the anchor
    scores[0, 600] = 3.0
    boxes, conf, points = blazeface.decode(regressors, scores, anchors, min_score=0.5)
    ax, ay = anchors[600]
    np.testing.assert_allclose(boxes, [[ax + 0.1 - 0.125, ay - 0.05 - 0.25, ax + 0.1 + 0.125, ay - 0.05 + 0.25]],
                               atol=1e-6)
    np.testing.assert_allclose(conf, [1 / (1 + np.exp(-3.0))])
    np.testing.assert_allclose(points[0, 0], [ax - 0.1, ay], atol=1e-6)


def test_weighted_nms_averages_overlapping_boxes_by_score_and_keeps_separate_ones():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.3, 0.8], np.float32)
    points = np.zeros((3, 6, 2), np.float32)
    kept = blazeface.weighted_nms(boxes, scores, points, iou_threshold=0.3)
    assert len(kept) == 2
    np.testing.assert_allclose(kept[0][0], (boxes[0] * 0.9 + boxes[1] * 0.3) / 1.2, rtol=1e-6)
    assert kept[0][1] == pytest.approx(0.9) and kept[1][1] == pytest.approx(0.8)


def test_box_iou():
    iou = box_iou(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]]))
    np.testing.assert_allclose(iou, [[1.0, 1 / 3, 0.0]])


def test_blazeface_finds_grace_hoppers_face_with_landmarks():
    _blazeface_or_skip()
    image = grace_hopper()
    faces = open_detector("blazeface").detect(image)
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0].box
    assert faces[0].score > 0.8
    assert 140 < x0 < 200 and 300 < x1 < 400 and 110 < y0 < 180 and 300 < y1 < 380  # her face, not the flag
    right_eye, left_eye, nose = faces[0].keypoints[:3]
    assert right_eye[0] < nose[0] < left_eye[0]  # the subject's right eye is on the image's left
    assert y0 < right_eye[1] < nose[1] < y1


def test_blazeface_finds_two_faces_and_none_on_a_plain_frame():
    _blazeface_or_skip()
    detector = open_detector("blazeface")
    image = grace_hopper()
    assert len(detector.detect(np.concatenate([image, image[:, ::-1]], axis=1))) == 2
    assert detector.detect(np.full((480, 640, 3), 128, np.uint8)) == []


def test_openvino_runs_the_same_tflite_when_litert_is_missing(monkeypatch):
    _blazeface_or_skip()
    pytest.importorskip("openvino")
    image = grace_hopper()
    expected = open_detector("blazeface").detect(image)
    for name in ("ai_edge_litert", "ai_edge_litert.interpreter"):
        monkeypatch.setitem(sys.modules, name, None)  # makes importing LiteRT fail, as where it is absent
    detector = open_detector("blazeface")
    assert detector.runtime == "openvino"
    (face,) = detector.detect(image)
    np.testing.assert_allclose(face.box, expected[0].box, atol=1.0)


def test_a_missing_or_modified_model_is_refused_with_the_reinstall_hint(tmp_path):
    with pytest.raises(BackendUnavailable, match="missing: reinstall edgeparse"):
        blazeface.find_model(tmp_path / "face_detection_short_range.tflite")
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(blazeface.MODEL_PATH.read_bytes()[:1000])
    with pytest.raises(BackendUnavailable, match="truncated or modified.*reinstall edgeparse"):
        blazeface.find_model(cut)


def test_the_shipped_model_is_the_mediapipe_file():
    assert blazeface.find_model() == blazeface.MODEL_PATH


def test_auto_falls_back_to_the_cascade_or_says_what_is_missing(monkeypatch, caplog):
    def missing():
        raise BackendUnavailable("BlazeFace model not found")

    monkeypatch.setattr(blazeface, "find_model", missing)
    if hasattr(cv2, "CascadeClassifier"):
        assert open_detector("auto").name == "cascade"
        assert "falling back to the OpenCV cascade" in caplog.text
    else:
        with pytest.raises(BackendUnavailable, match="no face detector available.*CascadeClassifier"):
            open_detector("auto")
    with pytest.raises(BackendUnavailable, match="not found"):
        open_detector("blazeface")


@pytest.mark.skipif(not hasattr(cv2, "CascadeClassifier"),
                    reason="OpenCV 5 removed CascadeClassifier; the cascade fallback needs OpenCV 4.x")
def test_cascade_finds_grace_hopper():
    faces = CascadeDetector().detect(grace_hopper())
    assert len(faces) >= 1 and box_iou(np.array([faces[0].box]), np.array([[166, 143, 365, 343]]))[0, 0] > 0.4


def test_unknown_detector_name():
    with pytest.raises(UnknownNameError, match="blazeface"):
        open_detector("blazefase")
