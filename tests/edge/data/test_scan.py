"""``scan`` stops at the first bad sample, or with skip_bad lists every bad file and the good indices."""

from __future__ import annotations

import pytest

from edge.data import SampleError, open_dataset, scan


def _break_two_samples(root) -> None:
    (root / "train" / "images" / "10.jpg").write_bytes(b"not a jpeg")
    (root / "train" / "landmarks" / "face_a.txt").write_text("3\n1 2\n")


def test_clean_split_reads_every_sample_and_visits_each(lapa_tree) -> None:
    seen = []
    report = scan(open_dataset("lapa", lapa_tree.root, "train"), visit=lambda i, s: seen.append((i, s.name)))
    assert report.ok and report.total == 3 and report.good == [0, 1, 2] and report.bad == []
    assert seen == [(0, "2"), (1, "10"), (2, "face_a")]


def test_without_skip_bad_the_first_bad_file_raises(lapa_tree) -> None:
    _break_two_samples(lapa_tree.root)
    with pytest.raises(SampleError, match=r"images/10\.jpg: cannot decode"):
        scan(open_dataset("lapa", lapa_tree.root, "train"))


def test_skip_bad_collects_file_and_reason_and_keeps_good_indices(lapa_tree) -> None:
    _break_two_samples(lapa_tree.root)
    report = scan(open_dataset("lapa", lapa_tree.root, "train"), skip_bad=True)
    assert not report.ok and report.total == 3 and report.good == [0]
    assert [(path.split("/")[-1], reason.split(" (")[0]) for path, reason in report.bad] == [
        ("10.jpg", "cannot decode image"),
        ("face_a.txt", "expected a point count then that many 'x y' pairs, got 3 numbers"),
    ]
