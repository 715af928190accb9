"""The device side runs on JetPack 6's Python 3.10: edge/ (which holds everything the device runs,
`edgeparse build-engine` included) uses no syntax and no standard-library name that is newer.

No Python 3.10 is installed here, so the check is static: ``ast.parse(feature_version=(3, 10))`` rejects
newer syntax (``except*``, type parameters), and a deny-list names the 3.11+ standard-library names a
3.10 interpreter lacks. Code under ``if TYPE_CHECKING:`` is exempt (with postponed annotations it never
runs). ruff lints the same files as py310 (``per-file-target-version`` in pyproject.toml).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MIN_VERSION = (3, 10)

NEW_NAMES: dict[str, frozenset[str]] = {  # module -> names added in Python 3.11 or later
    "datetime": frozenset({"UTC"}),
    "typing": frozenset({"Self", "Never", "LiteralString", "assert_never", "assert_type", "reveal_type",
                         "Required", "NotRequired", "Unpack", "TypeVarTuple", "dataclass_transform",
                         "get_overloads", "clear_overloads", "override", "TypeAliasType"}),
    "enum": frozenset({"StrEnum", "ReprEnum", "EnumCheck", "FlagBoundary", "verify", "member", "nonmember",
                       "global_enum"}),
    "asyncio": frozenset({"TaskGroup", "timeout", "timeout_at", "Runner", "Barrier"}),
    "contextlib": frozenset({"chdir"}),
    "hashlib": frozenset({"file_digest"}),
    "itertools": frozenset({"batched"}),
    "operator": frozenset({"call"}),
    "math": frozenset({"cbrt", "exp2"}),
    "logging": frozenset({"getLevelNamesMapping"}),
}
NEW_MODULES = frozenset({"tomllib", "wsgiref.types"})
NEW_BUILTINS = frozenset({"ExceptionGroup", "BaseExceptionGroup"})
NEW_METHODS = frozenset({"add_note"})  # BaseException.add_note


def device_files() -> list[Path]:
    return sorted((REPO / "edge").rglob("*.py"))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _NewerThan310(ast.NodeVisitor):
    def __init__(self) -> None:
        self.findings: list[str] = []
        self.aliases: dict[str, str] = {}  # local name -> module, from `import datetime as dt`

    def _flag(self, node: ast.AST, what: str) -> None:
        self.findings.append(f"line {node.lineno}: {what}")

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.aliases[alias.asname or alias.name] = alias.name
            if alias.name in NEW_MODULES:
                self._flag(node, f"import {alias.name} (Python >= 3.11)")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module in NEW_MODULES:
            self._flag(node, f"from {node.module} import ... (Python >= 3.11)")
        for alias in node.names:
            if alias.name in NEW_NAMES.get(node.module or "", ()):
                self._flag(node, f"from {node.module} import {alias.name} (Python >= 3.11)")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name):
            module = self.aliases.get(node.value.id, node.value.id)
            if node.attr in NEW_NAMES.get(module, ()):
                self._flag(node, f"{module}.{node.attr} (Python >= 3.11)")
        if node.attr in NEW_METHODS:
            self._flag(node, f".{node.attr}() (Python >= 3.11)")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in NEW_BUILTINS:
            self._flag(node, f"{node.id} (Python >= 3.11)")


def newer_than_310(source: str, name: str = "<source>") -> list[str]:
    """What in ``source`` a Python 3.10 interpreter cannot run."""
    try:
        tree = ast.parse(source, name, feature_version=MIN_VERSION)
    except SyntaxError as exc:
        return [f"line {exc.lineno}: syntax newer than Python 3.10: {exc.msg}"]
    checker = _NewerThan310()
    checker.visit(tree)
    return checker.findings


@pytest.mark.parametrize("source", [
    "from datetime import UTC, datetime\n",
    "import datetime\nstamp = datetime.datetime.now(datetime.UTC)\n",
    "import datetime as dt\nzone = dt.UTC\n",
    "from typing import Self\n",
    "import tomllib\n",
    "try:\n    pass\nexcept* ValueError:\n    pass\n",
    "raise ExceptionGroup('x', [ValueError()])\n",
    "import asyncio\nasync def f():\n    async with asyncio.TaskGroup():\n        pass\n",
    "from enum import StrEnum\n",
    "err = ValueError()\nerr.add_note('context')\n",
    "def first[T](items: list[T]) -> T:\n    return items[0]\n",
])
def test_the_check_flags_what_python_310_lacks(source):
    assert newer_than_310(source)


def test_the_check_exempts_type_checking_blocks_and_310_code():
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from typing import Self\n"
              "from datetime import datetime, timezone\nstamp = datetime.now(timezone.utc)\n"
              "match stamp:\n    case _:\n        pass\n")
    assert newer_than_310(source) == []


def test_device_side_modules_run_on_python_310():
    files = device_files()
    assert len(files) > 20 and all(f.is_file() for f in files)
    findings = {str(f.relative_to(REPO)): found for f in files if (found := newer_than_310(f.read_text(), str(f)))}
    assert findings == {}


LIST_PROJECT_MODULES = """
import importlib, pkgutil
import edge

for module in pkgutil.walk_packages(edge.__path__, "edge."):
    importlib.import_module(module.name)
print("\\n".join(sorted(m for m in sys.modules if m.split(".")[0] in ("targets", "quantize", "training"))))
"""


def test_the_checked_files_are_all_the_device_side_imports(run_without_torch):
    """Importing every edge module (the device side) imports no project module outside edge/."""
    proc = run_without_torch(LIST_PROJECT_MODULES)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == []
