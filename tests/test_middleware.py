"""The request lifecycle of DynamoSessionMiddleware, with the DynamoDB operations each request makes."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from starlette_dynamo_session import DynamoSessionMiddleware, DynamoStore
from starlette_dynamo_session._session import decode_payload
from tests.conftest import SECRET_KEY, ClientFactory
from tests.endpoints import add_to_cart, clear_session, update_session, view_session
from tests.support.recorder import OperationRecorder


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


def cookie_token(set_cookie: str) -> str:
    match = re.match(r"session=([^;]*);", set_cookie)
    assert match is not None
    return match[1]


def test_no_cookie_and_no_use_makes_no_dynamodb_call(
    client_factory: ClientFactory, recorder: OperationRecorder
) -> None:
    response = client_factory(ROUTES).get("/plain")
    assert response.text == "ok"
    assert recorder.take() == []
    assert "set-cookie" not in response.headers
    assert "vary" not in response.headers


def test_reading_an_empty_session_makes_no_dynamodb_call(
    client_factory: ClientFactory, recorder: OperationRecorder
) -> None:
    response = client_factory(ROUTES).get("/view")
    assert response.json() == {"session": {}}
    assert recorder.take() == []
    assert "set-cookie" not in response.headers


def test_the_first_write_is_one_write_and_no_read(client_factory: ClientFactory, recorder: OperationRecorder) -> None:
    response = client_factory(ROUTES).post("/update", json={"user": "ada"})
    assert response.json() == {"session": {"user": "ada"}}
    assert recorder.take() == ["UpdateItem"]
    assert "set-cookie" in response.headers


def test_a_read_only_request_is_one_read_and_no_cookie(
    client_factory: ClientFactory, recorder: OperationRecorder
) -> None:
    client = client_factory(ROUTES)
    client.post("/update", json={"user": "ada"})
    recorder.take()
    response = client.get("/view")
    assert response.json() == {"session": {"user": "ada"}}
    assert recorder.take() == ["GetItem"]
    assert "set-cookie" not in response.headers
    assert response.headers["vary"] == "Cookie"


def test_a_change_is_one_read_and_one_write(client_factory: ClientFactory, recorder: OperationRecorder) -> None:
    client = client_factory(ROUTES)
    client.post("/update", json={"user": "ada"})
    recorder.take()
    response = client.post("/update", json={"theme": "dark"})
    assert response.json() == {"session": {"user": "ada", "theme": "dark"}}
    assert recorder.take() == ["GetItem", "UpdateItem"]


def test_clearing_is_one_read_and_one_delete_and_expires_the_cookie(
    client_factory: ClientFactory, recorder: OperationRecorder, store: DynamoStore
) -> None:
    client = client_factory(ROUTES)
    token = cookie_token(client.post("/update", json={"user": "ada"}).headers["set-cookie"])
    recorder.take()
    response = client.post("/clear")
    assert recorder.take() == ["GetItem", "DeleteItem"]
    assert "expires=Thu, 01 Jan 1970 00:00:00 GMT" in response.headers["set-cookie"]
    assert store.client.scan(TableName=store.table_name)["Count"] == 0
    assert use_cookie(client, token).get("/view").json() == {"session": {}}


def test_writing_the_same_value_again_is_not_a_change(
    client_factory: ClientFactory, recorder: OperationRecorder
) -> None:
    client = client_factory(ROUTES)
    client.post("/update", json={"user": "ada"})
    recorder.take()
    response = client.post("/same")
    assert recorder.take() == ["GetItem"]
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
    client_factory: ClientFactory, store: DynamoStore
) -> None:
    client = client_factory(ROUTES, max_age=None)
    set_cookie = client.post("/update", json={"a": 1}).headers["set-cookie"]
    assert "Max-Age" not in set_cookie
    item = store.client.scan(TableName=store.table_name)["Items"][0]
    assert float(item["expiry"]["N"]) == pytest.approx(time.time() + 14 * 24 * 3600, abs=60)


def test_max_age_is_an_absolute_lifetime_from_creation(
    client_factory: ClientFactory, store: DynamoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_factory(ROUTES, max_age=1000)
    client.post("/update", json={"a": 1})
    created = time.time()
    monkeypatch.setattr(time, "time", lambda: created + 400)
    set_cookie = client.post("/update", json={"b": 2}).headers["set-cookie"]
    max_age = int(re.search(r"Max-Age=(-?\d+)", set_cookie)[1])  # type: ignore[index]
    assert 599 <= max_age <= 600
    item = store.client.scan(TableName=store.table_name)["Items"][0]
    assert float(item["expiry"]["N"]) == pytest.approx(created + 1000, abs=5)


def test_a_session_past_its_max_age_is_empty(client_factory: ClientFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    client = client_factory(ROUTES, max_age=100)
    client.post("/update", json={"a": 1})
    start = time.time()
    monkeypatch.setattr(time, "time", lambda: start + 101)
    assert client.get("/view").json() == {"session": {}}


def test_a_negative_max_age_stores_nothing(
    client_factory: ClientFactory, recorder: OperationRecorder, store: DynamoStore
) -> None:
    response = client_factory(ROUTES, max_age=-1).post("/update", json={"a": 1})
    assert "Max-Age=-1" in response.headers["set-cookie"]
    assert recorder.take() == []
    assert store.client.scan(TableName=store.table_name)["Count"] == 0


def test_an_unknown_token_gives_an_empty_session_and_is_never_adopted(client_factory: ClientFactory) -> None:
    client = client_factory(ROUTES)
    planted = cookie_token(client.post("/update", json={"a": 1}).headers["set-cookie"])
    client.post("/clear")
    response = use_cookie(client, planted).post("/update", json={"b": 2})
    assert response.json() == {"session": {"b": 2}}
    assert cookie_token(response.headers["set-cookie"]) != planted


def test_a_forged_cookie_is_an_empty_session_without_a_store_read(
    client_factory: ClientFactory, recorder: OperationRecorder
) -> None:
    client = client_factory(ROUTES)
    token = cookie_token(client.post("/update", json={"a": 1}).headers["set-cookie"])
    recorder.take()
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    response = use_cookie(client, forged).get("/view")
    assert response.json() == {"session": {}}
    assert recorder.take() == []


def test_a_cookie_signed_with_another_key_is_refused(
    client_factory: ClientFactory, store: DynamoStore, recorder: OperationRecorder
) -> None:
    other = client_factory(ROUTES, secret_key="another-key")
    token = cookie_token(other.post("/update", json={"a": 1}).headers["set-cookie"])
    recorder.take()
    response = use_cookie(client_factory(ROUTES), token).get("/view")
    assert response.json() == {"session": {}}
    assert recorder.take() == []


def test_stored_bytes_that_are_not_a_session_are_treated_as_unknown(
    client_factory: ClientFactory, store: DynamoStore
) -> None:
    client = client_factory(ROUTES)
    signed = cookie_token(client.post("/update", json={"a": 1}).headers["set-cookie"])
    token = signed.split(".")[0]
    store.save(token, b"not json", store.load(token).expiry)  # type: ignore[union-attr]
    assert client.get("/view").json() == {"session": {}}


def test_the_item_stores_the_session_as_json_with_its_creation_time(
    client_factory: ClientFactory, store: DynamoStore
) -> None:
    client_factory(ROUTES).post("/update", json={"user": "ada", "n": 1})
    item = store.client.scan(TableName=store.table_name)["Items"][0]
    decoded = decode_payload(bytes(item["data"]["B"]))
    assert decoded is not None
    created, data = decoded
    assert data == {"user": "ada", "n": 1}
    assert created == pytest.approx(time.time(), abs=60)
    assert json.loads(item["data"]["B"])["session"] == data


def test_other_scopes_pass_through(store: DynamoStore) -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])
        assert "session" not in scope

    middleware = DynamoSessionMiddleware(app, store=store, secret_key=SECRET_KEY)
    import anyio

    anyio.run(middleware, {"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"]


@pytest.mark.anyio
async def test_works_through_an_async_client(store: DynamoStore, recorder: OperationRecorder) -> None:
    app = Starlette(routes=ROUTES, middleware=[Middleware(DynamoSessionMiddleware, store=store, secret_key="k")])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        await client.post("/cart?item=apple")
        await client.post("/cart?item=pear")
        response = await client.get("/view")
    assert response.json() == {"session": {"cart": ["apple", "pear"]}}
    assert recorder.take() == ["UpdateItem", "GetItem", "UpdateItem", "GetItem"]


def test_an_invalid_cookie_name_is_refused(store: DynamoStore) -> None:
    with pytest.raises(ValueError, match="invalid cookie name"):
        DynamoSessionMiddleware(view_session, store=store, secret_key="k", session_cookie="bad name;")  # type: ignore[arg-type]


def test_a_missing_secret_key_is_refused(store: DynamoStore) -> None:
    with pytest.raises(ValueError, match="secret_key"):
        DynamoSessionMiddleware(view_session, store=store, secret_key=[])  # type: ignore[arg-type]
