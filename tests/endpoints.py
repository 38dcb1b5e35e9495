"""Small endpoints and helpers shared by the test modules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.testclient import TestClient

from starlette_dynamo_session import DynamoStore


async def view_session(request: Request) -> JSONResponse:
    return JSONResponse({"session": request.session})


async def update_session(request: Request) -> JSONResponse:
    request.session.update(await request.json())
    return JSONResponse({"session": request.session})


async def add_to_cart(request: Request) -> JSONResponse:
    request.session.setdefault("cart", []).append(request.query_params["item"])
    return JSONResponse({"session": request.session})


async def clear_session(request: Request) -> JSONResponse:
    request.session.clear()
    return JSONResponse({"session": request.session})


def later(seconds: float = 60) -> datetime:
    """An expiry ``seconds`` from now."""
    return datetime.now(UTC) + timedelta(seconds=seconds)


def raw_item(store: DynamoStore, token: str) -> dict[str, Any] | None:
    """The item stored for ``token``, read past the store (no expiry check)."""
    key = {store.token_name: {"S": store.key(token)}}
    item = store.client.get_item(TableName=store.table_name, Key=key, ConsistentRead=True).get("Item")
    return dict(item) if item is not None else None


def key_of(client: TestClient) -> str:
    """The session key the app behind ``client`` reports at its ``/whoami`` route."""
    key = client.get("/whoami").json()["key"]
    assert isinstance(key, str)
    return key
