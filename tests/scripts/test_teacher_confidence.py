"""scripts/teacher_confidence.py: border and thin-part confidence of a teacher, as a markdown table."""
import importlib.util
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from edge.errors import ConfigError
from edge.schemas import get_schema

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "teacher_confidence.py"
spec = importlib.util.spec_from_file_location("teacher_confidence", SCRIPT)
teacher_confidence = importlib.util.module_from_spec(spec)
spec.loader.exec_module(teacher_confidence)


class LabelEcho(torch.nn.Module):
    """Logits k·onehot(true class): the label rides in the image's first channel."""

    def __init__(self, confidence: float, num_classes: int):
        super().__init__()
        self.confidence, self.num_classes = confidence, num_classes

    def forward(self, image):
        onehot = F.one_hot(image[:, 0].long(), self.num_classes).permute(0, 3, 1, 2)
        return self.confidence * onehot.float()


def test_scores_match_a_teacher_of_known_confidence(monkeypatch):
    schema = get_schema("lapa")
    label = torch.zeros(1, 8, 8, dtype=torch.long)
    label[0, 2:4, 2:6] = schema.class_names.index("l_brow")
    boundary = torch.zeros(1, 8, 8)
    boundary[0, 1:5, 1:7] = 1
    batch = {"image": label[:, None].float().expand(1, 3, 8, 8), "label": label, "boundary": boundary}
    model = LabelEcho(3.0, schema.num_classes)
    monkeypatch.setattr(teacher_confidence, "load_for_evaluation", lambda *a: (model, [batch], None, schema))

    row = teacher_confidence.border_confidence("teacher.pt", [], ["l_brow"])

    expected = math.exp(3.0) / (math.exp(3.0) + schema.num_classes - 1)
    top, true, thin = row.values()
    assert top == pytest.approx(expected) and true == pytest.approx(expected) and thin == 1.0


def test_scores_of_a_real_checkpoint_are_probabilities(tiny_lapa_checkpoint):
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
