"""`data prepare`: official merge order and split rule, resume, bad inputs, --skip-bad, the CLI."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.cli import main
from edge.data import SampleError, open_dataset
from edge.errors import ConfigError, DataError
from edge.io import TEMP_MARK
from training.data import prepare_sources
from training.data.prepare import STATE_FILE, prepare_dataset
from training.data.prepare_sources import CelebAMaskHQSource

IMG, MASK = 64, 32  # stand-ins for 1024² photos and 512² masks
MAPPING_HEADER = "idx orig_idx orig_file\n"
# (CelebA-HQ index, CelebA orig_idx) in mapping-file order; orig_idx straddles both split thresholds.
ROWS = [(7, 100), (0, 162770), (1, 162771), (3, 182638), (2, 182637), (2001, 5), (5, 200000), (6, 170000)]
EXPECTED_SPLITS = {"train": [7, 0, 2001], "val": [1, 2, 6], "test": [3, 5]}


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)


def _rows(n_rows: int, h: int, w: int, value: int = 255) -> np.ndarray:
    """A 3-channel part mask (as released) that is foreground on rows [0, n_rows)."""
    mask = np.zeros((h, w, 3), np.uint8)
    mask[:n_rows] = value
    return mask


def write_celeba_sample(src: Path, k: int, parts: dict[str, np.ndarray] | None = None) -> None:
    """Photo ``k`` is flat grey 10 + 20 * (k % 12), so an output can be traced back to its source."""
    grey = 10 + 20 * (k % 12)
    assert cv2.imwrite(str(src / "CelebA-HQ-img" / f"{k}.jpg"), np.full((IMG, IMG, 3), grey, np.uint8))
    parts = parts if parts is not None else {"skin": _rows(MASK, MASK, MASK), "hair": _rows(4, MASK, MASK)}
    for part, mask in parts.items():
        _png(src / "CelebAMask-HQ-mask-anno" / str(k // 2000) / f"{k:05d}_{part}.png", mask)


def overlap_parts() -> dict[str, np.ndarray]:
    """Bands painted so each later official part overlaps the earlier ones (rows of a 32² mask)."""
    skin = _rows(MASK, MASK, MASK)
    neck_l = np.zeros_like(skin)
    neck_l[8:20] = 255
    neck = np.zeros_like(skin)
    neck[14:26] = 255
    cloth = np.zeros_like(skin)
    cloth[18:30] = 255
    hair = _rows(4, MASK, MASK)
    hat = np.zeros((MASK, MASK), np.uint8)  # single channel with value 1: any non-zero is foreground
    hat[2:6] = 1
    return {"skin": skin, "hair": hair, "hat": hat, "neck_l": neck_l, "neck": neck, "cloth": cloth}


@pytest.fixture
def celeba_src(tmp_path: Path) -> Path:
    src = tmp_path / "CelebAMask-HQ"
    (src / "CelebA-HQ-img").mkdir(parents=True)
    (src / "CelebA-HQ-to-CelebA-mapping.txt").write_text(
        MAPPING_HEADER + "".join(f"{k} {orig} {orig + 1:06d}.jpg\n" for k, orig in ROWS)
    )
    for k, _ in ROWS:
        write_celeba_sample(src, k, overlap_parts() if k == 0 else None)
    return src


def _prepare(src: Path, dst: Path, **kwargs):
    return prepare_dataset("celebamask-hq", src, dst, image_size=kwargs.pop("image_size", MASK), **kwargs)


def _source_of(image_path: Path) -> int:
    """Which CelebA-HQ index a prepared photo came from (by its flat grey)."""
    mean = float(cv2.imread(str(image_path)).mean())
    return min((k for k, _ in ROWS), key=lambda k: abs(10 + 20 * (k % 12) - mean))


def test_split_rule_at_thresholds_and_mapping_order(celeba_src: Path, tmp_path: Path) -> None:
    report = _prepare(celeba_src, tmp_path / "out")
    assert report.counts == {s: len(ks) for s, ks in EXPECTED_SPLITS.items()} and report.converted == 8
    for split, keys in EXPECTED_SPLITS.items():
        assert [_source_of(tmp_path / "out" / f"{split}_img" / f"{n}.jpg") for n in range(len(keys))] == keys
    record = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert (
        record["schema"] == "celebamask_hq"
        and record["splits"] == report.counts
        and record["image_size"] == MASK
    )


def test_merge_follows_official_order(celeba_src: Path, tmp_path: Path) -> None:
    _prepare(celeba_src, tmp_path / "out")
    label = cv2.imread(str(tmp_path / "out" / "train_label" / "1.png"), cv2.IMREAD_UNCHANGED)  # source k=0
    ids = {row: int(label[row, 0]) for row in (0, 3, 5, 10, 16, 22, 28, 31)}
    # hair 13, hat 14 (value-1 mask, overwrites hair), necklace 16, neck 17 over necklace, cloth 18 over both
    assert ids == {0: 13, 3: 14, 5: 14, 10: 16, 16: 17, 22: 18, 28: 18, 31: 1}
    assert CelebAMaskHQSource(celeba_src, None).parts[15:] == ("neck_l", "neck", "cloth")


def test_default_and_other_image_sizes(celeba_src: Path, tmp_path: Path) -> None:
    assert CelebAMaskHQSource(celeba_src, None).image_size == 512
    _prepare(celeba_src, tmp_path / "small", image_size=16)
    sample = open_dataset("prepared", tmp_path / "small", "train")[1]
    assert sample.image.shape == (16, 16, 3) and sample.label.shape == (16, 16)
    assert set(np.unique(sample.label)) <= {1, 13, 14, 16, 17, 18}  # nearest: no blended ids
    _prepare(celeba_src, tmp_path / "native", image_size=IMG)  # photo already that size: bytes kept
    assert (tmp_path / "native" / "test_img" / "1.jpg").read_bytes() == (
        celeba_src / "CelebA-HQ-img" / "5.jpg"
    ).read_bytes()


def test_full_mapping_must_give_published_counts(celeba_src: Path) -> None:
    mapping = celeba_src / "CelebA-HQ-to-CelebA-mapping.txt"
    orig = [0] * 24183 + [162771] * 2993 + [182638] * 2824
    mapping.write_text(MAPPING_HEADER + "".join(f"{k} {o} x.jpg\n" for k, o in enumerate(orig)))
    items = CelebAMaskHQSource(celeba_src, None).plan()
    assert [i.index for i in items if i.split == "test"][-1] == 2823
    orig[24183] = 162770  # one val row moved to train by the off-by-one threshold
    mapping.write_text(MAPPING_HEADER + "".join(f"{k} {o} x.jpg\n" for k, o in enumerate(orig)))
    with pytest.raises(DataError, match="'train': 24184, 'val': 2992.*differ from the published"):
        CelebAMaskHQSource(celeba_src, None).plan()


def _spy_converts(monkeypatch, fail_after: int | None = None) -> list[str]:
    """Record which CelebA-HQ keys get converted; optionally 'crash' (Ctrl-C) after some."""
    calls: list[str] = []
    original = CelebAMaskHQSource.convert

    def convert(self, item):
        if fail_after is not None and len(calls) == fail_after:
            raise KeyboardInterrupt
        calls.append(item.key)
        return original(self, item)

    monkeypatch.setattr(CelebAMaskHQSource, "convert", convert)
    return calls


def test_rerun_redoes_only_the_missing_output(celeba_src: Path, tmp_path: Path, monkeypatch) -> None:
    dst = tmp_path / "out"
    _prepare(celeba_src, dst)
    deleted = dst / "val_img" / "1.jpg"
    deleted.unlink()
    untouched = {p: p.stat().st_mtime_ns for p in dst.glob("*_*/*")}
    calls = _spy_converts(monkeypatch)
    report = _prepare(celeba_src, dst)
    assert calls == ["2"] and report.converted == 1 and report.reused == 7
    assert _source_of(deleted) == 2
    assert all(p.stat().st_mtime_ns == t for p, t in untouched.items() if p != dst / "val_label" / "1.png")


def test_interrupted_run_resumes_and_cleans_partial_files(
    celeba_src: Path, tmp_path: Path, monkeypatch
) -> None:
    dst = tmp_path / "out"
    _spy_converts(monkeypatch, fail_after=3)
    with pytest.raises(KeyboardInterrupt):
        _prepare(celeba_src, dst)
    assert len(list(dst.glob("*_img/*.jpg"))) == 3 and not (dst / "dataset.json").exists()
    state = json.loads((dst / STATE_FILE).read_text())
    assert state["complete"] is False and state["converted"] == 3
    cut_off = dst / "val_img" / f".2.jpg.abc{TEMP_MARK}"
    cut_off.write_bytes(b"half a jpeg")  # a write cut off by a crash, in a process before this one:
    os.utime(cut_off, (time.time() - 3600, time.time() - 3600))  # newer temp files may be another writer's
    with pytest.raises(DataError, match="no dataset.json"):
        open_dataset("prepared", dst, "train")

    monkeypatch.undo()
    calls = _spy_converts(monkeypatch)
    report = _prepare(celeba_src, dst)
    assert len(calls) == 5 and report.reused == 3 and not list(dst.glob("*/.*"))
    assert json.loads((dst / STATE_FILE).read_text())["complete"] is True
    assert len(open_dataset("prepared", dst, "val")) == 3


def test_resume_with_other_settings_is_refused(celeba_src: Path, tmp_path: Path) -> None:
    _prepare(celeba_src, tmp_path / "out")
    with pytest.raises(ConfigError, match="image_size': 32.*image_size': 16"):
        _prepare(celeba_src, tmp_path / "out", image_size=16)


def test_threads_give_the_same_files_as_one_worker(celeba_src: Path, tmp_path: Path) -> None:
    _prepare(celeba_src, tmp_path / "one", workers=1)
    _prepare(celeba_src, tmp_path / "three", workers=3)
    for path in (tmp_path / "one").glob("*_*/*"):
        assert path.read_bytes() == (tmp_path / "three" / path.relative_to(tmp_path / "one")).read_bytes()


MAPPING = "CelebA-HQ-to-CelebA-mapping.txt"
BAD_LAYOUTS = [
    ("no photo folder", lambda s: (s / "CelebA-HQ-img").rename(s / "img"), "missing folder .*CelebA-HQ-img"),
    ("no mapping", lambda s: (s / MAPPING).unlink(), f"missing .*{MAPPING}"),
    (
        "bad mapping row",
        lambda s: (s / MAPPING).write_text(MAPPING_HEADER + "0 12 a.jpg\n1 x b.jpg\n"),
        f"{MAPPING}:3: expected 'idx orig_idx orig_file'",
    ),
    (
        "repeated index",
        lambda s: (s / MAPPING).write_text(MAPPING_HEADER + "0 1 a.jpg\n0 2 b.jpg\n"),
        "index 0 appears twice",
    ),
]


@pytest.mark.parametrize(("case", "edit", "message"), BAD_LAYOUTS, ids=[c[0] for c in BAD_LAYOUTS])
def test_bad_source_layout_is_a_data_error(case, edit, message, celeba_src: Path, tmp_path: Path) -> None:
    edit(celeba_src)
    with pytest.raises(DataError, match=message):
        _prepare(celeba_src, tmp_path / "out")


def _anno(k: int, part: str) -> str:
    return f"CelebAMask-HQ-mask-anno/{k // 2000}/{k:05d}_{part}.png"


BAD_SAMPLES = [
    ("missing photo", lambda s: (s / "CelebA-HQ-img/6.jpg").unlink(), "CelebA-HQ-img/6.jpg", "not found"),
    (
        "corrupt photo",
        lambda s: (s / "CelebA-HQ-img/6.jpg").write_bytes(b"\xff\xd8junk"),
        "CelebA-HQ-img/6.jpg",
        "cannot decode",
    ),
    (
        "corrupt part",
        lambda s: (s / _anno(2001, "hair")).write_bytes(b"\x89PNG"),
        _anno(2001, "hair"),
        "cannot decode",
    ),
    (
        "no parts",
        lambda s: [(s / _anno(6, p)).unlink() for p in ("skin", "hair")],
        _anno(6, "*"),
        "no part masks",
    ),
    ("part size", lambda s: _png(s / _anno(6, "hair"), _rows(2, 16, 16)), _anno(6, "hair"), "mask is 16x16"),
    (
        "aspect",
        lambda s: cv2.imwrite(str(s / "CelebA-HQ-img/6.jpg"), np.zeros((IMG, IMG // 2, 3), np.uint8)),
        "CelebA-HQ-img/6.jpg",
        "different aspect ratio",
    ),
]


@pytest.mark.parametrize(("case", "edit", "file", "reason"), BAD_SAMPLES, ids=[c[0] for c in BAD_SAMPLES])
def test_bad_sample_raises_naming_the_file(
    case, edit, file, reason, celeba_src: Path, tmp_path: Path
) -> None:
    edit(celeba_src)
    with pytest.raises(SampleError, match=reason) as info:
        _prepare(celeba_src, tmp_path / "out")
    assert info.value.path.endswith(file)


def test_skip_bad_leaves_holes_reports_and_recovers(celeba_src: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out"
    (celeba_src / "CelebA-HQ-img" / "6.jpg").write_bytes(b"junk")  # val #2
    (celeba_src / _anno(2001, "skin")).unlink()
    (celeba_src / _anno(2001, "hair")).unlink()  # train #2
    report = _prepare(celeba_src, dst, skip_bad=True)
    assert report.counts == {"train": 2, "val": 2, "test": 2} and report.converted == 6
    assert sorted(Path(f).name for f, _ in report.skipped) == ["02001_*.png", "6.jpg"]
    assert not (dst / "val_img" / "2.jpg").exists() and _source_of(dst / "train_img" / "1.jpg") == 0
    record = json.loads((dst / "dataset.json").read_text())
    assert record["splits"] == report.counts and len(record["skipped"]) == 2
    assert open_dataset("prepared", dst, "val").names() == ["0", "1"]

    write_celeba_sample(celeba_src, 6)  # fixed: a re-run fills the hole under the same name
    report = _prepare(celeba_src, dst, skip_bad=True)
    assert report.converted == 1 and len(report.skipped) == 1 and _source_of(dst / "val_img" / "2.jpg") == 6


def write_helen(src: Path) -> dict[str, np.ndarray]:
    """A minimal Helen tree (random soft maps); returns the argmax label per id."""
    rng = np.random.default_rng(0)
    lists = {"exemplars.txt": ["1_a", "2_b"], "tuning.txt": ["3_c"], "testing.txt": ["4_d"]}
    expected = {}
    for list_name, ids in lists.items():
        (src / list_name).parent.mkdir(parents=True, exist_ok=True)
        (src / list_name).write_text("".join(f"{i + 1} , {name}\n" for i, name in enumerate(ids)))
        for name in ids:
            _png(src / "images" / f"{name}.jpg", rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
            maps = rng.integers(0, 255, (11, 20, 30), dtype=np.uint8)
            for c in range(11):
                _png(src / "labels" / name / f"{name}_lbl{c:02d}.png", maps[c])
            expected[name] = maps.argmax(0).astype(np.uint8)
    return expected


def test_helen_prepare_writes_hard_labels_and_keeps_photos(tmp_path: Path) -> None:
    expected = write_helen(tmp_path / "helen")
    report = prepare_dataset("helen", tmp_path / "helen", tmp_path / "out")
    assert report.schema == "helen" and report.counts == {"train": 2, "val": 1, "test": 1}
    reader = open_dataset("prepared", tmp_path / "out", "train")
    assert reader.schema.name == "helen"
    np.testing.assert_array_equal(reader[1].label, expected["2_b"])
    assert (tmp_path / "out/test_img/0.jpg").read_bytes() == (tmp_path / "helen/images/4_d.jpg").read_bytes()
    with pytest.raises(ConfigError, match="drop --image-size"):
        prepare_dataset("helen", tmp_path / "helen", tmp_path / "out2", image_size=256)


def test_unknown_raw_dataset_and_missing_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Did you mean 'helen'"):
        prepare_dataset("helenn", tmp_path, tmp_path / "out")
    with pytest.raises(DataError, match="does not exist"):
        prepare_dataset("helen", tmp_path / "nowhere", tmp_path / "out")
    with pytest.raises(ConfigError, match="--workers must be at least 1"):
        prepare_dataset("helen", tmp_path, tmp_path / "out", workers=0)
    assert set(prepare_sources.SOURCES) == {"celebamask_hq", "helen"}


def test_cli_prepare_then_check(celeba_src: Path, tmp_path: Path, capsys) -> None:
    dst = str(tmp_path / "out")
    (celeba_src / "CelebA-HQ-img" / "3.jpg").write_bytes(b"junk")
    assert (
        main(
            ["data", "prepare", "--data", f"celebamask-hq:{celeba_src}", "--out", dst, "--image-size", "32", "--workers", "1"]
        )
        == 1
    )
    assert "CelebA-HQ-img/3.jpg: cannot decode" in capsys.readouterr().err
    assert (
        main(["data", "prepare", "--data", f"celebamask-hq:{celeba_src}", "--out", dst, "--image-size", "32", "--skip-bad"])
        == 0
    )
    out = capsys.readouterr().out
    assert (
        "train 3, val 3, test 1" in out and "skipped 1 bad samples" in out and "3.jpg: cannot decode" in out
    )

    assert main(["data", "check", "--data", f"prepared:{dst}"]) == 0
    out = capsys.readouterr().out
    assert "train: 3/3 samples read cleanly (schema celebamask_hq)" in out and "neck 1" in out
    Path(dst, "val_label", "0.png").write_bytes(b"junk")
    assert main(["data", "check", "--data", f"prepared:{dst}", "--split", "val", "--skip-bad"]) == 1
    assert "val_label/0.png: cannot decode" in capsys.readouterr().out
    assert main(["data", "check", "--data", f"prepared:{dst}", "--split", "val"]) == 1
    assert "val_label/0.png: cannot decode" in capsys.readouterr().err
    assert main(["data", "check", "--data", f"prepared:{dst}", "--split", "dev"]) == 2
