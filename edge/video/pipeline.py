"""The threaded demo: decode → parse → render/encode, overlapped through bounded queues.

Five threads: the reader decodes; ``FrameParser.prepare`` detects, tracks and crops;
``FrameParser.infer`` runs the model and nothing else; ``FrameParser.finish`` smooths and pastes
labels back; the calling thread renders, encodes, measures flicker and shows frames. OpenCV, NumPy
and the inference runtimes release the GIL in their heavy calls, so decode and encode of
neighbouring frames run while the model works and end-to-end FPS can approach the model's own.

The GIL's switch interval drops to 1 ms for the run, so the model thread waits at most that long to
take its next crop. Each thread's CPU time is recorded (``DemoResult.cpu_ms``): the model's share of
the CPU a frame costs bounds the end-to-end share where the model's threads use every core. Threads
are not pinned: measured on 2 cores, pinning the model to one core and the other stages to the other
lowered end-to-end FPS by 10-15 % (those stages then queue behind each other on one core, while
unpinned they also use the model's core whenever it waits).

An error in any thread stops the others; the caller's sink is closed by its ``with`` block, so the
video written so far is always finalized.
"""
from __future__ import annotations

import logging
import queue
import statistics
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from edge.bench import benchmark
from edge.preprocess import preprocess
from edge.schemas import LabelSchema
from edge.video.config import DemoCfg
from edge.video.overlay import blend_labels, draw_hud, draw_legend, present_classes
from edge.video.parse import FrameParser, ParsedFrame, PreparedFrame
from edge.video.sinks import FrameSink
from edge.video.sources import FrameSource
from edge.video.stability import FlickerMeter

if TYPE_CHECKING:
    from typing import Self  # Python >= 3.11; annotations are strings here

log = logging.getLogger(__name__)

STAGES = ("decode", "detect", "prepare", "model", "post", "render", "encode")  # prepare = detect + crop
HUD_STAGES = tuple(name for name in STAGES if name != "detect")
FPS_WINDOW = 30  # frames in the HUD's rolling FPS
GIL_SWITCH_S = 0.001  # Python's default 5 ms would let a busy stage hold the model thread that long
_END = object()


@contextmanager
def _gil_switch_interval(seconds: float) -> Iterator[None]:
    """Python's GIL switch interval for the run, restored afterwards."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


@dataclass(frozen=True)
class DemoResult:
    """``e2e_fps`` = frames / wall time of the whole pipeline; ``model_fps`` = the isolated
    runner on one crop (as ``edgeparse bench``); stage medians are per frame in ms.

    A frame with k faces costs k inferences, so the frame rate the model alone allows is
    ``model_frame_fps`` = model_fps / (faces per frame); ``e2e_share`` compares against that.
    """

    frames: int
    faces: int
    wall_s: float
    e2e_fps: float
    model_fps: float
    stage_ms: dict[str, float]
    flicker_pct: dict[str, float | None]
    flicker_pixels: int
    scene_cuts: int
    smoothing_resets: int
    frames_written: int
    end_reason: str | None
    detector: str
    settings: dict[str, Any] = field(default_factory=dict)
    # CPU ms per frame by thread role: decode, prepare, model (its thread plus the runtime's own workers),
    # post, render (render, encode and flicker in the calling thread), and total (the whole process)
    cpu_ms: dict[str, float] = field(default_factory=dict)

    @property
    def model_cpu_share(self) -> float | None:
        """The model's share of the CPU a frame costs: where the model's threads use every core, the most
        end-to-end FPS can reach of model-only FPS."""
        total = self.cpu_ms.get("total")
        return self.cpu_ms["model"] / total if total else None

    @property
    def faces_per_frame(self) -> float:
        return self.faces / self.frames if self.frames else 0.0

    @property
    def model_frame_fps(self) -> float:
        """Frames per second the model alone could parse at this video's faces per frame."""
        return self.model_fps / max(self.faces_per_frame, 1.0)

    @property
    def e2e_share(self) -> float:
        """End-to-end FPS as a fraction of ``model_frame_fps``."""
        return self.e2e_fps / self.model_frame_fps if self.model_frame_fps else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "faces_per_frame": self.faces_per_frame, "model_frame_fps": self.model_frame_fps,
                "e2e_share": self.e2e_share, "model_cpu_share": self.model_cpu_share}


@dataclass
class _Failure:
    error: BaseException


@dataclass
class _Decoded:
    index: int
    frame: np.ndarray
    decode_ms: float


