"""Suite-wide settings.

One OpenMP thread per process: tests are tiny, and several torch processes (torchrun tests,
data workers) sharing 2 cores with busy-waiting OpenMP pools run 5-50x slower.
"""
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

# No network in tests: edgeparse opts out of OpenVINO's/NNCF's telemetry before it imports them, and some
# tests import openvino themselves, so opt out for the whole session before any of them runs (after
# OMP_NUM_THREADS: this imports numpy).
from edge.backends import opt_out_of_telemetry

opt_out_of_telemetry()

REPO = Path(__file__).resolve().parents[1]

# Prepended to a snippet: any import of torch (direct or from a dependency) raises ImportError.
BLOCK_TORCH = textwrap.dedent("""
    import importlib.abc, sys

    class BlockTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError(f"torch is blocked on the device side (import of {name!r})")

    sys.meta_path.insert(0, BlockTorch())
""")


@pytest.fixture(scope="session")
def run_without_torch() -> Callable[..., subprocess.CompletedProcess]:
    """``run(code, *argv)``: the Python snippet in a fresh interpreter at the repo root, torch blocked."""
    def run(code: str, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", BLOCK_TORCH + textwrap.dedent(code), *argv], cwd=REPO,
                              capture_output=True, text=True, timeout=timeout, check=False)
    return run


@pytest.fixture
def tiny_lapa_checkpoint(tmp_path: Path) -> Path:
    """An untrained EHANet-MBV2 checkpoint whose recipe is 2 synthetic LaPa val faces at 64²."""
    import torch

    from edge.config import to_dict
    from edge.schemas import get_schema
    from training.checkpoint import save_checkpoint
    from training.config import load_recipe
    from training.models import create_model

    torch.manual_seed(0)
    schema = get_schema("lapa")
    recipe = load_recipe(None, ["model.name=ehanet_mbv2", "model.overrides={}", "data.size=64",
                                "data.synthetic_val=2", "data.workers=0", "train.batch_size=2"])
    path = tmp_path / "student.pt"
    save_checkpoint({"model_name": "ehanet_mbv2", "model_overrides": {}, "num_classes": schema.num_classes,
                     "schema": schema.to_dict(), "config": to_dict(recipe),
                     "state_dict": create_model("ehanet_mbv2", num_classes=schema.num_classes).state_dict()}, path)
    return path
