"""Flash messages, with Flask's names and meaning, kept whole under concurrent requests of one session."""

from __future__ import annotations

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from starlette_dynamo_session import DynamoSessionMiddleware, DynamoStore, SessionStore, flash, get_flashed_messages
from starlette_dynamo_session.testing import MemoryStore
from tests.conftest import SECRET_KEY, ClientFactory
from tests.dynamodb.test_concurrency import Barrier, atomic_moto_writes  # noqa: F401 - autouse: moto's writes, atomic
from tests.endpoints import update_session
from tests.support.memory_store import MemoryStore as RecordingStore


async def flash_some(request: Request) -> JSONResponse:
    for item in request.query_params.getlist("m"):
        category, _, message = item.rpartition(":")
        flash(request, message, category or "message")
    return JSONResponse({})


async def read(request: Request) -> JSONResponse:
    only = request.query_params.getlist("only")
    categories = get_flashed_messages(request, with_categories=True, category_filter=only)
    plain = get_flashed_messages(request, category_filter=only)
    return JSONResponse({"messages": plain, "with_categories": categories})


ROUTES = [
    Route("/flash", flash_some, methods=["POST"]),
    Route("/read", read),
    Route("/update", update_session, methods=["POST"]),
]


def test_a_message_flashed_in_one_request_is_returned_by_the_next_then_gone(client_factory: ClientFactory) -> None:
    client = client_factory(ROUTES)
    client.post("/flash?m=Signed in.")
    assert client.get("/read").json()["messages"] == ["Signed in."]
    assert client.get("/read").json()["messages"] == []


def test_messages_come_back_oldest_first(client_factory: ClientFactory) -> None:
    client = client_factory(ROUTES)
    client.post("/flash?m=first&m=second")
    client.post("/flash?m=third")
    assert client.get("/read").json()["messages"] == ["first", "second", "third"]


def test_with_categories_returns_category_and_message_pairs(client_factory: ClientFactory) -> None:
    client = client_factory(ROUTES)
    client.post("/flash?m=Saved.&m=error:Card declined.")
    assert client.get("/read").json()["with_categories"] == [["message", "Saved."], ["error", "Card declined."]]


def test_a_category_filter_returns_and_removes_only_those_categories(client_factory: ClientFactory) -> None:
    client = client_factory(ROUTES)
    client.post("/flash?m=Saved.&m=error:Card declined.&m=warning:Low stock.")
    assert client.get("/read?only=error&only=warning").json()["messages"] == ["Card declined.", "Low stock."]
    assert client.get("/read").json()["messages"] == ["Saved."]


def test_calling_it_again_in_the_same_request_returns_the_same_messages(client_factory: ClientFactory) -> None:
    client = client_factory(ROUTES)
    client.post("/flash?m=error:Card declined.")
    response = client.get("/read").json()
    assert response["messages"] == ["Card declined."]
    assert response["with_categories"] == [["error", "Card declined."]]


def test_reading_no_messages_writes_nothing(client_factory: ClientFactory, memory_store: RecordingStore) -> None:
    client = client_factory(ROUTES)
    client.post("/update", json={"user": "ada"})
    client.post("/flash?m=hello")
    client.get("/read")
    memory_store.take()
    assert client.get("/read").json()["messages"] == []
    assert memory_store.take() == ["read"]


def test_a_message_that_is_not_a_string_is_a_type_error() -> None:
    async def bad(request: Request) -> JSONResponse:
        with pytest.raises(TypeError, match="strings"):
            flash(request, 42)  # type: ignore[arg-type]
        return JSONResponse({})

    app = Starlette(
        routes=[Route("/", bad)],
        middleware=[Middleware(DynamoSessionMiddleware, store=MemoryStore(), secret_key=SECRET_KEY)],
    )
    assert TestClient(app).get("/").status_code == 200


# Twenty concurrent requests of one session, each flashing a message: every message comes back, once.


def barrier_app(store: SessionStore, barrier: Barrier) -> Starlette:
    async def flash_one(request: Request) -> JSONResponse:
        await barrier.wait()
        flash(request, request.query_params["m"])
        return JSONResponse({})

    routes = [Route("/flash-one", flash_one, methods=["POST"]), *ROUTES]
    return Starlette(
        routes=routes, middleware=[Middleware(DynamoSessionMiddleware, store=store, secret_key=SECRET_KEY)]
    )


async def twenty_concurrent_flashes(apps: list[Starlette]) -> list[str]:
    """Start a session, flash 20 messages from concurrent requests (every one loads the session before any saves,
    spread over ``apps``, which stand for processes), then read them back."""
    clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") for app in apps]
    await clients[0].post("/flash?m=start")
    for client in clients[1:]:
        client.cookies = clients[0].cookies
    async with anyio.create_task_group() as tasks:
        for number in range(20):
            tasks.start_soon(clients[number % len(clients)].post, f"/flash-one?m=message-{number}")
    messages: list[str] = (await clients[0].get("/read")).json()["messages"]
    again: list[str] = (await clients[0].get("/read")).json()["messages"]
    assert again == []
    return messages


@pytest.mark.anyio
@pytest.mark.parametrize("processes", [1, 2])
async def test_twenty_concurrent_flashes_on_the_memory_store_are_all_returned_once(processes: int) -> None:
    store = MemoryStore()
    barrier = Barrier(20)
    apps = [barrier_app(store, barrier) for _ in range(processes)]
    barrier.armed = True
    messages = await twenty_concurrent_flashes(apps)
    assert sorted(messages) == sorted(["start", *(f"message-{number}" for number in range(20))])


@pytest.mark.anyio
@pytest.mark.parametrize("processes", [1, 2])
async def test_twenty_concurrent_flashes_on_dynamodb_are_all_returned_once(store: DynamoStore, processes: int) -> None:
    barrier = Barrier(20)
    apps = [barrier_app(store, barrier) for _ in range(processes)]
    barrier.armed = True
    messages = await twenty_concurrent_flashes(apps)
    assert sorted(messages) == sorted(["start", *(f"message-{number}" for number in range(20))])
