"""Mistakes that used to end in a Python traceback end in one line naming the file or key and the fix
(issue 13, tracebacks): a checkpoint of another class count, a text file as .pt, an output path that is a
file or a folder, a full disk while a checkpoint, report or bundle is written (the previous one
survives), out-of-range or NaN recipe values, a manifest with std 0 or a colour short, and binary,
deeply nested or alias-bomb YAML."""
from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest

import edge.io
from edge.bundle import MANIFEST_FILE, load_bundle
from edge.cli import main
from edge.errors import WriteError
from edge.schemas import get_schema
from training.checkpoint import load_checkpoint, save_checkpoint

SMOKE = Path(__file__).resolve().parents[2] / "configs/train/smoke.yaml"
FAST_DEPLOY = ["input_size=64", "validation_images=2", "calibration_images=2", "bench.runs=1", "bench.warmup=0",
               "bench.threads=1", "bench.e2e_size=[48,80]"]
EVAL = ["data.size=64", "data.synthetic_val=2", "data.workers=0"]


def test_a_checkpoint_of_another_class_count_is_named(tiny_lapa_checkpoint, tmp_path, error_line):
    payload = load_checkpoint(tiny_lapa_checkpoint)
    other = tmp_path / "other.pt"  # 11-class weights saved as a 19-class model: a mixed-up checkpoint
    save_checkpoint({**payload, "num_classes": 19, "schema": get_schema("celebamask_hq").to_dict()}, other)
    assert main(["evaluate", str(other), *EVAL]) == 1
    line = error_line()
    assert line.startswith(f"edgeparse: error: {other}: its weights do not fit 'ehanet_mbv2' with 19 classes (size "
                           f"mismatch for ")
    assert line.endswith("it was written for another model or class count: give the checkpoint its training run "
                         "wrote")


@pytest.mark.parametrize("command", ["evaluate {pt}", "deploy --target onnx --checkpoint {pt} --out {tmp}/out"])
def test_a_text_file_given_as_checkpoint(tmp_path, error_line, command):
    text = tmp_path / "notes.pt"
    text.write_text("these are my notes\n")
    assert main(command.format(pt=text, tmp=tmp_path).split()) == 1
    assert error_line() == (f"edgeparse: error: {text} is not a PyTorch checkpoint (it starts with b'thes', "
                                   f"not a zip archive); give a .pt written by edgeparse train")


def test_an_out_folder_that_is_a_file_is_refused(make_bundle, tmp_path, error_line):
    existing = tmp_path / "existing.txt"
    existing.write_text("keep me")
    photo = tmp_path / "a.png"
    photo.write_bytes(b"\x89PNG never read")
    expected = (f"edgeparse: error: --out {existing} cannot be a folder: it is an existing file; give a folder path "
                f"(it is created when missing)")
    assert main(["predict", str(make_bundle()), str(photo), "--out", str(existing), "--whole"]) == 2
    assert error_line() == expected
    assert main(["deploy", "--bench-only", "--out", str(existing)]) == 2
    assert error_line() == expected
    assert existing.read_text() == "keep me"


def test_a_json_path_that_is_a_folder_is_refused(tiny_lapa_checkpoint, tmp_path, error_line):
    assert main(["evaluate", str(tiny_lapa_checkpoint), *EVAL, "--json", str(tmp_path)]) == 2
    assert error_line() == f"edgeparse: error: --json {tmp_path} is a folder: give a file path to write"


@pytest.fixture
def disk_full(monkeypatch):
    """From now on every atomic write (edge.io) fails after 64 bytes with ENOSPC, as on a full disk."""
    real_open = open

    class FullDisk:
        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            if self.handle.tell() + len(data) > 64:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.handle.write(data)

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    monkeypatch.setattr(edge.io, "open", lambda *a, **k: FullDisk(real_open(*a, **k)), raising=False)


def test_a_full_disk_during_a_checkpoint_write_keeps_the_previous_checkpoint(tiny_lapa_checkpoint, disk_full):
    before = tiny_lapa_checkpoint.read_bytes()
    payload = load_checkpoint(tiny_lapa_checkpoint)
    # torch.save turns the failed write into "RuntimeError: unexpected pos"; the disk's own error comes out
    with pytest.raises(WriteError, match=rf"{tiny_lapa_checkpoint}: not written \(No space left on device\); its "
                                         r"previous version is unchanged; free space or fix the permissions"):
        save_checkpoint(payload, tiny_lapa_checkpoint)
    assert tiny_lapa_checkpoint.read_bytes() == before
    assert [p.name for p in tiny_lapa_checkpoint.parent.iterdir()] == [tiny_lapa_checkpoint.name]


