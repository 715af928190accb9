"""Teacher cache: float16 round trip, resume after interruption, refusal of a foreign folder."""
import logging
import os

import numpy as np
import pytest
import torch

from edge.errors import ConfigError
from training.distill.cache import TeacherCache
from training.distill.teacher import TeacherOutputs

SETTINGS = {"data": {"size": 64}, "augment_seed": 1}


class CountingTeacher:
    """Stands in for the ensemble: deterministic outputs per sample index, counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, indices):
        self.calls += 1
        logits = torch.stack([torch.full((3, 4, 4), i + 0.1234567) for i in indices.tolist()])
        return [TeacherOutputs(logits, logits[:, :2, :2, :2] * 2)]


def _lookup(cache, teacher, indices, epoch=0):
    idx = torch.tensor(indices)
    return cache.lookup(idx, torch.full_like(idx, epoch), (4, 4), (8, 8), lambda: teacher(idx),
                        torch.device("cpu"))


def test_round_trip_is_float16_and_skips_the_teacher(tmp_path):
    cache, teacher = TeacherCache(tmp_path, ["ab" * 32], SETTINGS), CountingTeacher()
    fresh = _lookup(cache, teacher, [3, 5])
    again = _lookup(cache, teacher, [5, 3])
    assert teacher.calls == 1 and cache.writes == 2 and cache.hits == 2
    assert torch.equal(again[0].logits[0], fresh[0].logits[1]) and torch.equal(again[0].nodes[1], fresh[0].nodes[0])
    assert torch.equal(fresh[0].logits, teacher(torch.tensor([3, 5]))[0].logits.half().float())
    with np.load(cache.entry_path("ab" * 32, 3, 0)) as entry:
        assert entry["logits"].dtype == np.float16 and entry["nodes"].shape == (2, 2, 2)


def test_resume_computes_only_missing_entries(tmp_path):
    cache, teacher = TeacherCache(tmp_path, ["cd" * 32], SETTINGS), CountingTeacher()
    _lookup(cache, teacher, [0, 1, 2])
    kept = cache.entry_path("cd" * 32, 0, 0)
    os.utime(kept, (1, 1))
    cache.entry_path("cd" * 32, 1, 0).unlink()  # as if the run died before writing it
    resumed = TeacherCache(tmp_path, ["cd" * 32], SETTINGS)
    _lookup(resumed, teacher, [0, 1, 2])
    assert teacher.calls == 2 and resumed.writes == 1 and os.stat(kept).st_mtime == 1
    assert not list(tmp_path.rglob(".*tmp*")), "atomic writes leave no temp file"


def test_epochs_are_keyed_only_when_augmentation_varies(tmp_path):
    per_epoch = TeacherCache(tmp_path / "a", ["ef" * 32], SETTINGS, per_epoch=True)
    assert per_epoch.entry_path("ef" * 32, 7, 2) != per_epoch.entry_path("ef" * 32, 7, 3)
    fixed = TeacherCache(tmp_path / "b", ["ef" * 32], SETTINGS, per_epoch=False)
    assert fixed.entry_path("ef" * 32, 7, 2) == fixed.entry_path("ef" * 32, 7, 3)


def test_folder_filled_under_other_settings_is_refused(tmp_path):
    _lookup(TeacherCache(tmp_path, ["01" * 32], SETTINGS), CountingTeacher(), [0])
    other = TeacherCache(tmp_path, ["01" * 32], {**SETTINGS, "augment_seed": 2})
    with pytest.raises(ConfigError, match="augment_seed differ"):
        _lookup(other, CountingTeacher(), [0])


def test_unreadable_entry_is_recomputed_with_a_warning(tmp_path, caplog):
    cache, teacher = TeacherCache(tmp_path, ["23" * 32], SETTINGS), CountingTeacher()
    _lookup(cache, teacher, [4])
    cache.entry_path("23" * 32, 4, 0).write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING):
        out = _lookup(cache, teacher, [4])
    assert teacher.calls == 2 and "unreadable" in caplog.text
    assert out[0].logits[0, 0, 0, 0].item() == pytest.approx(4.1234567, abs=1e-2)
