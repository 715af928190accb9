"""An interrupted or concurrent ``edgeparse deploy`` never costs the previous bundle (issue 13, data loss).

Each case runs the real thing on a 64² untrained student with two validation images: a deploy killed
(SIGKILL) or interrupted (SIGINT) while its new bundle is being checked, a second deploy into a folder in
use, a crash between the two renames of the swap, and the leftovers of an older edgeparse.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.bundle import MANIFEST_FILE, load_bundle
from edge.cli import main
from edge.io import TEMP_MARK, clean_leftovers, previous_path_for, replace_dir
from targets.pipeline import locked_out_dir

REPO = Path(__file__).resolve().parents[2]
FAST = ["input_size=64", "validation_images=2", "calibration_images=2", "bench.runs=1", "bench.warmup=0",
        "bench.threads=1", "bench.e2e_size=[48,80]"]
BUNDLE = "ehanet_mbv2_onnx_fp32"
# `edgeparse ARGS` with Ctrl-C raising KeyboardInterrupt even where the test runs as a background job of a
# shell (which starts it ignoring SIGINT, and Python then installs no handler)
CLI_WITH_CTRL_C = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                   "from edge.cli import main; sys.exit(main(sys.argv[1:]))")


def _deploy_args(checkpoint: Path, out: Path) -> list[str]:
    return ["deploy", "--target", "onnx", "--checkpoint", str(checkpoint), "--out", str(out), *FAST]


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if TEMP_MARK in p.name)


def _bundle_still_good(out: Path) -> None:
    """The previous bundle loads (every checksum) and passes its own parity check."""
    bundle = load_bundle(out / BUNDLE)
    assert bundle.parity is not None and bundle.parity.verdict == "passed"
    assert main(["validate", str(out / BUNDLE), "--strict"]) == 0


def _interrupt_while_staging(checkpoint: Path, out: Path, sig: signal.Signals) -> subprocess.CompletedProcess:
    """Start a deploy in a subprocess and send ``sig`` once its new bundle exists only in staging."""
    process = subprocess.Popen([sys.executable, "-c", CLI_WITH_CTRL_C, *_deploy_args(checkpoint, out)], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 1800  # generous: a loaded 2-core machine runs this 64² deploy for minutes
    staged = []
    while process.poll() is None and not staged and time.monotonic() < deadline:
        staged = list(out.glob(f".{BUNDLE}.*{TEMP_MARK}"))
        time.sleep(0.01)
    if not staged:
        process.kill()
        pytest.fail(f"the deploy never staged a bundle; it printed:\n{process.communicate()[0]}")
    process.send_signal(sig)
    output = process.communicate(timeout=120)[0]
    return subprocess.CompletedProcess(process.args, process.returncode, output)


@pytest.fixture
def deployed(tiny_lapa_checkpoint: Path, tmp_path: Path) -> Path:
    out = tmp_path / "bundles"
    assert main(_deploy_args(tiny_lapa_checkpoint, out)) == 0
    return out


def test_a_deploy_killed_mid_way_keeps_the_previous_bundle_and_the_next_deploy_cleans_up(deployed,
                                                                                         tiny_lapa_checkpoint):
    before = (deployed / BUNDLE / MANIFEST_FILE).read_bytes()
    killed = _interrupt_while_staging(tiny_lapa_checkpoint, deployed, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert (deployed / BUNDLE / MANIFEST_FILE).read_bytes() == before
    _bundle_still_good(deployed)
    assert _leftovers(deployed), "a SIGKILL leaves the staging and work folders (nothing can remove them)"

    assert main(_deploy_args(tiny_lapa_checkpoint, deployed)) == 0  # not blocked by them: removed
    assert _leftovers(deployed) == [] and not list(deployed.glob(".deploy-work-*"))
    _bundle_still_good(deployed)


def test_ctrl_c_mid_deploy_keeps_the_previous_bundle_and_leaves_nothing_behind(deployed, tiny_lapa_checkpoint):
    before = (deployed / BUNDLE / MANIFEST_FILE).read_bytes()
    interrupted = _interrupt_while_staging(tiny_lapa_checkpoint, deployed, signal.SIGINT)
    assert interrupted.returncode == 130, interrupted.stdout
    assert "edgeparse: interrupted" in interrupted.stdout
    assert (deployed / BUNDLE / MANIFEST_FILE).read_bytes() == before
    assert _leftovers(deployed) == []
    _bundle_still_good(deployed)


def test_a_second_deploy_into_a_folder_in_use_is_refused_naming_the_first(tmp_path, tiny_lapa_checkpoint, capsys):
    out = tmp_path / "bundles"
    with locked_out_dir(out, "edgeparse deploy --target cpu"):
        assert main(_deploy_args(tiny_lapa_checkpoint, out)) == 1
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0
    assert f"{out} is in use by pid {os.getpid()} (edgeparse deploy --target cpu, since " in error
    assert "wait for it to finish, or give this run another --out" in error
    assert not (out / BUNDLE).exists()


def test_a_crash_between_the_two_renames_of_the_swap_is_undone_by_the_next_run(tmp_path):
    final, staged = tmp_path / "bundle", tmp_path / f".bundle.new{TEMP_MARK}"
    final.mkdir()
    (final / "model.onnx").write_text("old")
    staged.mkdir()
    (staged / "model.onnx").write_text("new")
    os.replace(final, previous_path_for(final))  # the first rename happened, then the process died

    actions = clean_leftovers(tmp_path)
    assert (final / "model.onnx").read_text() == "old"  # restored, and the unfinished new one removed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
    assert [a.split(" (")[0] for a in actions] == [f"removed {staged}", f"restored {final}"]

    staged.mkdir()
    (staged / "model.onnx").write_text("new")
    replace_dir(staged, final)
    assert (final / "model.onnx").read_text() == "new" and sorted(os.listdir(tmp_path)) == ["bundle"]


def test_the_half_written_bundle_and_work_folder_of_an_older_edgeparse_do_not_block_a_deploy(
        tmp_path, tiny_lapa_checkpoint):
    """Before the staging folders, a killed deploy left a bundle folder without manifest and a work folder."""
    out = tmp_path / "bundles"
    (out / BUNDLE).mkdir(parents=True)
    (out / BUNDLE / "validation.npz").write_bytes(b"half")
    (out / BUNDLE / "manifest.json.tmp").write_text("{")
    (out / ".deploy-work-gt6lepci").mkdir()
    assert main(_deploy_args(tiny_lapa_checkpoint, out)) == 0
    assert not (out / ".deploy-work-gt6lepci").exists()
    _bundle_still_good(out)


def test_a_folder_that_is_not_a_bundle_is_never_replaced(tmp_path, tiny_lapa_checkpoint, capsys):
    out = tmp_path / "bundles"
    (out / BUNDLE).mkdir(parents=True)
    (out / BUNDLE / "notes.txt").write_text("mine")
    assert main(_deploy_args(tiny_lapa_checkpoint, out)) == 1
    assert f"{out / BUNDLE} exists and is not a deploy bundle (it holds notes.txt)" in capsys.readouterr().out
    assert (out / BUNDLE / "notes.txt").read_text() == "mine"
