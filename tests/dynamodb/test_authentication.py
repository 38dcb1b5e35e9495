"""Authentication state on DynamoDB (each backend, and each transport case): the item stores it beside the session,
regenerations and merges keep it, require_authentication reads it, list_sessions shows it, end_other_sessions ends
the user's other sessions; an item from before it holds none, and none of it costs a DynamoDB call of its own."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from starlette.testclient import TestClient

from starlette_dynamo_session import (
    Authentication,
    DynamoStore,
    StoredSession,
)
from starlette_dynamo_session._core.clock import now
from starlette_dynamo_session._core.lifecycle import SessionLifecycle
from starlette_dynamo_session._core.lifetimes import Lifetime
from starlette_dynamo_session._core.outcomes import Written
from starlette_dynamo_session._core.users import LAST_SEEN_INTERVAL
from starlette_dynamo_session._dynamodb.attributes import instant
from tests.auth_endpoints import ROUTES, signed_in
from tests.conftest import ClientFactory, Recorder
from tests.endpoints import key_of

pytestmark = pytest.mark.every_transport

Clock = Callable[[float], None]
SEALED_AND_PLAIN = pytest.mark.parametrize("seal_data", [True, False], ids=["sealed", "plain"])


def item_of(store: DynamoStore, client: TestClient) -> dict[str, Any]:
    """The item of the session of ``client``, read past the store."""
    key = {store.token_name: {"S": key_of(client)}}
    item = store.client.get_item(TableName=store.table_name, Key=key, ConsistentRead=True).get("Item")
    assert item is not None
    return dict(item)


@SEALED_AND_PLAIN
def test_the_item_stores_when_and_how_strongly_the_user_authenticated(
    dynamo_client_factory: ClientFactory, store: DynamoStore, clock: Clock
) -> None:
    client = signed_in(dynamo_client_factory(ROUTES), level=2)
    item = item_of(store, client)
    # A number as DynamoDB gives it back: DynamoDB Local drops trailing zeros (1796467880.60024).
    assert (instant(item["authenticated_at"]["N"]), item["auth_level"]) == (now(), {"N": "2"})


@SEALED_AND_PLAIN
def test_a_later_request_reads_the_authentication_back(dynamo_client_factory: ClientFactory, clock: Clock) -> None:
    client = dynamo_client_factory(ROUTES)
    marked = client.post("/sign-in?level=2").json()
    assert marked == {"at": now().timestamp(), "level": 2, "zone": "UTC"}
    clock(60)
    assert client.get("/show").json() == marked


@SEALED_AND_PLAIN
def test_an_item_written_before_authentication_state_reads_as_a_session_without_one(
    dynamo_client_factory: ClientFactory, store: DynamoStore
) -> None:
    client = signed_in(dynamo_client_factory(ROUTES))
    client.post("/cart?item=apple")
    store.client.update_item(  # the item as this package wrote it before it stored authentication
        TableName=store.table_name,
        Key={store.token_name: {"S": key_of(client)}},
        UpdateExpression="REMOVE authenticated_at, auth_level",
    )
    assert client.get("/view").json() == {"session": {"user": "ada", "cart": ["apple"]}}
    assert client.get("/show").json() is None
    assert client.get("/sensitive").status_code == 401
    [info] = anyio.run(store.list_sessions, "ada")
    assert (info.key, info.authenticated_at, info.auth_level) == (key_of(client), None, None)


def test_a_step_up_replaces_the_stored_authentication(dynamo_client_factory: ClientFactory, clock: Clock) -> None:
    client = signed_in(dynamo_client_factory(ROUTES), level=1)
    clock(600)
    client.post("/step-up")
    assert client.get("/show").json() == {"at": now().timestamp(), "level": 2, "zone": "UTC"}


def test_the_authentication_survives_a_regeneration(dynamo_client_factory: ClientFactory) -> None:
    client = dynamo_client_factory(ROUTES)
    marked = client.post("/sign-in?level=2").json()
    old_token = client.cookies["session"]
    client.post("/regenerate")
    assert client.cookies["session"] != old_token
    assert client.get("/show").json() == marked


def test_a_session_that_does_not_mark_writes_no_authentication(
    dynamo_client_factory: ClientFactory, store: DynamoStore
) -> None:
    client = dynamo_client_factory(ROUTES)
    client.post("/cart?item=apple")
    item = item_of(store, client)
    assert {"authenticated_at", "auth_level"} & set(item) == set()


async def stored_session(store: DynamoStore) -> tuple[SessionLifecycle, str]:
    """A lifecycle on ``store``, and the token of a session it stored holding a user."""
    lifecycle = SessionLifecycle(store, Lifetime())
    state = await lifecycle.load(None)
    state.session["user"] = "ada"
    written = await lifecycle.finish(state, state.session)
    assert isinstance(written, Written)
    return lifecycle, written.token


@pytest.mark.anyio
async def test_a_request_that_changes_data_after_another_marked_keeps_the_mark_and_merges(store: DynamoStore) -> None:
    lifecycle, token = await stored_session(store)
    marking, racing = await lifecycle.load(token), await lifecycle.load(token)
    marking.authenticated = Authentication(now(), 2)
    await lifecycle.finish(marking, marking.session)
    racing.session["cart"] = ["apple"]
    await lifecycle.finish(racing, racing.session)  # loaded before the mark: loses the race, merges on top of it
    stored = await store.read(token)
    assert isinstance(stored, StoredSession)
    assert (stored.auth, json.loads(stored.data)) == (marking.authenticated, {"user": "ada", "cart": ["apple"]})


@pytest.mark.anyio
async def test_a_request_that_marks_after_another_changed_data_keeps_both(store: DynamoStore) -> None:
    lifecycle, token = await stored_session(store)
    marking, racing = await lifecycle.load(token), await lifecycle.load(token)
    racing.session["cart"] = ["apple"]
    await lifecycle.finish(racing, racing.session)
    marking.authenticated = Authentication(now(), 2)
    await lifecycle.finish(marking, marking.session)  # loses the race, merges its mark on top of the cart
    stored = await store.read(token)
    assert isinstance(stored, StoredSession)
    assert (stored.auth, json.loads(stored.data)) == (marking.authenticated, {"user": "ada", "cart": ["apple"]})


def test_require_authentication_answers_401_without_an_authentication(dynamo_client_factory: ClientFactory) -> None:
    client = dynamo_client_factory(ROUTES)
    client.post("/cart?item=apple")
    response = client.get("/sensitive")
    assert (response.status_code, response.text) == (401, "Authentication required.")


def test_require_authentication_answers_401_below_the_level(dynamo_client_factory: ClientFactory) -> None:
    client = signed_in(dynamo_client_factory(ROUTES), level=1)
    assert client.get("/sensitive?level=2").status_code == 401


def test_require_authentication_answers_401_once_the_authentication_is_older_than_max_age(
    dynamo_client_factory: ClientFactory, clock: Clock
) -> None:
    client = signed_in(dynamo_client_factory(ROUTES))
    clock(300)
    assert client.get("/sensitive").status_code == 200
    clock(1)
    response = client.get("/sensitive")
    assert (response.status_code, response.text) == (401, "Recent authentication required: authenticate again.")


def test_require_authentication_answers_200_to_a_fresh_one_at_the_level(dynamo_client_factory: ClientFactory) -> None:
    client = signed_in(dynamo_client_factory(ROUTES), level=2)
    response = client.get("/sensitive?level=2")
    assert (response.status_code, response.json()) == (200, {"level": 2})


@SEALED_AND_PLAIN
def test_list_sessions_shows_each_sessions_authentication(
    dynamo_client_factory: ClientFactory, store: DynamoStore, clock: Clock
) -> None:
    marked = signed_in(dynamo_client_factory(ROUTES), level=2)
    marked_at = now()
    clock(60)
    unmarked = dynamo_client_factory(ROUTES)
    unmarked.post("/bind?user=ada")
    listed = anyio.run(store.list_sessions, "ada")
    assert [(info.key, info.authenticated_at, info.auth_level) for info in listed] == [
        (key_of(unmarked), None, None),
        (key_of(marked), marked_at, 2),
    ]


def test_end_other_sessions_ends_exactly_the_users_other_sessions(
    dynamo_client_factory: ClientFactory, store: DynamoStore
) -> None:
    this, *others = [signed_in(dynamo_client_factory(ROUTES)) for _ in range(3)]
    bob = signed_in(dynamo_client_factory(ROUTES), user="bob")
    this.post("/cart?item=apple")
    old_token = this.cookies["session"]
    assert this.post("/change-password").json() == {"ended": 2}
    assert [other.get("/view").json() for other in others] == [{"session": {}}] * 2
    assert bob.get("/view").json() == {"session": {"user": "bob"}}
    assert this.cookies["session"] != old_token
    assert this.get("/view").json() == {"session": {"user": "ada", "cart": ["apple"]}}
    assert [info.key for info in anyio.run(store.list_sessions, "ada")] == [key_of(this)]


def test_the_old_token_of_the_session_that_ended_the_others_stops_working(
    dynamo_client_factory: ClientFactory,
) -> None:
    this = signed_in(dynamo_client_factory(ROUTES))
    old_token = this.cookies["session"]
    this.post("/change-password")
    stale = dynamo_client_factory(ROUTES)
    stale.cookies["session"] = old_token
    assert stale.get("/view").json() == {"session": {}}


def test_end_other_sessions_on_an_unbound_session_is_a_value_error(dynamo_client_factory: ClientFactory) -> None:
    client = dynamo_client_factory(ROUTES)
    client.post("/cart?item=apple")
    with pytest.raises(ValueError, match="end_other_sessions needs a session bound to a user"):
        client.post("/change-password")


def test_reading_the_authentication_costs_only_the_sessions_own_read(
    dynamo_client_factory: ClientFactory, recorder: Recorder
) -> None:
    client = signed_in(dynamo_client_factory(ROUTES))
    recorder.take()
    assert client.get("/show").status_code == 200
    assert client.get("/sensitive").status_code == 200
    assert recorder.take() == ["GetItem", "GetItem"]


def test_marking_an_unchanged_session_costs_one_write(dynamo_client_factory: ClientFactory, recorder: Recorder) -> None:
    client = signed_in(dynamo_client_factory(ROUTES))
    recorder.take()
    client.post("/step-up")
    assert recorder.take() == ["GetItem", "PutItem"]


@pytest.mark.parametrize("name", ["authenticated_at", "auth_level"])
def test_an_attribute_name_of_the_authentication_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="authenticated sessions'"):
        DynamoStore(data_name=name)


def test_the_last_seen_write_of_a_read_only_request_keeps_the_authentication(
    dynamo_client_factory: ClientFactory, store: DynamoStore, recorder: Recorder, clock: Clock
) -> None:
    client = dynamo_client_factory(ROUTES)
    marked = client.post("/sign-in?level=2").json()
    clock(LAST_SEEN_INTERVAL)
    recorder.take()
    assert client.get("/show").json() == marked
    assert recorder.take() == ["GetItem", "PutItem"]  # "last seen" moves: the whole item is written again
    assert client.get("/show").json() == marked
    assert item_of(store, client)["auth_level"] == {"N": "2"}
