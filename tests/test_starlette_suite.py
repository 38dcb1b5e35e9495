"""Starlette's own SessionMiddleware tests, run against DynamoSessionMiddleware on a moto-backed store.

The test file is taken from the source distribution of the installed Starlette version at test time (and cached
in ``.cache/``); nothing of Starlette's is copied into this repository. ``SessionMiddleware`` in that module is
replaced by ``DynamoSessionMiddleware`` bound to the test's store, so every test there drives our middleware.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from types import ModuleType

import pytest
from starlette.testclient import TestClient

from starlette_dynamo_session import DynamoSessionMiddleware, DynamoStore
from tests.types import TestClientFactory

STARLETTE_VERSION = importlib.metadata.version("starlette")
CACHE = Path(__file__).parent.parent / ".cache" / f"starlette-{STARLETTE_VERSION}-tests"
SUITE_PATH = "tests/middleware/test_session.py"

# Tests of the suite that exercise only Starlette's own classes, with the reason each is not run.
EXCLUDED = {
    "test_session_tracks_modification": "checks the `modified` flag of Starlette's own Session class; "
    "this middleware detects changes by comparing the serialized session instead (tests/test_middleware.py)",
}


def fetch_suite() -> Path:
    """Download Starlette's sdist for the installed version once, and extract its session tests."""
    target = CACHE / "test_session.py"
    if target.exists():
        return target
    with tempfile.TemporaryDirectory() as download:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:"]
            + ["--disable-pip-version-check", "-d", download, f"starlette=={STARLETTE_VERSION}"],
            check=True,
        )
        (sdist,) = Path(download).glob("starlette-*.tar.gz")
        with tarfile.open(sdist) as archive:
            member = archive.getmember(f"starlette-{STARLETTE_VERSION}/{SUITE_PATH}")
            source = archive.extractfile(member)
            assert source is not None
            CACHE.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read())
    return target


def load_suite() -> ModuleType:
    spec = importlib.util.spec_from_file_location("starlette_session_suite", fetch_suite())
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


suite = load_suite()
globals().update({name: test for name, test in vars(suite).items() if name.startswith("test_")})
for name in EXCLUDED:
    del globals()[name]


@pytest.fixture(autouse=True)
def use_dynamo_session_middleware(store: DynamoStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(suite, "SessionMiddleware", functools.partial(DynamoSessionMiddleware, store=store))


@pytest.fixture
def test_client_factory() -> TestClientFactory:
    return TestClient


def test_the_suite_was_loaded_with_its_tests() -> None:
    collected = [name for name in globals() if name.startswith("test_") and name != "test_client_factory"]
    assert len(collected) >= 10
    assert set(EXCLUDED).isdisjoint(collected)


def test_the_suite_drives_this_middleware(store: DynamoStore) -> None:
    suite.test_set_cookie_only_on_modification(TestClient)
    assert store.client.scan(TableName=store.table_name)["Count"] == 1
