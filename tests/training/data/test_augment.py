"""Augmenter: image and label share one geometry; flips swap left/right ids; jitter leaves labels alone."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.errors import ConfigError, InputError
from edge.schemas import IGNORE_INDEX, get_schema
from training.data.augment import AugmentConfig, Augmenter

SCHEMA = get_schema("celebamask_hq")
NO_JITTER = {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.0}
GEOMETRY_ONLY = AugmentConfig(flip_prob=0.0, rotate_prob=0.0, scale_range=(1.0, 1.0), **NO_JITTER)


def _blocks(size: int, ids: list[int], block: int = 16) -> np.ndarray:
    """A label of square blocks cycling through ``ids``."""
    yy, xx = np.mgrid[:size, :size] // block
    return np.asarray(ids, np.uint8)[(yy * 7 + xx * 3) % len(ids)]


def _encode(label: np.ndarray) -> np.ndarray:
    """An image whose every channel spells the label id, so misalignment shows as a mismatch."""
    return np.repeat((label.astype(np.uint8) * 12)[..., None], 3, axis=2)


def test_image_and_label_stay_aligned_through_flip_rotation_and_scale():
    unpaired = [SCHEMA.index(n) for n in ("background", "skin", "nose", "mouth", "hair", "cloth")]
    label = _blocks(96, unpaired)
    cfg = AugmentConfig(flip_prob=0.5, rotate_deg=40.0, rotate_prob=1.0, scale_range=(0.7, 1.3), **NO_JITTER)
    augment = Augmenter(cfg, SCHEMA)
    checked = 0
    for seed in range(8):
        image, out = augment(_encode(label), label, np.random.default_rng(seed))
        # Only pixels well inside a block: bilinear image values blend across block edges.
        lo = cv2.erode(out, np.ones((5, 5), np.uint8))
        hi = cv2.dilate(out, np.ones((5, 5), np.uint8))
        interior = (lo == hi) & (out != IGNORE_INDEX)
        diff = np.abs(image[..., 0].astype(int) - out.astype(int) * 12)
        assert diff[interior].max() <= 1, f"seed {seed}: image and label disagree"
        checked += int(interior.sum())
        assert not np.array_equal(out, label), "the warp should have moved something"
    assert checked > 8 * 2000


def test_flip_mirrors_both_and_swaps_left_right_ids():
    cfg = AugmentConfig(flip_prob=1.0, rotate_prob=0.0, scale_range=(1.0, 1.0), **NO_JITTER)
    l_eye, r_eye, skin = SCHEMA.index("l_eye"), SCHEMA.index("r_eye"), SCHEMA.index("skin")
    label = np.full((32, 32), skin, np.uint8)
    label[10:14, 22:28] = l_eye  # the subject's left eye, on the image right (CelebAMask-HQ's convention)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    out_image, out_label = Augmenter(cfg, SCHEMA)(image, label, rng)
    assert np.array_equal(out_image, image[:, ::-1])
    assert np.array_equal(out_label, SCHEMA.flip_lut()[label[:, ::-1]])
    assert np.all(out_label[10:14, 4:10] == r_eye) and not np.any(out_label == l_eye)


def test_pixels_from_outside_the_frame_are_ignore_in_the_label_and_black_in_the_image():
    cfg = AugmentConfig(flip_prob=0.0, rotate_prob=0.0, scale_range=(0.75, 0.75), **NO_JITTER)
    label = np.full((64, 64), SCHEMA.index("skin"), np.uint8)
    image = np.full((64, 64, 3), 200, np.uint8)
    out_image, out_label = Augmenter(cfg, SCHEMA)(image, label, np.random.default_rng(0))
    assert out_label[0, 0] == IGNORE_INDEX and out_label[-1, -1] == IGNORE_INDEX
    assert np.all(out_image[0, 0] == 0)
    assert out_label[32, 32] == SCHEMA.index("skin")
    assert set(np.unique(out_label).tolist()) == {SCHEMA.index("skin"), IGNORE_INDEX}


def test_colour_jitter_changes_the_image_but_never_the_label():
    cfg = AugmentConfig(flip_prob=0.0, rotate_prob=0.0, scale_range=(1.0, 1.0),
                        brightness=0.3, contrast=0.3, saturation=0.3, hue=0.2)
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    label = _blocks(48, list(range(SCHEMA.num_classes)), block=8)
    out_image, out_label = Augmenter(cfg, SCHEMA)(image, label, rng)
    assert np.array_equal(out_label, label)
    assert not np.array_equal(out_image, image)


def test_brightness_factor_stays_within_its_range():
    cfg = AugmentConfig(flip_prob=0.0, rotate_prob=0.0, scale_range=(1.0, 1.0),
                        brightness=0.1, contrast=0.0, saturation=0.0, hue=0.0)
    image = np.full((8, 8, 3), 100, np.uint8)
    label = np.zeros((8, 8), np.uint8)
    values = [Augmenter(cfg, SCHEMA)(image, label, np.random.default_rng(s))[0][0, 0, 0] for s in range(20)]
    assert 90 <= min(values) and max(values) <= 110 and len(set(values)) > 3


def test_hue_shift_rotates_hue_and_keeps_value():
    cfg = AugmentConfig(flip_prob=0.0, rotate_prob=0.0, scale_range=(1.0, 1.0),
                        brightness=0.0, contrast=0.0, saturation=0.0, hue=0.1)
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 200
    out, _ = Augmenter(cfg, SCHEMA)(red, np.zeros((4, 4), np.uint8), np.random.default_rng(3))
    hue = cv2.cvtColor(out, cv2.COLOR_RGB2HSV_FULL)[0, 0, 0].astype(int)
    shift = min(hue, 256 - hue) / 256  # distance from red on the hue circle
    assert 0 < shift <= 0.1 + 1 / 256
    assert out[0, 0].max() == 200


def test_same_generator_state_gives_the_same_augmentation():
    augment = Augmenter(AugmentConfig(), SCHEMA)
    label = _blocks(40, [0, 1, 4, 5, 13], block=8)
    image = _encode(label)
    a = augment(image, label, np.random.default_rng(7))
    b = augment(image, label, np.random.default_rng(7))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_disabled_or_zero_strength_is_identity():
    label = _blocks(32, [0, 1, 4, 5], block=8)
    image = _encode(label)
    for cfg in (AugmentConfig(enabled=False), GEOMETRY_ONLY):
        out_image, out_label = Augmenter(cfg, SCHEMA)(image, label, np.random.default_rng(0))
        assert np.array_equal(out_image, image) and np.array_equal(out_label, label)


@pytest.mark.parametrize("bad", [{"flip_prob": 1.5}, {"rotate_prob": -0.1}, {"scale_range": (1.2, 0.8)},
                                 {"scale_range": (0.0, 1.0)}, {"hue": 0.7}, {"brightness": 1.5},
                                 {"rotate_deg": -5.0}])
def test_invalid_config_values_are_rejected(bad):
    with pytest.raises(ConfigError):
        AugmentConfig(**bad)


def test_mismatched_or_wrongly_typed_inputs_are_rejected():
    augment = Augmenter(AugmentConfig(), SCHEMA)
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="label"):
        augment(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9), np.uint8), rng)
    with pytest.raises(InputError, match="image"):
        augment(np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.uint8), rng)


def test_label_noise_moves_borders_by_at_most_k_pixels_and_spares_background_and_ignore():
    from training.data.augment import perturb_borders

    label = np.zeros((40, 40), np.uint8)
    label[10:30, 10:30] = 1
    label[15:25, 15:20] = 2
    label[0, :] = IGNORE_INDEX
    noisy = [perturb_borders(label, 2, np.random.default_rng(seed)) for seed in range(6)]
    assert any(not np.array_equal(n, label) for n in noisy) and not np.array_equal(noisy[0], noisy[1])
    for out in noisy:
        assert np.array_equal(out == IGNORE_INDEX, label == IGNORE_INDEX)
        assert not np.any((out == 0) & (label != 0))  # background never grows
        for c in (1, 2):  # a pixel that became c lies within 2 px (ellipse) of c's original region
            near = cv2.dilate((label == c).view(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
            assert np.all(near[(out == c) & (label != c)])
    assert np.array_equal(perturb_borders(label, 0, np.random.default_rng(0)), label)
