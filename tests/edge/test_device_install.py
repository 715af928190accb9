"""The device install: `pip install .[edge]` into a fresh venv, from the repository's tracked files and
the pinned versions of requirements/lock.txt, has no torch and runs predict, validate, bench and demo.

Slow (a venv and about 300 MB of wheels, from the package index pip is configured with; 8 to over 15
minutes on this 2-core machine while other jobs ran, most of it unpacking): `make test-all`, and a step
of .ci/run."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
DEVICE_COMMANDS = ("predict", "validate", "bench", "demo")
INSTALL_TIMEOUT_S = 2400


def _own_files(dest: Path) -> Path:
    """A copy of the repository's own files, tracked or new but not ignored (what a clone of the work
    tree would hold: no .venv, runs or bundles); the build then writes nothing into the checkout."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout to know the repository's own files")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if source.is_file():  # a tracked file deleted in the work tree is not part of it
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def _run(*command: str | Path, cwd: Path | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in command], check=False, capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, command))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def device_venv(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("device_install")
    source = _own_files(root / "edgeparse")
    venv = root / "venv"
    _run(sys.executable, "-m", "venv", venv)
    _run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", "-c", REPO / "requirements" / "lock.txt",
         f"{source}[edge]", timeout=INSTALL_TIMEOUT_S)
    return venv


@pytest.mark.slow
def test_the_edge_extra_has_no_torch_and_every_device_command_starts(device_venv):
    python = device_venv / "bin" / "python"
    probe = subprocess.run([python, "-c", "import torch"], check=False, capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'torch'" in probe.stderr
    assert "device:" in _run(device_venv / "bin" / "edgeparse", "--help").stdout
    for command in DEVICE_COMMANDS:
        assert "usage: edgeparse " + command in _run(device_venv / "bin" / "edgeparse", command, "--help").stdout


@pytest.mark.slow
def test_the_device_install_parses_validates_benches_and_plays_a_tiny_bundle(device_venv, make_bundle, tiny,
                                                                               tmp_path):
    edgeparse = device_venv / "bin" / "edgeparse"
    bundle = make_bundle()
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(tiny.images[0]).save(photos / "a.png")
    out = tmp_path / "parsed"
    _run(edgeparse, "predict", bundle, photos, "--out", out, "--whole", "--json")
    labels = np.asarray(Image.open(out / "a_labels.png"))
    assert labels.shape == (tiny.size, tiny.size) and labels.max() < tiny.num_classes
    assert (out / "a_overlay.png").is_file() and (out / "a.json").is_file()
    assert "parity PASSED" in _run(edgeparse, "validate", bundle, "--threads", "1").stdout
    assert "throughput" in _run(edgeparse, "bench", bundle, "--runs", "3", "--warmup", "1", "--threads", "1").stdout
    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for image in tiny.images:
        writer.write(cv2.resize(image, (64, 48)))
    writer.release()
    shown = _run(edgeparse, "demo", bundle, clip, "--out", tmp_path / "demo.mp4", "model_runs=2").stdout
    assert "end-to-end" in shown and (tmp_path / "demo.mp4").stat().st_size > 0
