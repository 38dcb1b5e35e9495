"""Token rotation with theft detection on DynamoDB itself (moto, DynamoDB Local, and each transport case): the
rotation's one transaction, the forwarding item it leaves, the grace, the replay, and the users' index."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest
from starlette.testclient import TestClient

from starlette_dynamo_session import DynamoStore, Forwarded, SessionConflict, SessionEvent, StoredSession
from tests.conftest import Recorder
from tests.dynamodb.test_concurrency import atomic_moto_writes  # noqa: F401 - a fixture
from tests.endpoints import later, raw_item
from tests.support.rotation import (
    HEADER,
    Barrier,
    authentication_across_a_rotation,
    costs_of_each_kind,
    mark_racing_a_rotation,
    presenting,
    rotating_app,
    rotating_client,
    set_cookie,
    straddle_a_rotation,
    token_of,
)

pytestmark = pytest.mark.every_transport

Clock = Callable[[float], None]
EVERY = 60  # rotate_token_every on DynamoDB: a small clock jump, as request signatures carry the time
GRACE = 10
OPTIONS: dict[str, Any] = {"rotate_token_every": EVERY, "rotation_grace": GRACE}


def client_on(store: DynamoStore, **options: Any) -> TestClient:
    return rotating_client(store, **{**OPTIONS, **options})


def started(client: TestClient, **data: str) -> str:
    """Start a session holding ``data``; return its signed cookie."""
    signed = set_cookie(client.post("/update", json=data))
    assert signed
    return signed


def test_a_token_younger_than_the_window_is_not_rotated(store: DynamoStore, recorder: Recorder, clock: Clock) -> None:
    client = client_on(store)
    started(client, user="ada")
    recorder.take()
    clock(EVERY - 1)
    response = client.get("/view")
    assert (response.json(), set_cookie(response), recorder.take()) == ({"session": {"user": "ada"}}, None, ["GetItem"])


def test_a_rotation_is_one_transaction_that_gives_a_new_cookie_and_keeps_the_old_token_working_within_the_grace(
    store: DynamoStore, recorder: Recorder, clock: Clock
) -> None:
    client = client_on(store)
    old = started(client, user="ada")
    recorder.take()
    clock(EVERY)
    response = client.get("/view")
    new = set_cookie(response) or ""
    assert token_of(new) != token_of(old) and response.json() == {"session": {"user": "ada"}}
    assert recorder.take() == ["GetItem", "TransactWriteItems"]
    clock(GRACE - 1)
    within = client.get("/view", headers=presenting(old))
    assert (within.json(), token_of(set_cookie(within) or "")) == ({"session": {"user": "ada"}}, token_of(new))
    assert recorder.take() == ["GetItem", "GetItem"]
    assert client.get("/view", headers=presenting(new)).json() == {"session": {"user": "ada"}}


def test_an_api_client_gets_the_rotated_token_in_the_session_header(store: DynamoStore, clock: Clock) -> None:
    client = client_on(store, session_header=HEADER)
    old = client.post("/update", json={"user": "ada"}, headers={HEADER: ""}).headers[HEADER]
    clock(EVERY)
    response = client.get("/view", headers={HEADER: old})
    new = response.headers[HEADER]
    assert token_of(new) != token_of(old) and "set-cookie" not in response.headers
    assert client.get("/view", headers={HEADER: new}).json() == {"session": {"user": "ada"}}


@pytest.mark.parametrize("seal_data", [True, False], ids=["sealed", "plain"])
def test_a_forwarding_item_holds_the_successor_token_only_sealed_and_no_session_data(
    store: DynamoStore, clock: Clock
) -> None:
    client = client_on(store)
    old = token_of(started(client, user="ada"))
    clock(EVERY)
    new = token_of(set_cookie(client.get("/view")) or "")
    forwarding = raw_item(store, old)
    assert forwarding is not None
    assert set(forwarding) == {"token", "successor", "rotated_at", "version", "expiry", "ttl"}
    stored = repr(forwarding).encode()
    assert new.encode() not in stored and store.key(new).encode() not in stored and b"ada" not in stored
    current = raw_item(store, new)
    assert current is not None and float(current["token_issued"]["N"]) == pytest.approx(
        float(forwarding["rotated_at"]["N"])
    )
    assert current["expiry"] == forwarding["expiry"] and int(current["version"]["N"]) == 2


def test_a_replay_after_the_grace_ends_the_session_for_every_holder_and_sends_token_replayed_with_the_current_key(
    store: DynamoStore, clock: Clock
) -> None:
    events: list[SessionEvent] = []
    client = client_on(store, on_event=events.append)
    old = started(client, user="ada")
    clock(EVERY)
    new = set_cookie(client.get("/view")) or ""
    current_key = client.get("/whoami").json()["key"]
    clock(GRACE)
    events.clear()
    replayed = client.get("/view", headers=presenting(old))
    assert (replayed.json(), set_cookie(replayed)) == ({"session": {}}, "")  # the dead cookie is expired
    assert events == [SessionEvent("token_replayed", current_key)] and current_key == store.key(token_of(new))
    assert client.get("/view", headers=presenting(new)).json() == {"session": {}}
    assert store.client.scan(TableName=store.table_name)["Count"] == 0  # the forwarding item went too


def test_a_bound_session_stays_one_entry_in_list_sessions_across_rotations(store: DynamoStore, clock: Clock) -> None:
    client = client_on(store)
    started(client, cart="pear")
    client.post("/sign-in?user=ada")
    keys = []
    for _ in range(3):
        clock(EVERY)
        client.get("/view")
        keys.append(client.get("/whoami").json()["key"])
        assert [info.key for info in anyio.run(store.list_sessions, "ada")] == [keys[-1]]
    assert len(set(keys)) == 3 and client.get("/view").json() == {"session": {"cart": "pear", "user": "ada"}}


@pytest.mark.parametrize("how", ["revoke", "revoke_all"])
def test_revoking_a_rotated_session_ends_it_under_its_previous_token_too(
    store: DynamoStore, clock: Clock, how: str
) -> None:
    client = client_on(store)
    started(client, cart="pear")
    old = set_cookie(client.post("/sign-in?user=ada")) or ""
    clock(EVERY)
    client.get("/view")
    if how == "revoke":
        anyio.run(store.revoke, client.get("/whoami").json()["key"])
    else:
        assert anyio.run(store.revoke_all, "ada") == 1
    assert client.get("/view", headers=presenting(old)).json() == {"session": {}}
    assert client.get("/view").json() == {"session": {}}


def test_without_rotation_requests_cost_0_1_1_2_2_dynamodb_calls(
    store: DynamoStore, recorder: Recorder, clock: Clock
) -> None:
    client = TestClient(rotating_app(store, rotate_token_every=None))
    assert costs_of_each_kind(client, recorder.take, clock, EVERY) == {
        "anonymous": [],
        "first write": ["PutItem"],
        "read-only": ["GetItem"],
        "change": ["GetItem", "PutItem"],
        "clear": ["GetItem", "DeleteItem"],
    }


@pytest.mark.anyio
async def test_twenty_concurrent_requests_straddling_a_rotation_lose_no_key_and_sign_no_one_out(
    store: DynamoStore, clock: Clock
) -> None:
    client = client_on(store)
    old = started(client, user="ada")
    clock(EVERY)
    barrier = Barrier(20)
    # Two applications on one table stand for two processes: the rotation races within each and between them.
    apps = [rotating_app(store, barrier, **OPTIONS), rotating_app(store, barrier, **OPTIONS)]
    responses = await straddle_a_rotation(apps, old, 20)
    assert [response.status_code for response in responses] == [200] * 20
    tokens = {token_of(set_cookie(response) or "") for response in responses}
    assert len(tokens) == 1 and token_of(old) not in tokens
    [new] = tokens
    expected = {"user": "ada", **{f"k{index}": str(index) for index in range(20)}}
    assert client.get("/view", headers=presenting(set_cookie(responses[0]) or "")).json() == {"session": expected}
    assert raw_item(store, new) is not None


def test_a_rotation_keeps_the_sessions_authentication_under_the_new_token_and_the_old_one_within_the_grace(
    store: DynamoStore, clock: Clock
) -> None:
    marked, shown = authentication_across_a_rotation(client_on(store), clock, EVERY, GRACE)
    assert marked["level"] == 2
    assert shown == [marked, marked, marked]


@pytest.mark.anyio
@pytest.mark.parametrize("processes", [1, 2], ids=["one process", "two processes"])
async def test_a_mark_racing_a_rotation_is_kept_with_the_other_requests_change_under_the_new_token(
    store: DynamoStore, clock: Clock, processes: int
) -> None:
    old = started(client_on(store), user="ada")
    clock(EVERY)
    record, marked = await mark_racing_a_rotation(store, old, processes, **OPTIONS)
    assert json.loads(record.data) == {"user": "ada", "cart": "apple"}
    assert (record.auth.at.timestamp(), record.auth.level) == (marked["at"], 2)


@pytest.mark.anyio
async def test_the_store_reads_a_rotated_token_as_where_it_forwards_and_refuses_a_write_based_on_it(
    store: DynamoStore,
) -> None:
    created = datetime.now(UTC)
    await store.write("old-token", StoredSession(b"{}", created, later(), 1))
    rotated = StoredSession(b"{}", created, later(), 2, token_issued=created)
    await store.write("new-token", rotated, replacing="old-token", forward=True)
    assert await store.read("old-token") == Forwarded("new-token", created)
    with pytest.raises(SessionConflict) as lost:
        await store.write("old-token", StoredSession(b"{}", created, later(), 2))
    assert lost.value.current == Forwarded("new-token", created)
    await store.remove("old-token")
    assert (await store.read("old-token"), await store.read("new-token")) == (None, None)


@pytest.mark.backends_only
@pytest.mark.anyio
async def test_saving_under_a_rotated_token_with_the_synchronous_api_is_a_conflict_that_keeps_it_forwarding(
    store: DynamoStore,
) -> None:
    created = datetime.now(UTC)
    await store.write("old-token", StoredSession(b"{}", created, later(), 1))
    await store.write(
        "new-token",
        StoredSession(b"{}", created, later(), 2, token_issued=created),
        replacing="old-token",
        forward=True,
    )
    with pytest.raises(SessionConflict):
        store.save("old-token", b'{"user": "mallory"}', later())
    assert (await store.read("old-token"), store.find("old-token")) == (Forwarded("new-token", created), None)
    assert store.find("new-token") == b"{}"


@pytest.mark.parametrize("name", ["token_issued", "successor", "rotated_at"])
def test_an_attribute_name_cannot_be_one_a_rotation_uses(store: DynamoStore, name: str) -> None:
    with pytest.raises(ValueError, match="rotated tokens"):
        DynamoStore(client=store.client, data_name=name)
