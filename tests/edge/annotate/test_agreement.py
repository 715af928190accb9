"""Agreement with human masks: abstained pixels are left out and reported as coverage."""
from __future__ import annotations

import numpy as np

from edge.annotate.agreement import Agreement
from edge.schemas import IGNORE_INDEX, get_schema

SCHEMA = get_schema("celebamask_hq")
SKIN, HAIR, NECK = SCHEMA.index("skin"), SCHEMA.index("hair"), SCHEMA.index("neck")


def test_scores_count_only_the_pixels_the_annotator_labelled():
    human = np.zeros((8, 8), np.uint8)
    human[:, :4] = SKIN
    human[6:, :4] = NECK  # a class the annotator never draws
    auto = np.zeros((8, 8), np.uint8)
    auto[:, :4] = SKIN
    auto[6:, :4] = IGNORE_INDEX  # it abstained on the neck...
    auto[0, 4] = SKIN  # ...and got one background pixel wrong
    agreement = Agreement(SCHEMA, ("background", "skin"))
    agreement.update(human, auto, "a")
    rows = {name: (iou, coverage) for name, iou, _, coverage in agreement.rows()}
    assert rows["skin"][0] == 100 * 24 / 25  # 24 right, 1 false positive
    assert rows["background"][0] == 100 * 31 / 32
    assert rows["skin"][1] == 100.0 and rows["background"][1] == 100.0
    assert agreement.summary()["pixels labelled"] == 100 * 56 / 64  # the 8 neck pixels were left out


def test_a_wrong_label_on_a_class_it_never_draws_is_an_error_of_its_label():
    human = np.full((4, 4), NECK, np.uint8)
    auto = np.full((4, 4), SKIN, np.uint8)
    agreement = Agreement(SCHEMA, ("skin",))
    agreement.update(human, auto, "a")
    assert agreement.rows()[0][1] == 0.0


def test_images_without_labels_are_counted_apart():
    agreement = Agreement(SCHEMA, ("skin", "hair"))
    agreement.update(np.full((4, 4), HAIR, np.uint8), None, "skipped")
    agreement.update(np.full((4, 4), HAIR, np.uint8), np.full((4, 4), HAIR, np.uint8), "kept")
    assert agreement.images_without_labels == ["skipped"]
    assert agreement.summary()["images without labels"] == 50.0
    assert {r[0]: r[3] for r in agreement.rows()}["hair"] == 50.0
    assert "| hair | 100.0 |" in agreement.table()
