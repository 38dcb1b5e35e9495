"""Idle and absolute lifetimes, enforced by the server; the idle deadline is refreshed without a write per request."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from starlette.routing import Route

from starlette_dynamo_session import DynamoSessionMiddleware
from tests.conftest import ClientFactory
from tests.endpoints import update_session, view_session
from tests.support.memory_store import MemoryStore

ROUTES = [Route("/view", view_session), Route("/update", update_session, methods=["POST"])]


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
    client_factory: ClientFactory, memory_store: MemoryStore, clock: Callable[[float], None]
) -> None:
    client = client_factory(ROUTES, idle_timeout=100)
    client.post("/update", json={"user": "ada"})
    memory_store.take()
    for _ in range(9):
        clock(1)
        client.get("/view")
    assert memory_store.take() == ["read"] * 9
    clock(1.5)
    response = client.get("/view")
    assert memory_store.take() == ["read", "write"]
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
    client_factory: ClientFactory, memory_store: MemoryStore, clock: Callable[[float], None]
) -> None:
    client = client_factory(ROUTES, idle_timeout=100, max_age=150)
    client.post("/update", json={"user": "ada"})
    clock(90)
    assert client.get("/view").json() == {"session": {"user": "ada"}}
    clock(61)
    assert client.get("/view").json() == {"session": {}}


def test_without_idle_timeout_reads_never_write(
    client_factory: ClientFactory, memory_store: MemoryStore, clock: Callable[[float], None]
) -> None:
    client = client_factory(ROUTES)
    client.post("/update", json={"user": "ada"})
    memory_store.take()
    for _ in range(3):
        clock(3600)
        client.get("/view")
    assert memory_store.take() == ["read"] * 3


def test_the_item_expiry_is_the_idle_deadline(
    client_factory: ClientFactory, memory_store: MemoryStore, clock: Callable[[float], None]
) -> None:
    client_factory(ROUTES, idle_timeout=300, max_age=None).post("/update", json={"user": "ada"})
    [record] = memory_store.records.values()
    assert record.expiry.timestamp() == pytest.approx(time.time() + 300, abs=30)


def test_a_non_positive_idle_timeout_is_refused(memory_store: MemoryStore) -> None:
    with pytest.raises(ValueError, match="idle_timeout"):
        DynamoSessionMiddleware(view_session, store=memory_store, secret_key="k", idle_timeout=0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "lifetime",
    [{"max_age": 10**12}, {"max_age": -(10**12)}, {"idle_timeout": 10**12}],
    ids=["max_age", "negative", "idle"],
)
def test_a_max_age_or_idle_timeout_beyond_a_hundred_years_is_refused(
    memory_store: MemoryStore, lifetime: dict[str, int]
) -> None:
    with pytest.raises(ValueError, match="100 years"):
        DynamoSessionMiddleware(view_session, store=memory_store, secret_key="k", **lifetime)  # type: ignore[arg-type]