def test_a_full_disk_during_a_report_write_is_one_line(make_bundle, tmp_path, capsys, request, error_line):
    bundle, report = make_bundle(), tmp_path / "report.json"
    assert main(["validate", str(bundle), "--json", str(report)]) == 0
    before = report.read_bytes()
    capsys.readouterr()
    request.getfixturevalue("disk_full")
    assert main(["validate", str(bundle), "--json", str(report)]) == 1
    assert error_line() == (f"edgeparse: error: {report}: not written (No space left on device); its previous "
                                   f"version is unchanged; free space or fix the permissions, then rerun")
    assert report.read_bytes() == before


def test_a_full_disk_during_a_bundle_write_keeps_the_previous_bundle(tiny_lapa_checkpoint, tmp_path, capsys,
                                                                     monkeypatch, error_line):
    out = tmp_path / "bundles"
    args = ["deploy", "--target", "onnx", "--checkpoint", str(tiny_lapa_checkpoint), "--out", str(out), *FAST_DEPLOY]
    assert main(args) == 0
    bundle = out / "ehanet_mbv2_onnx_fp32"
    before = (bundle / MANIFEST_FILE).read_bytes()
    capsys.readouterr()

    def full_disk(src, dst, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(shutil, "copyfile", full_disk)
    assert main(args) == 1
    line = error_line()
    assert line.startswith("edgeparse: error: ") and line.endswith(
        ": No space left on device; free space or fix the permissions, then rerun (files edgeparse writes "
        "atomically keep their previous version)")
    assert (bundle / MANIFEST_FILE).read_bytes() == before
    load_bundle(bundle)  # every checksum still matches


@pytest.mark.parametrize(("override", "message"), [
    ("train.batch_size=0", "train.batch_size: 0 is below the minimum 1; give a value >= 1"),
    ("optim.lr=.nan", "optim.lr: nan is not a finite number; give a number such as 0.001"),
    ("optim.lr=-0.1", "optim.lr: -0.1 must be above 0; give a larger value"),
    ("data.workers=-1", "data.workers: -1 is below the minimum 0; give a value >= 0"),
])
def test_out_of_range_recipe_values_are_named(tmp_path, error_line, override, message):
    assert main(["train", "--config", str(SMOKE), f"output_dir={tmp_path}", override]) == 2
    assert error_line() == f"edgeparse: error: {message}"
    assert not list(tmp_path.iterdir())


def _edit_manifest(bundle: Path, edit) -> None:
    manifest = json.loads((bundle / MANIFEST_FILE).read_text())
    edit(manifest)
    (bundle / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))


@pytest.mark.parametrize(("edit", "message"), [
    (lambda m: m["input"]["normalization"].update(std=[0.229, 0.0, 0.225]),
     "input.normalization.std[1]: 0.0 must be above 0; give a larger value"),
    (lambda m: m["schema"]["colors"].pop(),
     "label schema 'tiny': 5 colours for 6 classes; every class needs one colour of 3 values in 0..255"),
])
def test_validate_refuses_a_manifest_that_demo_could_not_run(make_bundle, tmp_path, error_line, edit, message):
    bundle = make_bundle()
    _edit_manifest(bundle, edit)
    frames = tmp_path / "frames"
    frames.mkdir()
    for command in (["validate", str(bundle)], ["demo", str(bundle), str(frames), "--out", str(tmp_path / "o.mp4")]):
        assert main(command) == 1
        assert error_line().startswith(f"edgeparse: error: {bundle / MANIFEST_FILE}: malformed manifest: "
                                              f"{message}; rebuild the bundle")


@pytest.mark.parametrize(("content", "message"), [
    (bytes(range(256)), "not a YAML text file (byte 128 is not UTF-8); give a recipe YAML"),
    (b"name: \x00x\n", "not valid YAML: unacceptable character #x0000"),
    (b"train: " + b"[" * 10_000 + b"]" * 10_000, "nested more than 64 levels deep"),
    (("name: [&a [lol, lol, lol, lol, lol, lol, lol, lol, lol], "
      + ", ".join(f"&{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")) + "]\n").encode(),
     "expands to more than 100,000 values once its aliases are followed (an alias bomb?)"),
])
def test_binary_deep_or_alias_bomb_yaml_is_one_line(tmp_path, error_line, content, message):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_bytes(content)
    assert main(["train", "--config", str(recipe)]) == 2
    line = error_line()
    assert line.startswith(f"edgeparse: error: {recipe}: {message}")


def test_a_deeply_nested_override_is_one_line(error_line):
    assert main(["train", "--config", str(SMOKE), "train.epochs=" + "[" * 5000]) == 2
    assert error_line() == ("edgeparse: error: override train.epochs: nested more than 64 levels deep; a "
                                   "recipe is a few levels of keys")
