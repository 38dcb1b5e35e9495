"""The request lifecycle of DynamoSessionMiddleware, with the store operations each request makes (on the in-memory
store; tests/dynamodb/test_end_to_end.py checks the same flows on DynamoDB, operation by operation)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import time

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from starlette_dynamo_session import DynamoSessionMiddleware, StoredSession, session_key
from tests.conftest import SECRET_KEY, ClientFactory
from tests.endpoints import add_to_cart, clear_session, update_session, view_session
from tests.support.memory_store import MemoryStore


async def append_in_place(request: Request) -> JSONResponse:
    request.session["cart"].append(request.query_params["item"])
    return JSONResponse({"session": request.session})


async def rewrite_same_value(request: Request) -> JSONResponse:
    request.session["user"] = request.session["user"]
    return JSONResponse({"session": request.session})


async def no_session_access(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


ROUTES = [
    Route("/view", view_session),
    Route("/update", update_session, methods=["POST"]),
    Route("/cart", add_to_cart, methods=["POST"]),
    Route("/append", append_in_place, methods=["POST"]),
    Route("/clear", clear_session, methods=["POST"]),
    Route("/same", rewrite_same_value, methods=["POST"]),
    Route("/plain", no_session_access),
]


def use_cookie(client: TestClient, value: str) -> TestClient:
    """The same client, now sending exactly this session cookie."""
    client.cookies.clear()
    client.cookies.set("session", value)
    return client


def only_record(store: MemoryStore) -> StoredSession:
    """The one record the store holds."""
    [record] = store.records.values()
    return record


def cookie_token(set_cookie: str) -> str:
    match = re.match(r"session=([^;]*);", set_cookie)
    assert match is not None
    return match[1]


def test_no_cookie_and_no_use_makes_no_dynamodb_call(client_factory: ClientFactory, memory_store: MemoryStore) -> None:
    response = client_factory(ROUTES).get("/plain")
    assert response.text == "ok"
    assert memory_store.take() == []
    assert "set-cookie" not in response.headers
    assert "vary" not in response.headers


def test_reading_an_empty_session_makes_no_dynamodb_call(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    response = client_factory(ROUTES).get("/view")
    assert response.json() == {"session": {}}
    assert memory_store.take() == []
    assert "set-cookie" not in response.headers


def test_the_first_write_is_one_write_and_no_read(client_factory: ClientFactory, memory_store: MemoryStore) -> None:
    response = client_factory(ROUTES).post("/update", json={"user": "ada"})
    assert response.json() == {"session": {"user": "ada"}}
    assert memory_store.take() == ["write"]
    assert "set-cookie" in response.headers


def test_a_read_only_request_is_one_read_and_no_cookie(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    client = client_factory(ROUTES)
    client.post("/update", json={"user": "ada"})
    memory_store.take()
    response = client.get("/view")
    assert response.json() == {"session": {"user": "ada"}}
    assert memory_store.take() == ["read"]
    assert "set-cookie" not in response.headers
    assert response.headers["vary"] == "Cookie"


def test_a_change_is_one_read_and_one_write(client_factory: ClientFactory, memory_store: MemoryStore) -> None:
    client = client_factory(ROUTES)
    client.post("/update", json={"user": "ada"})
    memory_store.take()
    response = client.post("/update", json={"theme": "dark"})
    assert response.json() == {"session": {"user": "ada", "theme": "dark"}}
    assert memory_store.take() == ["read", "write"]


def test_clearing_is_one_read_and_one_delete_and_expires_the_cookie(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    client = client_factory(ROUTES)
    token = cookie_token(client.post("/update", json={"user": "ada"}).headers["set-cookie"])
    memory_store.take()
    response = client.post("/clear")
    assert memory_store.take() == ["read", "remove"]
    assert "expires=Thu, 01 Jan 1970 00:00:00 GMT" in response.headers["set-cookie"]
    assert memory_store.records == {}
    assert use_cookie(client, token).get("/view").json() == {"session": {}}


def test_writing_the_same_value_again_is_not_a_change(client_factory: ClientFactory, memory_store: MemoryStore) -> None:
    client = client_factory(ROUTES)
    client.post("/update", json={"user": "ada"})
    memory_store.take()
    response = client.post("/same")
    assert memory_store.take() == ["read"]
    assert "set-cookie" not in response.headers


def test_a_nested_change_is_saved(client_factory: ClientFactory) -> None:
    client = client_factory(ROUTES)
    client.post("/cart?item=apple")
    client.post("/append?item=pear")
    assert client.get("/view").json() == {"session": {"cart": ["apple", "pear"]}}


def test_the_cookie_holds_only_a_signed_opaque_token(client_factory: ClientFactory) -> None:
    response = client_factory(ROUTES).post("/update", json={"user": "ada-lovelace"})
    value = cookie_token(response.headers["set-cookie"])
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}", value)
    assert "ada" not in value


def test_the_cookie_carries_starlettes_attributes(client_factory: ClientFactory) -> None:
    response = client_factory(ROUTES).post("/update", json={"a": 1})
    attributes = response.headers["set-cookie"].split("; ")[1:]
    assert attributes == ["path=/", "Max-Age=1209600", "httponly", "samesite=lax"]


def test_custom_cookie_options_are_applied(client_factory: ClientFactory) -> None:
    client = client_factory(
        ROUTES,
        base_url="https://testserver",
        session_cookie="sid",
        max_age=600,
        path="/",
        same_site="strict",
        https_only=True,
        domain="example.com",
        partitioned=True,
    )
    set_cookie = client.post("/update", json={"a": 1}).headers["set-cookie"]
    assert set_cookie.startswith("sid=")
    assert set_cookie.split("; ")[1:] == [
        "path=/",
        "Max-Age=600",
        "httponly",
        "samesite=strict",
        "secure",
        "domain=example.com",
        "partitioned",
    ]


def test_a_browser_session_cookie_has_no_max_age_but_the_item_expires_in_14_days(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    client = client_factory(ROUTES, max_age=None)
    set_cookie = client.post("/update", json={"a": 1}).headers["set-cookie"]
    assert "Max-Age" not in set_cookie
    assert only_record(memory_store).expiry.timestamp() == pytest.approx(time.time() + 14 * 24 * 3600, abs=60)


def test_max_age_is_an_absolute_lifetime_from_creation(
    client_factory: ClientFactory, memory_store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_factory(ROUTES, max_age=1000)
    created = time.time()
    monkeypatch.setattr(time, "time", lambda: created)
    client.post("/update", json={"a": 1})
    monkeypatch.setattr(time, "time", lambda: created + 400)
    set_cookie = client.post("/update", json={"b": 2}).headers["set-cookie"]
    assert re.search(r"Max-Age=600;", set_cookie)
    assert only_record(memory_store).expiry.timestamp() == pytest.approx(created + 1000)


def test_a_session_past_its_max_age_is_empty(client_factory: ClientFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    client = client_factory(ROUTES, max_age=100)
    client.post("/update", json={"a": 1})
    start = time.time()
    monkeypatch.setattr(time, "time", lambda: start + 101)
    assert client.get("/view").json() == {"session": {}}


def test_a_negative_max_age_stores_nothing_and_expires_the_cookie(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    response = client_factory(ROUTES, max_age=-1).post("/update", json={"a": 1})
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith("session=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0;")
    assert memory_store.take() == []
    assert memory_store.records == {}


def test_an_unknown_token_gives_an_empty_session_and_is_never_adopted(client_factory: ClientFactory) -> None:
    client = client_factory(ROUTES)
    planted = cookie_token(client.post("/update", json={"a": 1}).headers["set-cookie"])
    client.post("/clear")
    response = use_cookie(client, planted).post("/update", json={"b": 2})
    assert response.json() == {"session": {"b": 2}}
    assert cookie_token(response.headers["set-cookie"]) != planted


def test_a_forged_cookie_is_an_empty_session_without_a_store_read(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    client = client_factory(ROUTES)
    token = cookie_token(client.post("/update", json={"a": 1}).headers["set-cookie"])
    memory_store.take()
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    response = use_cookie(client, forged).get("/view")
    assert response.json() == {"session": {}}
    assert memory_store.take() == []


def test_a_cookie_signed_with_another_key_is_refused(client_factory: ClientFactory, memory_store: MemoryStore) -> None:
    other = client_factory(ROUTES, secret_key="another-key")
    token = cookie_token(other.post("/update", json={"a": 1}).headers["set-cookie"])
    memory_store.take()
    response = use_cookie(client_factory(ROUTES), token).get("/view")
    assert response.json() == {"session": {}}
    assert memory_store.take() == []


@pytest.mark.parametrize("data", [b"not json", b"[1, 2]", b"\xff\xfe", b'"text"'])
def test_stored_bytes_that_are_not_a_session_are_treated_as_unknown(
    client_factory: ClientFactory, memory_store: MemoryStore, data: bytes
) -> None:
    client = client_factory(ROUTES)
    client.post("/update", json={"a": 1})
    [(token, record)] = memory_store.records.items()
    memory_store.records[token] = dataclasses.replace(record, data=data)
    response = client.get("/view")
    assert response.json() == {"session": {}}
    assert "set-cookie" not in response.headers


def test_the_record_holds_the_session_as_json_with_its_creation_time(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    client_factory(ROUTES).post("/update", json={"user": "ada", "n": 1})
    record = only_record(memory_store)
    assert json.loads(record.data) == {"user": "ada", "n": 1}
    assert record.created.timestamp() == pytest.approx(time.time(), abs=60)
    assert record.version == 1


def test_other_scopes_pass_through(memory_store: MemoryStore) -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])
        assert "session" not in scope

    middleware = DynamoSessionMiddleware(app, store=memory_store, secret_key=SECRET_KEY)
    anyio.run(middleware, {"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"]


@pytest.mark.anyio
async def test_works_through_an_async_client(memory_store: MemoryStore) -> None:
    app = Starlette(routes=ROUTES, middleware=[Middleware(DynamoSessionMiddleware, store=memory_store, secret_key="k")])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        await client.post("/cart?item=apple")
        await client.post("/cart?item=pear")
        response = await client.get("/view")
    assert response.json() == {"session": {"cart": ["apple", "pear"]}}
    assert memory_store.take() == ["write", "read", "write", "read"]


def test_an_invalid_cookie_name_is_refused(memory_store: MemoryStore) -> None:
    with pytest.raises(ValueError, match="invalid cookie name"):
        DynamoSessionMiddleware(view_session, store=memory_store, secret_key="k", session_cookie="bad name;")  # type: ignore[arg-type]


def test_a_missing_secret_key_is_refused(memory_store: MemoryStore) -> None:
    with pytest.raises(ValueError, match="secret_key"):
        DynamoSessionMiddleware(view_session, store=memory_store, secret_key=[])  # type: ignore[arg-type]


async def show_key(request: Request) -> JSONResponse:
    return JSONResponse({"key": session_key(request)})


def test_session_key_is_none_until_the_session_is_stored_and_then_the_digest_of_its_token(
    client_factory: ClientFactory,
) -> None:
    client = client_factory([*ROUTES, Route("/key", show_key)])
    assert client.get("/key").json() == {"key": None}
    token = cookie_token(client.post("/update", json={"a": 1}).headers["set-cookie"]).split(".")[0]
    digest = hashlib.sha256(token.encode()).digest()
    assert client.get("/key").json() == {"key": base64.urlsafe_b64encode(digest).rstrip(b"=").decode()}


def test_session_key_without_the_middleware_is_a_clear_error() -> None:
    client = TestClient(Starlette(routes=[Route("/key", show_key)]))
    with pytest.raises(RuntimeError, match="DynamoSessionMiddleware must be installed"):
        client.get("/key")
