"""The threaded pipeline with the tiny ONNX bundle and a square 'face' detector."""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from edge.backends import open_runner
from edge.errors import InputError
from edge.video.config import DemoCfg, OverlayCfg
from edge.video.crop import NO_FACE
from edge.video.parse import FrameParser
from edge.video.pipeline import DemoResult, run_demo
from edge.video.sinks import open_sink
from edge.video.sources import CaptureSource, open_source

NO_HUD = DemoCfg(overlay=OverlayCfg(hud=False), model_runs=2)


class ListSink:
    """Keeps the annotated frames (before any codec touches them)."""

    def __init__(self):
        self.frames: list[np.ndarray] = []

    @property
    def frames_written(self) -> int:
        return len(self.frames)

    def write(self, frame: np.ndarray) -> None:
        self.frames.append(frame)

    def close(self) -> None:
        pass


def run(bundle, source, detector, cfg=NO_HUD, sink=None, **kwargs):
    with open_runner(bundle, threads=1) as runner:
        parser = FrameParser(runner, bundle.manifest.input.normalization, detector, cfg)
        return run_demo(source, parser, bundle.schema, cfg, sink, **kwargs), parser


def test_every_frame_is_parsed_written_and_measured(bundle, tiny_clip, square_detector, tmp_path):
    with open_sink(tmp_path / "out.mp4", "mp4v", 10) as sink:
        result, _ = run(bundle, open_source(str(tiny_clip.path)), square_detector, sink=sink)
    assert result.frames == 8 == result.frames_written and result.faces == 7
    # detect every 5th frame: 0, 5 (the face-less frame: its track is lost, so detect again), 6
    assert square_detector.calls == 3
    assert result.e2e_fps > 0 and result.model_fps > 0
    assert result.model_frame_fps == result.model_fps  # at most one face per frame: one inference each
    assert set(result.flicker_pct) == {"raw", "smoothed"} and result.flicker_pixels > 0
    assert {"decode", "detect", "model", "post", "render", "encode"} <= set(result.stage_ms)
    capture = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 8


def test_model_only_frame_rate_divides_by_faces_per_frame():
    result = DemoResult(frames=100, faces=150, wall_s=2.0, e2e_fps=50.0, model_fps=120.0, stage_ms={},
                        flicker_pct={}, flicker_pixels=0, scene_cuts=0, smoothing_resets=0, frames_written=100,
                        end_reason=None, detector="test")
    assert result.model_frame_fps == pytest.approx(80.0) and result.e2e_share == pytest.approx(0.625)
    assert result.to_dict()["e2e_share"] == pytest.approx(0.625)


def test_a_frame_without_a_face_passes_through_unchanged(bundle, tiny_clip, square_detector):
    sink = ListSink()
    source = CaptureSource(_FrameList(tiny_clip.frames), "frames", "video")
    run(bundle, source, square_detector, sink=sink)
    assert len(sink.frames) == 8
    np.testing.assert_array_equal(sink.frames[tiny_clip.no_face_index], tiny_clip.frames[tiny_clip.no_face_index])
    assert not np.array_equal(sink.frames[0], tiny_clip.frames[0])  # frames with a face are annotated


def test_several_faces_are_parsed_in_one_frame(bundle, square_detector, square_frame):
    frames = [square_frame([(10, 10), (100, 60)], i) for i in range(3)]
    cfg = dataclasses.replace(NO_HUD, crop=dataclasses.replace(NO_HUD.crop, margin=0.25))  # crops 54 px wide
    with open_runner(bundle, threads=1) as runner:
        parser = FrameParser(runner, bundle.manifest.input.normalization, square_detector, cfg)
        parsed = [parser.process(f, i) for i, f in enumerate(frames)]
    assert [len(p.boxes) for p in parsed] == [2, 2, 2]
    labels = parsed[-1].labels
    assert (labels[20:40, 20:40] != NO_FACE).all() and (labels[70:90, 110:130] != NO_FACE).all()
    assert (labels[5:115, 60:90] == NO_FACE).all()  # between the two crops
    assert parser.inferences == 6


