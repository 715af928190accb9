"""Commands that used to do nothing, or the wrong thing, and exit 0 now refuse in one line (issue 13, silent
no-ops and wrong answers): a negative epoch count, an empty val split, a data check of an empty split, a
bench-only deploy without bundles, a misspelt or absent evaluation split, a run name that leaves
output_dir, escape codes from a manifest, and temporary files a killed run left behind."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.bundle import MANIFEST_FILE
from edge.cli import main
from edge.io import TEMP_MARK
from training.config import load_recipe
from training.distributed import DistInfo
from training.trainer import Trainer

SMOKE = str(Path(__file__).resolve().parents[2] / "configs/train/smoke.yaml")
TINY = ["model.overrides={}", "data.size=64", "data.synthetic_train=4", "data.synthetic_val=2", "data.workers=0",
        "train.epochs=1", "train.batch_size=2"]
EVAL = ["data.size=64", "data.synthetic_val=2", "data.workers=0"]


def _folder_without_val(root: Path) -> Path:
    """An unsplit folder dataset whose three names all hash to train: its val split is empty."""
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    for name in ("a", "b", "c"):
        cv2.imwrite(str(root / "images" / f"{name}.png"), np.full((64, 64, 3), 90, np.uint8))
        cv2.imwrite(str(root / "masks" / f"{name}.png"), np.ones((64, 64), np.uint8))
    return root


def test_a_negative_epoch_count_is_refused(tmp_path, error_line):
    assert main(["train", "--config", SMOKE, *TINY, f"output_dir={tmp_path}", "train.epochs=-1"]) == 2
    assert error_line() == "edgeparse: error: train.epochs: -1 is below the minimum 1; give a value >= 1"
    assert not list(tmp_path.iterdir())


def test_training_with_an_empty_val_split_is_refused(tmp_path, error_line):
    data = _folder_without_val(tmp_path / "data")
    args = ["train", "--config", SMOKE, *TINY, f"output_dir={tmp_path / 'runs'}", "name=noval", "data.format=folder",
            f"data.root={data}", "data.schema=lapa"]
    assert main(args) == 1
    assert error_line().startswith(f"edgeparse: error: the val split of {data} (folder) has no samples; add "
                                          f"samples to it")
    assert not list((tmp_path / "runs/noval").glob("*.pt"))
    assert main(["train", "--config", SMOKE, *TINY, f"output_dir={tmp_path}", "data.synthetic_val=0"]) == 2
    assert error_line() == "edgeparse: error: data.synthetic_val: 0 is below the minimum 1; give a value >= 1"


def test_data_check_of_an_empty_split_fails(tmp_path, capsys):
    data = _folder_without_val(tmp_path / "data")
    assert main(["data", "check", "--data", f"folder:{data}", "--schema", "lapa"]) == 1
    out = capsys.readouterr().out
    assert "train: 3/3 samples read cleanly" in out
    assert "val: no samples (schema lapa)" in out and "1 problems found" in out


def test_bench_only_without_bundles_fails(tmp_path, error_line):
    assert main(["deploy", "--bench-only", "--target", "onnx", "--out", str(tmp_path)]) == 1
    assert error_line() == (f"edgeparse: error: --bench-only found no bundle in {tmp_path} for onnx fp32; "
                                   f"build them first with `edgeparse deploy --target onnx --out {tmp_path}`")
    assert not (tmp_path / "report.json").exists()


@pytest.mark.parametrize(("split", "message"), [
    ("trian", "unknown split 'trian'. Did you mean 'train'? Valid splits: train, val, test"),
    ("test", ("synthetic data has a train and a val split only (faces drawn from data.seed and data.seed + 1), no "
              "'test' split; score val, or a dataset on disk with data.format=... data.root=...")),
])
def test_evaluate_never_scores_another_split_than_asked(tiny_lapa_checkpoint, error_line, split, message):
    assert main(["evaluate", str(tiny_lapa_checkpoint), *EVAL, "--split", split]) == 2
    assert error_line() == f"edgeparse: error: {message}"


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/abs", "a/b", ".."])
def test_a_run_name_cannot_leave_output_dir(tmp_path, error_line, name):
    runs = tmp_path / "deep/er/runs"
    assert main(["train", "--config", SMOKE, *TINY, f"output_dir={runs}", f"name={name}"]) == 2
    assert error_line() == (f"edgeparse: error: name={name!r} must be one folder name inside {runs} (no '/', "
                                   f"'\\', '..' or control characters); to write elsewhere, set output_dir=FOLDER")
    assert not (tmp_path / "deep/escaped").exists() and not runs.exists()


def test_escape_codes_from_a_manifest_never_reach_the_terminal(make_bundle, capsys):
    bundle = make_bundle()
    manifest = json.loads((bundle / MANIFEST_FILE).read_text())
    manifest["schema"]["class_names"][1] = "\x1b[2J\x1b]0;owned\x07skin"  # clear screen, set window title
    (bundle / MANIFEST_FILE).write_text(json.dumps(manifest))
    assert main(["validate", str(bundle)]) == 1
    captured = capsys.readouterr()
    assert "\x1b" not in captured.out + captured.err and "\x07" not in captured.out + captured.err
    assert (f"{bundle / MANIFEST_FILE}: malformed manifest: manifest['schema']['class_names'][1] holds control "
            f"characters (\\x1b[2J\\x1b]0;owned\\x07skin)") in captured.err


def test_a_control_character_in_any_error_is_printed_escaped(make_bundle, tmp_path, error_line):
    odd = tmp_path / "\x1b]0;owned\x07.png"  # no '[': not read as a glob pattern
    assert main(["predict", str(make_bundle()), str(odd), "--out", str(tmp_path / "out")]) == 1
    assert error_line() == (f"edgeparse: error: input {tmp_path}/\\x1b]0;owned\\x07.png not found (give image or "
                                   f"video files, folders or glob patterns)")


def test_a_run_removes_the_temporary_files_a_killed_run_left(tmp_path):
    recipe = load_recipe(SMOKE, [*TINY, f"output_dir={tmp_path}", "name=run"])
    Trainer(recipe, DistInfo()).fit()
    run = tmp_path / "run"
    stale = [run / f".last.pt.0123456789ab{TEMP_MARK}", run / ".best.pt.tmp-999999999"]  # now and older edgeparse
    fresh = run / f".last.pt.fedcba987654{TEMP_MARK}"  # newer than this process: another one may be writing it
    for path in stale:
        path.write_bytes(b"half a checkpoint")
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    fresh.write_bytes(b"being written")
    Trainer(recipe, DistInfo(), resume=True)
    assert not any(path.exists() for path in stale)
    assert fresh.exists()
    assert {p.name for p in run.iterdir()} >= {"last.pt", "best.pt", "config.yaml"}
