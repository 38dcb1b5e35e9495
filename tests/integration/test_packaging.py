"""What the packages ship: the sdist and the wheel, built with hatchling (the build backend) into a temporary folder,
no network. Both carry the license; the wheel nothing but the package, the sdist also the tests with what they import
and run, and every file of docs/ that the README links to."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A link or an image in the README that points into docs/: "](docs/x.md)", "](docs/x.md#part)", 'src="docs/x.png"'.
DOCS_LINK = re.compile(r'(?:\]\(|src="|href=")(docs/[^)"#\s]+)')


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist and the wheel built from this checkout by ``python -m hatchling build``, keyed by target."""
    out = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "hatchling", "build", "--directory", str(out)]
    subprocess.run(command, cwd=ROOT, check=True, timeout=120, stdin=subprocess.DEVNULL, capture_output=True)
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel}


def sdist_files(sdist: Path) -> set[str]:
    """The paths in an sdist, relative to its top folder (``name-version/``)."""
    with tarfile.open(sdist) as archive:
        return {name.partition("/")[2] for name in archive.getnames()}


def test_the_sdist_ships_the_license(packages: dict[str, Path]) -> None:
    with tarfile.open(packages["sdist"]) as archive:
        (member,) = [member for member in archive.getmembers() if member.name.partition("/")[2] == "LICENSE"]
        shipped = archive.extractfile(member)
        assert shipped is not None
        assert shipped.read() == (ROOT / "LICENSE").read_bytes()


def test_the_wheel_ships_the_license_in_its_dist_info(packages: dict[str, Path]) -> None:
    with zipfile.ZipFile(packages["wheel"]) as archive:
        (name,) = [name for name in archive.namelist() if name.endswith(".dist-info/licenses/LICENSE")]
        assert archive.read(name) == (ROOT / "LICENSE").read_bytes()
        (metadata,) = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        assert "License-File: LICENSE" in archive.read(metadata).decode().splitlines()


def test_the_license_is_bsd_3_clause_as_the_metadata_declares() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License\n")
    assert "Copyright (c) 2026, the starlette-dynamo-session developers" in text
    assert 'license = "BSD-3-Clause"' in (ROOT / "pyproject.toml").read_text()


def test_the_sdist_ships_every_docs_file_the_readme_links_to(packages: dict[str, Path]) -> None:
    linked = set(DOCS_LINK.findall((ROOT / "README.md").read_text()))
    assert {"docs/benchmarks.md", "docs/benchmarks.png", "docs/security.md"} <= linked  # the pattern finds links
    assert linked - sdist_files(packages["sdist"]) == set()


def test_the_wheel_ships_the_package_alone(packages: dict[str, Path]) -> None:
    with zipfile.ZipFile(packages["wheel"]) as archive:
        folders = {name.partition("/")[0] for name in archive.namelist()}
    assert {folder for folder in folders if not folder.endswith(".dist-info")} == {"starlette_dynamo_session"}


def test_the_sdist_ships_the_tests_with_the_harness_and_the_benchmarks_they_run(packages: dict[str, Path]) -> None:
    files = sdist_files(packages["sdist"])
    assert {
        "tests/conftest.py",
        "harness/proxy.py",
        "bench/run.py",
        "demo_app/app.py",
        "scripts/dynamodb-local",
    } <= files
