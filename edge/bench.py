"""Latency and throughput of a runner (OpenVINO benchmark_app style).

The first inference is timed apart (it pays for lazy allocation and kernel selection),
warm-up runs are excluded, then ``runs`` timed inferences give min/median/p90/p99/max.
Every result carries the settings the backend actually applied and the host it ran on:
a latency without threads, device and versions cannot be compared with anything.
"""
from __future__ import annotations

import logging
import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.backends.base import MODES, BaseRunner
from edge.errors import ConfigError
from edge.preprocess import Normalization, argmax_labels, labels_to_size, preprocess

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LatencyStats:
    count: int
    min_ms: float
    median_ms: float
    mean_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float]) -> LatencyStats:
        if not samples_ms:
            raise ConfigError("no latency samples to summarise")
        a = np.asarray(samples_ms, dtype=np.float64)
        p50, p90, p99 = np.percentile(a, [50, 90, 99])
        return cls(a.size, float(a.min()), float(p50), float(a.mean()), float(p90), float(p99),
                   float(a.max()))


@dataclass(frozen=True)
class BenchResult:
    """``model`` times ``runner.infer`` alone; ``e2e`` adds preprocessing from a uint8 image
    of another size, argmax and resizing the labels back (no decoding)."""

    mode: str
    warmup: int
    runs: int
    first_inference_ms: float
    model: LatencyStats
    fps: float
    duration_s: float
    async_api: bool
    fallback: str
    e2e: LatencyStats | None
    e2e_image_size: tuple[int, int] | None
    settings: dict[str, Any]
    peak_rss_mb: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def benchmark(runner: BaseRunner, input: np.ndarray, warmup: int = 20, runs: int = 200, mode: str = "latency",
              e2e_image: np.ndarray | None = None, normalization: Normalization | None = None) -> BenchResult:
    """Benchmark an active runner on one input batch; ``normalization`` is for the e2e timing."""
    if mode not in MODES:
        raise ConfigError(f"unknown benchmark mode {mode!r}; valid modes: {', '.join(MODES)}")
    if runs < 1 or warmup < 0:
        raise ConfigError(f"need runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    first_ms = _time_ms(lambda: runner.infer(input))
    use_async = mode == "throughput" and runner.supports_async
    fallback = ""
    if use_async:
        model, duration = _async_runs(runner, input, warmup, runs)
    else:
        if mode == "throughput":
            fallback = f"backend {runner.backend!r} has no asynchronous API: measured with synchronous runs"
            log.warning(fallback)
        for _ in range(warmup):
            runner.infer(input)
        model, duration = _sync_runs(lambda: runner.infer(input), runs)
    norm = normalization or Normalization()
    e2e = _e2e_stats(runner, e2e_image, runs, norm) if e2e_image is not None else None
    return BenchResult(
        mode=mode, warmup=warmup, runs=runs, first_inference_ms=first_ms, model=model,
        fps=runs / duration, duration_s=duration, async_api=use_async,
        fallback=fallback, e2e=e2e, e2e_image_size=None if e2e_image is None else tuple(e2e_image.shape[:2]),
        settings={"runner": runner.applied_settings(), "host": host_info()}, peak_rss_mb=peak_rss_mb(),
    )


def _time_ms(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def _sync_runs(fn: Callable[[], Any], runs: int) -> tuple[LatencyStats, float]:
    start = time.perf_counter()
    samples = [_time_ms(fn) for _ in range(runs)]
    return LatencyStats.from_samples(samples), time.perf_counter() - start


def _async_runs(runner: BaseRunner, x: np.ndarray, warmup: int, runs: int) -> tuple[LatencyStats, float]:
    if warmup:
        runner.run_async(x, warmup)
    start = time.perf_counter()
    latencies = runner.run_async(x, runs)
    return LatencyStats.from_samples(latencies), time.perf_counter() - start


def _e2e_stats(runner: BaseRunner, image: np.ndarray, runs: int, norm: Normalization) -> LatencyStats:
    size = tuple(runner.input_spec.shape[2:4])

    def step() -> np.ndarray:
        logits = runner.infer(preprocess(image, size, norm))
        return labels_to_size(argmax_labels(logits)[0], image.shape[:2])

    step()  # the model is warm already; this warms the resize paths
    return _sync_runs(step, runs)[0]


def host_info() -> dict[str, Any]:
    """The machine and library versions a timing belongs to."""
    return {
        "cpu": cpu_name(),
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
    }


def cpu_name() -> str:
    """The CPU model (platform.processor() is empty on most Linux systems)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith(("model name", "hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass  # not Linux: fall back to what platform knows
    return platform.processor() or platform.machine()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    Linux: VmHWM of /proc/self/status, because ru_maxrss survives exec and so reports the parent's
    peak for a bench launched by a big process. Elsewhere ru_maxrss (KiB on Linux, bytes on macOS).
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6
