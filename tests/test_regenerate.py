"""regenerate_session: a new token on sign-in, the data kept, the old token dead."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from starlette_dynamo_session import DynamoStore, regenerate_session
from tests.conftest import ClientFactory
from tests.endpoints import add_to_cart, view_session
from tests.support.recorder import OperationRecorder


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


def test_the_old_cookie_stops_working(client_factory: ClientFactory, store: DynamoStore) -> None:
    client = client_factory(ROUTES)
    client.post("/cart?item=apple")
    old_cookie = client.cookies["session"]
    client.post("/sign-in?name=ada")
    client.cookies.clear()
    client.cookies.set("session", old_cookie)
    assert client.get("/view").json() == {"session": {}}
    assert store.client.scan(TableName=store.table_name)["Count"] == 1


def test_regenerating_is_one_read_and_one_atomic_write(
    client_factory: ClientFactory, recorder: OperationRecorder
) -> None:
    client = client_factory(ROUTES)
    client.post("/cart?item=apple")
    recorder.take()
    response = client.post("/regenerate")
    assert recorder.take() == ["GetItem", "TransactWriteItems"]
    assert "set-cookie" in response.headers


def test_regenerating_a_new_session_is_one_write(client_factory: ClientFactory, recorder: OperationRecorder) -> None:
    response = client_factory(ROUTES).post("/sign-in?name=ada")
    assert response.json() == {"session": {"user": "ada"}}
    assert recorder.take() == ["UpdateItem"]


def test_regenerating_an_empty_session_writes_nothing(
    client_factory: ClientFactory, recorder: OperationRecorder
) -> None:
    response = client_factory(ROUTES).post("/regenerate")
    assert recorder.take() == []
    assert "set-cookie" not in response.headers


def test_regenerating_then_clearing_destroys_the_session(
    client_factory: ClientFactory, store: DynamoStore, recorder: OperationRecorder
) -> None:
    client = client_factory(ROUTES)
    client.post("/cart?item=apple")
    recorder.take()
    client.post("/regenerate-and-clear")
    assert recorder.take() == ["GetItem", "DeleteItem"]
    assert store.client.scan(TableName=store.table_name)["Count"] == 0


def test_regenerating_without_the_middleware_is_a_clear_error() -> None:
    client = TestClient(Starlette(routes=ROUTES), raise_server_exceptions=True)
    with pytest.raises(RuntimeError, match="DynamoSessionMiddleware must be installed"):
        client.post("/regenerate")
