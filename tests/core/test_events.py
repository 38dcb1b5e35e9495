"""Lifecycle events (``on_event``) and OpenTelemetry metrics: what the middleware did, with the session's key and
never its token or data; counted and timed with the OpenTelemetry SDK's in-memory reader."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import pytest
from botocore.config import Config
from opentelemetry import metrics
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from harness.processes import ROOT
from starlette_dynamo_session import (
    DynamoSessionMiddleware,
    DynamoStore,
    SessionEvent,
    regenerate_session,
    set_session_max_age,
)
from starlette_dynamo_session._core.tokens import digest
from tests.conftest import ClientFactory, make_client_factory
from tests.endpoints import clear_session, update_session, view_session
from tests.support.faults import FaultInjector
from tests.support.memory_store import MemoryStore


async def regenerate(request: Request) -> JSONResponse:
    regenerate_session(request)
    return JSONResponse({})


async def end_now(request: Request) -> JSONResponse:
    set_session_max_age(request, 0)
    request.session["touched"] = True
    return JSONResponse({})


def routes(extra: list[Route] | None = None) -> list[Route]:
    """The endpoints of these tests, and ``extra``."""
    return [
        Route("/view", view_session),
        Route("/update", update_session, methods=["POST"]),
        Route("/clear", clear_session, methods=["POST"]),
        Route("/regenerate", regenerate, methods=["POST"]),
        Route("/end", end_now, methods=["POST"]),
        *(extra or []),
    ]


def token_of(cookie: str) -> str:
    """The token inside a signed cookie value."""
    return cookie.partition(".")[0]


def test_creating_regenerating_and_destroying_a_session_are_events_with_its_key(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    events: list[SessionEvent] = []
    client = client_factory(routes(), on_event=events.append)
    client.post("/update", json={"user": "ada"})
    first = digest(token_of(client.cookies["session"]))
    client.get("/view")  # reads, changes nothing: no event
    client.post("/regenerate")
    second = digest(token_of(client.cookies["session"]))
    client.post("/clear")
    assert events == [
        SessionEvent("created", first),
        SessionEvent("regenerated", second, previous_key=first),
        SessionEvent("destroyed", second),
    ]


def test_a_lifetime_set_to_nothing_destroys_the_session_with_an_event(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    events: list[SessionEvent] = []
    client = client_factory(routes(), on_event=events.append)
    client.post("/update", json={"user": "ada"})
    client.post("/end")
    assert [event.kind for event in events] == ["created", "destroyed"]
    assert memory_store.live() == {}


def test_a_merged_conflict_is_an_event_with_its_attempts(memory_store: MemoryStore) -> None:
    async def write_meanwhile(request: Request) -> JSONResponse:
        request.session["mine"] = 1
        [(token, record)] = memory_store.records.items()  # another request writes first
        memory_store.records[token] = dataclasses.replace(
            record, data=b'{"user":"ada","theirs":2}', version=record.version + 1
        )
        return JSONResponse({})

    events: list[SessionEvent] = []
    client = make_client_factory(memory_store)(routes([Route("/race", write_meanwhile)]), on_event=events.append)
    client.post("/update", json={"user": "ada"})
    client.get("/race")
    assert client.get("/view").json() == {"session": {"user": "ada", "theirs": 2, "mine": 1}}
    key = events[0].session_key
    assert events[1:] == [SessionEvent("conflict_merged", key, attempts=2)]


def test_a_session_too_large_is_an_event() -> None:
    events: list[SessionEvent] = []
    client = make_client_factory(MemoryStore(max_bytes=20))(routes(), on_event=events.append)
    assert client.post("/update", json={"blob": "x" * 100}).status_code == 500
    assert events == [SessionEvent("too_large", None)]


def test_an_expired_session_read_is_an_event_with_its_key(
    dynamo_client_factory: ClientFactory, store: DynamoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[SessionEvent] = []
    client = dynamo_client_factory(routes(), max_age=100, on_event=events.append)
    client.post("/update", json={"user": "ada"})
    cookie = client.cookies["session"]
    key = store.key(token_of(cookie))
    start = time.time()
    monkeypatch.setattr(time, "time", lambda: start + 101)
    client.cookies.clear()
    client.cookies.set("session", cookie)  # as a client that kept it past its Max-Age would send it
    assert client.get("/view").json() == {"session": {}}
    assert events == [SessionEvent("created", key), SessionEvent("expired", key)]


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ResourceNotFoundException"])
def test_a_store_failure_answered_with_503_is_an_event_with_its_aws_error_code(
    dynamo_client_factory: ClientFactory, store: DynamoStore, code: str
) -> None:
    events: list[SessionEvent] = []
    client = dynamo_client_factory(routes(), on_event=events.append)
    client.post("/update", json={"user": "ada"})
    key = store.key(token_of(client.cookies["session"]))
    FaultInjector(store.client.meta.events).fail(code, operations={"GetItem"})
    assert client.get("/view").status_code == 503
    assert events[1:] == [SessionEvent("store_failure", key, error_code=code)]


def test_an_unreachable_dynamodb_is_an_event_with_the_botocore_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")
    store = DynamoStore(config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=1))
    events: list[SessionEvent] = []
    client = make_client_factory(store)(routes(), on_event=events.append)
    assert client.post("/update", json={"user": "ada"}).status_code == 503
    assert events == [SessionEvent("store_failure", None, error_code="EndpointConnectionError")]


def test_events_never_hold_the_token_or_the_data(client_factory: ClientFactory) -> None:
    events: list[SessionEvent] = []
    client = client_factory(routes(), on_event=events.append)
    client.post("/update", json={"user": "ada-lovelace"})
    token = token_of(client.cookies["session"])
    client.post("/regenerate")
    tokens = [token, token_of(client.cookies["session"])]
    client.post("/clear")
    assert len(events) == 3
    for value in (*tokens, "ada-lovelace"):
        assert value not in repr(events)


def test_a_failing_listener_is_logged_and_the_request_goes_on(
    client_factory: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    def listener(event: SessionEvent) -> None:
        raise RuntimeError("a listener bug")

    client = client_factory(routes(), on_event=listener)
    with caplog.at_level(logging.ERROR, logger="starlette_dynamo_session"):
        response = client.post("/update", json={"user": "ada"})
    assert response.status_code == 200
    assert "session" in response.headers["set-cookie"]
    assert [record.getMessage() for record in caplog.records] == ["the on_event listener failed on a 'created' event"]


def test_each_middleware_sends_its_events_to_its_own_listener(memory_store: MemoryStore) -> None:
    mine: list[SessionEvent] = []
    other: list[SessionEvent] = []
    make_client_factory(memory_store)(routes(), on_event=mine.append).post("/update", json={"a": 1})
    make_client_factory(memory_store)(routes(), on_event=other.append).post("/update", json={"b": 1})
    make_client_factory(memory_store)(routes()).post("/update", json={"c": 1})
    assert [event.kind for event in mine] == ["created"]
    assert [event.kind for event in other] == ["created"]
    assert mine != other


# The global meter provider can be set once per process: one for the whole test session, reading deltas, so every
# collection holds what happened since the one before.
@pytest.fixture(scope="session")
def metric_reader() -> InMemoryMetricReader:
    delta = AggregationTemporality.DELTA
    reader = InMemoryMetricReader(preferred_temporality={Counter: delta, Histogram: delta})
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return reader


@pytest.fixture
def collect(metric_reader: InMemoryMetricReader) -> Iterator[Any]:
    """A function that returns the data points recorded since this fixture was set up (or since its last call), as
    ``{metric name: [(attributes, point)]}``: list it after the fixtures whose calls a test does not count."""

    def points() -> dict[str, list[tuple[dict[str, Any], Any]]]:
        found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        data = metric_reader.get_metrics_data()
        for resource in data.resource_metrics if data is not None else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        found.setdefault(metric.name, []).append((dict(point.attributes or {}), point))
        return found

    points()  # forget what earlier tests recorded
    yield points


def test_events_are_counted_in_opentelemetry_by_kind(collect: Any, client_factory: ClientFactory) -> None:
    client = client_factory(routes())
    client.post("/update", json={"user": "ada"})
    client.post("/regenerate")
    client.post("/clear")
    counted = {attributes["event"]: point.value for attributes, point in collect()["starlette_dynamo_session.events"]}
    assert counted == {"created": 1, "regenerated": 1, "destroyed": 1}


def test_store_failures_are_counted_with_their_error_type(
    dynamo_client_factory: ClientFactory, store: DynamoStore, collect: Any
) -> None:
    client = dynamo_client_factory(routes())
    client.post("/update", json={"user": "ada"})
    FaultInjector(store.client.meta.events).fail("ThrottlingException", operations={"GetItem"}, times=1)
    assert client.get("/view").status_code == 503
    events = collect()["starlette_dynamo_session.events"]
    assert sorted((sorted(attributes.items()), point.value) for attributes, point in events) == [
        ([("error.type", "ThrottlingException"), ("event", "store_failure")], 1),
        ([("event", "created")], 1),
    ]


def test_every_store_call_is_timed_by_operation_in_a_histogram(
    dynamo_client_factory: ClientFactory, store: DynamoStore, collect: Any
) -> None:
    client = dynamo_client_factory(routes())
    client.post("/update", json={"user": "ada"})
    client.post("/update", json={"n": 1})
    client.post("/regenerate")
    client.post("/clear")
    store.ping()
    durations = collect()["starlette_dynamo_session.store.duration"]
    counts = {attributes["operation"]: point.count for attributes, point in durations}
    assert counts == {"PutItem": 2, "GetItem": 3, "TransactWriteItems": 1, "DeleteItem": 1, "DescribeTable": 1}
    for _, point in durations:
        assert 0 < point.min <= point.max < 10  # seconds
    assert list(durations[0][1].explicit_bounds)[:3] == [0.001, 0.0025, 0.005]


def test_a_failed_store_call_is_timed_with_its_error_type(store: DynamoStore, collect: Any) -> None:
    FaultInjector(store.client.meta.events).fail("InternalServerError", status=500, times=1)
    with pytest.raises(Exception, match="InternalServerError"):
        store.find("token")
    [(attributes, point)] = collect()["starlette_dynamo_session.store.duration"]
    assert (attributes, point.count) == ({"operation": "GetItem", "error.type": "InternalServerError"}, 1)


def test_without_opentelemetry_nothing_is_imported_or_recorded_and_events_still_flow() -> None:
    code = """
