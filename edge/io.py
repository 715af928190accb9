"""The one place for file chores: atomic writes, sha256 of files, JSON-safe values.

Atomic writes go to a hidden temporary file beside the target, are flushed to disk and renamed
over it, so a reader sees the old file or the new one, never a mix; a failure (a full disk, an
interrupt) removes the temporary file and leaves the old file as it was.
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

TEMP_MARK = ".edgeparse-tmp"  # in every temporary name, so leftovers are recognisable and removable
LOCK_FILE = ".edgeparse.lock"  # the lock of a folder one writer at a time may change (exclusive_lock)

log = logging.getLogger(__name__)


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


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when ``a`` and ``b`` name one file: the same path, or one reached through a symlink, a
    relative path or a hard link."""
    a, b = Path(a), Path(b)
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


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


def previous_path_for(path: Path) -> Path:
    """Where ``replace_dir`` keeps the old ``path`` for the moment of the swap (restored if a crash
    leaves ``path`` missing)."""
    return path.with_name(f".{path.name}.previous{TEMP_MARK}")


def replace_dir(staged: Path, path: Path) -> None:
    """Put the complete folder ``staged`` at ``path`` (a sibling), replacing what was there.

    Two renames: old -> ``previous_path_for(path)``, staged -> path; then the old folder is removed.
    A crash between the renames leaves the old folder under its previous name, which
    ``clean_leftovers`` puts back; at every moment ``path`` is the old folder, the new one, or missing
    with the old one recoverable, never a mix."""
    previous = previous_path_for(path)
    if previous.exists():
        shutil.rmtree(previous)  # a previous swap's left-over: path itself is complete (clean_leftovers)
    if path.exists():
        os.replace(path, previous)
    try:
        os.replace(staged, path)
    except OSError:
        if previous.exists():
            os.replace(previous, path)
        raise
    shutil.rmtree(previous, ignore_errors=True)


def clean_leftovers(folder: Path) -> list[str]:
    """Undo what interrupted writers left in ``folder``: put back a folder ``replace_dir`` had moved
    aside when its new version never arrived, and remove every other name with ``TEMP_MARK`` (temporary
    files, half-built folders). Only for a folder no other process writes: hold ``exclusive_lock``.
    Returns one line per action, for the log."""
    actions = []
    for leftover in sorted(folder.glob(f".*{TEMP_MARK}")):
        name = leftover.name.removeprefix(".").removesuffix(f".previous{TEMP_MARK}")
        if leftover.name == previous_path_for(folder / name).name and not (folder / name).exists():
            os.replace(leftover, folder / name)
            actions.append(f"restored {folder / name} (a replacement was interrupted before it arrived)")
            continue
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover)
        else:
            leftover.unlink()
        actions.append(f"removed {leftover} (left by an interrupted run)")
    for line in actions:
        log.warning(line)
    return actions


@contextmanager
def exclusive_lock(folder: Path, what: str, hint: str) -> Iterator[None]:
    """Hold ``folder``'s lock (``flock`` on ``LOCK_FILE``) while one process writes into it. Another
    process gets an ``InUseError`` naming the holder (its pid, ``what`` and since when) and ``hint``.
    The kernel drops the lock when its holder exits, even on ``kill -9``: no stale lock to remove."""
    import fcntl  # POSIX only: the build side and the Linux devices

    from edge.errors import InUseError

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_FILE, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise InUseError(f"{folder} is in use by {holder}; {hint}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} ({what}, since {time.strftime('%Y-%m-%d %H:%M:%S')})\n")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
