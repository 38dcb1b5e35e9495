"""DynamoDB going away, throttling and freezing, as users of a real server see it: a 503 with ``Retry-After``, never a
traceback, never a session silently emptied, and service back by itself once DynamoDB is.

The outage test runs its own DynamoDB Local (on disk, ``-dbPath``, so data survives a restart), stops it under load and
starts it again on the same port, while one uvicorn process of ``tests/apps/counter.py`` keeps serving.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from harness.dynamodb_local import DynamoDBLocal, start_dynamodb_local
from harness.processes import ServerProcess, running_server, uvicorn_command, wait_until
from starlette_dynamo_session import DynamoSessionMiddleware, DynamoStore
from starlette_dynamo_session._core.http import RETRY_AFTER_SECONDS
from starlette_dynamo_session._core.tokens import TokenSigner, new_token
from tests.conftest import DYNAMODB_LOCAL
from tests.support.faults import FaultInjector
from tests.support.recorder import OperationRecorder

SECRET_KEY = "outage-secret"
UNAVAILABLE_TEXT = "Sessions are unavailable right now. Please retry shortly."
PHASE_TIMEOUT = 60.0  # seconds for one phase of the load (enough requests seen) before the test gives up
SESSIONS = 6  # sessions under load, one client thread each
MAX_REQUESTS_PER_SESSION = 400  # a hard bound on each load loop, whatever the timing
SUCCESSES_PER_PHASE = 3  # successful increments per session before the outage, and again after it


# --- a DynamoDB Local of the test's own, on disk, and a uvicorn process of tests/apps/counter.py ------------------


@pytest.fixture
def own_dynamodb_local(tmp_path: Path) -> Iterator[DynamoDBLocal]:
    """DynamoDB Local keeping its tables in ``tmp_path/db``, so that it can be stopped and started again on the same
    port with its data."""
    (tmp_path / "db").mkdir()
    server = start_dynamodb_local(tmp_path, db_path=tmp_path / "db")
    try:
        yield server
    finally:
        server.stop()


def counter_server(endpoint: str, table: str, log_dir: Path) -> contextlib.AbstractContextManager[ServerProcess]:
    """``python -m uvicorn tests.apps.counter:app`` on a free port, on the DynamoDB at ``endpoint``; stopped by PID."""
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "SESSION_TABLE": table,
        "SESSION_SECRET_KEY": SECRET_KEY,
    }
    return running_server(uvicorn_command("tests.apps.counter:app"), log_dir=log_dir, name="uvicorn", env=env)


# --- the load --------------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One request of the load: the phase it was sent in and what came back."""

    phase: str
    status: int
    count: int | None
    pid: int | None
    retry_after: str | None
    body: str
    set_cookie: str | None


@dataclass
class SessionLoad:
    """One session incrementing its counter, one request at a time, until told to stop."""

    cookie: str
    outcomes: list[Outcome] = field(default_factory=list)

    def successes(self, phase: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.phase == phase and outcome.status == 200)


class Load:
    """``SESSIONS`` client threads, each incrementing its own session's counter through the server; ``phase`` is
    read when a request is sent."""

    def __init__(self, url: str, cookies: list[str]) -> None:
        self.url = url
        self.phase = "before"
        self.sessions = [SessionLoad(cookie) for cookie in cookies]
        self.done = threading.Event()
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._run, args=(session,)) for session in self.sessions]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.done.set()
        for thread in self.threads:
            thread.join()

    def _run(self, session: SessionLoad) -> None:
        try:
            with httpx.Client(base_url=self.url, timeout=30) as client:
                for _ in range(MAX_REQUESTS_PER_SESSION):
                    if self.done.is_set():
                        return
                    phase = self.phase
                    response = client.post("/increment", headers={"Cookie": f"session={session.cookie}"})
                    session.outcomes.append(outcome_of(phase, response))
                    if response.status_code != 200:
                        time.sleep(0.05)
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)

    def wait_until(self, condition: str, check: Callable[[], bool]) -> None:
        """Wait until ``check()`` holds, at most PHASE_TIMEOUT seconds; fail saying ``condition`` otherwise, or as soon
        as a client thread has failed or they have all finished."""

        def seen_or_stuck() -> bool:
            return check() or bool(self.errors) or not any(thread.is_alive() for thread in self.threads)

        wait_until(seen_or_stuck, timeout=PHASE_TIMEOUT)
        if not check():
            pytest.fail(f"never saw {condition}; errors: {self.errors!r}", pytrace=False)


