"""edge.io: an atomic write leaves the old file or the new one and no temporary file; JSON-safe values."""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from edge.io import (
    TEMP_MARK,
    atomic_open,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    atomic_write_with,
    file_sha256,
    json_safe,
)


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if TEMP_MARK in p.name]


@pytest.mark.parametrize("durable", [True, False])
def test_a_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path, durable: bool) -> None:
    target = tmp_path / "sub" / "a.json"  # the parent is made
    atomic_write_text(target, "old", durable=durable)
    atomic_write_bytes(target, b"new", durable=durable)
    assert target.read_bytes() == b"new" and _leftovers(target.parent) == []


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    target.write_bytes(b"old")

    def half_then_fail(handle) -> None:
        handle.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write_with(target, half_then_fail)
    assert target.read_bytes() == b"old" and _leftovers(tmp_path) == []


def test_atomic_path_gives_a_file_name_and_replaces_on_a_clean_exit(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")  # a writer that takes a name, then fails
        raise RuntimeError("exporter crashed")
    assert target.read_bytes() == b"old" and _leftovers(tmp_path) == []
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and TEMP_MARK in tmp.name and tmp.name.startswith(".")
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and _leftovers(tmp_path) == []


def test_atomic_open_writes_whole_files_only(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="whole files"), atomic_open(tmp_path / "log.txt", "a"):
        pass


def test_file_sha256_is_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # more than one read chunk
    (tmp_path / "f").write_bytes(data)
    assert file_sha256(tmp_path / "f", chunk=4096) == hashlib.sha256(data).hexdigest()


def test_json_safe_turns_non_finite_and_numpy_values_into_strict_json() -> None:
    value = {"miou": math.nan, "gain": math.inf, 3: (1.5, np.float32(2.5), np.array([np.nan, 1.0])),
             "n": np.int64(7), "name": "x"}
    safe = json_safe(value)
    assert safe == {"miou": None, "gain": None, "3": [1.5, 2.5, [None, 1.0]], "n": 7, "name": "x"}
    json.dumps(safe, allow_nan=False)  # would raise on a NaN left behind


def test_sha256_mismatch_is_none_for_the_right_digest_and_names_both_otherwise(tmp_path):
    from edge.io import file_sha256, sha256_mismatch

    path = tmp_path / "model.bin"
    path.write_bytes(b"weights")
    assert sha256_mismatch(path, file_sha256(path)) is None
    message = sha256_mismatch(path, "0" * 64)
    assert message.startswith(f"{path} is truncated or modified (sha256 ") and "!= 000000000000…" in message
