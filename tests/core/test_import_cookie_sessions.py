"""Moving from Starlette's cookie sessions: a cookie that Starlette's own SessionMiddleware signed is imported into
the store with one write, its cookie replaced, and nobody signed out; anything else costs no store call."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import itsdangerous
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from starlette_dynamo_session import DynamoSessionMiddleware, DynamoStore, SessionEvent
from starlette_dynamo_session._core.tokens import digest
from tests.conftest import SECRET_KEY, ClientFactory
from tests.endpoints import clear_session, update_session, view_session
from tests.support.memory_store import MemoryStore
from tests.support.recorder import OperationRecorder

OLD_KEY = "the-key-starlette-had"
CART = {"cart": ["apple", "pear"], "user": "ada"}
ROUTES = [
    Route("/view", view_session),
    Route("/update", update_session, methods=["POST"]),
    Route("/clear", clear_session, methods=["POST"]),
]


def starlette_cookie(data: dict[str, Any], secret_key: str = OLD_KEY, **options: Any) -> str:
    """A session cookie minted by Starlette's own SessionMiddleware, holding ``data``."""

    async def fill(request: Request) -> JSONResponse:
        request.session.update(data)
        return JSONResponse({})

    app = Starlette(
        routes=[Route("/fill", fill, methods=["POST"])],
        middleware=[Middleware(SessionMiddleware, secret_key=secret_key, **options)],
    )
    cookie = TestClient(app).post("/fill").cookies["session"]
    assert isinstance(cookie, str)
    return cookie


def importing(factory: ClientFactory, **options: Any) -> TestClient:
    return factory(ROUTES, import_cookie_sessions=options.pop("keys", OLD_KEY), **options)


def with_cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"session={value}"}


def test_a_starlette_cookie_is_imported_with_one_write_and_its_cookie_replaced(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    legacy = starlette_cookie(CART)
    response = importing(client_factory).get("/view", headers=with_cookie(legacy))
    assert response.json() == {"session": CART}
    assert memory_store.take() == ["write"]
    assert re.match(r"session=[A-Za-z0-9_-]{43}\.", response.headers["set-cookie"])
    assert response.cookies["session"] != legacy


def test_the_imported_session_is_read_from_the_store_afterwards(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    client = importing(client_factory)
    client.get("/view", headers=with_cookie(starlette_cookie(CART)))
    memory_store.take()
    assert client.get("/view").json() == {"session": CART}
    assert memory_store.take() == ["read"]


def test_an_import_is_an_event_with_the_new_sessions_key(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    events: list[SessionEvent] = []
    importing(client_factory, on_event=events.append).get("/view", headers=with_cookie(starlette_cookie(CART)))
    [token] = memory_store.records
    assert SessionEvent("imported", digest(token)) in events


def test_a_change_in_the_importing_request_is_stored_in_the_same_write(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    client = importing(client_factory)
    response = client.post("/update", json={"theme": "dark"}, headers=with_cookie(starlette_cookie(CART)))
    assert response.json() == {"session": {**CART, "theme": "dark"}}
    assert memory_store.take() == ["write"]


def test_an_imported_session_the_request_clears_is_not_stored_and_its_cookie_expires(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    response = importing(client_factory).post("/clear", headers=with_cookie(starlette_cookie(CART)))
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert (memory_store.take(), memory_store.records) == ([], {})


def test_any_of_several_keys_imports(client_factory: ClientFactory) -> None:
    client = importing(client_factory, keys=["the-newest-key", OLD_KEY])
    assert client.get("/view", headers=with_cookie(starlette_cookie(CART))).json() == {"session": CART}


LEGACY_FORGERIES: dict[str, Callable[[], str]] = {
    "signed with another key": lambda: starlette_cookie(CART, secret_key="someone-elses-key"),
    "tampered with": lambda: starlette_cookie(CART).replace("e", "f", 1),
    "not base64 JSON": lambda: itsdangerous.TimestampSigner(OLD_KEY).sign(b"not json!").decode(),
    "a JSON list": lambda: itsdangerous.TimestampSigner(OLD_KEY).sign(b"WzEsIDJd").decode(),
    "garbage": lambda: "x" * 100,
}


@pytest.mark.parametrize("forgery", LEGACY_FORGERIES)
def test_a_cookie_that_is_not_a_valid_starlette_session_is_empty_and_costs_no_store_call(
    client_factory: ClientFactory, memory_store: MemoryStore, forgery: str
) -> None:
    response = importing(client_factory).get("/view", headers=with_cookie(LEGACY_FORGERIES[forgery]()))
    assert response.json() == {"session": {}}
    assert "set-cookie" not in response.headers
    assert memory_store.take() == []


@pytest.mark.parametrize(("max_age", "age"), [(3600, 3601), (None, 14 * 24 * 60 * 60 + 1)])
def test_a_starlette_cookie_older_than_its_signed_age_limit_is_not_imported(
    client_factory: ClientFactory,
    memory_store: MemoryStore,
    clock: Callable[[float], None],
    max_age: int | None,
    age: int,
) -> None:
    legacy = starlette_cookie(CART)
    clock(age)
    response = importing(client_factory, max_age=max_age).get("/view", headers=with_cookie(legacy))
    assert response.json() == {"session": {}}
    assert memory_store.take() == []


def test_a_starlette_cookie_just_within_its_age_limit_is_imported(
    client_factory: ClientFactory, clock: Callable[[float], None]
) -> None:
    legacy = starlette_cookie(CART)
    clock(3599)
    response = importing(client_factory, max_age=3600).get("/view", headers=with_cookie(legacy))
    assert response.json() == {"session": CART}


def test_without_the_option_a_starlette_cookie_is_an_empty_session(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    response = client_factory(ROUTES).get("/view", headers=with_cookie(starlette_cookie(CART)))
    assert response.json() == {"session": {}}
    assert memory_store.take() == []


def test_a_header_client_is_never_served_from_a_starlette_cookie_value(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    client = importing(client_factory, session_header="X-Session-Token")
    response = client.get("/view", headers={"X-Session-Token": starlette_cookie(CART)})
    assert response.json() == {"session": {}}
    assert memory_store.take() == []


def test_an_empty_import_key_is_refused(memory_store: MemoryStore) -> None:
    with pytest.raises(ValueError, match="import_cookie_sessions"):
        DynamoSessionMiddleware(Starlette(), memory_store, SECRET_KEY, import_cookie_sessions="")


def test_on_dynamodb_an_import_is_one_putitem_then_one_getitem(
    dynamo_client_factory: ClientFactory, store: DynamoStore, recorder: OperationRecorder
) -> None:
    client = importing(dynamo_client_factory)
    recorder.take()
    assert client.get("/view", headers=with_cookie(starlette_cookie(CART))).json() == {"session": CART}
    assert recorder.take() == ["PutItem"]
    assert client.get("/view").json() == {"session": CART}
    assert recorder.take() == ["GetItem"]
