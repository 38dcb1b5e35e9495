"""The middleware in a FastAPI application, exactly as with Starlette's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from starlette.testclient import TestClient

from starlette_dynamo_session import (
    Authentication,
    DynamoSessionMiddleware,
    DynamoStore,
    mark_authenticated,
    regenerate_session,
    require_authentication,
)
from tests.conftest import SECRET_KEY


def make_app(store: DynamoStore, **options: Any) -> FastAPI:
    app = FastAPI()
    app.add_middleware(DynamoSessionMiddleware, store=store, secret_key=SECRET_KEY, **options)

    @app.get("/items")
    def list_items(request: Request) -> dict[str, Any]:
        return {"items": request.session.get("items", [])}

    @app.post("/items/{name}")
    async def add_item(name: str, request: Request) -> dict[str, Any]:
        request.session.setdefault("items", []).append(name)
        return {"items": request.session["items"]}

    @app.post("/login/{user}")
    async def login(user: str, request: Request) -> dict[str, str]:
        regenerate_session(request)
        request.session["user"] = user
        return {"user": user}

    return app


def test_a_fastapi_app_keeps_its_session_in_dynamodb(store: DynamoStore) -> None:
    client = TestClient(make_app(store))
    client.post("/items/apple")
    client.post("/items/pear")
    assert client.get("/items").json() == {"items": ["apple", "pear"]}
    assert store.client.scan(TableName=store.table_name)["Count"] == 1


def test_sync_endpoints_read_the_session_too(store: DynamoStore) -> None:
    client = TestClient(make_app(store))
    client.post("/items/apple")
    assert client.get("/items").json() == {"items": ["apple"]}


def test_regenerate_session_works_in_fastapi(store: DynamoStore) -> None:
    client = TestClient(make_app(store))
    client.post("/items/apple")
    before = client.cookies["session"]
    client.post("/login/ada")
    assert client.cookies["session"] != before
    assert client.get("/items").json() == {"items": ["apple"]}


@pytest.mark.anyio
async def test_an_api_client_keeps_its_session_through_the_header_without_cookies(store: DynamoStore) -> None:
    app = make_app(store, session_header="X-Session-Token")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        login = await client.post("/login/ada", headers={"X-Session-Token": ""})
        token = login.headers["x-session-token"]
        added = await client.post("/items/pear", headers={"X-Session-Token": token})
        listed = await client.get("/items", headers={"X-Session-Token": token})
        logged_out = await client.get("/items", headers={"X-Session-Token": ""})
    assert not client.cookies
    assert "set-cookie" not in login.headers
    assert added.json() == listed.json() == {"items": ["pear"]}
    assert logged_out.json() == {"items": []}
    assert "X-Session-Token" in listed.headers["vary"]


def test_require_authentication_is_a_fastapi_dependency_answering_401_until_a_recent_strong_enough_sign_in(
    store: DynamoStore, clock: Callable[[float], None]
) -> None:
    app = make_app(store)

    @app.post("/sign-in/{level}")
    def sign_in(level: int, request: Request) -> dict[str, str]:
        request.session["user"] = "ada"
        mark_authenticated(request, level=level)
        return {"signed_in": "ada"}

    @app.post("/change-password")
    def change_password(
        found: Annotated[Authentication, Depends(require_authentication(max_age=300, level=2))],
    ) -> dict[str, int]:
        return {"level": found.level}

    client = TestClient(app)
    assert client.post("/change-password").status_code == 401  # no authentication
    client.post("/sign-in/1")
    assert client.post("/change-password").status_code == 401  # below the level
    client.post("/sign-in/2")
    assert client.post("/change-password").json() == {"level": 2}
    clock(301)
    assert client.post("/change-password").status_code == 401  # stale
