"""The real face mesh (``face_landmark.tflite``, shipped) on real public-domain portraits that wheels
in the lock ship (matplotlib's Grace Hopper, scikit-image's astronaut): sane landmark geometry."""
from __future__ import annotations

import numpy as np
import pytest

from edge.annotate import landmarks, mesh
from edge.errors import BackendUnavailable, DataError
from edge.video.clip import load_photo
from edge.video.detect import open_detector


def _photo_or_skip(name: str) -> np.ndarray:
    try:
        return load_photo(name)
    except DataError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def landmarker():
    try:
        return landmarks.FaceLandmarker(), open_detector("blazeface")
    except BackendUnavailable as exc:
        pytest.skip(str(exc))


def centre(points: np.ndarray, loop: tuple[int, ...]) -> np.ndarray:
    return points[list(loop)].mean(axis=0)


@pytest.mark.parametrize("photo", ["grace_hopper", "astronaut"])
def test_the_mesh_lands_on_a_real_face_with_sane_geometry(landmarker, photo):
    model, detector = landmarker
    image = _photo_or_skip(photo)
    (face,) = [f for f in detector.detect(image) if f.score > 0.8]
    result = model(image, face)
    points = result.points
    assert result.points.shape == (mesh.NUM_POINTS, 2)
    assert result.score > 0.99, "a clear frontal portrait: the model is sure it is a face"
    right_eye, left_eye = centre(points, mesh.RIGHT_EYE), centre(points, mesh.LEFT_EYE)
    mouth = centre(points, mesh.UPPER_LIP_INNER + mesh.LOWER_LIP_INNER)
    nose_tip = points[mesh.NOSE_TIP]
    # the subject's left eye is on the image right (CelebAMask-HQ's l_eye side)
    assert left_eye[0] > right_eye[0] + 20
    eye_line_y = (left_eye[1] + right_eye[1]) / 2
    assert eye_line_y < nose_tip[1] < mouth[1], "eyes above the nose tip above the mouth"
    assert right_eye[0] < mouth[0] < left_eye[0] and right_eye[0] < nose_tip[0] < left_eye[0]
    brows = centre(points, mesh.RIGHT_BROW + mesh.LEFT_BROW)
    assert brows[1] < eye_line_y
    # every landmark lies inside the detector's box grown by a quarter (the mesh includes the forehead)
    x0, y0, x1, y1 = face.box
    pad = 0.25 * max(x1 - x0, y1 - y0)
    assert (points[:, 0] > x0 - pad).all() and (points[:, 0] < x1 + pad).all()
    assert (points[:, 1] > y0 - pad).all() and (points[:, 1] < y1 + pad).all()
    # the eyes sit inside the detector's box, near its eye keypoints
    assert np.linalg.norm(right_eye - face.keypoints[0]) < 0.1 * (x1 - x0)
    assert np.linalg.norm(left_eye - face.keypoints[1]) < 0.1 * (x1 - x0)


def test_a_blank_image_is_not_a_face(landmarker):
    model, _ = landmarker
    roi = landmarks.roi_transform((40.0, 40.0, 140.0, 140.0), None, (200, 200))
    assert model.run_roi(np.full((200, 200, 3), 127, np.uint8), roi).score < 0.5


def test_a_modified_model_is_refused(tmp_path):
    cut = tmp_path / "face_landmark.tflite"
    cut.write_bytes(landmarks.MODEL_PATH.read_bytes()[:1000])
    with pytest.raises(BackendUnavailable, match="truncated or modified"):
        landmarks.verified_model(cut, landmarks.MODEL_SHA256, "face landmark")
