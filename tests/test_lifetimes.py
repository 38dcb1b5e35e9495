"""Idle and absolute lifetimes, enforced by the server; the idle deadline is refreshed without a write per request."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from starlette.routing import Route

from starlette_dynamo_session import DynamoSessionMiddleware, DynamoStore
from tests.conftest import ClientFactory
from tests.endpoints import update_session, view_session
from tests.support.recorder import OperationRecorder

ROUTES = [Route("/view", view_session), Route("/update", update_session, methods=["POST"])]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Moves the time seen by the middleware and the store forward by a number of seconds."""
    offset = 0.0
    real_time = time.time

    def advance(seconds: float) -> None:
        nonlocal offset
        offset += seconds

    monkeypatch.setattr(time, "time", lambda: real_time() + offset)
    return advance


def test_a_session_ends_after_idle_timeout_without_requests(
    client_factory: ClientFactory, clock: Callable[[float], None]
) -> None:
    client = client_factory(ROUTES, idle_timeout=100)
    client.post("/update", json={"user": "ada"})
    clock(101)
    assert client.get("/view").json() == {"session": {}}


def test_requests_keep_an_idle_session_alive(client_factory: ClientFactory, clock: Callable[[float], None]) -> None:
    client = client_factory(ROUTES, idle_timeout=100)
    client.post("/update", json={"user": "ada"})
    for _ in range(5):
        clock(60)
        assert client.get("/view").json() == {"session": {"user": "ada"}}


def test_the_idle_deadline_is_refreshed_at_most_once_per_tenth_of_the_window(
    client_factory: ClientFactory, recorder: OperationRecorder, clock: Callable[[float], None]
) -> None:
    client = client_factory(ROUTES, idle_timeout=100)
    client.post("/update", json={"user": "ada"})
    recorder.take()
    for _ in range(9):
        clock(1)
        client.get("/view")
    assert recorder.take() == ["GetItem"] * 9
    clock(1.5)
    response = client.get("/view")
    assert recorder.take() == ["GetItem", "UpdateItem"]
    assert "set-cookie" not in response.headers


def test_a_session_never_outlives_its_idle_timeout(
    client_factory: ClientFactory, clock: Callable[[float], None]
) -> None:
    client = client_factory(ROUTES, idle_timeout=100)
    client.post("/update", json={"user": "ada"})
    clock(9)
    client.get("/view")  # not refreshed: the deadline would move by less than a tenth of the window
    clock(100)
    assert client.get("/view").json() == {"session": {}}


def test_max_age_caps_the_idle_deadline(
    client_factory: ClientFactory, recorder: OperationRecorder, clock: Callable[[float], None]
) -> None:
    client = client_factory(ROUTES, idle_timeout=100, max_age=150)
    client.post("/update", json={"user": "ada"})
    clock(90)
    assert client.get("/view").json() == {"session": {"user": "ada"}}
    clock(61)
    assert client.get("/view").json() == {"session": {}}


def test_without_idle_timeout_reads_never_write(
    client_factory: ClientFactory, recorder: OperationRecorder, clock: Callable[[float], None]
) -> None:
    client = client_factory(ROUTES)
    client.post("/update", json={"user": "ada"})
    recorder.take()
    for _ in range(3):
        clock(3600)
        client.get("/view")
    assert recorder.take() == ["GetItem"] * 3


def test_the_item_expiry_is_the_idle_deadline(
    client_factory: ClientFactory, store: DynamoStore, clock: Callable[[float], None]
) -> None:
    client_factory(ROUTES, idle_timeout=300, max_age=None).post("/update", json={"user": "ada"})
    item = store.client.scan(TableName=store.table_name)["Items"][0]
    assert float(item["expiry"]["N"]) == pytest.approx(time.time() + 300, abs=30)


def test_a_non_positive_idle_timeout_is_refused(store: DynamoStore) -> None:
    with pytest.raises(ValueError, match="idle_timeout"):
        DynamoSessionMiddleware(view_session, store=store, secret_key="k", idle_timeout=0)  # type: ignore[arg-type]
