"""The documentation names only tests that exist, so a renamed or deleted test cannot leave a claim unbacked."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
# "tests/test_x.py::test_name", and the "::test_other" that may follow it in the same sentence.
REFERENCE = re.compile(r"(tests/[\w/]+\.py)(?:::(\w+))?|::(test_\w+)")
# Its tests are Starlette's own, fetched when it runs: their names are not in the file.
STARLETTE_SUITE = "tests/test_starlette_suite.py"


def references(document: Path) -> list[tuple[str, str | None]]:
    """The (test file, test name) pairs a document names; a bare ``::name`` belongs to the file named before it."""
    found: list[tuple[str, str | None]] = []
    current = ""
    for match in REFERENCE.finditer(document.read_text()):
        path, name, continued = match.groups()
        if path:
            current = path
            found.append((path, name))
        elif current:
            found.append((current, continued))
    return found


def functions_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_test_a_document_names_exists(document: Path) -> None:
    missing = []
    for path, name in references(document):
        file = ROOT / path
        if not file.exists() or (name is not None and path != STARLETTE_SUITE and name not in functions_in(file)):
            missing.append(f"{path}::{name}" if name else path)
    assert missing == [], "\n".join(missing)
