"""Token rotation with theft detection (``rotate_token_every``) on the in-memory store: a new token once the old one
is old enough, the old one still the same session within the grace, and a replay after it ending the session."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from starlette_dynamo_session import DynamoSessionMiddleware, SessionEvent
from starlette_dynamo_session._core.tokens import digest
from tests.conftest import SECRET_KEY
from tests.support.memory_store import MemoryStore
from tests.support.rotation import (
    GRACE,
    HEADER,
    WINDOW,
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

Clock = Callable[[float], None]


def started(client: TestClient, **data: str) -> str:
    """Start a session holding ``data``; return its signed cookie."""
    response = client.post("/update", json=data)
    signed = set_cookie(response)
    assert signed
    return signed


def test_a_token_younger_than_the_window_is_not_rotated(memory_store: MemoryStore, clock: Clock) -> None:
    client = rotating_client(memory_store)
    started(client, user="ada")
    clock(WINDOW - 1)
    response = client.get("/view")
    assert (response.json(), set_cookie(response)) == ({"session": {"user": "ada"}}, None)


def test_the_first_request_once_the_token_is_as_old_as_the_window_gets_a_new_token_and_keeps_the_data(
    memory_store: MemoryStore, clock: Clock
) -> None:
    client = rotating_client(memory_store)
    old = started(client, user="ada")
    clock(WINDOW)
    response = client.get("/view")
    new = set_cookie(response)
    assert new and token_of(new) != token_of(old)
    assert response.json() == {"session": {"user": "ada"}}
    assert client.get("/view", headers=presenting(new)).json() == {"session": {"user": "ada"}}


def test_a_rotation_keeps_the_sessions_creation_lifetime_and_version_count(
    memory_store: MemoryStore, clock: Clock
) -> None:
    client = rotating_client(memory_store)
    old = token_of(started(client, user="ada"))
    before = memory_store.records[old]
    clock(WINDOW)
    new = token_of(set_cookie(client.get("/view")) or "")
    after = memory_store.records[new]
    assert (after.created, after.expiry, after.max_age, after.data) == (
        before.created,
        before.expiry,
        before.max_age,
        before.data,
    )
    assert (before.token_issued, after.version) == (None, before.version + 1)
    assert after.issued.timestamp() == pytest.approx(before.created.timestamp() + WINDOW)


def test_the_previous_token_within_the_grace_opens_the_same_session_and_its_response_carries_the_current_token(
    memory_store: MemoryStore, clock: Clock
) -> None:
    client = rotating_client(memory_store)
    old = started(client, user="ada")
    clock(WINDOW)
    new = set_cookie(client.get("/view"))
    clock(GRACE - 1)
    response = client.get("/view", headers=presenting(old))
    assert response.json() == {"session": {"user": "ada"}}
    assert new and token_of(set_cookie(response) or "") == token_of(new)


def test_a_write_with_the_previous_token_within_the_grace_lands_on_the_current_session(
    memory_store: MemoryStore, clock: Clock
) -> None:
    client = rotating_client(memory_store)
    old = started(client, user="ada")
    clock(WINDOW)
    new = set_cookie(client.get("/view")) or ""
    response = client.post("/set?key=theme&value=dark", headers=presenting(old))
    assert token_of(set_cookie(response) or "") == token_of(new)
    assert client.get("/view", headers=presenting(new)).json() == {"session": {"user": "ada", "theme": "dark"}}
    assert list(memory_store.live()) == [token_of(new)]


def test_an_api_client_gets_the_rotated_token_in_the_session_header(memory_store: MemoryStore, clock: Clock) -> None:
    client = rotating_client(memory_store, session_header=HEADER)
    first = client.post("/update", json={"user": "ada"}, headers={HEADER: ""})
    old = first.headers[HEADER]
    clock(WINDOW)
    response = client.get("/view", headers={HEADER: old})
    new = response.headers[HEADER]
    assert token_of(new) != token_of(old) and "set-cookie" not in response.headers
    assert client.get("/view", headers={HEADER: new}).json() == {"session": {"user": "ada"}}
    assert client.get("/view", headers={HEADER: old}).headers[HEADER] == new  # within the grace


def test_a_replay_after_the_grace_ends_the_session_for_every_holder_and_is_an_event_with_the_current_key(
    memory_store: MemoryStore, clock: Clock
) -> None:
    events: list[SessionEvent] = []
    client = rotating_client(memory_store, on_event=events.append)
    old = started(client, user="ada")
    clock(WINDOW)
    new = set_cookie(client.get("/view")) or ""
    clock(GRACE)
    events.clear()
    replayed = client.get("/view", headers=presenting(old))
    assert (replayed.json(), set_cookie(replayed)) == ({"session": {}}, "")  # the dead cookie is expired
    assert events == [SessionEvent("token_replayed", digest(token_of(new)))]
    assert client.get("/view", headers=presenting(new)).json() == {"session": {}}
    assert memory_store.live() == {}


def test_a_replay_by_an_api_client_empties_its_session_header(memory_store: MemoryStore, clock: Clock) -> None:
    client = rotating_client(memory_store, session_header=HEADER)
    old = client.post("/update", json={"user": "ada"}, headers={HEADER: ""}).headers[HEADER]
    clock(WINDOW)
    new = client.get("/view", headers={HEADER: old}).headers[HEADER]
    clock(GRACE)
    replayed = client.get("/view", headers={HEADER: old})
    assert (replayed.json(), replayed.headers[HEADER]) == ({"session": {}}, "")
    assert client.get("/view", headers={HEADER: new}).json() == {"session": {}}


def test_a_replay_that_writes_starts_a_new_session_under_a_new_token(memory_store: MemoryStore, clock: Clock) -> None:
    client = rotating_client(memory_store)
    old = started(client, user="ada")
    clock(WINDOW)
    new = set_cookie(client.get("/view")) or ""
    clock(GRACE)
    replayed = client.post("/set", params={"key": "cart", "value": "apple"}, headers=presenting(old))
    fresh = set_cookie(replayed) or ""
    assert token_of(fresh) not in ("", token_of(old), token_of(new))
    assert client.get("/view", headers=presenting(fresh)).json() == {"session": {"cart": "apple"}}


def test_a_rotation_is_an_event_with_the_new_and_the_previous_key(memory_store: MemoryStore, clock: Clock) -> None:
    events: list[SessionEvent] = []
    client = rotating_client(memory_store, on_event=events.append)
    old = started(client, user="ada")
    clock(WINDOW)
    new = set_cookie(client.get("/view")) or ""
    assert events[1:] == [SessionEvent("rotated", digest(token_of(new)), previous_key=digest(token_of(old)))]


def test_the_previous_token_leads_to_the_current_one_and_a_token_two_rotations_old_is_a_replay(
    memory_store: MemoryStore, clock: Clock
) -> None:
    client = rotating_client(memory_store, rotate_token_every=60, rotation_grace=30)
    first = started(client, user="ada")
    clock(60)
    second = set_cookie(client.get("/view")) or ""
    clock(60)
    third = set_cookie(client.get("/view", headers=presenting(second))) or ""
    assert len({token_of(first), token_of(second), token_of(third)}) == 3
    clock(5)
    within = client.get("/view", headers=presenting(second))
    assert (within.json(), token_of(set_cookie(within) or "")) == ({"session": {"user": "ada"}}, token_of(third))
    assert client.get("/view", headers=presenting(first)).json() == {"session": {}}  # rotated 65 s ago
    assert client.get("/view", headers=presenting(third)).json() == {"session": {}}
    assert memory_store.live() == {}


def test_a_bound_session_stays_one_entry_of_its_user_across_rotations(memory_store: MemoryStore, clock: Clock) -> None:
    client = rotating_client(memory_store)
    started(client, cart="pear")
    client.post("/sign-in?user=ada")
    keys = []
    for _ in range(3):
        clock(WINDOW)
        client.get("/view")
        keys.append(client.get("/whoami").json()["key"])
        assert [info.key for info in anyio.run(memory_store.list_sessions, "ada")] == [keys[-1]]
    assert len(set(keys)) == 3


def test_revoking_the_current_key_ends_the_session_under_its_previous_token_too(
    memory_store: MemoryStore, clock: Clock
) -> None:
    client = rotating_client(memory_store)
    started(client, cart="pear")
    old = set_cookie(client.post("/sign-in?user=ada")) or ""
    clock(WINDOW)
    client.get("/view")
    anyio.run(memory_store.revoke, client.get("/whoami").json()["key"])
    assert client.get("/view", headers=presenting(old)).json() == {"session": {}}
    assert client.get("/view").json() == {"session": {}}


def test_clearing_the_session_with_the_previous_token_ends_the_current_one(
    memory_store: MemoryStore, clock: Clock
) -> None:
    client = rotating_client(memory_store)
    old = started(client, user="ada")
    clock(WINDOW)
    new = set_cookie(client.get("/view")) or ""
    response = client.post("/clear", headers=presenting(old))
    assert set_cookie(response) == ""
    assert client.get("/view", headers=presenting(new)).json() == {"session": {}}
    assert memory_store.live() == {}


def test_a_rotated_token_past_its_forwarding_items_expiry_is_just_an_unknown_token(
    memory_store: MemoryStore, clock: Clock
) -> None:
    events: list[SessionEvent] = []
    client = rotating_client(memory_store, max_age=WINDOW * 2, on_event=events.append)
    old = started(client, user="ada")
    clock(WINDOW)
    client.get("/view")
    clock(WINDOW)  # the session, and the forwarding item with it, expired
    events.clear()
    assert client.get("/view", headers=presenting(old)).json() == {"session": {}}
    assert [event.kind for event in events] == []


def test_rotation_costs_one_write_per_window_and_a_read_within_the_grace_one_more_read(
    memory_store: MemoryStore, clock: Clock
) -> None:
    client = rotating_client(memory_store)
    old = started(client, user="ada")
    memory_store.take()
    clock(WINDOW)
    client.get("/view")
    assert memory_store.take() == ["read", "rotate"]
    client.get("/view")
    assert memory_store.take() == ["read"]
    client.get("/view", headers=presenting(old))
    assert memory_store.take() == ["read", "read"]


def test_without_rotation_requests_cost_0_1_1_2_2_store_calls(memory_store: MemoryStore, clock: Clock) -> None:
    client = TestClient(rotating_app(memory_store, rotate_token_every=None))
    assert costs_of_each_kind(client, memory_store.take, clock, WINDOW) == {
        "anonymous": [],
        "first write": ["write"],
        "read-only": ["read"],
        "change": ["read", "write"],
        "clear": ["read", "remove"],
    }


@pytest.mark.anyio
async def test_twenty_concurrent_requests_straddling_a_rotation_lose_no_key_and_sign_no_one_out(
    memory_store: MemoryStore, clock: Clock
) -> None:
    client = rotating_client(memory_store)
    old = started(client, user="ada")
    clock(WINDOW)
    barrier = Barrier(20)
    # Two applications on one store stand for two processes: the rotation races within each and between them.
    apps = [rotating_app(memory_store, barrier), rotating_app(memory_store, barrier)]
    memory_store.take()
    responses = await straddle_a_rotation(apps, old, 20)
    # One rotation attempt per process, and only one of them wins: the other process's requests follow it.
    assert memory_store.take().count("rotate") == 2
    assert [response.status_code for response in responses] == [200] * 20
    tokens = {token_of(set_cookie(response) or "") for response in responses}
    assert len(tokens) == 1 and token_of(old) not in tokens
    [current] = memory_store.live()
    assert {current} == tokens
    expected = {"user": "ada", **{f"k{index}": str(index) for index in range(20)}}
    assert json.loads(memory_store.records[current].data) == expected


def test_a_rotation_keeps_the_sessions_authentication_under_the_new_token_and_the_old_one_within_the_grace(
    memory_store: MemoryStore, clock: Clock
) -> None:
    marked, shown = authentication_across_a_rotation(rotating_client(memory_store), clock, WINDOW, GRACE)
    assert marked["level"] == 2
    assert shown == [marked, marked, marked]


@pytest.mark.anyio
@pytest.mark.parametrize("processes", [1, 2], ids=["one process", "two processes"])
async def test_a_mark_racing_a_rotation_is_kept_with_the_other_requests_change_under_the_new_token(
    memory_store: MemoryStore, clock: Clock, processes: int
) -> None:
    old = started(rotating_client(memory_store), user="ada")
    clock(WINDOW)
    record, marked = await mark_racing_a_rotation(memory_store, old, processes)
    assert json.loads(record.data) == {"user": "ada", "cart": "apple"}
    assert (record.auth.at.timestamp(), record.auth.level) == (marked["at"], 2)


@pytest.mark.parametrize(
    ("every", "grace", "message"),
    [
        (0, 0, "rotate_token_every must be a positive whole number"),
        (-5, 0, "rotate_token_every must be a positive whole number"),
        (1.5, 0, "rotate_token_every must be a positive whole number"),
        (True, 0, "rotate_token_every must be a positive whole number"),
        (60, -1, "rotation_grace must be a whole number"),
        (60, 2.5, "rotation_grace must be a whole number"),
        (60, 60, r"rotation_grace \(60\) must be smaller than rotate_token_every \(60\)"),
        (None, -1, "rotation_grace must be a whole number"),
    ],
)
def test_rotation_arguments_are_checked(memory_store: MemoryStore, every: Any, grace: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DynamoSessionMiddleware(Starlette(), memory_store, SECRET_KEY, rotate_token_every=every, rotation_grace=grace)
