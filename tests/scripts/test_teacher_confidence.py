"""scripts/teacher_confidence.py: border and thin-part confidence of a teacher, as a markdown table."""
import importlib.util
from pathlib import Path

import pytest

from edge.errors import ConfigError

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "teacher_confidence.py"
spec = importlib.util.spec_from_file_location("teacher_confidence", SCRIPT)
teacher_confidence = importlib.util.module_from_spec(spec)
spec.loader.exec_module(teacher_confidence)


def test_scores_are_probabilities_and_the_top_class_bounds_the_true_one(tiny_lapa_checkpoint):
    row = teacher_confidence.border_confidence(str(tiny_lapa_checkpoint), [], ["skin", "hair"])
    top, true, thin = row.values()
    assert 0.0 < true <= top <= 1.0
    assert 0.0 <= thin <= 1.0


def test_prints_one_row_per_teacher(tiny_lapa_checkpoint, capsys):
    assert teacher_confidence.main([str(tiny_lapa_checkpoint), "--thin", "skin"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[2].startswith(f"| {tiny_lapa_checkpoint} |")


def test_an_unknown_thin_class_is_named(tiny_lapa_checkpoint):
    with pytest.raises(ConfigError, match="eyebrow_left"):
        teacher_confidence.border_confidence(str(tiny_lapa_checkpoint), [], ["eyebrow_left"])
