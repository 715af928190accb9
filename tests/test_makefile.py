"""Generated files stay untracked: what `make demo` writes is under runs/; only `make readme-strip`
writes the README's tracked picture."""
from __future__ import annotations

import re
from pathlib import Path

MAKEFILE = Path(__file__).resolve().parents[1] / "Makefile"
WRITES = re.compile(r"--(?:out|strip|json)\s+(\S+)")


def recipe(target: str) -> str:
    """The recipe lines of ``target``, continuation lines joined, Makefile ``?=`` variables expanded."""
    text = MAKEFILE.read_text().replace("\\\n", " ")
    variables = dict(re.findall(r"^(\w+) \?= (\S+)$", text, re.MULTILINE))
    body = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", text, re.MULTILINE)
    assert body, f"no target {target!r} in the Makefile"
    return re.sub(r"\$\((\w+)\)", lambda m: variables.get(m.group(1), m.group(0)), body.group(1))


def test_make_demo_writes_only_under_runs() -> None:
    written = WRITES.findall(recipe("demo"))
    assert len(written) == 4 and all(path.startswith("runs/") for path in written), written


def test_readme_strip_is_the_one_target_that_rewrites_the_readme_picture() -> None:
    assert "docs/demo_strip.png" in recipe("readme-strip")
    others = re.sub(r"^readme-strip:.*\n(\t.*\n)+", "", MAKEFILE.read_text(), flags=re.MULTILINE)
    commands = [line for line in others.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in commands if "docs/demo_strip.png" in line]
