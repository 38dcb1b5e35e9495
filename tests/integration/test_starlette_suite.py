"""Starlette's own SessionMiddleware tests, run against DynamoSessionMiddleware on the test's store.

The test file comes from the source distribution of the installed Starlette version, fetched by the
``starlette_suite`` fixture the first time a test needs it and cached in ``.cache/``; nothing of Starlette's is copied
into this repository. Offline, with nothing cached, the tests here are skipped and say why: collecting them never needs
the network. ``SessionMiddleware`` in that module is replaced by ``DynamoSessionMiddleware`` bound to the test's store,
so every test there drives our middleware; each of its tests (each parametrized case too) runs on a table of its own.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import inspect
import itertools
import subprocess
import sys
import tarfile
import tempfile
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from starlette.testclient import TestClient

from starlette_dynamo_session import DynamoSessionMiddleware, DynamoStore

STARLETTE_VERSION = importlib.metadata.version("starlette")
CACHE = Path(__file__).parents[2] / ".cache" / f"starlette-{STARLETTE_VERSION}-tests"
SUITE_PATH = "tests/middleware/test_session.py"
FETCH_TIMEOUT = 120  # seconds for pip to download Starlette's sdist
PARAMETER_SET = type(pytest.param(None))  # what pytest.param(...) makes, in a parametrize list

# Tests of the suite that exercise only Starlette's own classes, with the reason each is not run.
EXCLUDED = {
    "test_session_tracks_modification": "checks the `modified` flag of Starlette's own Session class; "
    "this middleware detects changes by comparing the serialized session instead (tests/core/test_middleware.py)",
}


class SuiteUnavailable(Exception):
    """Starlette's sdist could not be downloaded (offline, or no such version on the index)."""


def fetch_suite() -> Path:
    """Download Starlette's sdist for the installed version once, and extract its session tests into ``.cache/``."""
    target = CACHE / "test_session.py"
    if target.exists():
        return target
    with tempfile.TemporaryDirectory() as download:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:"]
        command += ["--disable-pip-version-check", "-d", download, f"starlette=={STARLETTE_VERSION}"]
        try:
            subprocess.run(command, check=True, capture_output=True, text=True, timeout=FETCH_TIMEOUT)
        except subprocess.CalledProcessError as exc:
            raise SuiteUnavailable(exc.stderr.strip().splitlines()[-1] if exc.stderr.strip() else str(exc)) from exc
        except subprocess.TimeoutExpired as exc:
            raise SuiteUnavailable(f"pip download took more than {FETCH_TIMEOUT} s") from exc
        (sdist,) = Path(download).glob("starlette-*.tar.gz")
        with tarfile.open(sdist) as archive:
            source = archive.extractfile(archive.getmember(f"starlette-{STARLETTE_VERSION}/{SUITE_PATH}"))
            assert source is not None
            CACHE.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read())
    return target


@pytest.fixture(scope="session")
def starlette_suite() -> ModuleType:
    """Starlette's ``tests/middleware/test_session.py`` for the installed version, loaded as a module; the test is
    skipped, saying why, when it cannot be had."""
    try:
        path = fetch_suite()
    except SuiteUnavailable as exc:
        pytest.skip(f"Starlette {STARLETTE_VERSION}'s session tests could not be downloaded (offline?): {exc}")
    spec = importlib.util.spec_from_file_location("starlette_session_suite", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cases(suite: ModuleType) -> Iterator[tuple[str, Callable[..., Any], dict[str, Any]]]:
    """Every test of the suite but the excluded ones, once per parametrized case: its id, function and arguments
    (``test_client_factory`` left out)."""
    for name, test in vars(suite).items():
        if not name.startswith("test_") or name in EXCLUDED or not inspect.isfunction(test):
            continue
        parametrizations = []
        for mark in getattr(test, "pytestmark", []):
            if mark.name != "parametrize":
                continue
            names = mark.args[0].replace(" ", "").split(",") if isinstance(mark.args[0], str) else list(mark.args[0])
            # A row per case: pytest.param(...) holds one already, a bare value is one when there is a single name.
            rows = [
                value.values if isinstance(value, PARAMETER_SET) else value if len(names) > 1 else (value,)
                for value in mark.args[1]
            ]
            parametrizations.append([dict(zip(names, row, strict=True)) for row in rows])
        for combination in itertools.product(*parametrizations):
            arguments = {key: value for part in combination for key, value in part.items()}
            case_id = "-".join(str(value) for value in arguments.values())
            yield (f"{name}[{case_id}]" if case_id else name), test, arguments


def run_case(test: Callable[..., Any], arguments: dict[str, Any], suite: ModuleType, store: DynamoStore) -> None:
    """Run one test of the suite with ``SessionMiddleware`` replaced by ``DynamoSessionMiddleware`` on ``store``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(suite, "SessionMiddleware", functools.partial(DynamoSessionMiddleware, store=store))
        if "test_client_factory" in inspect.signature(test).parameters:
            arguments = {**arguments, "test_client_factory": TestClient}
        test(**arguments)


def fresh_store(session: boto3.Session) -> DynamoStore:
    store = DynamoStore(session, table_name=f"starlette-suite-{uuid.uuid4().hex}")
    store.create_table()
    return store


def test_every_test_of_starlettes_session_suite_passes_against_this_middleware(
    starlette_suite: ModuleType, boto_session: boto3.Session
) -> None:
    ran, failures = [], {}
    for case_id, test, arguments in cases(starlette_suite):
        try:
            run_case(test, arguments, starlette_suite, fresh_store(boto_session))
        except Exception:
            failures[case_id] = traceback.format_exc(limit=-3)
        ran.append(case_id)
    assert failures == {}, "\n".join(f"{case_id}:\n{failure}" for case_id, failure in failures.items())
    assert len(ran) >= 9, ran  # Starlette 1.0.0, the oldest supported, has 9 cases
    if hasattr(starlette_suite, "test_partitioned_session"):
        assert "test_partitioned_session[True]" in ran  # parametrized cases are run one by one


def test_the_excluded_tests_are_still_in_the_suite(starlette_suite: ModuleType) -> None:
    assert set(EXCLUDED) <= set(vars(starlette_suite))
    assert not any(case_id.split("[")[0] in EXCLUDED for case_id, _, _ in cases(starlette_suite))


def test_the_suite_drives_this_middleware(starlette_suite: ModuleType, store: DynamoStore) -> None:
    run_case(starlette_suite.test_set_cookie_only_on_modification, {}, starlette_suite, store)
    assert store.client.scan(TableName=store.table_name)["Count"] == 1
