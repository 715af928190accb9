"""``torchrun --nproc_per_node 2 -m edge.cli train`` with a distillation recipe on CPU (gloo): the multi-GPU command, at 64²."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow  # two processes each import torch and build student + teacher: ~20-40 s on 2 cores
def test_two_process_gloo_distillation_completes(tmp_path, make_teacher, tiny_overrides):
    teacher = make_teacher("ehanet_r18")
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "edge.cli", "train", "--config", "configs/distill/smoke_kd.yaml", *tiny_overrides,
        f"output_dir={tmp_path}", "name=ddp", f"distill.teachers=[{{checkpoint: '{teacher}'}}]",
        "train.batch_size=2", f"distill.cache_dir={tmp_path / 'cache'}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    payload = load_checkpoint(tmp_path / "ddp" / "last.pt")
    # 8 samples, 2 ranks x batch 2: two steps per epoch, each rank teaching from its own shard
    assert payload["progress"]["global_iter"] == 2
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 8
    assert "done: best miou" in result.stdout
