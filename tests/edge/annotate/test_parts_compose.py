"""Contours through the mesh, face verdicts and the merge order, on real meshes of real portraits."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edge.annotate import mesh
from edge.annotate.compose import AnnotateCfg, assess, base_labels, blank_skipped, draw_face
from edge.annotate.landmarks import FaceMesh
from edge.annotate.parts import PART_NAMES, catmull_rom, fill, fit_parts
from edge.errors import ConfigError
from edge.schemas import IGNORE_INDEX, get_schema

from .conftest import class_centre

SCHEMA = get_schema("celebamask_hq")
FAST = AnnotateCfg(grabcut=False)


def test_the_spline_passes_through_every_control_point_and_stays_near_them():
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], np.float64)
    curve = catmull_rom(square, closed=True, samples=8)
    assert len(curve) == 4 * 8
    for corner in square:
        assert np.min(np.linalg.norm(curve - corner, axis=1)) < 1e-9
    # centripetal: no loops or wild overshoot at the corners
    assert curve.min() > -2.0 and curve.max() < 12.0
    open_curve = catmull_rom(square[:3], closed=False, samples=4)
    np.testing.assert_allclose(open_curve[[0, -1]], square[[0, 2]])


def test_fill_draws_a_contour_inside_a_window():
    square = np.array([[12, 12], [17, 12], [17, 17], [12, 17]], np.float64)
    mask = fill(square, (10, 10), offset=(10, 10))
    assert mask[2:8, 2:8].all() and mask.sum() == 36


def test_parts_follow_the_subjects_sides_and_face_layout(portrait_meshes):
    _, face = portrait_meshes["grace_hopper"]
    contours = fit_parts(face.points)
    centres = {name: c.mean(axis=0) for name, c in contours.parts.items()}
    assert centres["l_eye"][0] > centres["r_eye"][0] and centres["l_brow"][0] > centres["r_brow"][0]
    assert centres["r_brow"][1] < centres["r_eye"][1] < centres["nose"][1] < centres["u_lip"][1] \
        < centres["mouth"][1] < centres["l_lip"][1]
    oval = fill(contours.oval, (600, 512))
    for name in PART_NAMES:
        assert oval[fill(contours.parts[name], (600, 512))].mean() > 0.99, f"{name} lies inside the face oval"


def test_unsure_profile_and_small_faces_are_skipped_with_the_reason(portrait_meshes):
    _, face = portrait_meshes["grace_hopper"]
    assert assess(face, AnnotateCfg()).skip_reason is None
    unsure = FaceMesh(face.points, 0.3, face.roi)
    assert assess(unsure, AnnotateCfg()).skip_reason.startswith("unsure: face presence 0.30")
    # squash the subject's left half of the face towards the nose: a head turned to profile
    nose_x = face.points[mesh.NOSE_TIP, 0]
    turned = face.points.copy()
    left = turned[:, 0] > nose_x
    turned[left, 0] = nose_x + (turned[left, 0] - nose_x) * 0.1
    verdict = assess(FaceMesh(turned, face.score, face.roi), AnnotateCfg())
    assert verdict.skip_reason.startswith("profile") and verdict.symmetry < 0.15
    small = FaceMesh(face.points * 0.2, face.score, face.roi)
    assert assess(small, AnnotateCfg()).skip_reason.startswith("too small")


def test_merge_order_background_person_hair_skin_parts(portrait_meshes):
    image, face = portrait_meshes["grace_hopper"]
    h, w = image.shape[:2]
    person = np.zeros((h, w), np.float32)
    person[100:, 100:420] = 1.0  # the person: head and shoulders
    hair = np.zeros((h, w), np.float32)
    hair[60:200, 120:400] = 0.9  # hair on the head...
    hair[240:330, 200:330] = 0.9  # ...and (wrongly) on the mouth and chin
    labels = base_labels((h, w), person, FAST)
    draw_face(labels, image, face, SCHEMA, hair, person, FAST)
    ids = {name: SCHEMA.index(name) for name in ("skin", "hair", "l_eye", "r_eye", "nose", "mouth", "u_lip")}
    assert (labels[:90, :90] == 0).all(), "background where the person mask says so"
    assert (labels[580:, 150:400] == IGNORE_INDEX).all(), "the body (neck, cloth) is unknown: ignore"
    assert (labels[60:70, 150:370] == SCHEMA.index("hair")).all()
    # hair never inside the face below the brows (a beard is skin), parts over skin
    chin_to_brows = labels[int(face.points[mesh.NOSE_TIP, 1]):int(face.points[152, 1]) - 5,
                           int(face.points[mesh.NOSE_TIP, 0]) - 5:int(face.points[mesh.NOSE_TIP, 0]) + 5]
    assert not (chin_to_brows == ids["hair"]).any()
    assert set(np.unique(labels)) >= {0, IGNORE_INDEX, *ids.values()}
    assert class_centre(labels, ids["l_eye"])[0] > class_centre(labels, ids["r_eye"])[0]
    assert class_centre(labels, ids["nose"])[1] < class_centre(labels, ids["u_lip"])[1]
    # without a hair model and a person mask everything but the face is unknown
    bare = base_labels((h, w), None, FAST)
    draw_face(bare, image, face, SCHEMA, None, None, FAST)
    assert ids["hair"] not in bare and 0 not in bare and ids["skin"] in bare


def test_grabcut_refines_skin_within_the_coarse_region(portrait_meshes):
    image, face = portrait_meshes["grace_hopper"]
    shape = image.shape[:2]
    coarse, refined = base_labels(shape, None, FAST), base_labels(shape, None, AnnotateCfg())
    draw_face(coarse, image, face, SCHEMA, None, None, FAST)
    draw_face(refined, image, face, SCHEMA, None, None, AnnotateCfg())
    skin = SCHEMA.index("skin")
    assert 0.5 * (coarse == skin).sum() < (refined == skin).sum() <= (coarse == skin).sum()
    again = base_labels(shape, None, AnnotateCfg())
    draw_face(again, image, face, SCHEMA, None, None, AnnotateCfg())
    np.testing.assert_array_equal(again, refined)  # seeded: the same photo gives the same labels


def test_a_skipped_face_is_blanked_to_ignore(portrait_meshes):
    image, face = portrait_meshes["astronaut"]
    labels = np.zeros(image.shape[:2], np.uint8)
    blank_skipped(labels, face)
    x0, y0, x1, y1 = (int(v) for v in face.box)
    assert (labels[y0:y1, x0:x1] == IGNORE_INDEX).all() and (labels[-5:, :] == 0).all()


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="min_confidence"):
        AnnotateCfg(min_confidence=1.5)
    with pytest.raises(ConfigError, match="brow_scale"):
        dataclasses.replace(FAST, brow_scale=0.0)


def test_lapa_labels_use_lapas_ids_and_sides(portrait_meshes):
    image, face = portrait_meshes["grace_hopper"]
    lapa = get_schema("lapa")
    labels = base_labels(image.shape[:2], None, FAST)
    draw_face(labels, image, face, lapa, None, None, FAST)
    assert set(np.unique(labels)) <= set(range(lapa.num_classes)) | {IGNORE_INDEX}
    assert class_centre(labels, lapa.index("l_eye"))[0] > class_centre(labels, lapa.index("r_eye"))[0]
    assert class_centre(labels, lapa.index("nose"))[1] < class_centre(labels, lapa.index("mouth"))[1]
