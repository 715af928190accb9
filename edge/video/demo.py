"""A deploy bundle on a video: the entry shared by ``edgeparse demo`` and ``edgeparse bench --video``."""
from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from edge.backends import open_runner
from edge.bundle import Bundle
from edge.video.config import DemoCfg
from edge.video.detect import open_detector
from edge.video.parse import FrameParser, ParsedFrame
from edge.video.pipeline import DemoResult, run_demo
from edge.video.sinks import FrameSink, open_sink
from edge.video.sources import FrameSource, open_source


def run_bundle_demo(bundle: Bundle, source: FrameSource | str, cfg: DemoCfg, output: str | Path | None = None,
                    fps: float | None = None, max_frames: int | None = None,
                    on_frame: Callable[[int, np.ndarray], bool] | None = None,
                    sink: FrameSink | None = None,
                    on_parsed: Callable[[ParsedFrame], None] | None = None) -> DemoResult:
    """Open the source (a spec as ``open_source`` takes, or a source), the detector, the
    bundle's runner and the output; run the pipeline; close everything (the output is
    finalized with whatever was processed, also when a stage fails)."""
    with ExitStack() as stack:
        if isinstance(source, str):
            source = open_source(source, cfg.max_side, fps)
        stack.callback(source.close)
        d = cfg.detect
        detector = open_detector(d.detector, d.min_score, d.nms_iou, d.threads)
        runner = stack.enter_context(open_runner(bundle, threads=cfg.threads))
        if output is not None:
            sink = stack.enter_context(open_sink(output, cfg.codec, fps or source.fps))
        parser = FrameParser(runner, bundle.manifest.input.normalization, detector, cfg)
        return run_demo(source, parser, bundle.schema, cfg, sink, max_frames, on_frame, on_parsed)


def format_result(result: DemoResult, every: int) -> str:
    """The human summary both commands print."""
    faces = result.faces_per_frame
    notes = {"detect": f" (every {every})", "prepare": " (detect+crop)"}
    stages = " | ".join(f"{name} {ms:.1f}{notes.get(name, '')}" for name, ms in result.stage_ms.items())
    flicker = " | ".join(f"{name} {'n/a' if pct is None else format(pct, '.2f') + ' %'}"
                         for name, pct in result.flicker_pct.items())
    lines = [
        (f"frames {result.frames} ({faces:.2f} faces/frame), detector {result.detector}, "
         f"{result.scene_cuts} scene cuts, {result.smoothing_resets} smoothing resets"),
        (f"end-to-end {result.e2e_fps:.1f} FPS vs model-only {result.model_frame_fps:.1f} FPS at {faces:.2f} "
         f"faces/frame ({100 * result.e2e_share:.0f} %; model-only = the runner alone, warm, "
         f"{result.model_fps:.1f} crops/s)"),
        f"stage medians, ms: {stages}",
        (f"flicker (static face pixels whose label changed, over {result.flicker_pixels / 1e6:.2f} M pixel "
         f"pairs): {flicker or 'n/a'}"),
    ]
    if result.cpu_ms:
        cpu = " | ".join(f"{role} {ms:.1f}" for role, ms in result.cpu_ms.items() if role != "total")
        lines.append(f"CPU ms per frame: {cpu} | total {result.cpu_ms['total']:.1f} (the model "
                     f"{100 * (result.model_cpu_share or 0):.0f} % of it)")
    if result.end_reason:
        lines.append(f"stopped early: {result.end_reason}")
    return "\n".join(lines)
