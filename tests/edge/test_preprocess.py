"""Pre-processing: the fused normalisation equals the textbook formula; bad shapes are refused."""
import numpy as np
import pytest

from edge.errors import InputError
from edge.preprocess import Normalization, as_rgb_uint8, normalize, preprocess


def test_normalize_is_mean_std_over_255_in_planar_float32():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    norm = Normalization((0.1, 0.5, 0.9), (0.2, 0.3, 0.4))
    expected = ((image / 255.0 - np.array(norm.mean)) / np.array(norm.std)).transpose(2, 0, 1)
    out = normalize(image, norm)
    assert out.dtype == np.float32 and out.shape == (3, 5, 7) and out.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_preprocess_converts_grey_and_rgba_and_refuses_other_shapes():
    grey = np.full((8, 8), 128, np.uint8)
    assert preprocess(grey, (4, 4)).shape == (1, 3, 4, 4)
    assert as_rgb_uint8(np.zeros((4, 4, 4), np.uint8)).shape == (4, 4, 3)
    with pytest.raises(InputError, match="channels"):
        as_rgb_uint8(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(InputError, match=r"\(H, W, 3\)"):
        normalize(np.zeros((4, 4), np.uint8))