def outcome_of(phase: str, response: httpx.Response) -> Outcome:
    count = pid = None
    if response.status_code == 200:
        count, pid = response.json()["session"].get("count"), response.json()["pid"]
    return Outcome(
        phase,
        response.status_code,
        count,
        pid,
        response.headers.get("retry-after"),
        response.text,
        response.headers.get("set-cookie"),
    )


def new_session(url: str) -> str:
    response = httpx.post(f"{url}/increment", timeout=30)
    assert response.json()["session"] == {"count": 1}
    return response.cookies["session"]


@pytest.mark.dynamodb_local
def test_stopping_dynamodb_under_load_costs_503s_but_no_session_and_a_restart_heals_the_running_server(
    own_dynamodb_local: DynamoDBLocal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", own_dynamodb_local.endpoint)
    store = DynamoStore(boto3.Session(), table_name=f"outage-{uuid.uuid4().hex}")
    store.create_table()

    with counter_server(own_dynamodb_local.endpoint, store.table_name, tmp_path) as server:
        cookies = [new_session(server.url) for _ in range(SESSIONS)]
        with Load(server.url, cookies) as load:
            load.wait_until(
                "every session served before the outage",
                lambda: all(session.successes("before") >= SUCCESSES_PER_PHASE for session in load.sessions),
            )
            load.phase = "outage"
            own_dynamodb_local.stop()
            load.wait_until(
                "a 503 for every session during the outage",
                lambda: all(
                    any(o.phase == "outage" and o.status == 503 for o in session.outcomes) for session in load.sessions
                ),
            )
            own_dynamodb_local.start()  # the same port, the same files
            load.phase = "after"
            load.wait_until(
                "every session served again after the restart",
                lambda: all(session.successes("after") >= SUCCESSES_PER_PHASE for session in load.sessions),
            )
        assert load.errors == []
        assert server.process.poll() is None, "the server had to be restarted"
        finals = [
            httpx.get(server.url, headers={"Cookie": f"session={cookie}"}, timeout=30).json() for cookie in cookies
        ]
    log = server.output()

    outcomes = [outcome for session in load.sessions for outcome in session.outcomes]
    by_phase = {
        phase: [sum(1 for o in outcomes if o.phase == phase and o.status == status) for status in (200, 503)]
        for phase in ("before", "outage", "after")
    }
    print(f"outage load, [200s, 503s] by phase: {by_phase}; final counts {[f['session']['count'] for f in finals]}")
    assert {outcome.status for outcome in outcomes} == {200, 503}
    for outcome in outcomes:
        if outcome.status == 503:
            assert (outcome.retry_after, outcome.body) == (str(RETRY_AFTER_SECONDS), UNAVAILABLE_TEXT)
            assert outcome.set_cookie is None
    assert {outcome.pid for outcome in outcomes if outcome.pid is not None} == {final["pid"] for final in finals}

    for session, final in zip(load.sessions, finals, strict=True):
        # Each success counts on from the last one: +1, or more only when a request that failed (503) had its write
        # land before DynamoDB went down. A count that restarts, or a new cookie, is a session emptied and replaced.
        confirmed, failed_since = 1, 0
        for outcome in session.outcomes:
            if outcome.status == 503:
                failed_since += 1
                continue
            assert outcome.count is not None
            assert confirmed + 1 <= outcome.count <= confirmed + 1 + failed_since, session.outcomes
            assert outcome.set_cookie is None or outcome.set_cookie.startswith(f"session={session.cookie};")
            confirmed, failed_since = outcome.count, 0
        assert confirmed <= final["session"]["count"] <= confirmed + failed_since

    # Nothing lost and nothing added: one item per session, each with its count, read from the restarted DynamoDB.
    items = store.client.scan(TableName=store.table_name, ConsistentRead=True)["Items"]
    assert len(items) == SESSIONS
    assert "Traceback" not in log
    assert "session store unavailable" in log
    assert not any(cookie.split(".")[0] in log for cookie in cookies)


# --- throttling, through the middleware, on the shared DynamoDB Local ------------------------------------------------


async def view(request: Request) -> JSONResponse:
    return JSONResponse({"session": dict(request.session)})


async def increment(request: Request) -> JSONResponse:
    request.session["count"] = request.session.get("count", 0) + 1
    return JSONResponse({"session": dict(request.session)})


def client_for(store: DynamoStore) -> TestClient:
    routes = [Route("/", view), Route("/increment", increment, methods=["POST"])]
    middleware = [Middleware(DynamoSessionMiddleware, store=store, secret_key=SECRET_KEY)]
    return TestClient(Starlette(routes=routes, middleware=middleware))


ON_DYNAMODB_LOCAL_ONLY = pytest.mark.parametrize("dynamodb_case", [DYNAMODB_LOCAL], indirect=True)
THROTTLES = pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])


