"""Boundary ground truth from label maps (NumPy + OpenCV, no torch).

Two constructions are used by the parsers this project reproduces (docs/design.md#boundary-ground-truth):

- ``ce2p_boundary``: CE2P's ``generate_edge``, used by EHANet and (by decision) BASS. Four
  neighbour relations, one side of each differing pair marked, then a square dilation.
- ``neighbour_boundary``: AGRNet's edge map. A pixel is an edge when any 4-neighbour has
  another label; both sides are marked and nothing is dilated.

Both accept one label map (H, W) or a batch (N, H, W) and return uint8 maps in {0, 1}.
"""
from __future__ import annotations

import cv2
import numpy as np

from edge.errors import InputError
from edge.schemas import IGNORE_INDEX


def _check_label(label: np.ndarray, where: str) -> None:
    if not isinstance(label, np.ndarray):
        raise InputError(f"{where}: expected a numpy label map, got {type(label).__name__}")
    if label.ndim not in (2, 3):
        raise InputError(f"{where}: expected shape (H, W) or (N, H, W), got {label.shape}")
    if not (np.issubdtype(label.dtype, np.integer) or label.dtype == np.bool_):
        raise InputError(f"{where}: expected integer class ids, got dtype {label.dtype}")


def _differs(a: np.ndarray, b: np.ndarray, ignore_index: int) -> np.ndarray:
    """Element-wise: labels differ and neither side is ignore (such pairs are not boundaries)."""
    return (a != b) & (a != ignore_index) & (b != ignore_index)


def ce2p_boundary(
    label: np.ndarray, ignore_index: int = IGNORE_INDEX, edge_width: int = 3, where: str = "label"
) -> np.ndarray:
    """CE2P boundary map (docs/design.md#boundary-ground-truth): a band about ``edge_width - 1`` px wide on each side.

    The four relations and the side each one marks follow CE2P's ``generate_edge``:

    - vertical: p vs the pixel above; the lower pixel is marked;
    - horizontal: p vs the pixel to the right; the left pixel is marked;
    - diagonal (↘): p vs the pixel down-right; the upper-left pixel is marked;
    - anti-diagonal (↙): p vs the pixel down-left; the upper-right pixel is marked.

    Pairs where either label is ``ignore_index`` are skipped. The result is then dilated with
    an ``edge_width`` × ``edge_width`` rectangle (``edge_width=1`` means no dilation); like
    CE2P, the dilated band may reach into ignore pixels.
    """
    _check_label(label, where)
    if edge_width < 1:
        raise InputError(f"{where}: edge_width must be >= 1, got {edge_width}")
    edge = np.zeros(label.shape, dtype=np.uint8)
    edge[..., 1:, :] |= _differs(label[..., 1:, :], label[..., :-1, :], ignore_index)
    edge[..., :, :-1] |= _differs(label[..., :, :-1], label[..., :, 1:], ignore_index)
    edge[..., :-1, :-1] |= _differs(label[..., :-1, :-1], label[..., 1:, 1:], ignore_index)
    edge[..., :-1, 1:] |= _differs(label[..., :-1, 1:], label[..., 1:, :-1], ignore_index)
    if edge_width == 1:
        return edge
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (edge_width, edge_width))
    return dilate(edge, kernel)


def neighbour_boundary(
    label: np.ndarray, ignore_index: int = IGNORE_INDEX, where: str = "label"
) -> np.ndarray:
    """AGRNet boundary map (docs/design.md#boundary-ground-truth): pixels with a 4-neighbour of another label.

    Both sides of each differing pair are marked, so a straight edge gives a 2 px band; there
    is no dilation. AGRNet's labels have no ignore region; here, as in ``ce2p_boundary``, pairs
    touching ``ignore_index`` are skipped so that ignore regions never create boundaries.
    """
    _check_label(label, where)
    edge = np.zeros(label.shape, dtype=np.uint8)
    vertical = _differs(label[..., 1:, :], label[..., :-1, :], ignore_index)
    horizontal = _differs(label[..., :, 1:], label[..., :, :-1], ignore_index)
    edge[..., 1:, :] |= vertical
    edge[..., :-1, :] |= vertical
    edge[..., :, 1:] |= horizontal
    edge[..., :, :-1] |= horizontal
    return edge


def dilate(mask: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``cv2.dilate`` of a uint8 (H, W) map or of each map in an (N, H, W) batch.

    Outside the image counts as background (OpenCV's default border for dilation).
    """
    if mask.ndim == 2:
        return cv2.dilate(mask, kernel)
    return np.stack([cv2.dilate(m, kernel) for m in mask]) if len(mask) else mask.copy()
