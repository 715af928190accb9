"""edge/ must never import torch, even indirectly: every module, `edgeparse --help` (which
imports every command module) and real validate/bench runs work with torch blocked
(the blocker is the suite's ``run_without_torch`` fixture)."""
from __future__ import annotations

import pytest

IMPORT_ALL_AND_RUN = """
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
"""


def test_the_blocker_really_blocks_torch(run_without_torch):
    proc = run_without_torch("import torch")
    assert proc.returncode != 0 and "torch is blocked" in proc.stderr


def test_edge_modules_cli_and_runtime_work_without_torch(run_without_torch, make_bundle, tiny):
    pytest.importorskip("openvino")
    bundles = [make_bundle(), make_bundle(backend="openvino", target="cpu", inference_precision="f32")]
    proc = run_without_torch(IMPORT_ALL_AND_RUN, *map(str, bundles))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "OK " in proc.stdout and "parity PASSED" in proc.stdout