@pytest.mark.parametrize("operation", ["GetItem", "PutItem"])
@THROTTLES
@ON_DYNAMODB_LOCAL_ONLY
@pytest.mark.dynamodb_local
def test_a_request_throttled_twice_is_served_by_botocores_third_attempt(
    store: DynamoStore, recorder: OperationRecorder, code: str, operation: str
) -> None:
    client = client_for(store)
    client.post("/increment")
    recorder.take()
    faults = FaultInjector(store.client.meta.events, each_attempt=True)
    faults.fail(code, operations={operation}, times=2)
    response = client.post("/increment")
    assert response.status_code == 200
    assert response.json() == {"session": {"count": 2}}
    assert recorder.take().count(operation) == 3
    assert client.get("/").json() == {"session": {"count": 2}}


@pytest.mark.parametrize("operation", ["GetItem", "PutItem"])
@THROTTLES
@ON_DYNAMODB_LOCAL_ONLY
@pytest.mark.dynamodb_local
def test_a_request_still_throttled_after_botocores_retries_gets_503_and_the_session_is_kept(
    store: DynamoStore, recorder: OperationRecorder, code: str, operation: str
) -> None:
    client = client_for(store)
    client.post("/increment")
    recorder.take()
    faults = FaultInjector(store.client.meta.events, each_attempt=True)
    faults.fail(code, operations={operation})
    response = client.post("/increment")
    assert response.status_code == 503
    assert (response.headers["retry-after"], response.text) == (str(RETRY_AFTER_SECONDS), UNAVAILABLE_TEXT)
    assert "set-cookie" not in response.headers
    assert recorder.take().count(operation) == 3
    faults.heal()
    assert client.get("/").json() == {"session": {"count": 1}}


# --- a frozen DynamoDB: connections accepted, never answered ---------------------------------------------------------


class FrozenEndpoint:
    """A TCP server on 127.0.0.1 that accepts connections and never answers; it counts the connections."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections: list[socket.socket] = []
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._accept)
        self.thread.start()

    def _accept(self) -> None:
        while not self.closing.is_set():
            with contextlib.suppress(TimeoutError):
                self.connections.append(self.listener.accept()[0])

    def close(self) -> None:
        self.closing.set()
        self.thread.join()
        for connection in self.connections:
            connection.close()
        self.listener.close()


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> Iterator[FrozenEndpoint]:
    endpoint = FrozenEndpoint()
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint.url)
    yield endpoint
    endpoint.close()


FROZEN_CONFIG = Config(connect_timeout=0.5, read_timeout=0.5, retries={"mode": "standard", "total_max_attempts": 2})


@pytest.mark.parametrize(("path", "signed_in", "operation"), [("/", True, "GetItem"), ("/increment", False, "PutItem")])
def test_a_frozen_dynamodb_answers_503_after_the_configured_attempts_time_out(
    frozen: FrozenEndpoint, path: str, signed_in: bool, operation: str
) -> None:
    session = boto3.Session()
    recorder = OperationRecorder(session)
    store = DynamoStore(session, table_name="frozen", config=FROZEN_CONFIG)
    client = client_for(store)
    headers = {"Cookie": f"session={TokenSigner(SECRET_KEY).sign(new_token())}"} if signed_in else {}
    response = client.request("GET" if path == "/" else "POST", path, headers=headers)
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert "set-cookie" not in response.headers
    assert recorder.take() == [operation, operation]
    assert len(frozen.connections) == 2
