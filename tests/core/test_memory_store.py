"""``starlette_dynamo_session.testing.MemoryStore``: what an application's own tests run on, with DynamoStore's
semantics for everything the middleware and the users' API use."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import boto3
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from starlette_dynamo_session import (
    DynamoSessionMiddleware,
    DynamoStore,
    SessionConflict,
    SessionTooLarge,
    StoredSession,
    regenerate_session,
    session_key,
)
from starlette_dynamo_session.testing import MemoryStore
from tests.conftest import SECRET_KEY
from tests.endpoints import key_of

pytestmark = pytest.mark.anyio


def record(
    data: bytes = b'{"user":"ada"}', version: int = 1, *, lifetime: timedelta = timedelta(hours=1)
) -> StoredSession:
    now = datetime.now(UTC)
    return StoredSession(data=data, created=now, expiry=now + lifetime, version=version)


async def sign_in(request: Request) -> JSONResponse:
    regenerate_session(request, user_id=request.query_params["user"])
    request.session["user"] = request.query_params["user"]
    return JSONResponse({"key": None})


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"session": request.session, "key": session_key(request)})


async def touch(request: Request) -> JSONResponse:
    request.session["touched"] = request.session.get("touched", 0) + 1
    return JSONResponse({})


def device(store: MemoryStore, user: str = "ada", agent: str = "Browser A", **options: Any) -> TestClient:
    """A client signed in as ``user`` on an app behind the middleware on ``store``."""
    routes = [
        Route("/sign-in", sign_in, methods=["POST"]),
        Route("/whoami", whoami),
        Route("/touch", touch, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(DynamoSessionMiddleware, store=store, secret_key=SECRET_KEY, **options)],
    )
    client = TestClient(app, headers={"User-Agent": agent})
    assert client.post(f"/sign-in?user={user}").status_code == 200
    return client


async def test_a_sessions_key_is_the_digest_dynamostore_keys_it_by() -> None:
    assert MemoryStore().key("some-token") == DynamoStore(boto3.Session()).key("some-token")


async def test_a_write_on_an_outdated_version_raises_a_conflict_carrying_the_winner() -> None:
    store = MemoryStore()
    await store.write("token", record())
    winner = record(b'{"user":"bob"}', version=2)
    await store.write("token", winner)
    with pytest.raises(SessionConflict) as conflict:
        await store.write("token", record(b'{"user":"eve"}', version=2))
    assert conflict.value.current == winner


async def test_an_expired_session_reads_as_none() -> None:
    store = MemoryStore()
    await store.write("token", record(lifetime=timedelta(seconds=-1)))
    assert await store.read("token") is None


async def test_a_session_over_dynamodbs_item_limit_is_refused() -> None:
    store = MemoryStore()
    with pytest.raises(SessionTooLarge):
        await store.write("token", record(b'"' + b"x" * 400 * 1024 + b'"'))
    assert await store.read("token") is None


async def test_a_regenerated_session_leaves_its_old_token() -> None:
    store = MemoryStore()
    await store.write("old", record())
    await store.write("new", record(version=2), replacing="old")
    assert await store.read("old") is None
    stored = await store.read("new")
    assert isinstance(stored, StoredSession) and stored.version == 2


def test_a_signed_in_session_is_listed_with_its_client() -> None:
    store = MemoryStore()
    client = device(store, agent="Browser A")
    [info] = anyio.run(store.list_sessions, "ada")
    assert (info.key, info.user_id, info.user_agent) == (key_of(client), "ada", "Browser A")


def test_revoking_a_session_signs_out_that_device_only() -> None:
    store = MemoryStore()
    first, second = device(store), device(store, agent="Browser B")
    anyio.run(store.revoke, key_of(first))
    assert first.get("/whoami").json()["session"] == {}
    assert second.get("/whoami").json()["session"] == {"user": "ada"}


def test_revoking_an_unknown_key_ends_nothing() -> None:
    store = MemoryStore()
    client = device(store)
    anyio.run(store.revoke, "no-such-key")
    assert client.get("/whoami").json()["session"] == {"user": "ada"}


def test_revoke_all_ends_every_session_but_the_kept_one_and_counts_them() -> None:
    store = MemoryStore()
    kept, *others = [device(store, agent=f"device {n}") for n in range(3)]
    ended = anyio.run(lambda: store.revoke_all("ada", keep=key_of(kept)))
    assert ended == 2
    assert [client.get("/whoami").json()["session"] != {} for client in [kept, *others]] == [True, False, False]


def test_revoke_all_of_a_user_who_never_signed_in_ends_nothing() -> None:
    assert anyio.run(MemoryStore().revoke_all, "nobody") == 0


@pytest.mark.parametrize("user_id", ["", "x" * 257])
def test_a_bad_user_id_is_a_value_error(user_id: str) -> None:
    with pytest.raises(ValueError, match="user_id"):
        anyio.run(MemoryStore().list_sessions, user_id)


def test_the_per_user_limit_revokes_the_least_recently_used_sessions(clock: Callable[[float], None]) -> None:
    store = MemoryStore()
    devices = []
    for n in range(3):
        devices.append(device(store, agent=f"device {n}", max_sessions_per_user=2))
        clock(10)
    assert [client.get("/whoami").json()["session"] != {} for client in devices] == [False, True, True]
    assert [info.user_agent for info in anyio.run(store.list_sessions, "ada")] == ["device 2", "device 1"]
