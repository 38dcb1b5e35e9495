"""set_session_max_age: a session's own lifetime ("remember me"), kept with the session."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from starlette_dynamo_session import regenerate_session, set_session_max_age
from starlette_dynamo_session._core.records import MAX_LIFETIME
from tests.conftest import ClientFactory
from tests.endpoints import update_session, view_session
from tests.support.memory_store import MemoryStore

THIRTY_DAYS = 30 * 24 * 60 * 60  # seconds
FOURTEEN_DAYS = 14 * 24 * 60 * 60  # seconds


async def sign_in(request: Request) -> JSONResponse:
    regenerate_session(request)
    request.session["user"] = "ada"
    remember = request.query_params.get("remember")
    set_session_max_age(request, THIRTY_DAYS if remember == "yes" else None)
    return JSONResponse({"session": request.session})


async def regenerate(request: Request) -> JSONResponse:
    regenerate_session(request)
    return JSONResponse({})


async def invalid_lifetime(request: Request) -> JSONResponse:
    set_session_max_age(request, "a month")  # type: ignore[arg-type]
    return JSONResponse({})  # pragma: no cover


async def remember_for(request: Request) -> JSONResponse:
    set_session_max_age(request, int(request.query_params["seconds"]))
    request.session["user"] = "ada"
    return JSONResponse({})


ROUTES = [
    Route("/sign-in", sign_in, methods=["POST"]),
    Route("/regenerate", regenerate, methods=["POST"]),
    Route("/update", update_session, methods=["POST"]),
    Route("/view", view_session),
    Route("/invalid", invalid_lifetime, methods=["POST"]),
    Route("/remember-for", remember_for, methods=["POST"]),
]


def max_age_of(set_cookie: str) -> int | None:
    match = re.search(r"Max-Age=(-?\d+)", set_cookie)
    return None if match is None else int(match[1])


def test_remember_me_gives_the_cookie_and_the_session_that_lifetime(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    response = client_factory(ROUTES).post("/sign-in?remember=yes")
    assert max_age_of(response.headers["set-cookie"]) == THIRTY_DAYS
    [record] = memory_store.records.values()
    assert (record.expiry - record.created).total_seconds() == THIRTY_DAYS
    assert record.max_age == THIRTY_DAYS


def test_without_remember_me_the_cookie_is_a_browser_session_cookie_the_server_still_ends(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    response = client_factory(ROUTES).post("/sign-in?remember=no")
    assert max_age_of(response.headers["set-cookie"]) is None
    [record] = memory_store.records.values()
    assert record.expiry.timestamp() == pytest.approx(time.time() + FOURTEEN_DAYS, abs=60)


def test_the_lifetime_survives_later_writes(client_factory: ClientFactory, clock: Callable[[float], None]) -> None:
    client = client_factory(ROUTES)
    client.post("/sign-in?remember=yes")
    clock(24 * 60 * 60)
    response = client.post("/update", json={"cart": ["pear"]})
    assert max_age_of(response.headers["set-cookie"]) == THIRTY_DAYS - 24 * 60 * 60
    clock(20 * 24 * 60 * 60)  # past the middleware's 14 days, within the session's 30
    assert client.get("/view").json() == {"session": {"user": "ada", "cart": ["pear"]}}


def test_the_lifetime_survives_regeneration(client_factory: ClientFactory, memory_store: MemoryStore) -> None:
    client = client_factory(ROUTES)
    client.post("/sign-in?remember=yes")
    response = client.post("/regenerate")
    assert max_age_of(response.headers["set-cookie"]) == THIRTY_DAYS
    [record] = memory_store.records.values()
    assert record.max_age == THIRTY_DAYS


def test_the_session_ends_when_its_own_lifetime_is_over(
    client_factory: ClientFactory, clock: Callable[[float], None]
) -> None:
    client = client_factory(ROUTES, max_age=FOURTEEN_DAYS)
    client.post("/sign-in?remember=yes")
    clock(THIRTY_DAYS + 1)
    assert client.get("/view").json() == {"session": {}}


def test_idle_timeout_still_applies_to_a_remembered_session(
    client_factory: ClientFactory, clock: Callable[[float], None]
) -> None:
    client = client_factory(ROUTES, idle_timeout=3600)
    client.post("/sign-in?remember=yes")
    clock(3601)
    assert client.get("/view").json() == {"session": {}}


def test_setting_only_the_lifetime_is_a_write_and_reading_afterwards_is_not(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    async def remember(request: Request) -> JSONResponse:
        set_session_max_age(request, THIRTY_DAYS)
        return JSONResponse({})

    client = client_factory([*ROUTES, Route("/remember", remember, methods=["POST"])])
    client.post("/update", json={"user": "ada"})
    memory_store.take()
    response = client.post("/remember")
    assert max_age_of(response.headers["set-cookie"]) == THIRTY_DAYS
    assert memory_store.take() == ["read", "write"]
    client.get("/view")
    assert memory_store.take() == ["read"]


def test_a_lifetime_that_is_not_a_number_of_seconds_is_refused(client_factory: ClientFactory) -> None:
    client = client_factory(ROUTES)
    with pytest.raises(ValueError, match="whole number of seconds"):
        client.post("/invalid")


@pytest.mark.parametrize("seconds", [MAX_LIFETIME + 1, 10**12, -(10**12)])
def test_a_lifetime_beyond_a_hundred_years_is_refused_in_the_endpoint(
    client_factory: ClientFactory, memory_store: MemoryStore, seconds: int
) -> None:
    with pytest.raises(ValueError, match="100 years"):
        client_factory(ROUTES).post("/remember-for", params={"seconds": seconds})
    assert memory_store.take() == []


def test_a_lifetime_of_a_hundred_years_is_kept(client_factory: ClientFactory) -> None:
    response = client_factory(ROUTES).post("/remember-for", params={"seconds": MAX_LIFETIME})
    assert max_age_of(response.headers["set-cookie"]) == MAX_LIFETIME


def test_setting_a_lifetime_without_the_middleware_is_a_clear_error() -> None:
    client = TestClient(Starlette(routes=ROUTES))
    with pytest.raises(RuntimeError, match="DynamoSessionMiddleware must be installed"):
        client.post("/sign-in?remember=yes")
