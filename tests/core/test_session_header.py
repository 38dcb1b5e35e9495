"""session_header: the same signed token in a header, for API clients that keep no cookies."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from starlette_dynamo_session import DynamoSessionMiddleware, regenerate_session
from tests.conftest import ClientFactory
from tests.endpoints import clear_session, update_session, view_session
from tests.support.memory_store import MemoryStore

HEADER = "X-Session-Token"


async def regenerate(request: Request) -> JSONResponse:
    regenerate_session(request)
    return JSONResponse({"session": request.session})


ROUTES = [
    Route("/view", view_session),
    Route("/update", update_session, methods=["POST"]),
    Route("/clear", clear_session, methods=["POST"]),
    Route("/regenerate", regenerate, methods=["POST"]),
]


def test_a_client_without_a_token_sends_the_header_empty_and_gets_one_back_without_a_cookie(
    client_factory: ClientFactory,
) -> None:
    response = client_factory(ROUTES, session_header=HEADER).post("/update", json={"user": "ada"}, headers={HEADER: ""})
    assert response.headers[HEADER].count(".") == 1
    assert "set-cookie" not in response.headers


def test_the_token_in_the_header_opens_the_session(client_factory: ClientFactory) -> None:
    client = client_factory(ROUTES, session_header=HEADER)
    token = client.post("/update", json={"user": "ada"}, headers={HEADER: ""}).headers[HEADER]
    response = client.get("/view", headers={HEADER: token})
    assert response.json() == {"session": {"user": "ada"}}
    assert HEADER not in response.headers  # nothing changed: nothing to send back


def test_a_request_with_the_header_ignores_any_cookie(client_factory: ClientFactory) -> None:
    client = client_factory(ROUTES, session_header=HEADER)
    client.post("/update", json={"from": "cookie"})
    assert "session" in client.cookies
    response = client.get("/view", headers={HEADER: ""})
    assert response.json() == {"session": {}}


def test_a_request_without_the_header_is_served_from_its_cookie(client_factory: ClientFactory) -> None:
    client = client_factory(ROUTES, session_header=HEADER)
    response = client.post("/update", json={"user": "ada"})
    assert "set-cookie" in response.headers
    assert HEADER not in response.headers
    assert client.get("/view").json() == {"session": {"user": "ada"}}


@pytest.mark.parametrize("value", ["garbage", "a" * 43 + "." + "b" * 43, "x" * 10_000])
def test_a_forged_or_garbage_header_is_an_empty_session_without_a_store_read(
    client_factory: ClientFactory, memory_store: MemoryStore, value: str
) -> None:
    response = client_factory(ROUTES, session_header=HEADER).get("/view", headers={HEADER: value})
    assert response.json() == {"session": {}}
    assert memory_store.take() == []


def test_a_tampered_token_is_refused(client_factory: ClientFactory, memory_store: MemoryStore) -> None:
    client = client_factory(ROUTES, session_header=HEADER)
    token = client.post("/update", json={"user": "ada"}, headers={HEADER: ""}).headers[HEADER]
    memory_store.take()
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get("/view", headers={HEADER: tampered}).json() == {"session": {}}
    assert memory_store.take() == []


def test_an_unknown_token_is_never_adopted(client_factory: ClientFactory) -> None:
    client = client_factory(ROUTES, session_header=HEADER)
    token = client.post("/update", json={"a": 1}, headers={HEADER: ""}).headers[HEADER]
    client.post("/clear", headers={HEADER: token})
    response = client.post("/update", json={"b": 2}, headers={HEADER: token})
    assert response.json() == {"session": {"b": 2}}
    assert response.headers[HEADER] != token


def test_clearing_the_session_answers_an_empty_header(client_factory: ClientFactory, memory_store: MemoryStore) -> None:
    client = client_factory(ROUTES, session_header=HEADER)
    token = client.post("/update", json={"user": "ada"}, headers={HEADER: ""}).headers[HEADER]
    response = client.post("/clear", headers={HEADER: token})
    assert response.headers[HEADER] == ""
    assert "set-cookie" not in response.headers
    assert memory_store.records == {}


def test_vary_names_the_header(client_factory: ClientFactory) -> None:
    response = client_factory(ROUTES, session_header=HEADER).get("/view", headers={HEADER: ""})
    assert response.headers["vary"] == f"Cookie, {HEADER}"


def test_regenerating_gives_a_new_token_and_the_old_one_stops_working(client_factory: ClientFactory) -> None:
    client = client_factory(ROUTES, session_header=HEADER)
    old = client.post("/update", json={"user": "ada"}, headers={HEADER: ""}).headers[HEADER]
    new = client.post("/regenerate", headers={HEADER: old}).headers[HEADER]
    assert new != old
    assert client.get("/view", headers={HEADER: new}).json() == {"session": {"user": "ada"}}
    assert client.get("/view", headers={HEADER: old}).json() == {"session": {}}


def test_an_invalid_header_name_is_refused(memory_store: MemoryStore) -> None:
    with pytest.raises(ValueError, match="invalid header name"):
        DynamoSessionMiddleware(view_session, store=memory_store, secret_key="k", session_header="Bad Header")  # type: ignore[arg-type]
