from __future__ import annotations

import os
import time
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
from tests.support.dynamodb_local import (  # noqa: F401 - fixtures
    drop_created_tables,
    dynamodb_local_endpoint,
    dynamodb_local_session,
)
from tests.support.environment import scrub_aws_environment
from tests.support.loopback import serve  # noqa: F401 - a fixture
from tests.support.memory_store import MemoryStore
from tests.support.moto_server import (  # noqa: F401 - fixtures
    moto_server_endpoint,
    moto_server_session,
    transport_case,
    transport_proxy,
    transport_session,
    transport_store,
)
from tests.support.recorder import OperationRecorder

# The AWS settings the tests were started with, before aws_environment hides them: used only with TEST_ON_AWS=1.
AWS_SETTINGS_AT_START = {name: value for name, value in os.environ.items() if name.startswith("AWS_")}
ON_AWS = os.environ.get("TEST_ON_AWS") == "1"

SECRET_KEY = "test-secret-key"
TEST_TABLE = "test-sessions"

ClientFactory = Callable[..., TestClient]


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test can reach real AWS: every AWS setting is removed and fake credentials take their place."""
    scrub_aws_environment(monkeypatch)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Stops the time seen by the middleware and the store at the test's start; calling it moves that time forward
    by a number of seconds, and nothing else does, so a test's instants never depend on how fast the machine is."""
    now = time.time()

    def advance(seconds: float) -> None:
        nonlocal now
        now += seconds

    monkeypatch.setattr(time, "time", lambda: now)
    return advance


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, as uvicorn serves them; the tests about other event loops ask for trio."""
    return "asyncio"


@pytest.fixture
def aws() -> Iterator[None]:
    """Every boto3 call inside the test goes to moto's in-process DynamoDB."""
    with mock_aws():
        yield


# Every test that uses boto_session (and so recorder, store and client_factory) runs on each backend; with
# TEST_ON_AWS=1, on real AWS instead.
BACKENDS = (
    [pytest.param("aws", marks=pytest.mark.aws)]
    if ON_AWS
    else [pytest.param("moto"), pytest.param("dynamodb-local", marks=pytest.mark.dynamodb_local)]
)
BACKEND_FIXTURES = {"moto": "moto_session", "dynamodb-local": "dynamodb_local_session", "aws": "real_aws_session"}


@pytest.fixture(params=BACKENDS)
def boto_session(request: pytest.FixtureRequest) -> boto3.Session:
    """The shared session of this test's backend: moto in-process, or AWS's DynamoDB Local (one server per test
    session, shared by all tests, so a test's tables are dropped after it), or real AWS with TEST_ON_AWS=1."""
    return cast(boto3.Session, request.getfixturevalue(BACKEND_FIXTURES[request.param]))


@pytest.fixture
def real_aws_session(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """A session with the AWS settings the tests were started with (TEST_ON_AWS=1 only); the tables it creates are
    deleted after the test."""
    with monkeypatch.context() as settings:
        for name in [name for name in os.environ if name.startswith("AWS_")]:
            settings.delenv(name)
        for name, value in AWS_SETTINGS_AT_START.items():
            settings.setenv(name, value)
        configured = boto3.Session()
        credentials = configured.get_credentials()
        region = configured.region_name
    if credentials is None or region is None:
        pytest.fail("TEST_ON_AWS=1 needs AWS credentials and a region in the environment or the AWS config files")
    frozen = credentials.get_frozen_credentials()
    session = boto3.Session(
        aws_access_key_id=frozen.access_key,
        aws_secret_access_key=frozen.secret_key,
        aws_session_token=frozen.token,
        region_name=region,
    )
    yield from drop_created_tables(session)


@pytest.fixture
def recorder(boto_session: boto3.Session) -> OperationRecorder:
    return OperationRecorder(boto_session)


@pytest.fixture
def seal_data() -> bool:
    """Whether ``store`` seals its data: yes, the default. A module whose tests must hold both ways overrides this
    fixture with a parametrized one; a test that reads sessions past their tokens parametrizes it to ``False``."""
    return True


@pytest.fixture
def store(boto_session: boto3.Session, recorder: OperationRecorder, seal_data: bool) -> DynamoStore:
    """A store on an existing, empty table of its own, sealing its data unless ``seal_data`` says not; the
    recorder starts empty."""
    store = DynamoStore(boto_session, table_name=f"test-sessions-{uuid.uuid4().hex}", seal_data=seal_data)
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
def memory_store() -> MemoryStore:
    """An empty in-memory store: what the middleware's own tests run on."""
    return MemoryStore()


def make_client_factory(store: object) -> ClientFactory:
    """A factory of TestClients for apps with the given routes behind DynamoSessionMiddleware on ``store``
    (keywords override the middleware's options)."""

    def factory(routes: list[BaseRoute], base_url: str = "http://testserver", **options: Any) -> TestClient:
        options = {"store": store, "secret_key": SECRET_KEY, **options}
        app = Starlette(routes=routes, middleware=[Middleware(DynamoSessionMiddleware, **options)])
        return TestClient(app, base_url=base_url)

    return factory


@pytest.fixture
def client_factory(memory_store: MemoryStore) -> ClientFactory:
    """TestClients for apps behind the middleware on the in-memory store."""
    return make_client_factory(memory_store)


@pytest.fixture
def dynamo_client_factory(store: DynamoStore) -> ClientFactory:
    """TestClients for apps behind the middleware on a DynamoStore of each backend: the end-to-end tests."""
    return make_client_factory(store)
