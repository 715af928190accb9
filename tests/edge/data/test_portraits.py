"""Portrait views: real faces found by the project's detector, a fixed set of views, no ground truth."""
from __future__ import annotations

import numpy as np
import pytest

from edge.data.portraits import (
    PORTRAITS,
    PortraitViews,
    ViewParams,
    find_portraits,
    view_params,
    view_transform,
)
from edge.errors import BackendUnavailable, DataError
from edge.schemas import IGNORE_INDEX, get_schema

SIZE, COUNT = 64, 32


@pytest.fixture(scope="module")
def portraits():
    """Both photos with BlazeFace's face; skipped where the model or the photo wheels are absent."""
    from edge.video.blazeface import find_model
    from edge.video.clip import photo_path
    from edge.video.detect import open_detector

    try:
        find_model()
        for name in PORTRAITS:
            photo_path(name)
    except (BackendUnavailable, DataError) as exc:
        pytest.skip(f"portrait files absent: {exc}")
    return find_portraits(open_detector("blazeface"))


def _views(portraits, count: int = COUNT, seed: int = 0) -> PortraitViews:
    return PortraitViews(portraits, get_schema("celebamask_hq"), SIZE, count, seed)


def test_blazeface_finds_one_real_face_in_each_portrait(portraits):
    assert [p.name for p in portraits] == list(PORTRAITS)
    for p in portraits:
        x0, y0, x1, y1 = p.face.box
        h, w = p.image.shape[:2]
        assert p.detector.startswith("blazeface") and p.face.score > 0.8
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert (x1 - x0) > w / 8, "a face, not a speck"
        assert p.face.keypoints is not None  # eyes, nose, mouth inside the box
        inner = p.face.keypoints[:4]
        assert ((inner >= [x0, y0]) & (inner <= [x1, y1])).all()


def test_views_have_the_requested_count_and_shape_and_no_ground_truth(portraits):
    views = _views(portraits)
    assert len(views) == COUNT
    samples = [views[i] for i in range(COUNT)]
    assert all(s.image.shape == (SIZE, SIZE, 3) and s.image.dtype == np.uint8 for s in samples)
    assert all(s.label.shape == (SIZE, SIZE) and (s.label == IGNORE_INDEX).all() for s in samples)
    assert views.schema.name == "celebamask_hq" and "no ground truth" in views.description
    with pytest.raises(IndexError):
        views[COUNT]


def test_views_are_deterministic_and_independent_of_the_count(portraits):
    first, again = _views(portraits), _views(find_portraits())  # detection itself is repeatable too
    for i in range(COUNT):
        np.testing.assert_array_equal(first[i].image, again[i].image)
    np.testing.assert_array_equal(_views(portraits, count=4)[3].image, first[3].image)
    assert not np.array_equal(_views(portraits, seed=1)[3].image, first[3].image)  # calibration differs


def test_views_vary_photo_flip_framing_and_brightness(portraits):
    params = [view_params(i, 0) for i in range(COUNT)]
    assert [p.photo for p in params[:4]] == [0, 1, 0, 1]
    assert sum(p.flip for p in params) == COUNT // 2
    assert len({(p.margin, p.roll_deg, p.gain) for p in params}) == COUNT
    assert all(-10 <= p.roll_deg <= 10 and 0.8 <= p.gain <= 1.2 for p in params)
    images = [_views(portraits)[i].image for i in range(COUNT)]
    assert len({im.tobytes() for im in images}) == COUNT


def test_the_face_sits_at_the_view_centre_and_a_flip_mirrors_it(portraits):
    hopper = portraits[0]
    x0, y0, x1, y1 = hopper.face.box
    centre = np.array([(x0 + x1) / 2 - 0.5, (y0 + y1) / 2 - 0.5, 1.0])  # pixel-index coordinates
    plain = ViewParams(0, False, 0.35, (0.0, 0.0), 0.0, 1.0)
    np.testing.assert_allclose(view_transform(hopper, plain, SIZE) @ centre, [(SIZE - 1) / 2] * 2, atol=0.5)
    eye = np.array([*hopper.face.keypoints[0], 1.0])
    x, y = view_transform(hopper, plain, SIZE) @ eye
    flipped = view_transform(hopper, ViewParams(0, True, 0.35, (0.0, 0.0), 0.0, 1.0), SIZE) @ eye
    np.testing.assert_allclose(flipped, [SIZE - 1 - x, y], atol=1e-6)
