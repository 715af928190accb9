"""SyntheticFaces: reproducible, valid, covering every class, and left/right as in CelebAMask-HQ."""
from __future__ import annotations

import numpy as np
import pytest

from edge.errors import ConfigError, UnknownNameError
from edge.schemas import get_schema
from training.data.synthetic import SyntheticFaces

SCHEMAS = ("celebamask_hq", "lapa", "helen")


def _present(faces: SyntheticFaces, count: int) -> list[set[int]]:
    return [set(np.unique(faces[i].label).tolist()) for i in range(count)]


def _mean_x(label: np.ndarray, cls: int) -> float | None:
    xs = np.nonzero(label == cls)[1]
    return float(xs.mean()) if xs.size else None


def test_same_seed_and_index_give_identical_samples_whatever_the_access_order():
    first = SyntheticFaces("lapa", size=64, length=6, seed=3)
    second = SyntheticFaces("lapa", size=64, length=6, seed=3)
    forward = [first[i] for i in range(6)]
    backward = [second[i] for i in reversed(range(6))][::-1]
    for a, b in zip(forward, backward):
        assert np.array_equal(a.image, b.image) and np.array_equal(a.label, b.label)
        assert a.name == b.name
    again = first[2]
    assert np.array_equal(again.image, forward[2].image)


def test_seed_and_index_change_the_sample():
    faces = SyntheticFaces("lapa", size=64, length=4, seed=0)
    other_seed = SyntheticFaces("lapa", size=64, length=4, seed=1)
    assert not np.array_equal(faces[0].image, faces[1].image)
    assert not np.array_equal(faces[0].image, other_seed[0].image)


@pytest.mark.parametrize("schema", SCHEMAS)
def test_samples_have_valid_shapes_and_only_schema_ids(schema):
    faces = SyntheticFaces(schema, size=80, length=8, seed=0)
    n = get_schema(schema).num_classes
    for i in range(8):
        sample = faces[i]
        assert sample.image.shape == (80, 80, 3) and sample.image.dtype == np.uint8
        assert sample.label.shape == (80, 80) and sample.label.dtype == np.uint8
        assert sample.label.max() < n, "synthetic labels hold no ignore (255) or foreign ids"


@pytest.mark.parametrize("schema", SCHEMAS)
def test_a_batch_of_16_covers_every_class_of_the_schema(schema):
    """Long-tail classes (earring, necklace, hat, eye_g, inner mouth) show up in a small batch."""
    faces = SyntheticFaces(schema, size=96, length=16, seed=0)
    seen = set().union(*_present(faces, 16))
    missing = [name for i, name in enumerate(faces.schema.class_names) if i not in seen]
    assert not missing


def test_small_face_parts_are_in_most_samples():
    faces = SyntheticFaces("celebamask_hq", size=128, length=16, seed=0)
    present = _present(faces, 16)
    for name in ("l_eye", "r_eye", "l_brow", "r_brow", "nose", "l_lip", "skin"):
        share = sum(faces.schema.index(name) in p for p in present) / 16
        assert share >= 0.8, f"{name} in only {share:.0%} of samples"


@pytest.mark.parametrize("schema", SCHEMAS)
def test_left_parts_lie_on_the_image_right_also_after_a_flip_with_the_flip_lut(schema):
    """CelebAMask-HQ's convention: l_* is the subject's left, the image right (larger x).

    Mirroring the image and swapping ids via flip_lut keeps that true. Per face, l_* is right of r_*;
    pooled over faces, l_eye/l_brow lie right of the image centre (one tilted, shifted face may not).
    """
    faces = SyntheticFaces(schema, size=96, length=24, seed=5)
    lut, names = faces.schema.flip_lut(), faces.schema.class_names
    pooled: dict[str, list[np.ndarray]] = {"l_eye": [], "l_brow": []}
    compared = 0
    for i in range(24):
        label = faces[i].label
        for name, xs in pooled.items():
            xs.append(np.nonzero(label == faces.schema.index(name))[1])
        for mirrored in (False, True):
            view = lut[label[:, ::-1]] if mirrored else label
            for left, right in faces.schema.flip_pairs:
                xl, xr = _mean_x(view, left), _mean_x(view, right)
                if xl is not None and xr is not None:
                    assert xl > xr, (i, mirrored, names[left])
                    compared += 1
    assert compared >= 2 * len(faces.schema.flip_pairs) * 16  # both views of most pairs in most faces
    centre = (faces.size - 1) / 2
    for name, xs in pooled.items():
        assert np.concatenate(xs).mean() > centre + 0.05 * faces.size, name


def test_other_schemas_are_the_visible_surface_of_the_celebamask_hq_render():
    """Same (seed, i) gives the same image; LaPa keeps names, ears become skin, accessories background."""
    celeba = SyntheticFaces("celebamask_hq", size=96, length=16, seed=0)
    lapa = SyntheticFaces("lapa", size=96, length=16, seed=0)
    helen = SyntheticFaces("helen", size=96, length=16, seed=0)
    c, la = celeba.schema, lapa.schema
    to_lapa = {"l_ear": "skin", "r_ear": "skin", "hat": "background", "ear_r": "background",
               "neck_l": "background", "neck": "background", "cloth": "background"}
    glasses_seen = 0
    for i in range(16):
        a, b = celeba[i], lapa[i]
        assert np.array_equal(a.image, b.image)
        assert np.array_equal(b.label, helen[i].label)  # identical class lists
        for cid, name in enumerate(c.class_names):
            region = a.label == cid
            if name == "eye_g":
                glasses_seen += int(region.any())
                continue
            expected = la.index(to_lapa.get(name, name))
            assert np.all(b.label[region] == expected), name
    assert glasses_seen > 0


def test_accepts_a_schema_object_and_supports_negative_indices():
    faces = SyntheticFaces(get_schema("helen"), size=48, length=3)
    assert faces.schema.name == "helen" and len(faces) == 3
    assert np.array_equal(faces[-1].label, faces[2].label)
    with pytest.raises(IndexError):
        faces[3]


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(UnknownNameError):
        SyntheticFaces("lapaa")
    with pytest.raises(ConfigError, match="size"):
        SyntheticFaces("lapa", size=8)
    with pytest.raises(ConfigError, match="length"):
        SyntheticFaces("lapa", length=-1)