import sys
sys.modules["opentelemetry"] = None  # as if opentelemetry-api were not installed
from starlette_dynamo_session._core import events as _events
assert (_events._events_counter, _events._duration) == (None, None)
seen = []
with _events.listening(seen.append):
    _events.notify(_events.SessionEvent("created", "key"))
_events.store_call_finished("GetItem", 0.01, None)
assert seen == [_events.SessionEvent("created", "key")], seen
assert [name for name, module in sys.modules.items() if name.startswith("opentelemetry") and module] == []
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "ok\n", "")


def test_store_calls_run_in_the_requests_context_so_botocore_instrumentation_nests_under_it(store: DynamoStore) -> None:
    # BotocoreInstrumentor wraps the client's API calls; the calls see the context of the request that made them
    # (copied into the worker thread), so the spans it makes are children of the request's span.
    request_id: ContextVar[str] = ContextVar("request_id", default="none")
    seen: list[str] = []
    store.client.meta.events.register("before-call.dynamodb", lambda **_: seen.append(request_id.get()))
    app = Starlette(routes=routes(), middleware=[Middleware(DynamoSessionMiddleware, store=store, secret_key="k")])

    async def with_request_id(scope: Scope, receive: Receive, send: Send) -> None:
        request_id.set(scope["path"])
        await app(scope, receive, send)

    client = TestClient(with_request_id)
    client.post("/update", json={"user": "ada"})
    client.get("/view")
    assert seen == ["/update", "/view"]
