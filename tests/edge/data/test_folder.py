"""The ``folder`` format: users' images + id masks + a named schema, with a fixed hashed split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge.data import open_dataset, scan
from edge.data.readers import FOLDER_VAL_FRACTION, hashed_split
from edge.errors import ConfigError, DataError, UnknownNameError

from .conftest import H, W, photo, stripes, write_jpg, write_png


def _palette_png(path: Path, ids: np.ndarray) -> None:
    """A palette PNG whose indices are the class ids (as CelebAMask-HQ ships its masks)."""
    image = Image.fromarray(ids, mode="P")
    image.putpalette([v for i in range(256) for v in (i, 255 - i, (7 * i) % 256)])
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def _unsplit(root: Path, count: int) -> dict[str, np.ndarray]:
    labels = {}
    for i in range(count):
        name = f"face{i:03d}"
        labels[name] = stripes(19, i)
        write_jpg(root / "images" / f"{name}.jpg", photo(i))
        _palette_png(root / "masks" / f"{name}.png", labels[name])
    return labels


def test_palette_masks_read_as_class_ids_not_colours(tmp_path: Path) -> None:
    labels = _unsplit(tmp_path, 24)
    reader = open_dataset("folder", tmp_path, "train", "celebamask_hq")
    sample = reader[0]
    assert sample.image.shape == (H, W, 3)
    np.testing.assert_array_equal(sample.label, labels[sample.name])


def test_unsplit_folder_splits_by_name_hash_into_disjoint_train_and_val(tmp_path: Path) -> None:
    _unsplit(tmp_path, 64)
    train = open_dataset("folder", tmp_path, "train", "celebamask_hq").names()
    val = open_dataset("folder", tmp_path, "val", "celebamask_hq").names()
    assert not set(train) & set(val) and len(train) + len(val) == 64
    assert all(hashed_split(n) == "val" for n in val) and 0 < len(val) < 64 * FOLDER_VAL_FRACTION * 2.5
    with pytest.raises(DataError, match="no test split"):
        open_dataset("folder", tmp_path, "test", "celebamask_hq")


def test_a_name_keeps_its_split_when_other_files_come_and_go(tmp_path: Path) -> None:
    _unsplit(tmp_path, 24)
    before = set(open_dataset("folder", tmp_path, "val", "celebamask_hq").names())
    for i in range(24, 40):  # more files arrive
        write_jpg(tmp_path / "images" / f"face{i:03d}.jpg", photo(i))
        _palette_png(tmp_path / "masks" / f"face{i:03d}.png", stripes(19, i))
    (tmp_path / "images" / "face000.jpg").unlink()  # and one leaves (its mask becomes an orphan)
    after = set(open_dataset("folder", tmp_path, "val", "celebamask_hq").names())
    assert before - {"face000"} == {n for n in after if int(n[4:]) < 24}


def test_own_splits_are_used_as_they_are(tmp_path: Path) -> None:
    for split, count in (("train", 3), ("val", 2)):
        for i in range(count):
            write_jpg(tmp_path / split / "images" / f"{split}{i}.jpg", photo(i))
            write_png(tmp_path / split / "masks" / f"{split}{i}.png", stripes(3, i))
    assert len(open_dataset("folder", tmp_path, "val", "lfw_parts")) == 2
    with pytest.raises(DataError, match="no test/images"):
        open_dataset("folder", tmp_path, "test", "lfw_parts")


def test_a_folder_without_masks_is_unlabelled_train_data(tmp_path: Path) -> None:
    for i in range(3):
        write_jpg(tmp_path / f"u{i}.jpg", photo(i))
    reader = open_dataset("folder", tmp_path, "train", "celebamask_hq")
    assert len(reader) == 3 and (reader[1].label == 255).all()
    with pytest.raises(DataError, match="only a train split"):
        open_dataset("folder", tmp_path, "val", "celebamask_hq")


def test_bad_files_are_named(tmp_path: Path) -> None:
    _unsplit(tmp_path, 4)
    split = hashed_split("face000")
    (tmp_path / "images" / "face000.jpg").write_bytes(b"not a jpeg")
    orphan = next(n for n in (f"lone{i}" for i in range(100)) if hashed_split(n) == split)
    _palette_png(tmp_path / "masks" / f"{orphan}.png", stripes(19, 0))
    _palette_png(tmp_path / "masks" / "face001.png", np.full((H, W), 40, np.uint8))  # 40: no such class
    reports = [scan(open_dataset("folder", tmp_path, s, "celebamask_hq"), skip_bad=True) for s in ("train", "val")]
    bad = {Path(p).name: reason for r in reports for p, reason in r.bad}
    assert "cannot decode" in bad["face000.jpg"]
    assert bad[f"{orphan}.png"] == "mask has no matching image"
    assert "outside schema" in bad["face001.png"]


def test_the_schema_is_required_and_must_exist(tmp_path: Path) -> None:
    _unsplit(tmp_path, 2)
    with pytest.raises(ConfigError, match="needs a label schema"):
        open_dataset("folder", tmp_path, "train")
    with pytest.raises(UnknownNameError, match="celebamsk"):
        open_dataset("folder", tmp_path, "train", "celebamsk")
    with pytest.raises(DataError, match="does not exist"):
        open_dataset("folder", tmp_path / "absent", "train", "celebamask_hq")
