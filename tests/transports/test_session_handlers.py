"""The shared session's handlers on the default transport: under asyncio the store's coroutines run on the event loop
(aiohttp), and the session's ``before-call``, ``before-send`` and ``after-call`` handlers see, and may answer, each
call and attempt as on the botocore client. So moto's ``mock_aws`` serves the default store in-process."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import anyio
import boto3
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from starlette_dynamo_session import DynamoSessionMiddleware, DynamoStore, regenerate_session
from tests.conftest import SECRET_KEY
from tests.endpoints import clear_session, update_session, view_session
from tests.support.faults import FaultInjector

TABLE = "handler-sessions"


class Seen:
    """Every (event, operation) the session's handlers were given, and the thread each ran in."""

    def __init__(self, session: boto3.Session) -> None:
        self.events: list[tuple[str, str]] = []
        self.threads: set[threading.Thread] = set()
        for event in ("before-call", "before-send", "after-call"):
            session.events.register(f"{event}.dynamodb", self._recorder(event))

    def _recorder(self, event: str) -> Callable[..., None]:
        def record(event_name: str, **kwargs: Any) -> None:
            self.events.append((event, event_name.rpartition(".")[2]))
            self.threads.add(threading.current_thread())

        return record

    def take(self) -> list[tuple[str, str]]:
        """The events since the last call; start new lists of events and threads."""
        events, self.events, self.threads = self.events, [], set()
        return events


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """aiohttp may open no connection: whatever reaches DynamoDB is answered by a handler."""

    async def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("aiohttp sent a request")

    monkeypatch.setattr(aiohttp.ClientSession, "_request", refuse)


@pytest.fixture
def session(aws: None, no_network: None) -> boto3.Session:
    return boto3.Session()


@pytest.fixture
def seen(session: boto3.Session) -> Seen:
    return Seen(session)


@pytest.fixture
def store(session: boto3.Session, seen: Seen) -> DynamoStore:
    store = DynamoStore(session, table_name=TABLE)  # the default transport
    store.create_table()
    seen.take()
    return store


async def sign_in(request: Request) -> JSONResponse:
    regenerate_session(request, user_id="ada")
    request.session["user"] = "ada"
    return JSONResponse({"thread": threading.current_thread().name})


def client_for(store: DynamoStore) -> Iterator[TestClient]:
    routes = [
        Route("/view", view_session),
        Route("/update", update_session, methods=["POST"]),
        Route("/clear", clear_session, methods=["POST"]),
        Route("/sign-in", sign_in, methods=["POST"]),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(DynamoSessionMiddleware, store=store, secret_key=SECRET_KEY)])
    with TestClient(app) as client:
        yield client


@pytest.fixture
def client(store: DynamoStore) -> Iterator[TestClient]:
    yield from client_for(store)


def calls(operations: list[str]) -> list[tuple[str, str]]:
    """The events one API call per operation shows, as the botocore client shows them (one attempt each)."""
    return [(event, operation) for operation in operations for event in ("before-call", "before-send", "after-call")]


def test_the_default_store_serves_requests_on_the_event_loop_with_no_worker_thread(
    client: TestClient, seen: Seen
) -> None:
    loop_thread = client.post("/sign-in").json()["thread"]
    assert {thread.name for thread in seen.threads} == {loop_thread}


def test_the_sessions_handlers_see_each_call_of_a_first_write_a_read_a_change_and_a_clear(
    client: TestClient, seen: Seen
) -> None:
    client.post("/update", json={"n": 1})
    assert seen.take() == calls(["PutItem"])
    client.get("/view")
    assert seen.take() == calls(["GetItem"])
    client.post("/update", json={"n": 2})
    assert seen.take() == calls(["GetItem", "PutItem"])
    client.post("/clear")
    assert seen.take() == calls(["GetItem", "DeleteItem"])


def test_the_sessions_handlers_see_a_regeneration_and_the_users_api(
    client: TestClient, store: DynamoStore, seen: Seen
) -> None:
    client.post("/update", json={"n": 1})
    seen.take()
    client.post("/sign-in")
    assert [operation for event, operation in seen.take() if event == "before-call"] == [
        "GetItem",
        "TransactWriteItems",
    ]
    [info] = anyio.run(store.list_sessions, "ada")
    assert {operation for event, operation in seen.take() if event == "before-send"} == {"GetItem", "BatchGetItem"}
    assert anyio.run(store.revoke_all, "ada") == 1
    assert ("before-send", "DeleteItem") in seen.take()
    assert client.get("/view").json() == {"session": {}}


def test_a_before_call_handler_answers_the_call_instead_of_the_network(
    session: boto3.Session, client: TestClient, store: DynamoStore, seen: Seen
) -> None:
    client.post("/update", json={"n": 1})
    faults = FaultInjector(store.client.meta.events)
    faults.fail("ThrottlingException", operations={"GetItem"})
    seen.take()
    assert client.get("/view").status_code == 503
    assert ("before-send", "GetItem") not in seen.take()
    assert faults.injected == 1


def test_a_before_send_handler_answers_each_attempt_and_botocores_retries_apply(
    client: TestClient, store: DynamoStore, seen: Seen
) -> None:
    client.post("/update", json={"n": 1})
    faults = FaultInjector(store.client.meta.events, each_attempt=True)
    faults.fail("ThrottlingException", operations={"GetItem"}, times=2)
    seen.take()
    assert client.get("/view").json() == {"session": {"n": 1}}
    assert faults.injected == 2
    assert seen.take().count(("before-send", "GetItem")) == 3


def test_an_application_suite_under_mock_aws_runs_on_the_default_store_with_no_server(client: TestClient) -> None:
    client.post("/update", json={"cart": ["apple"]})
    client.post("/sign-in")
    assert client.get("/view").json() == {"session": {"cart": ["apple"], "user": "ada"}}
    client.post("/clear")
    assert client.get("/view").json() == {"session": {}}


@pytest.mark.anyio
async def test_a_call_a_handler_answers_still_lets_other_tasks_run(store: DynamoStore) -> None:
    others_ran = anyio.Event()

    async def other() -> None:
        others_ran.set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(other)
        assert await store.read("token") is None
        assert others_ran.is_set()


@pytest.mark.anyio
async def test_a_before_call_handler_sees_the_request_the_botocore_client_shows_it(store: DynamoStore) -> None:
    shown: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **kwargs: Any) -> None:
        headers = {name: value for name, value in params["headers"].items() if name != "User-Agent"}
        shown.append({**{key: params[key] for key in ("url_path", "query_string", "method", "url", "body")}, **headers})

    store.client.meta.events.register("before-call.dynamodb.GetItem", record)
    assert await store.read("token") is None
    assert store.find("token") is None
    [ours, botocores] = shown
    assert ours == botocores