class _Stages:
    """Worker threads: the reader, then one per stage function, joined by bounded queues."""

    def __init__(self, source: FrameSource, stages: list[tuple[str, Callable[[Any], Any]]], queue_size: int,
                 max_frames: int | None):
        self.source, self.max_frames = source, max_frames
        self.stop = threading.Event()
        self.cpu_s: dict[str, float] = {}  # thread CPU seconds per role, recorded when each thread ends
        self.queues: list[queue.Queue] = [queue.Queue(queue_size) for _ in range(len(stages) + 1)]
        self.threads = [threading.Thread(target=self._guard, args=("decode", self._read, self.queues[0]),
                                         daemon=True, name="demo-decode")]
        for i, (role, stage) in enumerate(stages):
            work = self._worker(stage, self.queues[i])
            self.threads.append(threading.Thread(target=self._guard, args=(role, work, self.queues[i + 1]),
                                                 daemon=True, name=f"demo-{role}"))

    def __enter__(self) -> Self:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10.0)

    def results(self) -> Iterator[Any]:
        while True:
            item = self._get(self.queues[-1])
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    def _guard(self, role: str, work: Callable[[queue.Queue], None], out: queue.Queue) -> None:
        try:
            work(out)
        except BaseException as exc:  # noqa: BLE001  (not swallowed: the consumer re-raises it)
            self._put(out, _Failure(exc))
        self.cpu_s[role] = time.thread_time()
        self._put(out, _END)

    def _read(self, out: queue.Queue) -> None:
        index = 0
        while not self.stop.is_set() and (self.max_frames is None or index < self.max_frames):
            start = time.perf_counter()
            frame = self.source.read()
            if frame is None:
                return
            self._put(out, _Decoded(index, frame, (time.perf_counter() - start) * 1e3))
            index += 1

    def _worker(self, stage: Callable[[Any], Any], inbox: queue.Queue) -> Callable[[queue.Queue], None]:
        def work(out: queue.Queue) -> None:
            while (item := self._get(inbox)) is not _END:
                if isinstance(item, _Failure):
                    self._put(out, item)
                    return
                self._put(out, stage(item))
        return work

    def _put(self, q: queue.Queue, item: object) -> None:
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _get(self, q: queue.Queue) -> object:
        while True:
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                if self.stop.is_set():
                    return _END


class Renderer:
    """Overlay, legend and HUD for one parsed frame."""

    def __init__(self, schema: LabelSchema, cfg: DemoCfg):
        self.schema, self.cfg = schema, cfg
        self.palette = schema.palette()
        self._done: deque[float] = deque(maxlen=FPS_WINDOW)
        self.last_ms: dict[str, float] = {}

    def render(self, parsed: ParsedFrame, model_fps_hint: float | None) -> np.ndarray:
        o = self.cfg.overlay
        out = blend_labels(parsed.frame, parsed.labels, self.palette, o.alpha, o.contours)
        if o.legend and parsed.boxes:
            draw_legend(out, self.schema, present_classes(parsed.labels, self.schema.num_classes))
        if o.hud:
            draw_hud(out, self.hud_lines(parsed, model_fps_hint))
        return out

    def tick(self) -> None:
        self._done.append(time.perf_counter())

    def fps(self) -> float | None:
        if len(self._done) < 2:
            return None
        return (len(self._done) - 1) / max(self._done[-1] - self._done[0], 1e-9)

    def hud_lines(self, parsed: ParsedFrame, model_fps_hint: float | None) -> list[str]:
        t = {**self.last_ms, **parsed.timings_ms}
        fps = self.fps()
        stages = " ".join(f"{name} {t[name]:.1f}" for name in HUD_STAGES if name in t)
        model = f"model {model_fps_hint:.1f} FPS" if model_fps_hint else "model -"
        return [f"ms: {stages}",
                f"{'e2e ' + format(fps, '.1f') + ' FPS' if fps else 'e2e -'} | {model} | faces {len(parsed.boxes)}"
                + (" | detect" if parsed.detected else "")]


