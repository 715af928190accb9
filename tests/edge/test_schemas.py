"""Label schemas: official ids and orders, flip pairs, and explicit cross-schema mappings."""
import numpy as np
import pytest

from edge.errors import ConfigError, UnknownNameError
from edge.schemas import (
    IGNORE_INDEX,
    LabelSchema,
    class_mapping,
    get_schema,
    list_schemas,
    probability_mapping,
    remap_labels,
)


def test_celebamask_hq_has_the_official_g_mask_order():
    schema = get_schema("celebamask_hq")
    assert schema.num_classes == 19
    assert schema.class_names[:5] == ("background", "skin", "nose", "eye_g", "l_eye")
    assert schema.class_names[13] == "hair" and schema.class_names[18] == "cloth"
    assert set(schema.flip_pairs) == {(4, 5), (6, 7), (8, 9)}


@pytest.mark.parametrize("name", ["lapa", "helen"])
def test_eleven_class_schemas_share_the_lapa_order(name):
    schema = get_schema(name)
    assert schema.num_classes == 11
    assert schema.index("hair") == 10 and schema.index("mouth") == 8
    assert set(schema.flip_pairs) == {(2, 3), (4, 5)}


def test_helen_overall_set_is_the_inner_face_components():
    assert get_schema("helen").merged_sets["overall"] == (2, 3, 4, 5, 6, 7, 8, 9)


def test_flip_lut_swaps_pairs_and_keeps_ignore():
    lut = get_schema("lapa").flip_lut()
    assert (lut[2], lut[3], lut[4], lut[5], lut[1]) == (3, 2, 5, 4, 1)
    assert lut[IGNORE_INDEX] == IGNORE_INDEX


def test_celeba_to_lapa_ignores_classes_without_counterpart():
    lut = class_mapping("celebamask_hq", "lapa")
    celeb, lapa = get_schema("celebamask_hq"), get_schema("lapa")
    for name in ("hat", "neck_l", "eye_g", "ear_r"):
        assert lut[celeb.index(name)] == IGNORE_INDEX
    assert lut[celeb.index("neck")] == lapa.index("background")
    assert lut[celeb.index("l_brow")] == lapa.index("l_brow")
    assert lut[IGNORE_INDEX] == IGNORE_INDEX


def test_remap_and_probability_mapping_agree():
    label = np.array([[0, 1, 14], [10, 13, 255]], dtype=np.uint8)
    out = remap_labels(label, "celebamask_hq", "lapa")
    assert out.tolist() == [[0, 1, 255], [8, 10, 255]]
    matrix = probability_mapping("celebamask_hq", "lapa")
    assert matrix.shape == (19, 11)
    assert matrix[14].sum() == 0 and matrix[13, 10] == 1


def test_unknown_schema_and_missing_mapping_are_clear():
    with pytest.raises(UnknownNameError, match="Did you mean 'lapa'"):
        get_schema("lappa")
    assert "helen" in list_schemas()


def test_schema_dict_round_trip():
    schema = get_schema("helen")
    again = LabelSchema.from_dict(schema.to_dict())
    assert again.class_names == schema.class_names and again.merged_sets == schema.merged_sets
    with pytest.raises(ConfigError):
        LabelSchema.from_dict({"name": "x"})


def test_lfw_parts_maps_onto_celebamask_hq_as_partial_labels():
    from edge.schemas import label_sets

    celeba = get_schema("celebamask_hq")
    background, face, hair = label_sets("lfw_parts", "celebamask_hq")
    assert hair == (celeba.index("hair"),)
    assert celeba.index("skin") in face and celeba.index("l_lip") in face and celeba.index("hair") not in face
    # LFW never says "ear": a class allowed in both sets became the model's hedge on LFW images.
    assert not {celeba.index("l_ear"), celeba.index("r_ear")} & set(face + background)


def test_a_partial_mapping_has_no_one_to_one_label_map():
    with pytest.raises(ConfigError, match="partial label"):
        class_mapping("lfw_parts", "celebamask_hq")


def test_every_celebamask_class_has_a_coarse_lfw_home_for_scoring():
    lut = class_mapping("celebamask_hq", "lfw_parts")
    assert (lut[:19] != 255).all()
    assert lut[get_schema("celebamask_hq").index("hair")] == get_schema("lfw_parts").index("hair")
