"""Answers that are not DynamoDB's are store failures, on both transports: a page or a cut-off body from a proxy or
a captive portal, an answer of the wrong shape, a checksum that never matches. Never "no session", never "stored",
never a 500."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

import boto3
import pytest
from aiohttp import web
from botocore.config import Config
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from starlette_dynamo_session import DynamoSessionMiddleware, DynamoStore, StoredSession, StoreUnavailable
from tests.support.loopback import RecordingProxy, Serve, answer

Transport = Literal["botocore", "aiohttp"]
TRANSPORTS: list[Transport] = ["botocore", "aiohttp"]
SECRET_KEY = "test-secret-key"


def html_page() -> web.Response:
    return web.Response(status=200, text="<html><body>Sign in to the network</body></html>", content_type="text/html")


def cut_off_json() -> web.Response:
    return web.Response(status=200, body=b'{"Item": {"token": {"S": "ab', content_type="application/x-amz-json-1.0")


def json_without_checksum() -> web.Response:
    return web.Response(status=200, body=b"{}", content_type="application/x-amz-json-1.0")


def checksum_not_a_number() -> web.Response:
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amz-crc32": "not-a-number"}
    return web.Response(status=200, body=b"{}", headers=headers)


def item_of_the_wrong_shape() -> web.Response:
    return answer({"Item": "x"})


def attribute_of_the_wrong_shape() -> web.Response:
    return answer({"Item": {"token": "x"}})


def checksum_that_never_matches() -> web.Response:
    return answer({}, crc=12345)


HOSTILE_ANSWERS: dict[str, Callable[[], web.Response]] = {
    "an HTML page": html_page,
    "cut-off JSON": cut_off_json,
    "JSON without x-amz-crc32": json_without_checksum,
    "a non-numeric x-amz-crc32": checksum_not_a_number,
    "an Item that is not a map": item_of_the_wrong_shape,
    "an attribute that is not a value": attribute_of_the_wrong_shape,
    "a checksum that never matches": checksum_that_never_matches,
}
# A write's answer has no Item: an unknown member is ignored, as botocore ignores it.
NOT_ABOUT_ITEMS = [name for name in HOSTILE_ANSWERS if "Item" not in name and "attribute" not in name]


def serving(serve: Serve, make: Callable[[], web.Response]) -> None:
    async def handle(request: web.Request) -> web.Response:
        return make()

    serve(handle)


def make_store(transport: Transport) -> DynamoStore:
    return DynamoStore(boto3.Session(), transport=transport, config=Config(connect_timeout=1, read_timeout=1))


def a_record() -> StoredSession:
    now = datetime.now(UTC)
    return StoredSession(data=b'{"a": 1}', created=now, expiry=now + timedelta(hours=1), version=1)


@pytest.mark.anyio
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("hostile", HOSTILE_ANSWERS)
async def test_a_read_answered_by_something_else_than_dynamodb_is_store_unavailable(
    serve: Serve, transport: Transport, hostile: str
) -> None:
    serving(serve, HOSTILE_ANSWERS[hostile])
    store = make_store(transport)
    with pytest.raises(StoreUnavailable, match="GetItem"):
        await store.read("token-1")
    await store.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("hostile", NOT_ABOUT_ITEMS)
async def test_a_write_answered_by_something_else_than_dynamodb_is_store_unavailable(
    serve: Serve, transport: Transport, hostile: str
) -> None:
    serving(serve, HOSTILE_ANSWERS[hostile])
    store = make_store(transport)
    with pytest.raises(StoreUnavailable, match="PutItem"):
        await store.write("token-1", a_record())
    await store.aclose()


@pytest.mark.parametrize("hostile", NOT_ABOUT_ITEMS)
def test_the_synchronous_methods_refuse_an_answer_that_is_not_dynamodbs(serve: Serve, hostile: str) -> None:
    serving(serve, HOSTILE_ANSWERS[hostile])
    store = make_store("botocore")
    with pytest.raises(StoreUnavailable, match="GetItem"):
        store.find("token-1")
    with pytest.raises(StoreUnavailable, match="UpdateItem"):
        store.save("token-1", b"data", datetime.now(UTC) + timedelta(hours=1))


@pytest.mark.anyio
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_answer_as_dynamodb_gives_it_is_still_read(serve: Serve, transport: Transport) -> None:
    serving(serve, lambda: answer({}))
    store = make_store(transport)
    assert await store.read("token-1") is None
    await store.write("token-1", a_record())
    await store.aclose()


# Through the middleware, with DynamoDB (moto's server) behind a proxy that answers some operations itself.


async def view(request: Request) -> JSONResponse:
    return JSONResponse(dict(request.session))


async def add(request: Request) -> JSONResponse:
    request.session[request.path_params["key"]] = True
    return JSONResponse(dict(request.session))


@pytest.fixture(params=TRANSPORTS)
def proxied(
    request: pytest.FixtureRequest, moto_server_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[TestClient, RecordingProxy, DynamoStore]:
    proxy = RecordingProxy(moto_server_endpoint)
    proxy.start()
    request.addfinalizer(proxy.stop)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.url)
    store = DynamoStore(boto3.Session(), table_name=f"hostile-{request.param}", transport=request.param)
    store.create_table()
    app = Starlette(
        routes=[Route("/", view), Route("/add/{key}", add, methods=["POST"])],
        middleware=[Middleware(DynamoSessionMiddleware, store=store, secret_key=SECRET_KEY)],
    )
    client = TestClient(app)
    request.addfinalizer(client.close)
    return client, proxy, store


def test_a_session_read_answered_by_a_captive_portal_gets_503_not_an_empty_session(
    proxied: tuple[TestClient, RecordingProxy, DynamoStore],
) -> None:
    client, proxy, _ = proxied
    assert client.post("/add/kept").status_code == 200
    proxy.intercept["GetItem"] = html_page
    response = client.get("/")
    assert response.status_code == 503
    assert "set-cookie" not in response.headers
    proxy.intercept.clear()
    assert client.get("/").json() == {"kept": True}


def test_a_session_write_answered_by_a_captive_portal_gets_503_and_no_cookie_for_unstored_data(
    proxied: tuple[TestClient, RecordingProxy, DynamoStore],
) -> None:
    client, proxy, _ = proxied
    assert client.post("/add/kept").status_code == 200
    cookie = client.cookies["session"]
    proxy.intercept["PutItem"] = html_page
    response = client.post("/add/lost")
    assert response.status_code == 503
    assert "set-cookie" not in response.headers
    proxy.intercept.clear()
    assert client.cookies["session"] == cookie
    assert client.get("/").json() == {"kept": True}


def test_a_malformed_answer_to_a_session_read_gets_503_not_500(
    proxied: tuple[TestClient, RecordingProxy, DynamoStore],
) -> None:
    client, proxy, _ = proxied
    assert client.post("/add/kept").status_code == 200
    proxy.intercept["GetItem"] = item_of_the_wrong_shape
    response = client.get("/")
    assert response.status_code == 503
    assert response.headers["retry-after"]
