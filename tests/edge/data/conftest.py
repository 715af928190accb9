"""Tiny, format-exact dataset trees built in tmp_path (LaPa, Helen, prepared layout).

Each fixture returns a ``Tree``: the root plus the label (and landmarks) every sample
must read back as, keyed ``"split/name"``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest

H, W = 32, 48  # non-square, so a swapped width/height would show


@dataclass
class Tree:
    root: Path
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    landmarks: dict[str, np.ndarray] = field(default_factory=dict)


def photo(seed: int) -> np.ndarray:
    """A smooth RGB image (JPEG keeps it close) whose red channel dominates."""
    yy, xx = np.mgrid[0:H, 0:W]
    return np.stack([200 + (xx + seed) % 40, 40 + yy % 30, np.full((H, W), 20)], axis=-1).astype(np.uint8)


def write_jpg(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 98])


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)


def stripes(num_classes: int, seed: int) -> np.ndarray:
    """A label map with every id in 0..num_classes-1, in vertical stripes."""
    return ((np.arange(W)[None, :] + seed) % num_classes).repeat(H, axis=0).astype(np.uint8)


@pytest.fixture
def lapa_tree(tmp_path: Path) -> Tree:
    """LaPa/{train,val,test}/{images,labels,landmarks}; train has 3 samples, val and test 1."""
    tree = Tree(tmp_path / "LaPa")
    for split, names in {"train": ["10", "2", "face_a"], "val": ["v1"], "test": ["t1"]}.items():
        for seed, name in enumerate(names):
            label = stripes(11, seed)
            points = (np.random.default_rng(seed).random((106, 2)) * [W, H]).round(3).astype(np.float32)
            write_jpg(tree.root / split / "images" / f"{name}.jpg", photo(seed))
            write_png(tree.root / split / "labels" / f"{name}.png", label)
            text = "106\n" + "\n".join(f"{x} {y}" for x, y in points) + "\n"
            (tree.root / split / "landmarks").mkdir(parents=True, exist_ok=True)
            (tree.root / split / "landmarks" / f"{name}.txt").write_text(text)
            tree.labels[f"{split}/{name}"], tree.landmarks[f"{split}/{name}"] = label, points
    return tree


def helen_soft_maps(seed: int) -> np.ndarray:
    """(11, H, W) soft maps whose argmax differs from a 'first map above 127' rule.

    Skin (map 1) is 150 everywhere, so a threshold would call everything skin. Hair
    (map 10) is 200 on the left half, left brow (map 2) 250 on the top-right quarter,
    and background (map 0) 255 on the two bottom rows.
    """
    maps = np.zeros((11, H, W), dtype=np.uint8)
    maps[1] = 150
    maps[10, :, : W // 2] = 200
    maps[2, : H // 2, W // 2 :] = 250
    maps[0, H - 2 :, :] = 255 - seed
    return maps


HELEN_SPLITS = {
    "exemplars.txt": ["100032540_1", "10405146_1", "2"],
    "tuning.txt": ["v_1"],
    "testing.txt": ["t_1"],
}
HELEN_SPLIT_OF = {"exemplars.txt": "train", "tuning.txt": "val", "testing.txt": "test"}


@pytest.fixture
def helen_tree(tmp_path: Path) -> Tree:
    """SmithCVPR2013_dataset_resized with 'N , id' list lines (train) and bare ids (val, test)."""
    tree = Tree(tmp_path / "SmithCVPR2013_dataset_resized")
    tree.root.mkdir(parents=True)
    for list_name, names in HELEN_SPLITS.items():
        numbered = list_name == "exemplars.txt"
        lines = [f"{i + 1} , {n}" if numbered else n for i, n in enumerate(names)]
        (tree.root / list_name).write_text("\n".join(lines) + "\n\n")
        for seed, name in enumerate(names):
            maps = helen_soft_maps(seed)
            write_jpg(tree.root / "images" / f"{name}.jpg", photo(seed))
            for class_id, soft in enumerate(maps):
                write_png(tree.root / "labels" / name / f"{name}_lbl{class_id:02d}.png", soft)
            tree.labels[f"{HELEN_SPLIT_OF[list_name]}/{name}"] = np.argmax(maps, axis=0).astype(np.uint8)
    return tree


@pytest.fixture
def prepared_tree(tmp_path: Path) -> Tree:
    """A prepared CelebAMask-HQ folder with 11 train samples (so '10' must sort after '2')."""
    tree = Tree(tmp_path / "prepared")
    counts = {"train": 11, "val": 1, "test": 1}
    for split, n in counts.items():
        for i in range(n):
            write_jpg(tree.root / f"{split}_img" / f"{i}.jpg", photo(i))
            write_png(tree.root / f"{split}_label" / f"{i}.png", stripes(19, i))
            tree.labels[f"{split}/{i}"] = stripes(19, i)
    (tree.root / "dataset.json").write_text(json.dumps({"schema": "celebamask_hq", "splits": counts}))
    return tree
