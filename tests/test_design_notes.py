"""Design citations resolve: comments cite docs/design.md sections that exist, never documents
the repository does not hold (the pre-code briefs, which it summarises)."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DESIGN = REPO / "docs" / "design.md"
SCANNED = ("edge", "training", "quantize", "targets", "scripts", "configs", "tests", "docs")
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".sh", ".txt"}
# Built from parts so that this file does not match itself.
OUTSIDE_DOCS = re.compile("SPEC" + r"(\s*§|'s\b)|" + "TOOL" + "CHAIN")
CITATION = re.compile(r"design\.md#([\w-]+)")


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", markdown, re.MULTILINE)}


def text_files() -> list[Path]:
    files = [REPO / "README.md", REPO / "Makefile", REPO / "pyproject.toml"]
    for folder in SCANNED:
        files += [p for p in (REPO / folder).rglob("*") if p.suffix in SUFFIXES and p.is_file()]
    return sorted(set(files))


def test_slugs_follow_github() -> None:
    assert slug("Where the sources disagree") == "where-the-sources-disagree"
    assert slug("CelebAMask-HQ") == "celebamask-hq" and slug("FP32 ONNX") == "fp32-onnx"


def test_nothing_cites_documents_the_repo_does_not_have() -> None:
    files = text_files()
    assert len(files) > 200
    found = [f"{path.relative_to(REPO)}:{n}" for path in files
             for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1) if OUTSIDE_DOCS.search(line)]
    assert found == [], "cite docs/design.md#<section> instead"


def test_every_cited_design_section_exists() -> None:
    known = anchors(DESIGN.read_text())
    cited = {(str(path.relative_to(REPO)), anchor) for path in text_files()
             for anchor in CITATION.findall(path.read_text(errors="replace"))}
    cited |= {("docs/design.md", a) for a in re.findall(r"\]\(#([\w-]+)\)", DESIGN.read_text())}
    assert len(cited) > 50
    assert sorted((where, a) for where, a in cited if a not in known) == []
