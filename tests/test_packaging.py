"""What the sdist and the wheel ship: the license, and every docs/ page the README links to."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.support.processes import ROOT


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The sdist and the wheel, built from this checkout by pyproject.toml's build backend."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-d", str(out)], cwd=ROOT, check=True, capture_output=True
    )
    [sdist] = out.glob("*.tar.gz")
    [wheel] = out.glob("*.whl")
    return sdist, wheel


def sdist_files(sdist: Path) -> set[str]:
    with tarfile.open(sdist) as archive:
        return {name.partition("/")[2] for name in archive.getnames()}


def test_the_sdist_ships_the_license(built: tuple[Path, Path]) -> None:
    assert "LICENSE" in sdist_files(built[0])


def test_the_wheel_ships_the_license(built: tuple[Path, Path]) -> None:
    with zipfile.ZipFile(built[1]) as archive:
        assert any(name.endswith(".dist-info/licenses/LICENSE") for name in archive.namelist())


def test_the_sdist_ships_every_docs_page_the_readme_links_to(built: tuple[Path, Path]) -> None:
    linked = set(re.findall(r"\]\((docs/[^)#\s]+)", (ROOT / "README.md").read_text()))
    assert linked, "the README links to no docs/ page: the pattern above no longer matches its links"
    assert linked <= sdist_files(built[0])
