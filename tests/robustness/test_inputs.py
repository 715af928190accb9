"""Hostile or broken input files get a one-line error naming the file, never a hang, a 1 GB decode or a
partly grey picture (issue 13, resource and hang limits): a 48 KB PNG that declares 20000x20000 pixels,
a FIFO named *.png, a truncated JPEG and a 1x1 frame, through the one image reader
(``edge.image_files``) that datasets, the demo, predict and the portraits share."""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.cli import main
from edge.image_files import MAX_PIXELS_ENV, ImageFileError, read_image_file

pytestmark = pytest.mark.timeout(600)  # a regression here is a hang: fail instead


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(path: Path, side: int = 20000) -> Path:
    """A valid 1-bit grey PNG of side x side black pixels: ~50 KB on disk, 1.2 GB once decoded to RGB."""
    row, packer = b"\0" * (1 + side // 8), zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1 bit, grey, deflate, no filter, no interlace
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
    return path


def face_jpeg(side: int = 96) -> bytes:
    yy, xx = np.mgrid[:side, :side]
    image = np.stack([xx * 255 // side, yy * 255 // side, np.full_like(xx, 128)], axis=-1).astype(np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path, monkeypatch):
    bomb = bomb_png(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 100_000
    monkeypatch.setattr(cv2, "imdecode", lambda *a: pytest.fail("the bomb reached a decoder"))
    with pytest.raises(ImageFileError, match=r"bomb\.png: declares 20000x20000 pixels, over the limit of "
                                             r"100,000,000 pixels .* downscale the image"):
        read_image_file(bomb)


def test_the_pixel_limit_is_checked_on_the_header_and_can_be_raised(tmp_path, monkeypatch):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(face_jpeg(96))
    monkeypatch.setenv(MAX_PIXELS_ENV, "9000")
    with pytest.raises(ImageFileError, match=rf"photo\.jpg: 96x96 pixels is over the limit of 9,000 pixels .* "
                                             rf"raise the limit with {MAX_PIXELS_ENV}=N"):
        read_image_file(photo)
    monkeypatch.setenv(MAX_PIXELS_ENV, "9216")
    assert read_image_file(photo) == photo.read_bytes()


def test_predict_data_check_and_demo_refuse_the_bomb_in_one_line(make_bundle, tmp_path, capsys):
    bomb = bomb_png(tmp_path / "bomb.png")
    assert main(["predict", str(make_bundle()), str(bomb), "--out", str(tmp_path / "out"), "--whole"]) == 1
    err = capsys.readouterr().err
    assert f"skipped {bomb}: declares 20000x20000 pixels, over the limit of 100,000,000 pixels" in err
    for sub in ("images", "masks"):
        (tmp_path / "data" / sub).mkdir(parents=True)
    os.link(bomb, tmp_path / "data/images/a.png")
    cv2.imwrite(str(tmp_path / "data/masks/a.png"), np.zeros((8, 8), np.uint8))
    assert main(["data", "check", "--data", f"folder:{tmp_path / 'data'}", "--schema", "lapa", "--split",
                 "train"]) == 1
    assert "data/images/a.png: declares 20000x20000 pixels" in capsys.readouterr().err


def test_a_fifo_named_png_is_refused_without_blocking(make_bundle, tmp_path, capsys, error_line):
    frames = tmp_path / "frames"
    frames.mkdir()
    os.mkfifo(frames / "0.png")  # nobody ever writes it: opening it for reading would block forever
    with pytest.raises(ImageFileError, match=r"0\.png: is a FIFO \(named pipe\), not a regular file"):
        read_image_file(frames / "0.png")
    assert main(["predict", str(make_bundle()), str(frames / "0.png"), "--out", str(tmp_path / "out")]) == 1
    assert "0.png: is a FIFO (named pipe), not a regular file; give an image file" in error_line()
    assert main(["demo", str(make_bundle()), str(frames), "--out", str(tmp_path / "o.mp4")]) == 1
    assert "0.png: is a FIFO (named pipe), not a regular file" in capsys.readouterr().out


def test_a_truncated_jpeg_is_refused_not_decoded_in_part(make_bundle, tmp_path, capsys):
    whole = face_jpeg(96)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole[: len(whole) * 3 // 4])
    assert cv2.imread(str(cut)) is not None  # what the demo did: OpenCV returns the picture, its rest grey
    with pytest.raises(ImageFileError, match=r"cut\.jpg: truncated JPEG: the end-of-image marker is missing"):
        read_image_file(cut)
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "0.jpg").write_bytes(whole)
    (frames / "1.jpg").write_bytes(cut.read_bytes())
    assert main(["demo", str(make_bundle()), str(frames), "--out", str(tmp_path / "o.mp4")]) == 1
    assert "1.jpg: truncated JPEG" in capsys.readouterr().out


def test_a_png_without_its_end_is_refused(tmp_path):
    png = cv2.imencode(".png", np.zeros((64, 64, 3), np.uint8))[1].tobytes()
    (tmp_path / "cut.png").write_bytes(png[:-12])  # the IEND chunk is the last 12 bytes
    with pytest.raises(ImageFileError, match=r"cut\.png: truncated PNG: the IEND chunk is missing"):
        read_image_file(tmp_path / "cut.png")


@pytest.mark.parametrize(("content", "reason"), [(b"", "file is empty"),
                                                 (b"just text", "cannot decode image"),
                                                 (None, "file not found")])
def test_empty_missing_and_non_image_files_are_named(tmp_path, content, reason):
    path = tmp_path / "x.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageFileError, match=rf"x\.png: {reason}"):
        read_image_file(path)


def test_a_1x1_frame_is_refused_as_too_small_not_as_a_codec_problem(make_bundle, tmp_path, error_line):
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "0.png"), np.zeros((1, 1, 3), np.uint8))
    assert main(["demo", str(make_bundle()), str(frames), "--out", str(tmp_path / "o.mp4")]) == 1
    assert error_line() == (f"edgeparse: error: {frames / '0.png'}: the frames are 1x1 pixels, too small to "
                                   f"show a face; give frames of at least 16x16")
    assert not (tmp_path / "o.mp4").exists()
