"""edge/ must never import torch, even indirectly: every module, `edgeparse --help` (which
imports every command module) and real validate/bench runs work with torch blocked."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

BLOCK_TORCH = textwrap.dedent("""
    import importlib.abc, sys

    class BlockTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError(f"torch is blocked on the device side (import of {name!r})")

    sys.meta_path.insert(0, BlockTorch())
""")

IMPORT_ALL_AND_RUN = BLOCK_TORCH + textwrap.dedent("""
    import importlib, pkgutil
    import edge
    from edge.cli import main

    modules = [m.name for m in pkgutil.walk_packages(edge.__path__, "edge.")]
    for name in modules:
        importlib.import_module(name)
    try:
        main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0, f"edgeparse --help exited {exc.code}"
    for bundle in sys.argv[1:]:
        assert main(["validate", bundle]) == 0
        assert main(["bench", bundle, "--runs", "3", "--warmup", "1", "--threads", "1"]) == 0
    assert "torch" not in sys.modules
    print(f"OK {len(modules)} modules")
""")


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_blocker_really_blocks_torch():
    proc = _run(BLOCK_TORCH + "import torch")
    assert proc.returncode != 0 and "torch is blocked" in proc.stderr


def test_edge_modules_cli_and_runtime_work_without_torch(make_bundle, tiny):
    pytest.importorskip("openvino")
    bundles = [make_bundle(), make_bundle(backend="openvino", target="cpu")]
    proc = _run(IMPORT_ALL_AND_RUN, *map(str, bundles))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "OK " in proc.stdout and "parity PASSED" in proc.stdout
