"""Authentication state on the session: mark_authenticated, authentication and require_authentication."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from starlette.requests import Request

from starlette_dynamo_session import (
    Authentication,
    mark_authenticated,
    require_authentication,
)
from starlette_dynamo_session._core.clock import now
from starlette_dynamo_session._core.lifecycle import SessionLifecycle
from starlette_dynamo_session._core.lifetimes import Lifetime
from starlette_dynamo_session._core.outcomes import Written
from starlette_dynamo_session._core.records import MAX_AUTH_LEVEL
from tests.auth_endpoints import ROUTES, signed_in
from tests.conftest import ClientFactory
from tests.support.memory_store import MemoryStore

Clock = Callable[[float], None]


async def new_session(lifecycle: SessionLifecycle) -> str:
    """Store a session holding a user; its token."""
    state = await lifecycle.load(None)
    state.session["user"] = "ada"
    written = await lifecycle.finish(state, state.session)
    assert isinstance(written, Written)
    return written.token


def test_a_new_session_has_no_authentication(client_factory: ClientFactory) -> None:
    assert client_factory(ROUTES).get("/show").json() is None


def test_an_authentication_is_kept_with_the_session_for_later_requests(
    client_factory: ClientFactory, clock: Clock
) -> None:
    client = client_factory(ROUTES)
    marked = client.post("/sign-in?level=1").json()
    assert marked == {"at": now().timestamp(), "level": 1, "zone": "UTC"}
    clock(60)
    assert client.get("/show").json() == marked


def test_a_step_up_raises_the_level_and_moves_the_time(client_factory: ClientFactory, clock: Clock) -> None:
    client = client_factory(ROUTES)
    first = client.post("/sign-in").json()
    clock(600)
    client.post("/step-up")
    assert client.get("/show").json() == {"at": now().timestamp(), "level": 2, "zone": "UTC"}
    assert now().timestamp() - first["at"] == pytest.approx(600)


def test_marking_an_unchanged_session_is_stored_with_one_write(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    client = client_factory(ROUTES)
    client.post("/sign-in")
    memory_store.take()
    client.post("/step-up")
    assert memory_store.take() == ["read", "write"]


def test_reading_the_authentication_costs_no_call_beyond_the_sessions_read(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    client = client_factory(ROUTES)
    client.post("/sign-in")
    memory_store.take()
    client.get("/show")
    assert memory_store.take() == ["read"]


def test_the_authentication_survives_a_regeneration(client_factory: ClientFactory) -> None:
    client = client_factory(ROUTES)
    marked = client.post("/sign-in").json()
    old_cookie = client.cookies["session"]
    assert client.post("/regenerate").json() == marked
    assert client.cookies["session"] != old_cookie
    assert client.get("/show").json() == marked


def test_a_cleared_session_loses_its_authentication(client_factory: ClientFactory) -> None:
    client = client_factory(ROUTES)
    client.post("/sign-in")
    assert client.post("/clear").json() is None
    assert client.get("/show").json() is None


def test_a_session_that_ends_empty_stores_no_authentication(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    client = client_factory(ROUTES)
    client.post("/step-up")
    assert memory_store.take() == []
    assert client.get("/show").json() is None


@pytest.mark.anyio
async def test_a_racing_merge_neither_changes_nor_loses_the_authentication(memory_store: MemoryStore) -> None:
    lifecycle = SessionLifecycle(memory_store, Lifetime())
    token = await new_session(lifecycle)
    marking, racing = await lifecycle.load(token), await lifecycle.load(token)
    assert marking.loaded is not None
    marking.authenticated = Authentication(marking.loaded.record.created, 2)
    await lifecycle.finish(marking, marking.session)
    racing.session["cart"] = ["apple"]
    await lifecycle.finish(racing, racing.session)  # loaded before the mark: merges on top of it
    stored = memory_store.records[token]
    assert stored.auth == marking.authenticated
    assert b"apple" in stored.data


@pytest.mark.anyio
async def test_a_merge_on_top_of_a_concurrent_write_keeps_this_requests_mark(memory_store: MemoryStore) -> None:
    lifecycle = SessionLifecycle(memory_store, Lifetime())
    token = await new_session(lifecycle)
    marking, racing = await lifecycle.load(token), await lifecycle.load(token)
    racing.session["cart"] = ["apple"]
    await lifecycle.finish(racing, racing.session)
    assert marking.loaded is not None
    marking.authenticated = Authentication(marking.loaded.record.created, 2)
    await lifecycle.finish(marking, marking.session)  # loses to the racing write, then merges on top of it
    stored = memory_store.records[token]
    assert (stored.auth, b"apple" in stored.data) == (marking.authenticated, True)


def test_require_authentication_refuses_a_session_without_one(client_factory: ClientFactory) -> None:
    response = client_factory(ROUTES).get("/sensitive")
    assert (response.status_code, response.text) == (401, "Authentication required.")


def test_require_authentication_refuses_a_lower_level(client_factory: ClientFactory) -> None:
    client = client_factory(ROUTES)
    client.post("/sign-in?level=1")
    assert client.get("/sensitive?level=2").status_code == 401


def test_require_authentication_admits_an_authentication_just_max_age_old(
    client_factory: ClientFactory, clock: Clock
) -> None:
    client = client_factory(ROUTES)
    client.post("/sign-in")
    clock(300)
    assert client.get("/sensitive").status_code == 200


def test_require_authentication_refuses_a_stale_authentication(client_factory: ClientFactory, clock: Clock) -> None:
    client = client_factory(ROUTES)
    client.post("/sign-in")
    clock(301)
    response = client.get("/sensitive")
    assert (response.status_code, response.text) == (401, "Recent authentication required: authenticate again.")


def test_require_authentication_admits_a_fresh_authentication_at_the_level(client_factory: ClientFactory) -> None:
    client = client_factory(ROUTES)
    client.post("/sign-in?level=2")
    response = client.get("/sensitive?level=2")
    assert (response.status_code, response.json()) == (200, {"level": 2})


@pytest.mark.parametrize("level", [0, -1, 1.5, True, "2", MAX_AUTH_LEVEL + 1, 10**400])
def test_a_level_that_is_not_a_whole_number_within_range_is_refused(level: Any) -> None:
    with pytest.raises(ValueError, match="level must be a whole number from 1 to"):
        require_authentication(level=level)


def test_a_negative_max_age_is_refused() -> None:
    with pytest.raises(ValueError, match="max_age must be a number of seconds"):
        require_authentication(max_age=-1)


def test_marking_without_the_middleware_is_a_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="DynamoSessionMiddleware must be installed"):
        mark_authenticated(Request({"type": "http", "headers": []}))


@pytest.mark.parametrize("level", [0, -1, MAX_AUTH_LEVEL + 1, 10**40])
def test_marking_a_level_out_of_range_is_a_value_error(client_factory: ClientFactory, level: int) -> None:
    with pytest.raises(ValueError, match="level must be a whole number from 1 to"):
        client_factory(ROUTES).post(f"/sign-in?level={level}")


def test_the_highest_level_is_recorded_and_required(client_factory: ClientFactory) -> None:
    client = client_factory(ROUTES)
    client.post(f"/sign-in?level={MAX_AUTH_LEVEL}")
    response = client.get(f"/sensitive?level={MAX_AUTH_LEVEL}")
    assert (response.status_code, response.json()) == (200, {"level": MAX_AUTH_LEVEL})


def test_list_sessions_shows_each_sessions_authentication(
    client_factory: ClientFactory, memory_store: MemoryStore, clock: Clock
) -> None:
    signed_in(client_factory(ROUTES), level=2)
    marked_at = now()
    clock(60)
    assert client_factory(ROUTES).post("/bind?user=ada").status_code == 200  # bound, never marked
    listed = anyio.run(memory_store.list_sessions, "ada")
    assert [(info.authenticated_at, info.auth_level) for info in listed] == [(None, None), (marked_at, 2)]
