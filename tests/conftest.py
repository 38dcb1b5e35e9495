from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast

import boto3
import pytest
from moto import mock_aws
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.testclient import TestClient

from starlette_dynamo_session import DynamoSessionMiddleware, DynamoStore
from tests.dynamodb_local import dynamodb_local_endpoint, dynamodb_local_session  # noqa: F401 - fixtures
from tests.recorder import OperationRecorder

SECRET_KEY = "test-secret-key"
TEST_TABLE = "test-sessions"

ClientFactory = Callable[..., TestClient]


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test can reach real AWS: every AWS setting is removed and fake credentials take their place."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "BOTO_")):
            monkeypatch.delenv(name)
    missing = tmp_path_factory.getbasetemp() / "no-aws-config"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(missing))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(missing))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def aws() -> Iterator[None]:
    """Every boto3 call inside the test goes to moto's in-process DynamoDB."""
    with mock_aws():
        yield


# Every test that uses boto_session (and so recorder, store and client_factory) runs on each backend.
BACKENDS = [pytest.param("moto"), pytest.param("dynamodb-local", marks=pytest.mark.dynamodb_local)]


@pytest.fixture(params=BACKENDS)
def boto_session(request: pytest.FixtureRequest) -> boto3.Session:
    """The shared session of this test's backend: moto in-process, or AWS's DynamoDB Local (one server per test
    session, shared by all tests, so a test's tables are dropped after it)."""
    backend = "moto_session" if request.param == "moto" else "dynamodb_local_session"
    return cast(boto3.Session, request.getfixturevalue(backend))


@pytest.fixture
def recorder(boto_session: boto3.Session) -> OperationRecorder:
    return OperationRecorder(boto_session)


@pytest.fixture
def store(boto_session: boto3.Session, recorder: OperationRecorder) -> DynamoStore:
    """A store on an existing, empty table of its own; the recorder starts empty."""
    store = DynamoStore(boto_session, table_name=f"test-sessions-{uuid.uuid4().hex}")
    store.create_table()
    recorder.take()
    return store


@pytest.fixture
def moto_session(aws: None) -> boto3.Session:
    """A session on moto only, for tests that need moto itself."""
    return boto3.Session()


@pytest.fixture
def moto_recorder(moto_session: boto3.Session) -> OperationRecorder:
    return OperationRecorder(moto_session)


@pytest.fixture
def moto_store(moto_session: boto3.Session, moto_recorder: OperationRecorder) -> DynamoStore:
    """Like store, on moto only; moto_recorder starts empty."""
    store = DynamoStore(moto_session, table_name=TEST_TABLE)
    store.create_table()
    moto_recorder.take()
    return store


@pytest.fixture
def client_factory(store: DynamoStore) -> Callable[..., TestClient]:
    """Build a TestClient for an app with these routes behind DynamoSessionMiddleware (keywords override)."""

    def factory(routes: list[BaseRoute], base_url: str = "http://testserver", **options: Any) -> TestClient:
        options = {"store": store, "secret_key": SECRET_KEY, **options}
        app = Starlette(routes=routes, middleware=[Middleware(DynamoSessionMiddleware, **options)])
        return TestClient(app, base_url=base_url)

    return factory