def run_demo(source: FrameSource, parser: FrameParser, schema: LabelSchema, cfg: DemoCfg,
             sink: FrameSink | None = None, max_frames: int | None = None,
             on_frame: Callable[[int, np.ndarray], bool] | None = None,
             on_parsed: Callable[[ParsedFrame], None] | None = None) -> DemoResult:
    """Run the pipeline over ``source``; ``on_frame(index, annotated)`` may return False to stop
    (the ``--show`` window's q key); ``on_parsed`` sees each frame's labels (``edgeparse predict``'s
    per-frame class areas). Raises what any stage raised, after stopping the others."""
    renderer = Renderer(schema, cfg)
    meter = FlickerMeter(cfg.flicker_static_diff)
    samples: dict[str, list[float]] = {name: [] for name in STAGES}
    frames = faces = 0
    first_frame: np.ndarray | None = None
    spec = parser.runner.input_spec
    parser.runner.infer(np.zeros(spec.shape, np.float32))  # the first inference allocates: not timed
    start, process_cpu = time.perf_counter(), time.process_time()

    def prepare(item: _Decoded) -> PreparedFrame:
        prepared = parser.prepare(item.frame, item.index)
        prepared.timings_ms["decode"] = item.decode_ms
        return prepared

    stage_list = [("prepare", prepare), ("model", parser.infer), ("post", parser.finish)]
    with _gil_switch_interval(GIL_SWITCH_S), _Stages(source, stage_list, cfg.queue_size, max_frames) as stages:
        caller_cpu = time.thread_time()
        for parsed in stages.results():
            first_frame = parsed.frame if first_frame is None else first_frame
            annotated = _render_and_write(parsed, renderer, sink, _model_fps(parsed))
            if on_parsed is not None:
                on_parsed(parsed)
            meter.update(cv2.cvtColor(parsed.frame, cv2.COLOR_RGB2GRAY), _streams(parsed))
            for name, value in {**parsed.timings_ms, **renderer.last_ms}.items():
                samples[name].append(value)
            frames, faces = frames + 1, faces + len(parsed.boxes)
            renderer.tick()
            if on_frame is not None and on_frame(parsed.index, annotated) is False:
                break
        caller_cpu = time.thread_time() - caller_cpu
    wall_s, process_cpu = time.perf_counter() - start, time.process_time() - process_cpu
    cpu_ms = _cpu_per_frame(stages.cpu_s, caller_cpu, process_cpu, frames)
    model_fps = _isolated_model_fps(parser, first_frame, cfg.model_runs)
    flicker = meter.results()
    return DemoResult(
        frames=frames, faces=faces, wall_s=wall_s, e2e_fps=frames / wall_s if frames else 0.0,
        model_fps=model_fps, stage_ms={k: statistics.median(v) for k, v in samples.items() if v},
        flicker_pct={name: r.pct for name, r in flicker.items()},
        flicker_pixels=next(iter(flicker.values())).counted if flicker else 0,
        scene_cuts=parser.cuts, smoothing_resets=parser.smoother.resets if parser.smoother else 0,
        frames_written=sink.frames_written if sink else 0, end_reason=source.end_reason,
        detector=getattr(parser.detector, "name", type(parser.detector).__name__),
        settings={"runner": parser.runner.applied_settings(), "config": asdict(cfg)},
        cpu_ms=cpu_ms,
    )


def _cpu_per_frame(thread_s: dict[str, float], caller_s: float, process_s: float, frames: int) -> dict[str, float]:
    """CPU ms per frame by role. What no stage thread accounts for ran in the runtimes' own worker
    threads: the model's (OpenCV's pool is counted too, and is small next to it)."""
    if not frames or not thread_s:
        return {}
    per_frame = {role: 1e3 * seconds / frames for role, seconds in thread_s.items()}
    per_frame["render"] = 1e3 * caller_s / frames
    per_frame["total"] = 1e3 * process_s / frames
    unattributed = per_frame["total"] - sum(v for k, v in per_frame.items() if k != "total")
    per_frame["model"] = per_frame.get("model", 0.0) + max(unattributed, 0.0)
    return per_frame


def _render_and_write(parsed: ParsedFrame, renderer: Renderer, sink: FrameSink | None,
                      model_fps_hint: float | None) -> np.ndarray:
    start = time.perf_counter()
    annotated = renderer.render(parsed, model_fps_hint)
    renderer.last_ms["render"] = (time.perf_counter() - start) * 1e3
    if sink is not None:
        start = time.perf_counter()
        sink.write(annotated)
        renderer.last_ms["encode"] = (time.perf_counter() - start) * 1e3
    return annotated


def _model_fps(parsed: ParsedFrame) -> float | None:
    """Inferences per second of the model alone on this frame (for the HUD)."""
    model_ms = parsed.timings_ms.get("model", 0.0)
    return 1e3 * len(parsed.boxes) / model_ms if model_ms > 0 else None


def _streams(parsed: ParsedFrame) -> dict[str, np.ndarray]:
    return {"raw": parsed.raw} if parsed.smoothed is None else {"raw": parsed.raw, "smoothed": parsed.smoothed}


def _isolated_model_fps(parser: FrameParser, frame: np.ndarray | None, runs: int) -> float:
    """The runner alone, warm, on the first frame resized to the input (``edgeparse bench``'s way)."""
    shape = parser.runner.input_spec.shape
    if frame is None:
        x = np.zeros(shape, np.float32)
    else:
        x = np.repeat(preprocess(frame, tuple(shape[2:4]), parser.normalization), shape[0], axis=0)
    result = benchmark(parser.runner, x, warmup=3, runs=runs)
    return result.fps * shape[0]
