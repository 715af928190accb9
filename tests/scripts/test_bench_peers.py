"""scripts/bench_peers.py: the ratio table, medians and %-of-peak from fake timings (no model is built or
timed), the round-robin order, and the FMA loop where a C compiler exists."""
import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_peers.py"
spec = importlib.util.spec_from_file_location("bench_peers", SCRIPT)
bench_peers = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = bench_peers  # dataclasses look their module up there
spec.loader.exec_module(bench_peers)

STUDENT, Peak = bench_peers.STUDENT, bench_peers.Peak
PEAKS = {"f32": Peak("f32", 100.0, "fake"), "bf16": Peak("bf16", 200.0, "fake"), "int8": Peak("int8", None, "absent")}
MACS = {(STUDENT, 256): 500_000_000, ("bisenet_r18", 256): 4_000_000_000}


def _samples() -> dict:
    """(CPU ms, wall ms) per round: the student 10/12/11 ms of CPU, BiSeNet 40/41/39, noisy wall times."""
    return {(STUDENT, 256, "ov_f32"): [(10.0, 30.0), (12.0, 9.0), (11.0, 50.0)],
            ("bisenet_r18", 256, "ov_f32"): [(40.0, 90.0), (41.0, 20.0), (39.0, 25.0)],
            (STUDENT, 256, "ov_int8"): [(5.0, 5.0)], ("bisenet_r18", 256, "ov_int8"): [(10.0, 11.0)]}


def test_cells_are_medians_over_rounds_with_the_share_of_the_columns_peak():
    table = bench_peers.build_table(_samples(), MACS, PEAKS)
    student = table[(STUDENT, 256, "ov_f32")]
    assert (student.cpu_ms, student.wall_ms) == (11.0, 30.0)
    # 2 × 0.5 GMAC in 11 ms of CPU = 90.9 GFLOP per CPU-second, of a 100 GFLOP/s core
    assert student.peak_pct == pytest.approx(100 * (2 * 0.5 / 0.011) / 100)
    assert table[(STUDENT, 256, "ov_int8")].peak_pct is None  # int8 peak not measured here


def test_ratio_is_peer_cpu_time_over_the_students_per_column():
    table = bench_peers.build_table(_samples(), MACS, PEAKS)
    assert bench_peers.ratios(table, "bisenet_r18", 256) == {"ov_f32": pytest.approx(40 / 11), "ov_int8": 2.0}


def test_report_has_the_ratio_rows_the_peaks_and_dashes_for_missing_columns():
    table = bench_peers.build_table(_samples(), MACS, PEAKS)
    text = bench_peers.format_report(table, MACS, PEAKS, ["CPU: fake"], rounds=3)
    assert "| bisenet_r18 ÷ student @ 256² | 3.64× | 2.00× |" in text
    assert "int8     not measured  (absent)" in text and "f32     100.0 GFLOP/s" in text
    assert "| student | 256² | 0.50 | 11.00 (30.00), 91 % | 5.00 (5.00) |" in text


def test_round_robin_visits_every_block_once_per_round_in_order():
    visits = []

    class Fake:
        def __init__(self, name):
            self.name = name

        def infer(self, x):
            visits.append(self.name)

    runners = {("a", 32, "ov_f32"): Fake("a"), ("b", 32, "ov_f32"): Fake("b")}
    samples = bench_peers.round_robin(runners, {32: np.zeros(1)}, rounds=2, runs={32: 1}, emit=lambda _: None)
    assert [len(v) for v in samples.values()] == [2, 2]
    assert visits == ["a"] * 4 + ["b"] * 4 + ["a"] * 4 + ["b"] * 4  # 3 warm-up + 1 timed per block


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler here")
def test_fma_loop_measures_a_positive_f32_peak():
    flags = bench_peers.cpu_flags()
    if not ({"avx512f"} <= flags or {"avx2", "fma"} <= flags):
        pytest.skip("this CPU has neither AVX-512 nor AVX2 FMA")
    peaks = bench_peers.measure_peaks(flags, repeats=1)
    assert peaks["f32"].gops_per_core > 1 and "C loop" in peaks["f32"].how


@pytest.mark.parametrize("text, expected", [
    ("bisenet_r18", ("bisenet_r18", "bisenet_r18", {})),
    ("n128=ehanet_mbv2,neck_channels=128,sgcb=conv1x1", ("n128", "ehanet_mbv2", {"neck_channels": 128,
                                                                               "sgcb": "conv1x1"})),
])
def test_model_specs_name_a_registered_model_and_typed_overrides(text, expected):
    assert bench_peers.parse_model_spec(text) == expected


def test_a_bad_model_spec_is_a_one_line_error():
    with pytest.raises(SystemExit, match="LABEL=MODEL"):
        bench_peers.parse_model_spec("n128=ehanet_mbv2,neck_channels")


def test_a_trained_checkpoint_is_timed_with_its_own_weights(tiny_lapa_checkpoint):
    import torch

    from training.checkpoint import load_checkpoint

    factories = bench_peers.model_factories(tiny_lapa_checkpoint, ["cand=" + str(tiny_lapa_checkpoint)])
    weights = load_checkpoint(tiny_lapa_checkpoint)["state_dict"]
    built = factories["cand"]().state_dict()
    assert set(factories) == {STUDENT, "cand"} and all(torch.equal(built[k], v) for k, v in weights.items())
    with pytest.raises(SystemExit, match="carries its architecture"):
        bench_peers.model_factories(tiny_lapa_checkpoint, [f"cand={tiny_lapa_checkpoint},sgcb=conv1x1"])
