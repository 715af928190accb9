"""scripts/kd_ablation_report.py: the per-seed, per-arm table and mean Δ, with and without a teacher."""
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kd_ablation_report.py"


@pytest.fixture
def report(monkeypatch):
    pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("kd_ablation_report", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # a checkpoint's "scores": its name's trailing number is its skin IoU, mIoU is half of it
    monkeypatch.setattr(module, "scores", lambda ckpt, overrides, tta=None: {
        "skin": float(ckpt.rsplit("_", 1)[1]), "**mIoU**": float(ckpt.rsplit("_", 1)[1]) / 2})
    return module


def test_named_arms_without_a_teacher(report, capsys):
    assert report.main(["--arms", "human", "+ auto", "--pair", "0", "b_60", "t_64",
                        "--pair", "1", "b_62", "t_64"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| val IoU % | human, seed 0 | + auto, seed 0 | human, seed 1 | + auto, seed 1 | " \
                       "mean Δ (+ auto − human) |"
    assert lines[2] == "| skin | 60.00 | 64.00 | 62.00 | 64.00 | +3.00 |"
    assert lines[3] == "| **mIoU** | 30.00 | 32.00 | 31.00 | 32.00 | +1.50 |"


def test_a_teacher_column_when_given(report, capsys):
    assert report.main(["--teacher", "teacher_80", "--pair", "0", "b_60", "t_70"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| val IoU % | teacher | no KD, seed 0 | KD, seed 0 |")
    assert lines[2] == "| skin | 80.00 | 60.00 | 70.00 | +10.00 |"
