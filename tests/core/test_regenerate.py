"""regenerate_session: a new token on sign-in, the data kept, the old token dead."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from starlette_dynamo_session import regenerate_session
from tests.conftest import ClientFactory
from tests.endpoints import add_to_cart, view_session
from tests.support.memory_store import MemoryStore


async def sign_in(request: Request) -> JSONResponse:
    regenerate_session(request)
    request.session["user"] = request.query_params["name"]
    return JSONResponse({"session": request.session})


async def regenerate_only(request: Request) -> JSONResponse:
    regenerate_session(request)
    return JSONResponse({"session": request.session})


async def regenerate_and_clear(request: Request) -> JSONResponse:
    regenerate_session(request)
    request.session.clear()
    return JSONResponse({"session": request.session})


ROUTES = [
    Route("/view", view_session),
    Route("/cart", add_to_cart, methods=["POST"]),
    Route("/sign-in", sign_in, methods=["POST"]),
    Route("/regenerate", regenerate_only, methods=["POST"]),
    Route("/regenerate-and-clear", regenerate_and_clear, methods=["POST"]),
]


def test_signing_in_keeps_the_data_under_a_new_token(client_factory: ClientFactory) -> None:
    client = client_factory(ROUTES)
    client.post("/cart?item=apple")
    old_cookie = client.cookies["session"]
    client.post("/sign-in?name=ada")
    assert client.cookies["session"] != old_cookie
    assert client.get("/view").json() == {"session": {"cart": ["apple"], "user": "ada"}}


def test_the_old_cookie_stops_working(client_factory: ClientFactory, memory_store: MemoryStore) -> None:
    client = client_factory(ROUTES)
    client.post("/cart?item=apple")
    old_cookie = client.cookies["session"]
    client.post("/sign-in?name=ada")
    client.cookies.clear()
    client.cookies.set("session", old_cookie)
    assert client.get("/view").json() == {"session": {}}
    assert len(memory_store.records) == 1


def test_regenerating_is_one_read_and_one_atomic_write(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    client = client_factory(ROUTES)
    client.post("/cart?item=apple")
    memory_store.take()
    response = client.post("/regenerate")
    assert memory_store.take() == ["read", "replace"]
    assert "set-cookie" in response.headers


def test_regenerating_a_new_session_is_one_write(client_factory: ClientFactory, memory_store: MemoryStore) -> None:
    response = client_factory(ROUTES).post("/sign-in?name=ada")
    assert response.json() == {"session": {"user": "ada"}}
    assert memory_store.take() == ["write"]


def test_regenerating_an_empty_session_writes_nothing(client_factory: ClientFactory, memory_store: MemoryStore) -> None:
    response = client_factory(ROUTES).post("/regenerate")
    assert memory_store.take() == []
    assert "set-cookie" not in response.headers


def test_regenerating_then_clearing_destroys_the_session(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    client = client_factory(ROUTES)
    client.post("/cart?item=apple")
    memory_store.take()
    client.post("/regenerate-and-clear")
    assert memory_store.take() == ["read", "remove"]
    assert memory_store.records == {}


def test_regenerating_without_the_middleware_is_a_clear_error() -> None:
    client = TestClient(Starlette(routes=ROUTES), raise_server_exceptions=True)
    with pytest.raises(RuntimeError, match="DynamoSessionMiddleware must be installed"):
        client.post("/regenerate")
