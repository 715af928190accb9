"""Each reader returns format-exact samples, and every bad input raises an error naming its file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.data import Sample, SampleError, list_formats, open_dataset
from edge.errors import ConfigError, DataError, UnknownNameError


def _png(path: Path, array: np.ndarray) -> None:
    assert cv2.imwrite(str(path), array)


def test_prepared_reads_schema_from_dataset_json_in_numeric_order(prepared_tree) -> None:
    reader = open_dataset("prepared", prepared_tree.root, "train")
    assert (
        reader.schema.name == "celebamask_hq"
        and reader.split == "train"
        and reader.root == prepared_tree.root
    )
    assert reader.names() == [str(i) for i in range(11)]  # "10" after "2"
    sample = reader[10]
    assert isinstance(sample, Sample) and sample.name == "10" and sample.landmarks is None
    assert sample.image.shape == (32, 48, 3) and sample.image.dtype == np.uint8
    assert sample.image[..., 0].mean() > 150 > sample.image[..., 2].mean()  # RGB, not BGR
    np.testing.assert_array_equal(sample.label, prepared_tree.labels["train/10"])
    assert reader[-1].name == "10"
    with pytest.raises(IndexError):
        reader[11]


def test_celebamask_alias_accepts_folder_without_dataset_json(prepared_tree) -> None:
    (prepared_tree.root / "dataset.json").unlink()
    reader = open_dataset("celebamask-hq", prepared_tree.root, "val")
    assert reader.schema.name == "celebamask_hq" and len(reader) == 1
    with pytest.raises(DataError, match="dataset.json"):
        open_dataset("prepared", prepared_tree.root, "val")


def test_celebamask_alias_rejects_other_schema(prepared_tree) -> None:
    (prepared_tree.root / "dataset.json").write_text(json.dumps({"schema": "helen", "splits": {}}))
    with pytest.raises(DataError, match="'helen'.*format 'prepared'"):
        open_dataset("celebamask_hq", prepared_tree.root, "train")


def test_prepared_count_mismatch_with_dataset_json_is_reported(prepared_tree) -> None:
    (prepared_tree.root / "train_img" / "3.jpg").unlink()
    (prepared_tree.root / "train_label" / "3.png").unlink()
    with pytest.raises(DataError, match="records 11 train samples but .* hold 10"):
        open_dataset("prepared", prepared_tree.root, "train")


def test_lapa_reads_images_labels_and_106_landmarks(lapa_tree) -> None:
    reader = open_dataset("lapa", lapa_tree.root, "train")
    assert reader.schema.name == "lapa" and reader.names() == ["2", "10", "face_a"]
    for sample in (reader[i] for i in range(len(reader))):
        np.testing.assert_array_equal(sample.label, lapa_tree.labels[f"train/{sample.name}"])
        assert sample.landmarks.shape == (106, 2) and sample.landmarks.dtype == np.float32
        np.testing.assert_allclose(sample.landmarks, lapa_tree.landmarks[f"train/{sample.name}"], atol=1e-3)


def test_lapa_without_landmark_folder_gives_none(lapa_tree) -> None:
    for txt in (lapa_tree.root / "val" / "landmarks").iterdir():
        txt.unlink()
    (lapa_tree.root / "val" / "landmarks").rmdir()
    assert open_dataset("lapa", lapa_tree.root, "val")[0].landmarks is None


def test_helen_hard_label_is_argmax_of_soft_maps(helen_tree) -> None:
    reader = open_dataset("helen", helen_tree.root, "train")
    assert reader.names() == ["100032540_1", "10405146_1", "2"]  # list order, from '1 , id' lines
    label = reader[1].label
    np.testing.assert_array_equal(label, helen_tree.labels["train/10405146_1"])
    h, w = label.shape
    assert (label[0, 0], label[0, w - 1], label[h - 3, w - 1], label[h - 1, 0]) == (10, 2, 1, 0)


def test_helen_split_files_with_bare_id_lines(helen_tree) -> None:
    assert open_dataset("helen", helen_tree.root, "val").names() == ["v_1"]
    assert open_dataset("helen", helen_tree.root, "test").names() == ["t_1"]


def test_helen_malformed_list_line_names_file_and_line(helen_tree) -> None:
    (helen_tree.root / "tuning.txt").write_text("v_1\n1 , a , b\n")
    with pytest.raises(DataError, match=r"tuning.txt:2:"):
        open_dataset("helen", helen_tree.root, "val")


def test_helen_missing_split_list(helen_tree) -> None:
    (helen_tree.root / "testing.txt").unlink()
    with pytest.raises(DataError, match="missing split list .*testing.txt"):
        open_dataset("helen", helen_tree.root, "test")


def test_unknown_format_and_split() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'lapa'"):
        open_dataset("lappa", ".", "train")
    assert list_formats() == ["celebamask_hq", "folder", "helen", "lapa", "prepared"]
    with pytest.raises(ConfigError, match="Valid splits: train, val, test"):
        open_dataset("lapa", ".", "validation")


@pytest.mark.parametrize("fmt", ["prepared", "lapa", "helen"])
def test_missing_root_states_expected_layout(tmp_path: Path, fmt: str) -> None:
    with pytest.raises(DataError, match="does not exist. Expected layout"):
        open_dataset(fmt, tmp_path / "nowhere", "train")


def test_missing_split_folder_states_expected_layout(lapa_tree) -> None:
    (lapa_tree.root / "test").rename(lapa_tree.root / "testing")
    with pytest.raises(DataError, match=r"missing folder .*test.*Expected layout: ROOT/\{split\}/images"):
        open_dataset("lapa", lapa_tree.root, "test")


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:40])


def _rmtree(folder: Path) -> None:
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()


HELEN_ID = "100032540_1"
# (case, dataset, edit of the tree, end of the named path, reason pattern); all break train sample 0
BAD_INPUTS = [
    (
        "size mismatch",
        "lapa",
        lambda r: _png(r / "train/labels/2.png", np.zeros((32, 49), np.uint8)),
        "labels/2.png",
        "label is 49x32",
    ),
    (
        "unknown id",
        "lapa",
        lambda r: _png(r / "train/labels/2.png", np.full((32, 48), 11, np.uint8)),
        "labels/2.png",
        r"ids \[11\]",
    ),
    ("corrupt image", "lapa", lambda r: _truncate(r / "train/images/2.jpg"), "images/2.jpg", "cannot decode"),
    ("corrupt label", "lapa", lambda r: _truncate(r / "train/labels/2.png"), "labels/2.png", "cannot decode"),
    ("empty label", "lapa", lambda r: (r / "train/labels/2.png").write_bytes(b""), "labels/2.png", "empty"),
    (
        "label without image",
        "lapa",
        lambda r: (r / "train/images/2.jpg").unlink(),
        "labels/2.png",
        "no matching image",
    ),
    (
        "image without label",
        "lapa",
        lambda r: (r / "train/labels/2.png").unlink(),
        "images/2.jpg",
        "no matching label",
    ),
    (
        "short landmarks",
        "lapa",
        lambda r: (r / "train/landmarks/2.txt").write_text("106\n1 2\n"),
        "landmarks/2.txt",
        "got 3 numbers",
    ),
    (
        "text in landmarks",
        "lapa",
        lambda r: (r / "train/landmarks/2.txt").write_text("106\nx y\n"),
        "landmarks/2.txt",
        "cannot parse",
    ),
    (
        "missing landmarks",
        "lapa",
        lambda r: (r / "train/landmarks/2.txt").unlink(),
        "landmarks/2.txt",
        "not found",
    ),
    (
        "colour label",
        "lapa",
        lambda r: _png(
            r / "train/labels/2.png",
            np.dstack([np.zeros((32, 48), np.uint8)] * 2 + [np.ones((32, 48), np.uint8)]),
        ),
        "labels/2.png",
        "differing channels",
    ),
    (
        "helen soft map size",
        "helen",
        lambda r: _png(r / f"labels/{HELEN_ID}/{HELEN_ID}_lbl03.png", np.zeros((32, 5), np.uint8)),
        f"{HELEN_ID}_lbl03.png",
        "soft map is 5x32",
    ),
    (
        "helen missing map",
        "helen",
        lambda r: (r / f"labels/{HELEN_ID}/{HELEN_ID}_lbl10.png").unlink(),
        f"{HELEN_ID}_lbl10.png",
        "not found",
    ),
    (
        "helen maps without image",
        "helen",
        lambda r: (r / f"images/{HELEN_ID}.jpg").unlink(),
        f"labels/{HELEN_ID}",
        "no matching image",
    ),
    (
        "helen image without maps",
        "helen",
        lambda r: _rmtree(r / f"labels/{HELEN_ID}"),
        f"labels/{HELEN_ID}",
        "missing soft-label folder",
    ),
]


@pytest.mark.parametrize(
    ("case", "fmt", "edit", "file", "reason"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_raises_data_error_naming_the_file(
    case, fmt, edit, file, reason, lapa_tree, helen_tree
) -> None:
    root = (lapa_tree if fmt == "lapa" else helen_tree).root
    edit(root)
    reader = open_dataset(fmt, root, "train")
    with pytest.raises(SampleError, match=reason) as info:
        reader[0]
    assert isinstance(info.value, DataError)
    assert info.value.path.endswith(file) and file in str(info.value)


def test_ignore_index_255_is_accepted(lapa_tree) -> None:
    label = lapa_tree.labels["train/2"].copy()
    label[:4] = 255
    _png(lapa_tree.root / "train" / "labels" / "2.png", label)
    np.testing.assert_array_equal(open_dataset("lapa", lapa_tree.root, "train")[0].label, label)


def test_grey_photo_becomes_rgb(lapa_tree) -> None:
    assert cv2.imwrite(str(lapa_tree.root / "val" / "images" / "v1.jpg"), np.full((32, 48), 90, np.uint8))
    image = open_dataset("lapa", lapa_tree.root, "val")[0].image
    assert image.shape == (32, 48, 3) and (image[..., 0] == image[..., 1]).all()


def test_edge_data_imports_without_torch() -> None:
    code = "import sys; sys.modules['torch'] = None; import edge.data, edge.data.readers, edge.data.scan"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[3])
