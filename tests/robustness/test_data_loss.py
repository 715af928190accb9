"""Nothing a user already has is lost by a mistaken command (issue 13, data loss; deploys:
test_deploy_atomic.py): a demo whose output is its input, a resume with another recipe, repeated or
appended training logs. Each case checks the exit code, the one-line error and the files left intact."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge.cli import main
from edge.config import load_yaml
from training.config import load_recipe
from training.distributed import DistInfo
from training.trainer import Trainer

REPO = Path(__file__).resolve().parents[2]
TINY = ["model.name=ehanet_mbv2", "model.overrides={}", "data.size=64", "data.synthetic_train=8",
        "data.synthetic_val=2", "data.workers=0", "train.epochs=1", "train.batch_size=4",
        "train.checkpoint_interval=2", "train.log_interval=1", "optim.warmup_iters=1"]


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("spelling", ["same path", "relative path", "symlink", "hard link"])
def test_demo_refuses_an_output_that_is_its_input_video(tmp_path, monkeypatch, capsys, spelling):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"the only copy of the source video")
    monkeypatch.chdir(tmp_path)
    out = {"same path": video, "relative path": Path("sub/../clip.mp4"), "symlink": tmp_path / "link.mp4",
           "hard link": tmp_path / "hard.mp4"}[spelling]
    (tmp_path / "sub").mkdir()
    if spelling == "symlink":
        out.symlink_to(video)
    if spelling == "hard link":
        os.link(video, out)
    # refused before the bundle is even opened: no bundle is needed to show it
    assert main(["demo", str(tmp_path / "bundle"), str(video), "--out", str(out)]) == 2
    assert _error_line(capsys) == (f"edgeparse: error: --out {out} is the input video {video}: writing it would "
                                   f"destroy the input; choose another --out path")
    assert video.read_bytes() == b"the only copy of the source video"


def test_demo_refuses_a_strip_or_json_written_over_its_input(tmp_path, capsys):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"video")
    for flag in ("--strip", "--json"):
        elsewhere = ["--out", str(tmp_path / "annotated.mp4")] if flag == "--json" else []
        assert main(["demo", str(tmp_path / "bundle"), str(video), flag, str(video), *elsewhere]) == 2
        assert f"{flag} {video} is the input video" in _error_line(capsys)
    assert video.read_bytes() == b"video"


def _train(tmp_path: Path, *extra: str) -> int:
    return main(["train", "--config", str(REPO / "configs/train/smoke.yaml"), *TINY, f"output_dir={tmp_path}",
                 "name=run", *extra])


def test_resume_with_another_recipe_is_refused_naming_the_keys_unless_forced(tmp_path, capsys):
    assert _train(tmp_path) == 0
    run = tmp_path / "run"
    config, last = (run / "config.yaml").read_bytes(), (run / "last.pt").read_bytes()
    capsys.readouterr()

    assert _train(tmp_path, "--resume", "optim.lr=0.5", "train.epochs=2") == 2
    error = _error_line(capsys)
    assert error.startswith(f"edgeparse: error: {run} was started with another recipe (optim.lr: 0.002 -> 0.5; "
                            f"train.epochs: 1 -> 2; see {run / 'config.yaml'})")
    assert "pass --force to continue with this one" in error
    assert (run / "config.yaml").read_bytes() == config and (run / "last.pt").read_bytes() == last

    assert _train(tmp_path, "--resume", "--force", "optim.lr=0.5", "train.epochs=2") == 0
    assert load_yaml(run / "config.yaml")["optim"]["lr"] == 0.5
    [kept] = run.glob("config.before-*.yaml")
    assert kept.read_bytes() == config  # the recipe the run began with is kept, not overwritten


def _steps(csv_file: Path) -> list[int]:
    return [int(line.split(",")[0]) for line in csv_file.read_text().splitlines()[1:]]


def test_a_resumed_run_logs_each_step_once(tmp_path, monkeypatch):
    """Killed at iteration 3, one step after the checkpoint of iteration 2: the resumed run logs 3 again
    (and 4), so the interrupted run's row 3 must go."""
    recipe = load_recipe(None, [*TINY, "train.epochs=2", f"output_dir={tmp_path}", "name=cut"])
    original_step = Trainer._step
    calls = {"n": 0}

    def dies_at_iteration_4(self, batch):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return original_step(self, batch)

    monkeypatch.setattr(Trainer, "_step", dies_at_iteration_4)
    with pytest.raises(KeyboardInterrupt):
        Trainer(recipe, DistInfo()).fit()
    assert _steps(tmp_path / "cut" / "train.csv") == [1, 2, 3]
    monkeypatch.setattr(Trainer, "_step", original_step)
    Trainer(recipe, DistInfo(), resume=True).fit()
    assert _steps(tmp_path / "cut" / "train.csv") == [1, 2, 3, 4]
    assert _steps(tmp_path / "cut" / "val.csv") == [2, 4]


def test_force_starts_fresh_logs_and_checkpoints(tmp_path, capsys):
    assert _train(tmp_path) == 0
    assert _train(tmp_path, "--force") == 0
    assert _steps(tmp_path / "run" / "train.csv") == [1, 2]  # not [1, 2, 1, 2]
    assert _steps(tmp_path / "run" / "val.csv") == [2]
