"""Frame sources and video writers, including every broken-input case the demo must survive."""
from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from edge.errors import BackendUnavailable, ConfigError, InputError
from edge.video.sinks import open_sink
from edge.video.sources import CaptureSource, open_source


def read_all(source) -> list[np.ndarray]:
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    source.close()
    return frames


def test_video_frames_come_out_rgb(tiny_clip):
    frames = read_all(open_source(str(tiny_clip.path)))
    assert len(frames) == 8 and frames[0].shape == (120, 160, 3) and frames[0].dtype == np.uint8
    assert np.abs(frames[0].astype(int) - tiny_clip.frames[0]).mean() < 6  # RGB order kept (mp4v is lossy)


def test_missing_empty_and_junk_files_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        open_source(str(tmp_path / "nope.mp4"))
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty \(0 bytes\)"):
        open_source(str(tmp_path / "empty.mp4"))
    (tmp_path / "junk.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(InputError, match="cannot open it"):
        open_source(str(tmp_path / "junk.mp4"))


def test_truncated_mp4_loses_its_index(tiny_clip, tmp_path):
    data = tiny_clip.path.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or corrupt"):
        open_source(str(tmp_path / "cut.mp4"))


def test_truncated_avi_stops_mid_stream_with_a_reason(tmp_path, square_frame, write_clip):
    frames = [square_frame([(20 + i, 30)], i) for i in range(8)]
    path = write_clip(tmp_path / "clip.avi", frames, fourcc="MJPG")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    source = open_source(str(path))
    got = read_all(source)
    assert 1 <= len(got) < 8
    assert source.end_reason and "truncated or corrupt" in source.end_reason and "of 8 frames" in source.end_reason


def test_unsupported_codec_error_message(tmp_path, square_frame):
    """OpenCV opens AV1 files but decodes no frame: the first read must say so."""
    av = pytest.importorskip("av")
    if "libsvtav1" not in av.codecs_available:
        pytest.skip("this PyAV build cannot write AV1")
    path = tmp_path / "av1.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libsvtav1", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for packet in stream.encode(av.VideoFrame.from_ndarray(square_frame([], 0), format="rgb24")
                                    .reformat(format="yuv420p")):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if capture.isOpened() and capture.read()[0]:
        pytest.skip("this OpenCV build decodes AV1")
    with pytest.raises(InputError, match=r"no frame could be decoded \(codec .*re-encode"):
        open_source(str(path)).read()


def test_grey_and_rgba_images_in_a_folder_become_rgb(tmp_path, square_frame):
    rgb = square_frame([(10, 10)], 0)
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    cv2.imwrite(str(tmp_path / "b.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA))
    frames = read_all(open_source(str(tmp_path)))
    assert [f.shape for f in frames] == [(120, 160, 3)] * 2
    assert (frames[0][..., 0] == frames[0][..., 1]).all()  # grey -> three equal channels
    np.testing.assert_array_equal(frames[1], rgb)  # alpha dropped, channel order kept


def test_a_bad_image_in_a_folder_ends_the_stream_naming_it(tmp_path, square_frame):
    cv2.imwrite(str(tmp_path / "a.png"), square_frame([], 0))
    (tmp_path / "b.png").write_bytes(b"not a png")
    source = open_source(str(tmp_path))
    assert len(read_all(source)) == 1
    assert "b.png" in source.end_reason
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(InputError, match="no images"):
        open_source(str(tmp_path / "empty_dir"))


def test_very_large_frames_are_downscaled_once_with_a_warning(tmp_path, caplog):
    big = np.zeros((3000, 4000, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "big.png"), big)
    with caplog.at_level(logging.WARNING):
        (frame,) = read_all(open_source(str(tmp_path), max_side=1000))
    assert frame.shape == (750, 1000, 3)
    assert "downscaled to 1000x750" in caplog.text


class VanishingCamera:
    """A capture that delivers ``frames`` frames, then fails like an unplugged USB camera."""

    def __init__(self, frames: int):
        self.left = frames

    def read(self):
        self.left -= 1
        return (True, np.zeros((48, 64, 3), np.uint8)) if self.left >= 0 else (False, None)

    def get(self, prop):
        return 30.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self):
        pass


def test_a_camera_that_disappears_ends_the_stream_cleanly():
    source = CaptureSource(VanishingCamera(3), "camera 0", "camera")
    assert len(read_all(source)) == 3
    assert "camera 0 stopped delivering frames after 3" in source.end_reason
    with pytest.raises(InputError, match="delivered no frame"):
        CaptureSource(VanishingCamera(0), "camera 0", "camera").read()


def test_mp4v_sink_writes_a_readable_video(tmp_path, square_frame):
    with open_sink(tmp_path / "out.mp4", "mp4v", 10) as sink:
        for i in range(5):
            sink.write(square_frame([(10, 10)], i))
    capture = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5 == sink.frames_written


def test_h264_sink_pads_odd_sizes(tmp_path, square_frame):
    pytest.importorskip("av")
    with open_sink(tmp_path / "out.mp4", "h264", 10) as sink:
        for i in range(4):
            sink.write(square_frame([(10, 10)], i, size=(161, 121)))
    frames = read_all(open_source(str(tmp_path / "out.mp4")))
    assert len(frames) == 4 and frames[0].shape == (122, 162, 3)


def test_sink_errors(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="unsupported container '.gif'"):
        open_sink(tmp_path / "out.gif")
    with pytest.raises(InputError, match="does not exist"):
        open_sink(tmp_path / "missing" / "out.mp4")
    with pytest.raises(ConfigError, match="unknown codec"):
        open_sink(tmp_path / "out.mp4", "vp9")
    with open_sink(tmp_path / "out.mp4") as sink:
        sink.write(np.zeros((20, 20, 3), np.uint8))
        with pytest.raises(InputError, match="frame 1 is 30x20"):
            sink.write(np.zeros((20, 30, 3), np.uint8))
    monkeypatch.setitem(__import__("sys").modules, "av", None)
    with pytest.raises(BackendUnavailable, match="pip install av"):
        open_sink(tmp_path / "out.mp4", "h264")
