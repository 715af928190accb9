"""``edgeparse train`` on a distillation recipe: a 64² smoke run, the teacher cache filled ahead and then read, clear errors."""
import csv

from edge.cli import main
from training.distill.teacher import TeacherEnsemble


def _args(tmp_path, teacher, tiny, *extra):
    return ["train", "--config", "configs/distill/smoke_kd.yaml", *tiny, f"output_dir={tmp_path}",
            f"distill.teachers=[{{checkpoint: '{teacher}'}}]", "data.synthetic_train=4", "train.batch_size=2",
            *extra]


def test_distill_trains_from_a_cache_filled_ahead(tmp_path, make_teacher, tiny_overrides, capsys, monkeypatch):
    teacher = make_teacher("ehanet_r18")
    args = _args(tmp_path, teacher, tiny_overrides, f"distill.cache_dir={tmp_path / 'cache'}", "name=kd")
    assert main([*args, "--cache-only"]) == 0
    assert "4 entries written, 0 already there" in capsys.readouterr().out
    assert main([*args, "--cache-only"]) == 0  # resumable: nothing left to compute
    assert "0 entries written, 4 already there" in capsys.readouterr().out

    def no_teacher(*args, **kwargs):
        raise AssertionError("the teacher ran although every output is cached")

    monkeypatch.setattr(TeacherEnsemble, "run", no_teacher)
    assert main(args) == 0
    assert (tmp_path / "kd" / "last.pt").exists()
    with open(tmp_path / "kd" / "train.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and {"kd", "cwd", "pairwise"} <= set(rows[0]) and "kd_boundary" not in rows[0]
    assert float(rows[0]["total"]) > float(rows[0]["final"])


def test_cache_only_needs_a_distill_section(capsys):
    assert main(["train", "--config", "configs/train/smoke.yaml", "--cache-only"]) == 2
    assert "no `distill:` section" in capsys.readouterr().err


def test_missing_teacher_fails_before_the_run_folder_is_written(tmp_path, tiny_overrides, capsys):
    assert main(_args(tmp_path, tmp_path / "none.pt", tiny_overrides, "name=bad")) == 1
    assert "checkpoint not found" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
