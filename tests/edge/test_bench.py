"""Benchmark bookkeeping: call counts, ordered percentiles, fall-back reporting (no timing assertions)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.backends import open_runner
from edge.backends.base import BaseRunner, TensorSpec
from edge.bench import LatencyStats, benchmark, peak_rss_mb
from edge.cli import main
from edge.errors import ConfigError


class CountingRunner(BaseRunner):
    """A NumPy 'model' (per-pixel 2-class scores) that counts its inferences."""

    backend = "counting"

    def _activate_impl(self) -> None:
        self.calls = 0

    def _model_inputs_impl(self) -> list[TensorSpec]:
        return [TensorSpec("input", (1, 3, 8, 8))]

    def _model_outputs_impl(self) -> list[TensorSpec]:
        return [TensorSpec("scores", (1, 2, 8, 8))]

    def _run_impl(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls += 1
        x = feeds["input"]
        return {"scores": np.concatenate([x[:, :1], -x[:, :1]], axis=1)}

    def _deactivate_impl(self) -> None:
        pass


@pytest.fixture
def counting(tmp_path):
    model = tmp_path / "model.bin"
    model.write_bytes(b"x")
    with CountingRunner(model, TensorSpec("input", (1, 3, 8, 8)), threads=1) as runner:
        yield runner


def _ordered(stats: LatencyStats) -> bool:
    return stats.min_ms <= stats.median_ms <= stats.p90_ms <= stats.p99_ms <= stats.max_ms and \
        stats.min_ms <= stats.mean_ms <= stats.max_ms


def test_first_run_warmup_and_timed_runs_are_counted_apart(counting):
    x = np.zeros((1, 3, 8, 8), np.float32)
    image = np.zeros((20, 30, 3), np.uint8)
    result = benchmark(counting, x, warmup=3, runs=7, e2e_image=image)
    # 1 first + 3 warm-up + 7 timed, then 1 untimed + 7 timed end-to-end runs.
    assert counting.calls == 1 + 3 + 7 + 1 + 7
    assert result.model.count == 7 and result.e2e.count == 7
    assert _ordered(result.model) and _ordered(result.e2e)
    assert result.e2e_image_size == (20, 30)
    assert result.fps > 0 and result.first_inference_ms > 0


def test_throughput_without_async_api_says_it_fell_back(counting):
    result = benchmark(counting, np.zeros((1, 3, 8, 8), np.float32), warmup=0, runs=4, mode="throughput")
    assert not result.async_api
    assert "no asynchronous API" in result.fallback
    assert counting.calls == 1 + 4 and result.e2e is None


def test_latency_stats_percentiles_are_exact():
    stats = LatencyStats.from_samples(list(range(1, 101)))
    assert (stats.count, stats.min_ms, stats.max_ms, stats.median_ms) == (100, 1, 100, 50.5)
    assert stats.p90_ms == pytest.approx(90.1) and stats.p99_ms == pytest.approx(99.01)


@pytest.mark.parametrize("kwargs", [{"runs": 0}, {"warmup": -1}, {"mode": "fast"}])
def test_bad_arguments_are_config_errors(counting, kwargs):
    with pytest.raises(ConfigError):
        benchmark(counting, np.zeros((1, 3, 8, 8), np.float32), **kwargs)


def test_settings_and_memory_are_recorded(make_bundle):
    with open_runner(make_bundle(), threads=1) as runner:
        x = np.zeros(runner.input_spec.shape, np.float32)
        result = benchmark(runner, x, warmup=1, runs=3)
    assert result.settings["runner"]["intra_op_num_threads"] == 1
    assert result.settings["host"]["logical_cpus"] >= 1 and result.settings["host"]["cpu"]
    assert 0 < result.peak_rss_mb <= peak_rss_mb()
    assert json.loads(json.dumps(result.to_dict()))["model"]["count"] == 3


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="VmHWM needs Linux /proc")
def test_peak_memory_of_a_child_is_its_own_not_its_big_parents():
    ballast = np.ones(400 * 2**20, np.uint8)  # 400 MB resident in this process before the fork
    code = "from edge.bench import peak_rss_mb; print(peak_rss_mb())"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(child.stdout) < ballast.nbytes / 1e6 <= peak_rss_mb()


def test_bench_command_writes_three_blocks(make_bundle, tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(["bench", str(make_bundle()), "--runs", "5", "--warmup", "1", "--threads", "1",
                 "--e2e-size", "24x40", "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "end-to-end" in printed and "intra_op_num_threads=1" in printed
    report = json.loads(out.read_text())
    assert list(report) == ["command", "settings", "results"]
    assert report["command"]["options"]["runs"] == 5
    assert report["results"]["benchmark"]["e2e_image_size"] == [24, 40]
    assert report["results"]["rows"][0]["latency_p50_ms"] > 0


def test_bench_command_rejects_a_bad_size(make_bundle, capsys):
    with pytest.raises(SystemExit):
        main(["bench", str(make_bundle()), "--e2e-size", "24by40"])
    assert "HEIGHTxWIDTH" in capsys.readouterr().err