def test_truncated_input_finalizes_the_output_with_the_frames_processed(bundle, square_detector, tmp_path,
                                                                       square_frame, write_clip):
    path = write_clip(tmp_path / "clip.avi", [square_frame([(20 + i, 30)], i) for i in range(8)], fourcc="MJPG")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with open_sink(tmp_path / "out.mp4", "mp4v", 10) as sink:
        result, _ = run(bundle, open_source(str(path)), square_detector, sink=sink)
    assert result.end_reason and "truncated" in result.end_reason
    assert 1 <= result.frames == result.frames_written < 8
    capture = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == result.frames


def test_a_failing_stage_stops_the_pipeline_and_the_output_is_still_finalized(bundle, tiny_clip, tmp_path):
    class FailingDetector:
        name = "failing"
        calls = 0

        def detect(self, image):
            self.calls += 1
            if self.calls > 2:
                raise InputError("detector broke on purpose")
            return []

    cfg = dataclasses.replace(NO_HUD, detect=dataclasses.replace(NO_HUD.detect, every=1))
    with pytest.raises(InputError, match="on purpose"), open_sink(tmp_path / "out.mp4", "mp4v", 10) as sink:
        run(bundle, open_source(str(tiny_clip.path)), FailingDetector(), cfg, sink=sink)
    capture = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 2 == sink.frames_written


def test_max_frames_and_on_frame_can_stop_early(bundle, tiny_clip, square_detector):
    result, _ = run(bundle, open_source(str(tiny_clip.path)), square_detector, max_frames=3)
    assert result.frames == 3 and result.end_reason is None
    seen = []
    result, _ = run(bundle, open_source(str(tiny_clip.path)), square_detector,
                    on_frame=lambda i, f: seen.append(i) or i < 1)
    assert seen == [0, 1] and result.frames == 2


def test_without_smoothing_only_the_raw_stream_is_measured(bundle, tiny_clip, square_detector):
    cfg = dataclasses.replace(NO_HUD, smooth=dataclasses.replace(NO_HUD.smooth, enabled=False))
    result, parser = run(bundle, open_source(str(tiny_clip.path)), square_detector, cfg)
    assert set(result.flicker_pct) == {"raw"} and parser.smoother is None


class _FrameList:
    """A capture over in-memory RGB frames (delivered as OpenCV's BGR)."""

    def __init__(self, frames):
        self.frames = list(frames)

    def read(self):
        if not self.frames:
            return False, None
        return True, cv2.cvtColor(self.frames.pop(0), cv2.COLOR_RGB2BGR)

    def get(self, prop):
        return {cv2.CAP_PROP_FPS: 10.0, cv2.CAP_PROP_FRAME_COUNT: len(self.frames)}.get(prop, 0.0)

    def release(self):
        pass


def test_smoothing_lowers_measured_flicker_on_a_static_noisy_clip(bundle, square_detector, square_frame):
    rng = np.random.default_rng(0)
    still = square_frame([(50, 40)], 0)
    frames = [np.clip(still + rng.integers(-4, 5, still.shape), 0, 255).astype(np.uint8) for _ in range(12)]
    result, _ = run(bundle, CaptureSource(_FrameList(frames), "noisy", "video"), square_detector)
    assert result.flicker_pct["raw"] > 0.5  # sensor noise alone flips labels of the raw per-frame argmax
    assert result.flicker_pct["smoothed"] < 0.75 * result.flicker_pct["raw"]  # measured: 1.70 % -> 0.73 %


def test_cpu_per_frame_is_accounted_by_stage(bundle, tiny_clip, square_detector):
    result, _ = run(bundle, open_source(str(tiny_clip.path)), square_detector)
    assert {"decode", "prepare", "model", "post", "render", "total"} <= set(result.cpu_ms)
    parts = sum(v for k, v in result.cpu_ms.items() if k != "total")
    assert parts == pytest.approx(result.cpu_ms["total"], rel=0.05)  # the runtime's workers count as model
    assert 0 < result.model_cpu_share <= 1
