"""The middleware on DynamoDB itself (moto and DynamoDB Local; real AWS with TEST_ON_AWS=1), and on each transport
case (moto's server and DynamoDB Local, over botocore and over aiohttp): what each request costs in DynamoDB calls, and
what the stored item holds."""

from __future__ import annotations

import json
import time
from typing import cast

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from starlette_dynamo_session import DynamoStore, regenerate_session, session_key, set_session_max_age
from tests.conftest import ClientFactory, Recorder
from tests.endpoints import clear_session, raw_item, update_session, view_session

pytestmark = pytest.mark.every_transport


@pytest.fixture(params=[True, False], ids=["sealed", "plain"])
def seal_data(request: pytest.FixtureRequest) -> bool:
    """Every flow holds whether the store seals its data or not."""
    return cast(bool, request.param)


async def regenerate(request: Request) -> JSONResponse:
    regenerate_session(request)
    return JSONResponse({"session": request.session})


async def show_key(request: Request) -> JSONResponse:
    return JSONResponse({"key": session_key(request)})


async def anonymous(request: Request) -> JSONResponse:
    return JSONResponse({})


async def remember(request: Request) -> JSONResponse:
    value = request.query_params["max_age"]
    set_session_max_age(request, None if value == "browser" else int(value))
    return JSONResponse({})


ROUTES = [
    Route("/", anonymous),
    Route("/view", view_session),
    Route("/update", update_session, methods=["POST"]),
    Route("/clear", clear_session, methods=["POST"]),
    Route("/regenerate", regenerate, methods=["POST"]),
    Route("/key", show_key),
    Route("/remember", remember, methods=["POST"]),
    Route("/static/app.css", anonymous),
]


def test_each_kind_of_request_costs_the_documented_dynamodb_calls(
    dynamo_client_factory: ClientFactory, recorder: Recorder
) -> None:
    client = dynamo_client_factory(ROUTES)
    costs = {}
    for name, method, path, body in [
        ("anonymous", "GET", "/", None),
        ("first write", "POST", "/update", {"user": "ada"}),
        ("read-only", "GET", "/view", None),
        ("change", "POST", "/update", {"n": 1}),
        ("regenerate", "POST", "/regenerate", None),
        ("clear", "POST", "/clear", None),
    ]:
        assert client.request(method, path, json=body).status_code == 200
        costs[name] = recorder.take()
    assert costs == {
        "anonymous": [],
        "first write": ["PutItem"],
        "read-only": ["GetItem"],
        "change": ["GetItem", "PutItem"],
        "regenerate": ["GetItem", "TransactWriteItems"],
        "clear": ["GetItem", "DeleteItem"],
    }


def test_the_item_holds_the_session_json_sealed_or_plain_its_creation_and_expiry_and_a_version(
    dynamo_client_factory: ClientFactory, store: DynamoStore
) -> None:
    client = dynamo_client_factory(ROUTES, max_age=1000)
    client.post("/update", json={"user": "ada", "cart": ["pear"]})
    client.post("/update", json={"n": 1})
    [item] = store.client.scan(TableName=store.table_name)["Items"]
    assert set(item) == {"token", "data", "created", "expiry", "ttl", "version"}
    session = {"user": "ada", "cart": ["pear"], "n": 1}
    token = client.cookies["session"].split(".")[0]
    assert json.loads(store.find(token) or b"") == session
    assert (b"ada" in bytes(item["data"]["B"])) is not store.seal_data
    created, expiry = float(item["created"]["N"]), float(item["expiry"]["N"])
    assert created == pytest.approx(time.time(), abs=60)
    assert expiry == pytest.approx(created + 1000, abs=1e-6)
    assert int(item["ttl"]["N"]) == -int(-expiry // 1)
    assert item["version"] == {"N": "2"}


def test_the_session_key_is_the_items_key_and_not_the_token(
    dynamo_client_factory: ClientFactory, store: DynamoStore
) -> None:
    client = dynamo_client_factory(ROUTES)
    assert client.get("/key").json() == {"key": None}
    client.post("/update", json={"user": "ada"})
    key = client.get("/key").json()["key"]
    token = client.cookies["session"].split(".")[0]
    assert key == store.key(token) != token
    assert raw_item(store, token) is not None


def test_an_idle_session_is_refreshed_on_dynamodb_once_a_tenth_of_its_window_has_passed(
    dynamo_client_factory: ClientFactory, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = dynamo_client_factory(ROUTES, idle_timeout=100)
    client.post("/update", json={"user": "ada"})
    recorder.take()
    start = time.time()
    monkeypatch.setattr(time, "time", lambda: start + 11)
    response = client.get("/view")
    assert response.json() == {"session": {"user": "ada"}}
    assert recorder.take() == ["GetItem", "PutItem"]
    assert "set-cookie" not in response.headers


def test_an_expired_item_is_an_empty_session_before_dynamodb_deletes_it(
    dynamo_client_factory: ClientFactory, store: DynamoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = dynamo_client_factory(ROUTES, max_age=100)
    client.post("/update", json={"user": "ada"})
    start = time.time()
    monkeypatch.setattr(time, "time", lambda: start + 101)
    assert client.get("/view").json() == {"session": {}}
    assert store.client.scan(TableName=store.table_name)["Count"] == 1


def test_a_skipped_path_with_a_session_cookie_costs_no_dynamodb_call(
    dynamo_client_factory: ClientFactory, recorder: Recorder
) -> None:
    client = dynamo_client_factory(ROUTES, skip_paths=["/static"])
    client.post("/update", json={"user": "ada"})
    recorder.take()
    response = client.get("/static/app.css")
    assert (response.status_code, recorder.take()) == (200, [])
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(("max_age", "stored"), [("2592000", {"N": "2592000"}), ("browser", {"NULL": True})])
def test_a_sessions_own_lifetime_is_stored_in_its_item(
    dynamo_client_factory: ClientFactory, store: DynamoStore, max_age: str, stored: dict[str, object]
) -> None:
    client = dynamo_client_factory(ROUTES)
    client.post("/update", json={"user": "ada"})
    client.post(f"/remember?max_age={max_age}")
    [item] = store.client.scan(TableName=store.table_name)["Items"]
    assert item["max_age"] == stored
    client.post("/update", json={"n": 1})  # kept by later writes
    [item] = store.client.scan(TableName=store.table_name)["Items"]
    assert item["max_age"] == stored
