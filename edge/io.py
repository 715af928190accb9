"""The one place for file chores: atomic writes, sha256 of files, JSON-safe values.

Atomic writes go to a hidden temporary file beside the target, are flushed to disk and renamed
over it, so a reader sees the old file or the new one, never a mix; a failure (a full disk, an
interrupt) removes the temporary file and leaves the old file as it was.
"""
from __future__ import annotations

import hashlib
import math
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

TEMP_MARK = ".edgeparse-tmp"  # in every temporary name, so leftovers are recognisable and removable


def temp_path_for(path: Path) -> Path:
    """A unique hidden sibling of ``path`` for writing before the rename."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}{TEMP_MARK}")


@contextmanager
def _replacing(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; a clean exit renames it over ``path``, any exit removes it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_open(path: str | Path, mode: str = "wb", durable: bool = True) -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; on a clean exit it replaces ``path``.

    ``durable=False`` skips the fsync: still never a torn file after a crash of the process, but a
    power cut may lose the write. For caches that recompute a lost entry, where an fsync per small
    file would cost more than the entry."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'wb' or 'w', got {mode!r}")
    # Plain open() (not mkstemp, which makes owner-only files) so outputs get the usual mode.
    with _replacing(path) as tmp, \
            open(tmp, mode.replace("w", "x"), **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
        yield handle
        if durable:
            handle.flush()
            os.fsync(handle.fileno())


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` for writers that want a file name (``torch.onnx.export``,
    ``onnx.save``): what they write there replaces ``path`` on a clean exit, flushed to disk."""
    with _replacing(path) as tmp:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())


def atomic_write_bytes(path: str | Path, data: bytes, durable: bool = True) -> None:
    with atomic_open(path, "wb", durable) as handle:
        handle.write(data)


def atomic_write_text(path: str | Path, text: str, durable: bool = True) -> None:
    with atomic_open(path, "w", durable) as handle:
        handle.write(text)


def atomic_write_with(path: str | Path, write: Callable[[IO[bytes]], None], durable: bool = True) -> None:
    """Atomically write what ``write(handle)`` puts in a binary handle (``torch.save``, ``np.savez``)."""
    with atomic_open(path, "wb", durable) as handle:
        write(handle)


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def json_safe(value: Any) -> Any:
    """``value`` with NaN/Inf as None, numpy scalars and arrays as Python values, tuples as lists."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalar or array
        return json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
