"""Under Litestar, through its own middleware door: ``request.session``, ``request.set_session(mapping)`` and
``request.clear_session()`` behave as with Litestar's own server-side sessions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar, Request, get, post
from litestar.middleware import DefineMiddleware
from litestar.testing import TestClient

from starlette_dynamo_session import DynamoSessionMiddleware, DynamoStore
from tests.conftest import SECRET_KEY
from tests.support.memory_store import MemoryStore
from tests.support.recorder import OperationRecorder

LitestarRequest = Request[Any, Any, Any]


@get("/")
async def view(request: LitestarRequest) -> dict[str, Any]:
    return dict(request.session)


@post("/set/{key:str}")
async def set_key(request: LitestarRequest) -> dict[str, Any]:
    request.session[request.path_params["key"]] = True
    return dict(request.session)


@post("/replace")
async def replace(request: LitestarRequest) -> None:
    request.set_session({"user": "ada"})


@post("/replace-with-nothing")
async def replace_with_nothing(request: LitestarRequest) -> None:
    request.set_session({})


@post("/clear")
async def clear(request: LitestarRequest) -> None:
    request.clear_session()


def litestar_client(store: object) -> TestClient[Litestar]:
    app = Litestar(
        route_handlers=[view, set_key, replace, replace_with_nothing, clear],
        # Litestar types ASGI scopes as TypedDicts and Starlette as mutable mappings: the same dicts at run time.
        middleware=[DefineMiddleware(DynamoSessionMiddleware, store=store, secret_key=SECRET_KEY)],  # type: ignore[arg-type]
    )
    return TestClient(app=app)


@pytest.fixture
def client(memory_store: MemoryStore) -> Iterator[TestClient[Litestar]]:
    with litestar_client(memory_store) as client:
        yield client


def test_request_session_reads_and_changes_the_session(client: TestClient[Litestar]) -> None:
    client.post("/set/first")
    client.post("/set/second")
    assert client.get("/").json() == {"first": True, "second": True}


def test_set_session_replaces_the_data(client: TestClient[Litestar], memory_store: MemoryStore) -> None:
    client.post("/set/first")
    [token] = memory_store.live()
    client.post("/replace")
    assert client.get("/").json() == {"user": "ada"}
    assert list(memory_store.live()) == [token]


def test_clear_session_deletes_the_item_and_expires_the_cookie(
    client: TestClient[Litestar], memory_store: MemoryStore
) -> None:
    client.post("/set/first")
    response = client.post("/clear")
    assert re.search(r"session=;.*Max-Age=0", response.headers["set-cookie"])
    assert memory_store.live() == {}
    assert client.get("/").json() == {}


def test_setting_an_empty_session_ends_it(client: TestClient[Litestar], memory_store: MemoryStore) -> None:
    client.post("/set/first")
    response = client.post("/replace-with-nothing")
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert memory_store.live() == {}


def test_a_request_that_does_not_touch_the_session_writes_nothing(
    client: TestClient[Litestar], memory_store: MemoryStore
) -> None:
    client.post("/set/first")
    memory_store.take()
    response = client.get("/")
    assert "set-cookie" not in response.headers
    assert memory_store.take() == ["read"]


def test_clear_session_on_dynamodb_deletes_the_item(moto_store: DynamoStore, moto_recorder: OperationRecorder) -> None:
    with litestar_client(moto_store) as client:
        client.post("/set/first")
        assert moto_store.client.scan(TableName=moto_store.table_name)["Count"] == 1
        moto_recorder.take()
        response = client.post("/clear")
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert moto_recorder.take() == ["GetItem", "DeleteItem"]
    assert moto_store.client.scan(TableName=moto_store.table_name)["Count"] == 0
