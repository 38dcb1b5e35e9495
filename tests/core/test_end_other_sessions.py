"""end_other_sessions on the in-memory store: a password change ends the user's other sessions."""

from __future__ import annotations

import anyio
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from starlette_dynamo_session import Forwarded, StoredSession
from starlette_dynamo_session.testing import MemoryStore as PublicMemoryStore
from tests.auth_endpoints import ROUTES, signed_in
from tests.conftest import ClientFactory, make_client_factory
from tests.endpoints import key_of
from tests.support.memory_store import MemoryStore


def devices(factory: ClientFactory, count: int, *, user: str = "ada") -> list[TestClient]:
    """``count`` clients signed in as ``user``, each with a session of its own."""
    return [signed_in(factory(ROUTES), user=user) for _ in range(count)]


def test_it_ends_every_other_session_of_the_user_and_counts_them(client_factory: ClientFactory) -> None:
    this, *others = devices(client_factory, 4)
    assert this.post("/change-password").json() == {"ended": 3}
    assert [other.get("/view").json() for other in others] == [{"session": {}}] * 3


def test_this_session_keeps_its_data_and_authentication_under_a_new_token(client_factory: ClientFactory) -> None:
    [this] = devices(client_factory, 1)
    this.post("/cart?item=apple")
    marked = this.get("/show").json()
    old_token = this.cookies["session"]
    this.post("/change-password")
    assert this.cookies["session"] != old_token
    assert this.get("/view").json() == {"session": {"user": "ada", "cart": ["apple"]}}
    assert this.get("/show").json() == marked


def test_the_old_token_of_this_session_stops_working(client_factory: ClientFactory) -> None:
    [this] = devices(client_factory, 1)
    old_token = this.cookies["session"]
    this.post("/change-password")
    stale = client_factory(ROUTES)
    stale.cookies["session"] = old_token
    assert stale.get("/view").json() == {"session": {}}


def test_this_session_stays_bound_to_its_user(client_factory: ClientFactory, memory_store: MemoryStore) -> None:
    [this] = devices(client_factory, 1)
    this.post("/change-password")
    assert [info.key for info in anyio.run(memory_store.list_sessions, "ada")] == [key_of(this)]


def test_other_users_sessions_are_left_alone(client_factory: ClientFactory) -> None:
    [this] = devices(client_factory, 1)
    [bob] = devices(client_factory, 1, user="bob")
    assert this.post("/change-password").json() == {"ended": 0}
    assert bob.get("/view").json() == {"session": {"user": "bob"}}


def test_a_session_bound_in_the_same_request_counts_as_bound(client_factory: ClientFactory) -> None:
    others = devices(client_factory, 2)
    this = client_factory(ROUTES)
    this.post("/cart?item=apple")  # an anonymous session, which the sign-in below binds
    assert this.post("/sign-in-and-change-password").json() == {"ended": 2}
    assert [other.get("/view").json() for other in others] == [{"session": {}}] * 2
    assert this.get("/view").json() == {"session": {"cart": ["apple"], "user": "ada"}}


def test_a_sign_in_without_a_session_yet_ends_the_users_other_sessions(client_factory: ClientFactory) -> None:
    others = devices(client_factory, 2)
    this = client_factory(ROUTES)
    assert this.post("/sign-in-and-change-password").json() == {"ended": 2}
    assert [other.get("/view").json() for other in others] == [{"session": {}}] * 2
    assert this.get("/view").json() == {"session": {"user": "ada"}}


def test_ending_other_sessions_without_the_middleware_is_a_runtime_error() -> None:
    client = TestClient(Starlette(routes=ROUTES))
    with pytest.raises(RuntimeError, match="DynamoSessionMiddleware must be installed"):
        client.post("/change-password")


def test_a_session_bound_to_no_user_is_a_value_error(client_factory: ClientFactory) -> None:
    client = client_factory(ROUTES)
    client.post("/cart?item=apple")
    with pytest.raises(ValueError, match="end_other_sessions needs a session bound to a user"):
        client.post("/change-password")


def test_a_request_without_a_session_is_a_value_error(client_factory: ClientFactory) -> None:
    with pytest.raises(ValueError, match="end_other_sessions needs a session bound to a user"):
        client_factory(ROUTES).post("/change-password")


class StoreWithoutRevokeAll:
    """A session store that cannot end a user's sessions: the three calls of the store interface only."""

    def __init__(self) -> None:
        self.inner = PublicMemoryStore()

    async def read(self, token: str) -> StoredSession | Forwarded | None:
        return await self.inner.read(token)

    async def write(self, token: str, record: StoredSession, *, replacing: str | None = None) -> None:
        await self.inner.write(token, record, replacing=replacing)

    async def remove(self, token: str) -> None:
        await self.inner.remove(token)


def test_a_store_that_cannot_end_a_users_sessions_is_a_type_error_that_changes_nothing() -> None:
    client = signed_in(make_client_factory(StoreWithoutRevokeAll())(ROUTES))
    with pytest.raises(TypeError, match="revoke_all"):
        client.post("/change-password")
    assert client.get("/view").json() == {"session": {"user": "ada"}}
    client.post("/clear")  # and the user can still sign out: the session ends
    assert client.get("/show").json() is None
