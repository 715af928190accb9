"""Boundary ground truth: CE2P and AGRNet neighbour constructions (docs/design.md#boundary-ground-truth)."""
from __future__ import annotations

import numpy as np
import pytest

from edge.boundary import ce2p_boundary, neighbour_boundary
from edge.errors import InputError


def _mask(picture: str) -> np.ndarray:
    return np.array([[ch == "X" for ch in row] for row in picture.split()], dtype=np.uint8)


def _square(size: int = 64, lo: int = 16, hi: int = 48, value: int = 1) -> np.ndarray:
    label = np.zeros((size, size), dtype=np.uint8)
    label[lo:hi, lo:hi] = value
    return label


def _naive_ce2p_marks(label: np.ndarray, ignore: int = 255) -> np.ndarray:
    """Pixel-by-pixel reading of the four CE2P relations, as an independent reference."""
    h, w = label.shape
    edge = np.zeros((h, w), dtype=np.uint8)
    # p is compared with the pixel above, right, down-right and down-left; p is the marked side.
    for r in range(h):
        for c in range(w):
            for dr, dc in ((-1, 0), (0, 1), (1, 1), (1, -1)):
                rr, cc = r + dr, c + dc
                if 0 <= rr < h and 0 <= cc < w:
                    a, b = label[r, c], label[rr, cc]
                    if a != b and a != ignore and b != ignore:
                        edge[r, c] = 1
    return edge


def _naive_dilate(mask: np.ndarray, k: int) -> np.ndarray:
    h, w = mask.shape
    lo = k // 2
    out = np.zeros_like(mask)
    for r in range(h):
        for c in range(w):
            out[r, c] = mask[max(r - lo, 0) : r - lo + k, max(c - lo, 0) : c - lo + k].max()
    return out


def test_ce2p_marks_one_side_per_relation_on_a_square():
    """Hand-derived marks (edge_width=1) of a 4×4 square: the CE2P pattern is asymmetric."""
    label = np.zeros((8, 8), dtype=np.uint8)
    label[2:6, 2:6] = 1
    expected = _mask(
        """
        ........
        .XXXXXX.
        .XXXXXX.
        .XX..XX.
        .XX..XX.
        .XXXXX..
        ..XXXX..
        ........
        """
    )
    np.testing.assert_array_equal(ce2p_boundary(label, edge_width=1), expected)


def test_ce2p_matches_pixelwise_reference_on_random_labels():
    rng = np.random.default_rng(0)
    label = rng.integers(0, 4, size=(12, 13)).astype(np.uint8)
    label[rng.random(label.shape) < 0.15] = 255
    marks = _naive_ce2p_marks(label)
    np.testing.assert_array_equal(ce2p_boundary(label, edge_width=1), marks)
    np.testing.assert_array_equal(ce2p_boundary(label, edge_width=3), _naive_dilate(marks, 3))


@pytest.mark.parametrize("edge_width, band", [(1, 2), (3, 4), (5, 6)])
def test_ce2p_band_width_on_each_side_of_a_square(edge_width, band):
    """Marks lie on both sides of a straight edge (2 px); dilation adds edge_width - 1 px."""
    edge = ce2p_boundary(_square(), edge_width=edge_width)
    assert edge.dtype == np.uint8 and set(np.unique(edge)) <= {0, 1}
    for profile in (edge[:, 32], edge[32, :]):  # through the middle of the square
        runs = np.flatnonzero(profile)
        assert len(runs) == 2 * band
        assert runs[band - 1] - runs[0] == band - 1  # each band is contiguous
    top = np.flatnonzero(edge[:, 32])[:band]
    np.testing.assert_array_equal(top, np.arange(16 - band // 2, 16 + band - band // 2))


def test_ce2p_skips_pairs_touching_ignore():
    label = np.zeros((10, 10), dtype=np.uint8)
    label[:, 5:] = 255
    assert ce2p_boundary(label).sum() == 0
    label[:, 3:5] = 1  # columns 0|1|ignore: only the 0|1 edge (between columns 2 and 3) is a boundary
    marks = ce2p_boundary(label, edge_width=1)
    # horizontal and ↘ mark column 2, ↙ marks column 3; the 1|ignore pair would mark column 4
    assert set(np.flatnonzero(marks.any(axis=0))) == {2, 3}
    dilated = ce2p_boundary(label, edge_width=3)
    assert set(np.flatnonzero(dilated.any(axis=0))) == {1, 2, 3, 4}


def test_ce2p_batch_equals_per_image():
    rng = np.random.default_rng(1)
    batch = rng.integers(0, 3, size=(3, 9, 11)).astype(np.int64)
    out = ce2p_boundary(batch)
    assert out.shape == batch.shape
    for label, edge in zip(batch, out):
        np.testing.assert_array_equal(edge, ce2p_boundary(label))


def test_neighbour_boundary_is_two_pixels_wide_without_dilation():
    edge = neighbour_boundary(_square())
    np.testing.assert_array_equal(np.flatnonzero(edge[:, 32]), [15, 16, 47, 48])
    np.testing.assert_array_equal(np.flatnonzero(edge[32, :]), [15, 16, 47, 48])
    assert edge[15, 15] == 0  # the diagonal corner neighbour is not a 4-neighbour
    assert edge[16, 16] == 1


def test_neighbour_boundary_ignore_and_batch():
    label = np.zeros((2, 6, 6), dtype=np.uint8)
    label[0, :, 3:] = 255
    label[1, :, 3:] = 2
    edge = neighbour_boundary(label)
    assert edge[0].sum() == 0
    assert set(np.flatnonzero(edge[1].any(axis=0))) == {2, 3}
    np.testing.assert_array_equal(edge[1], neighbour_boundary(label[1]))


@pytest.mark.parametrize(
    "bad",
    [np.zeros((4, 4), dtype=np.float32), np.zeros((1, 1, 4, 4), dtype=np.uint8), [[0, 1], [1, 0]]],
)
def test_bad_label_maps_are_rejected(bad):
    with pytest.raises(InputError, match="label"):
        ce2p_boundary(bad)
    with pytest.raises(InputError, match="label"):
        neighbour_boundary(bad)


def test_ce2p_rejects_zero_edge_width():
    with pytest.raises(InputError, match="edge_width"):
        ce2p_boundary(np.zeros((4, 4), dtype=np.uint8), edge_width=0)
