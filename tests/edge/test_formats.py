"""One vocabulary: targets, precisions and backends are declared once, by the rows of edge.formats.FORMATS.

Every other list of those names is derived from the table; a list of them written out anywhere else
in the product code is a second declaration that a new row would not update, and fails here.
"""
from __future__ import annotations

import ast
import typing
from pathlib import Path

from edge.bundle import Manifest
from edge.formats import (
    BACKEND_NAMES,
    EXACT_QDQ,
    FORMATS,
    INFERENCE_PRECISIONS,
    PRECISIONS,
    QDQ_LINTED_FAMILIES,
    QUANTIZER_FAMILIES,
    TARGETS,
    quantizer_family,
)

REPO = Path(__file__).resolve().parents[2]
# The packages. scripts/ are measurement programs whose own tables key kernels and runs by arithmetic
# (f32, bf16, int8 kernels), which is not the deploy vocabulary.
PRODUCT = ("edge", "training", "quantize", "targets")
# Collections of these names that bind them to something else than the table can, each with its reason.
BINDINGS = {
    "edge/backends/__init__.py": "the runner registry: backend name -> runner class (pinned in tests/targets)",
    "targets/__init__.py": "target name -> lowering module (pinned in tests/targets/test_formats.py)",
    "targets/base.py": "pip distribution names recorded in manifests, not backends",
    "quantize/config.py": "the runners that can score a QDQ ONNX, a choice among the registered ones",
}


def test_the_names_are_the_tables_in_table_order() -> None:
    assert TARGETS == ("onnx", "cpu", "mobile", "jetson")
    assert PRECISIONS == ("fp32", "fp16", "bf16", "int8")
    assert BACKEND_NAMES == ("onnxruntime", "openvino", "litert", "tensorrt")
    assert INFERENCE_PRECISIONS == ("f32", "bf16")
    assert len({(f.target, f.precision) for f in FORMATS}) == len(FORMATS)  # one row per (target, precision)


def test_the_manifest_checks_against_the_table() -> None:
    hints = typing.get_type_hints(Manifest)
    assert typing.get_args(hints["target"]) == TARGETS
    assert typing.get_args(hints["precision"]) == PRECISIONS
    assert typing.get_args(hints["backend"]) == BACKEND_NAMES


def test_quantizer_families_are_the_int8_rows_backends() -> None:
    assert {t: quantizer_family(t) for t in TARGETS} == {"onnx": None, "cpu": "openvino", "mobile": "litert",
                                                          "jetson": "tensorrt"}
    assert set(QUANTIZER_FAMILIES) == {"openvino", "litert", "tensorrt"}
    assert QDQ_LINTED_FAMILIES == ("openvino", "tensorrt")  # LiteRT lowers from the torch graph
    assert EXACT_QDQ in {f.host_check for f in FORMATS}


def _declarations(path: Path, names: set[str]) -> list[str]:
    """Literal tuples/lists/sets/dict keys in ``path`` holding two or more of ``names``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items = node.elts
        elif isinstance(node, ast.Dict):
            items = [k for k in node.keys if k is not None]
        else:
            continue
        hits = [e.value for e in items if isinstance(e, ast.Constant) and e.value in names]
        if len(hits) >= 2:
            found.append(f"{path.name}:{node.lineno} {hits}")
    return found


def test_no_product_file_declares_the_names_again() -> None:
    names = {*TARGETS, *PRECISIONS, *BACKEND_NAMES, EXACT_QDQ}
    files = [p for pkg in PRODUCT for p in sorted((REPO / pkg).rglob("*.py"))
             if p.relative_to(REPO).as_posix() not in {"edge/formats.py", *BINDINGS}]
    assert len(files) > 100
    found = [d for p in files for d in _declarations(p, names)]
    assert found == [], "declare these names once, in edge/formats.py, and derive them from there"


def test_the_scan_catches_a_second_declaration(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text('KINDS = ("fp32", "int8")\nBACKEND = {"openvino": 1, "litert": 2}\nONE = ("fp32",)\n')
    assert _declarations(sample, set(PRECISIONS) | set(BACKEND_NAMES)) == [
        "x.py:1 ['fp32', 'int8']", "x.py:2 ['openvino', 'litert']"]
