"""Reading image files safely: the one gate every image file passes before a decoder sees it.

* Only regular files are read: a FIFO, socket or device named ``*.png`` would block ``read()``
  forever or never end, so the file is opened non-blocking and checked with ``fstat``.
* The pixel count is read from the header (Pillow parses headers lazily) and checked against a
  limit before anything is decoded: a 48 KB 1-bit PNG can declare 20000×20000 pixels, which
  decoders expand to 1.2 GB of RGB.
* A JPEG without its end-of-image marker or a PNG without its IEND chunk is refused: decoders
  return the part they got (the rest grey) with at most a warning on stderr.

Callers decode the returned bytes with the decoder they need (OpenCV, or Pillow for palette ids
and EXIF orientation).
"""
from __future__ import annotations

import io
import os
import stat
import struct
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from edge.errors import ConfigError, InputError

# Pillow warns above its own 89 MP threshold; the limit here is checked instead, with a message.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

MAX_PIXELS_ENV = "EDGEPARSE_MAX_PIXELS"
# 100 megapixels: above any camera photo (a 61 MP full-frame sensor is 9504×6336), about 300 MB as
# RGB; far below what a decompression bomb declares.
DEFAULT_MAX_PIXELS = 100_000_000
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"  # then the IHDR chunk: length, type, width and height (big-endian)
# What Pillow raises on a corrupt or unknown header (some plugins raise SyntaxError or struct.error).
_HEADER_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


class ImageFileError(InputError):
    """An image file that is not read: ``path`` names it, ``reason`` says why and what to do."""

    def __init__(self, path: Path | str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason


def max_pixels() -> int:
    """The pixel limit: ``EDGEPARSE_MAX_PIXELS`` when set, else ``DEFAULT_MAX_PIXELS``."""
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(float(raw))
    except ValueError:
        value = 0
    ceiling = 2 * Image.MAX_IMAGE_PIXELS  # Pillow refuses larger images outright (DecompressionBombError)
    if not 1 <= value <= ceiling:
        raise ConfigError(f"{MAX_PIXELS_ENV}={raw!r} must be a pixel count from 1 to {ceiling:,} (Pillow's "
                          f"own limit), e.g. 150000000")
    return value


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words, for messages."""
    kinds = ((stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISSOCK, "socket"),
             (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"))
    return next((name for test, name in kinds if test(mode)), "special file")


def require_regular_file(path: Path) -> None:
    """``ImageFileError`` unless ``path`` exists and is a regular file (symlinks followed)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ImageFileError(path, "file not found") from None
    except OSError as exc:
        raise ImageFileError(path, f"cannot read ({exc.strerror})") from exc
    if not stat.S_ISREG(mode):
        raise ImageFileError(path, f"is a {file_kind(mode)}, not a regular file; give an image file")


def read_regular_file(path: Path) -> bytes:
    """The bytes of ``path``; ``ImageFileError`` when it is missing, not a regular file or empty.

    Opened non-blocking and checked on the open descriptor, so a FIFO swapped in after a check
    cannot block the read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ImageFileError(path, "file not found") from None
    except OSError as exc:
        raise ImageFileError(path, f"cannot read ({exc.strerror})") from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise ImageFileError(path, f"is a {file_kind(mode)}, not a regular file; give an image file")
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read()
        except OSError as exc:
            raise ImageFileError(path, f"cannot read ({exc.strerror})") from exc
    if not data:
        raise ImageFileError(path, "file is empty")
    return data


def image_header(data: bytes, path: Path) -> tuple[int, int, str]:
    """(width, height, Pillow format name) from the header alone; nothing is decoded."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.width, image.height, image.format or "?"
    except Image.DecompressionBombError:  # Pillow's ceiling, above any limit max_pixels allows
        size = "x".join(map(str, struct.unpack(">II", data[16:24]))) if data.startswith(_PNG_SIGNATURE) else None
        declared = f"declares {size} pixels" if size else f"declares more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels"
        raise ImageFileError(path, f"{declared}, over the limit of {max_pixels():,} pixels (a decompression bomb, "
                                   "or a huge image); downscale the image") from None
    except UnidentifiedImageError:
        raise ImageFileError(path, "cannot decode image (corrupt, or not an image: no format Pillow knows, such as "
                                   "JPEG, PNG, BMP, TIFF or WebP)") from None
    except _HEADER_ERRORS as exc:
        raise ImageFileError(path, f"cannot decode image (corrupt, truncated or not an image: {exc})") from None


def _truncation(data: bytes, fmt: str) -> str | None:
    """Why a JPEG or PNG is cut short, or None. Entropy-coded JPEG data never holds FF D9 (an FF byte
    there is stuffed with 00), so the last end-of-image marker must follow the last start-of-scan."""
    if fmt in ("JPEG", "MPO") and data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
        return "truncated JPEG: the end-of-image marker is missing, so part of the picture would be grey"
    if fmt == "PNG" and data.rfind(b"IEND") < data.rfind(b"IDAT"):
        return "truncated PNG: the IEND chunk is missing, so part of the picture would be missing"
    return None


def read_image_file(path: str | Path) -> bytes:
    """The bytes of an image file that is safe to decode; otherwise an ``ImageFileError`` naming the
    file, what is wrong and the fix: not a regular file, empty, not an image, over the pixel limit
    (``max_pixels``), or a JPEG/PNG cut short."""
    path = Path(path)
    data = read_regular_file(path)
    width, height, fmt = image_header(data, path)
    limit = max_pixels()
    if width * height > limit:
        raise ImageFileError(path, f"{width}x{height} pixels is over the limit of {limit:,} pixels "
                                   f"({width * height / 1e6:.0f} MP > {limit / 1e6:g} MP); downscale the image, or "
                                   f"raise the limit with {MAX_PIXELS_ENV}=N")
    reason = _truncation(data, fmt)
    if reason:
        raise ImageFileError(path, f"{reason}; re-export or re-download the file")
    return data
