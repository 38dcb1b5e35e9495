"""The package's layout holds: a core that knows no framework or SDK, and small modules."""

from __future__ import annotations

import ast
from pathlib import Path

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


CORE_PACKAGE = "starlette_dynamo_session._core"
CORE = sorted(PACKAGE.joinpath("_core").glob("*.py"))


def test_the_core_imports_no_web_framework_and_no_aws_sdk() -> None:
    assert {path.name: imported_roots(path) & FOREIGN for path in CORE if imported_roots(path) & FOREIGN} == {}


def test_the_core_imports_only_the_core() -> None:
    outside = {
        path.name: {
            module for module in package_imports(path) if not module.startswith("starlette_dynamo_session._core")
        }
        for path in CORE
    }
    assert {name: modules for name, modules in outside.items() if modules} == {}


def test_no_module_is_longer_than_320_lines() -> None:
    lengths = {str(path.relative_to(PACKAGE)): path.read_text().count("\n") for path in MODULES}
    assert {name: length for name, length in lengths.items() if length > 320} == {}


def test_no_class_is_longer_than_250_lines() -> None:
    lengths = {
        f"{path.relative_to(PACKAGE)}:{node.name}": (node.end_lineno or node.lineno) - node.lineno + 1
        for path in MODULES
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
    }
    assert {name: length for name, length in lengths.items() if length > 250} == {}
