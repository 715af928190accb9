"""The layers: each package imports only the ones below it (edge at the bottom).

    targets   (lowering, deploy)        may import quantize, training, edge
    quantize  (PT2E, QDQ export)        may import training, edge
    training  (models, data, trainer)   may import edge
    edge      (the device side)         imports none of them

So the device needs only edge/ (no torch, no build-side code), and a build-side change cannot break
what runs on the device. The one exception is documented in edge/cli.py: the command table names
build-side command modules as strings and imports one only when that command runs.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "edge": {"training", "quantize", "targets"},
    "training": {"quantize", "targets"},
    "quantize": {"targets"},
}


def imported_packages(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in ``source``, wherever it stands (functions,
    ``TYPE_CHECKING`` blocks included: a lazy import is still a dependency)."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_nothing_above_it(package: str) -> None:
    files = sorted((REPO / package).rglob("*.py"))
    assert files
    violations = [f"{path.relative_to(REPO)}:{line} imports {imported}"
                  for path in files for line, imported in imported_packages(path.read_text(), str(path))
                  if imported in FORBIDDEN[package]]
    assert violations == []


def test_the_cli_exception_only_names_command_modules() -> None:
    """edge/cli.py reaches the build side through strings (imported when that command runs), never an import."""
    source = (REPO / "edge" / "cli.py").read_text()
    assert not [p for _, p in imported_packages(source) if p in FORBIDDEN["edge"]]
    named = [node.value for node in ast.walk(ast.parse(source))
             if isinstance(node, ast.Constant) and isinstance(node.value, str)
             and node.value.split(".")[0] in FORBIDDEN["edge"] and "." in node.value]
    assert named and all(name.rsplit(".", 1)[-1].endswith("_cmd") for name in named), named


def test_the_scan_sees_lazy_and_type_checking_imports() -> None:
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from targets.base import X\n"
              "def f():\n    import quantize.graph\n    from . import sibling\n")
    assert imported_packages(source) == [(1, "typing"), (3, "targets"), (5, "quantize")]
