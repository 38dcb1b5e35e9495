"""The package's layout holds: a core that knows no framework or SDK, and small modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "starlette_dynamo_session"
FOREIGN = {"starlette", "botocore", "boto3", "aiohttp", "mypy_boto3_dynamodb"}
MODULES = sorted(PACKAGE.rglob("*.py"))


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def package_imports(path: Path) -> set[str]:
    return {
        node.module
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("starlette_dynamo_session.")
    }


@pytest.mark.parametrize("path", sorted(PACKAGE.joinpath("_core").glob("*.py")), ids=lambda path: path.name)
def test_the_core_imports_no_web_framework_and_no_aws_sdk(path: Path) -> None:
    assert imported_roots(path) & FOREIGN == set()


@pytest.mark.parametrize("path", sorted(PACKAGE.joinpath("_core").glob("*.py")), ids=lambda path: path.name)
def test_the_core_imports_only_the_core(path: Path) -> None:
    outside = {module for module in package_imports(path) if not module.startswith("starlette_dynamo_session._core")}
    assert outside == set()


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_module_is_longer_than_320_lines(path: Path) -> None:
    assert path.read_text().count("\n") <= 320


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_class_is_longer_than_250_lines(path: Path) -> None:
    lengths = {
        node.name: (node.end_lineno or node.lineno) - node.lineno + 1
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
    }
    assert {name: length for name, length in lengths.items() if length > 250} == {}
