from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Literal, Protocol, cast

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
    TRANSPORT_CASES,
    moto_server_endpoint,
    moto_server_session,
    transport_proxy,
    transport_session,
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


# A test's DynamoDB case is a (backend, transport) pair. Every test that uses dynamodb_case (through boto_session,
# recorder, store or dynamo_client_factory) runs on each backend, with the store's default transport: moto in-process
# and DynamoDB Local; with TEST_ON_AWS=1, real AWS instead. A test marked every_transport runs on the transport cases
# too: moto's server mode and DynamoDB Local, behind a recording proxy, over botocore and over aiohttp.
# A test that needs one case parametrizes dynamodb_case with it itself, as the tests of DynamoDB Local do:
# @pytest.mark.parametrize("dynamodb_case", [DYNAMODB_LOCAL], indirect=True).
DYNAMODB_LOCAL = pytest.param(("dynamodb-local", "auto"), id="dynamodb-local", marks=pytest.mark.dynamodb_local)
BACKENDS = (
    [pytest.param(("aws", "auto"), id="aws", marks=pytest.mark.aws)]
    if ON_AWS
    else [pytest.param(("moto", "auto"), id="moto"), DYNAMODB_LOCAL]
)
BACKEND_FIXTURES = {"moto": "moto_session", "dynamodb-local": "dynamodb_local_session", "aws": "real_aws_session"}
PROXIED_CASES = [cast(tuple[str, str], case.values[0]) for case in TRANSPORT_CASES]


class Recorder(Protocol):
    """What ``recorder`` is: an ``OperationRecorder`` on a backend's session, the ``RecordingProxy`` in front of the
    backend on a transport case (it sees the requests of every transport alike)."""

    def take(self) -> list[str]:
        """The DynamoDB operations sent since the last call (``["GetItem", ...]``), and start a new list."""
        ...


def dynamodb_cases(test: pytest.Function) -> list[Any]:
    """The cases ``test`` runs on: the backends, and the transport cases too if it is marked ``every_transport`` (on
    itself, its class or its module) and not ``backends_only``."""
    on_transports = test.get_closest_marker("every_transport") is not None and not test.get_closest_marker(
        "backends_only"
    )
    return BACKENDS + TRANSPORT_CASES if on_transports else list(BACKENDS)


def parametrizes_the_case(test: pytest.Function) -> bool:
    """Whether ``test`` has a ``parametrize`` mark of its own that gives ``dynamodb_case``."""
    for mark in test.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs["argnames"]
        if "dynamodb_case" in (names.replace(" ", "").split(",") if isinstance(names, str) else names):
            return True
    return False


# Before pytest parametrizes the fixtures and applies the parametrize marks: the case comes first in an id
# ([moto-sealed-find]), as when it was the first fixture parameter.
@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "dynamodb_case" in metafunc.fixturenames and not parametrizes_the_case(metafunc.definition):
        metafunc.parametrize("dynamodb_case", dynamodb_cases(metafunc.definition), indirect=True)


@pytest.fixture
def dynamodb_case(request: pytest.FixtureRequest) -> tuple[str, str]:
    """This test's (backend, transport): ``("moto" | "dynamodb-local" | "aws", "auto")`` on a backend, or one of
    ``tests.support.moto_server.TRANSPORT_CASES``, ``("moto-server" | "dynamodb-local", "botocore" | "aiohttp")``."""
    return cast(tuple[str, str], request.param)


@pytest.fixture
def transport_case(dynamodb_case: tuple[str, str]) -> tuple[str, str]:
    """The case that ``transport_proxy`` and ``transport_session`` (``tests.support.moto_server``) put a proxy in
    front of: this test's, on a transport case only."""
    assert dynamodb_case in PROXIED_CASES, f"{dynamodb_case} is no transport case"
    return dynamodb_case


@pytest.fixture
def boto_session(dynamodb_case: tuple[str, str], request: pytest.FixtureRequest) -> boto3.Session:
    """The shared session of this test's case: moto in-process, AWS's DynamoDB Local (one server per test session,
    shared by all tests, so a test's tables are dropped after it) or real AWS with TEST_ON_AWS=1; on a transport
    case, a session whose clients go through the recording proxy in front of its backend."""
    fixture = "transport_session" if dynamodb_case in PROXIED_CASES else BACKEND_FIXTURES[dynamodb_case[0]]
    return cast(boto3.Session, request.getfixturevalue(fixture))


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
def recorder(dynamodb_case: tuple[str, str], boto_session: boto3.Session, request: pytest.FixtureRequest) -> Recorder:
    """Lists the DynamoDB operations sent on this test's case: at the recording proxy on a transport case, through
    ``boto_session``'s events on a backend."""
    if dynamodb_case in PROXIED_CASES:
        return cast(Recorder, request.getfixturevalue("transport_proxy"))
    return OperationRecorder(boto_session)


@pytest.fixture
def seal_data() -> bool:
    """Whether ``store`` seals its data: yes, the default. A module whose tests must hold both ways overrides this
    fixture with a parametrized one; a test that reads sessions past their tokens parametrizes it to ``False``."""
    return True


@pytest.fixture
def store(
    dynamodb_case: tuple[str, str], boto_session: boto3.Session, recorder: Recorder, seal_data: bool
) -> DynamoStore:
    """A store of this test's case (its backend, and its transport) on an existing, empty table of its own, sealing
    its data unless ``seal_data`` says not; the recorder starts empty."""
    transport = cast(Literal["auto", "botocore", "aiohttp"], dynamodb_case[1])
    store = DynamoStore(
        boto_session, table_name=f"test-sessions-{uuid.uuid4().hex}", seal_data=seal_data, transport=transport
    )
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
    """TestClients for apps behind the middleware on a DynamoStore of each case: the end-to-end tests."""
    return make_client_factory(store)
