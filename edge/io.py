"""The one place for file chores: atomic writes, sha256 of files, JSON-safe values.

Atomic writes go to a hidden temporary file beside the target, are flushed to disk and renamed
over it, so a reader sees the old file or the new one, never a mix; a failure (a full disk, an
interrupt) removes the temporary file and leaves the old file as it was.
"""
from __future__ import annotations

import errno
import hashlib
import logging
import math
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

TEMP_MARK = ".edgeparse-tmp"  # in every temporary name, so leftovers are recognisable and removable
LOCK_FILE = ".edgeparse.lock"  # the lock of a folder one writer at a time may change (exclusive_lock)
# Why a write fails that is the user's to fix, not a bug: no space, a quota, a read-only or forbidden place.
OUTPUT_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG, errno.EROFS,
                           errno.EACCES, errno.EPERM})

# Temporary names of edgeparse versions before TEMP_MARK: ".NAME.tmp-PID" (checkpoints, caches, exports).
_LEGACY_TEMP = re.compile(r"^\..+\.tmp-(\d+)$")
PROCESS_START = time.time()  # when edge.io was first imported: leftovers older than this are not ours

log = logging.getLogger(__name__)


def temp_path_for(path: Path) -> Path:
    """A unique hidden sibling of ``path`` for writing before the rename."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}{TEMP_MARK}")


@contextmanager
def _replacing(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; a clean exit renames it over ``path``, any exit removes it.
    ``WriteError`` when the disk is full or the place read-only (``OUTPUT_ERRNOS``): ``path`` is unchanged."""
    from edge.errors import ConfigError, WriteError

    path = Path(path)
    if path.is_dir():  # found before the write, not by the rename after it
        raise ConfigError(f"{path} is a folder: give a file path to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        if exc.errno not in OUTPUT_ERRNOS:
            raise
        kept = "its previous version is unchanged" if path.exists() else "nothing was written"
        raise WriteError(f"{path}: not written ({exc.strerror}); {kept}; free space or fix the permissions, then "
                         "rerun") from exc
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
    """Atomically write what ``write(handle)`` puts in a binary handle (``torch.save``, ``np.savez``).
    A failed ``handle.write`` raises its own ``OSError`` (e.g. a full disk), even where the writer turns
    it into another error (``torch.save`` reports a RuntimeError about stream positions)."""
    with atomic_open(path, "wb", durable) as handle:
        recording = _WriteErrors(handle)
        try:
            write(recording)  # type: ignore[arg-type]  (a file in all but type)
        except Exception:  # re-raised, or replaced by the disk's own OSError
            if recording.error is not None:
                raise recording.error from None
            raise


class _WriteErrors:
    """A binary handle that remembers the ``OSError`` its ``write`` raised."""

    def __init__(self, handle: IO[bytes]):
        self._handle, self.error = handle, None

    def write(self, data: bytes) -> int:
        try:
            return self._handle.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


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


def sha256_mismatch(path: str | Path, expected: str) -> str | None:
    """None when ``path`` has the ``expected`` sha256; otherwise the error text every integrity check
    prints: "<path> is truncated or modified (sha256 <actual>… != <expected>…)"."""
    actual = file_sha256(path)
    if actual == expected:
        return None
    return f"{path} is truncated or modified (sha256 {actual[:12]}… != {expected[:12]}…)"


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


def clean_leftovers(folder: Path, older_than: float | None = None) -> list[str]:
    """Undo what interrupted writers left in ``folder``: put back a folder ``replace_dir`` had moved
    aside when its new version never arrived, and remove every other name with ``TEMP_MARK`` (temporary
    files, half-built folders) or an older edgeparse's temporary name whose process is gone. Only for a
    folder no other process writes (hold ``exclusive_lock``), or, where no lock is held, with
    ``older_than`` (e.g. ``PROCESS_START``): a leftover changed since then is kept, as a writer that is
    still running keeps its temporary file fresh. Returns one line per action, for the log."""
    actions = []
    for leftover in sorted([*folder.glob(f".*{TEMP_MARK}"), *filter(_legacy_leftover, folder.iterdir())]):
        if older_than is not None and leftover.lstat().st_mtime >= older_than:
            continue
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


def _legacy_leftover(path: Path) -> bool:
    """An older edgeparse's ".NAME.tmp-PID" whose process is gone."""
    match = _LEGACY_TEMP.match(path.name)
    return match is not None and not _alive(int(match[1]))


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (assumed so where that cannot be asked safely)."""
    if os.name != "posix":  # os.kill(pid, 0) would send CTRL_C_EVENT on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


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
