"""The session lifecycle without ASGI: what each request's end means, and how a lost race is merged."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest

from starlette_dynamo_session import SessionConflict, StoredSession, StoreUnavailable
from starlette_dynamo_session._core.codec import dumps
from starlette_dynamo_session._core.lifecycle import SessionLifecycle
from starlette_dynamo_session._core.lifetimes import Lifetime
from starlette_dynamo_session._core.outcomes import Destroyed, Refreshed, Unchanged, Written
from starlette_dynamo_session._core.retries import MERGE
from starlette_dynamo_session._core.session import SessionState
from tests.support.memory_store import MemoryStore

pytestmark = pytest.mark.anyio

LIFETIME = Lifetime(max_age=3600, idle_timeout=None)


@pytest.fixture
def lifecycle(memory_store: MemoryStore) -> SessionLifecycle:
    return SessionLifecycle(memory_store, LIFETIME)


def stored(data: dict[str, object], version: int = 1, *, age: float = 0) -> StoredSession:
    """A record of ``data`` made ``age`` seconds ago and expiring in an hour."""
    now = datetime.now(UTC)
    return StoredSession(dumps(data), now - timedelta(seconds=age), now + timedelta(hours=1), version)


async def loaded(lifecycle: SessionLifecycle, store: MemoryStore, data: dict[str, object]) -> SessionState:
    """The state of a request that loaded a stored session holding ``data``."""
    store.records["token"] = stored(data)
    state = await lifecycle.load("token")
    store.take()
    return state


def another_request_writes(store: MemoryStore, data: dict[str, object]) -> StoredSession:
    """What a concurrent request leaves in the store: ``data``, one version further."""
    current = store.records["token"]
    store.records["token"] = dataclasses.replace(current, data=dumps(data), version=current.version + 1)
    return store.records["token"]


async def test_no_token_is_an_empty_session_without_a_store_call(
    lifecycle: SessionLifecycle, memory_store: MemoryStore
) -> None:
    state = await lifecycle.load(None)
    assert (state.session, state.loaded, memory_store.take()) == ({}, None, [])


async def test_an_unknown_token_is_an_empty_session_that_is_not_adopted(
    lifecycle: SessionLifecycle, memory_store: MemoryStore
) -> None:
    state = await lifecycle.load("unknown")
    assert (state.session, state.loaded, memory_store.take()) == ({}, None, ["read"])


async def test_stored_json_in_another_spelling_is_rewritten_once_in_the_canonical_one(
    lifecycle: SessionLifecycle, memory_store: MemoryStore
) -> None:
    memory_store.records["token"] = dataclasses.replace(stored({}), data=b'{"user": "ada"}')
    state = await lifecycle.load("token")
    assert await lifecycle.finish(state, state.session) == Written("token", 3600)
    assert memory_store.records["token"].data == b'{"user":"ada"}'
    state = await lifecycle.load("token")
    assert await lifecycle.finish(state, state.session) == Unchanged()


async def test_a_new_empty_session_is_unchanged_and_costs_nothing(
    lifecycle: SessionLifecycle, memory_store: MemoryStore
) -> None:
    state = await lifecycle.load(None)
    assert await lifecycle.finish(state, state.session) == Unchanged()
    assert memory_store.take() == []


async def test_a_new_session_is_written_at_version_one_under_a_new_token(
    lifecycle: SessionLifecycle, memory_store: MemoryStore
) -> None:
    state = await lifecycle.load(None)
    state.session["user"] = "ada"
    outcome = await lifecycle.finish(state, state.session)
    assert isinstance(outcome, Written) and outcome.max_age == 3600
    assert memory_store.take() == ["write"]
    assert memory_store.records[outcome.token].version == 1


async def test_a_session_read_and_not_changed_is_unchanged(
    lifecycle: SessionLifecycle, memory_store: MemoryStore
) -> None:
    state = await loaded(lifecycle, memory_store, {"user": "ada"})
    assert await lifecycle.finish(state, state.session) == Unchanged()
    assert memory_store.take() == []


async def test_a_changed_session_is_written_under_its_token_one_version_on(
    lifecycle: SessionLifecycle, memory_store: MemoryStore
) -> None:
    state = await loaded(lifecycle, memory_store, {"user": "ada"})
    state.session["n"] = 1
    assert await lifecycle.finish(state, state.session) == Written("token", 3600)
    assert memory_store.records["token"].version == 2


async def test_the_cookie_max_age_is_what_remains_of_the_absolute_lifetime(
    lifecycle: SessionLifecycle, memory_store: MemoryStore
) -> None:
    memory_store.records["token"] = stored({"user": "ada"}, age=600)
    state = await lifecycle.load("token")
    state.session["n"] = 1
    outcome = await lifecycle.finish(state, state.session)
    assert isinstance(outcome, Written) and 2999 <= (outcome.max_age or 0) <= 3000


async def test_a_cleared_session_is_destroyed(lifecycle: SessionLifecycle, memory_store: MemoryStore) -> None:
    state = await loaded(lifecycle, memory_store, {"user": "ada"})
    state.session.clear()
    assert await lifecycle.finish(state, state.session) == Destroyed()
    assert (memory_store.take(), memory_store.records) == (["remove"], {})


async def test_a_mapping_left_in_place_of_the_session_replaces_its_data(
    lifecycle: SessionLifecycle, memory_store: MemoryStore
) -> None:
    state = await loaded(lifecycle, memory_store, {"user": "ada", "cart": [1]})
    assert await lifecycle.finish(state, {"user": "bob"}) == Written("token", 3600)
    assert json.loads(memory_store.records["token"].data) == {"user": "bob"}
    assert state.session.accessed


@pytest.mark.parametrize("left", [None, {}], ids=["None", "an empty mapping"])
async def test_none_or_an_empty_mapping_left_in_place_of_the_session_ends_it(
    lifecycle: SessionLifecycle, memory_store: MemoryStore, left: object
) -> None:
    state = await loaded(lifecycle, memory_store, {"user": "ada"})
    assert await lifecycle.finish(state, left) == Destroyed()
    assert memory_store.records == {}


async def test_anything_else_left_in_place_of_the_session_is_a_type_error_and_stores_nothing(
    lifecycle: SessionLifecycle, memory_store: MemoryStore
) -> None:
    state = await loaded(lifecycle, memory_store, {"user": "ada"})
    with pytest.raises(TypeError, match="must be a mapping"):
        await lifecycle.finish(state, ["not", "a", "mapping"])
    assert (memory_store.take(), json.loads(memory_store.records["token"].data)) == ([], {"user": "ada"})


async def test_a_regenerated_session_moves_to_a_new_token_in_one_write(
    lifecycle: SessionLifecycle, memory_store: MemoryStore
) -> None:
    state = await loaded(lifecycle, memory_store, {"user": "ada"})
    state.regenerate = True
    outcome = await lifecycle.finish(state, state.session)
    assert isinstance(outcome, Written) and outcome.token != "token"
    assert memory_store.take() == ["replace"]
    assert list(memory_store.records) == [outcome.token]


async def test_an_idle_deadline_a_tenth_of_the_window_old_is_refreshed_without_a_new_cookie(
    memory_store: MemoryStore,
) -> None:
    lifecycle = SessionLifecycle(memory_store, Lifetime(max_age=None, idle_timeout=100))
    record = stored({"user": "ada"})
    memory_store.records["token"] = dataclasses.replace(record, expiry=datetime.now(UTC) + timedelta(seconds=89))
    state = await lifecycle.load("token")
    assert await lifecycle.finish(state, state.session) == Refreshed()
    assert memory_store.records["token"].expiry.timestamp() == pytest.approx(
        (datetime.now(UTC) + timedelta(seconds=100)).timestamp(), abs=5
    )


async def test_a_lost_race_is_merged_with_the_returned_item_without_a_read(
    lifecycle: SessionLifecycle, memory_store: MemoryStore
) -> None:
    state = await loaded(lifecycle, memory_store, {"user": "ada"})
    another_request_writes(memory_store, {"user": "ada", "theirs": 1})
    state.session["mine"] = 2
    assert await lifecycle.finish(state, state.session) == Written("token", 3600)
    assert memory_store.take() == ["write", "write"]
    assert json.loads(memory_store.records["token"].data) == {"user": "ada", "theirs": 1, "mine": 2}
    assert memory_store.records["token"].version == 3


async def test_a_lost_race_whose_winner_is_unknown_reads_it_once(memory_store: MemoryStore) -> None:
    class TransactionConflictOnce(MemoryStore):
        async def write(
            self, token: str, record: StoredSession, *, replacing: str | None = None, forward: bool = False
        ) -> None:
            if not self.operations.count("write"):
                self.operations.append("write")
                raise SessionConflict("a transaction was changing the item", reason="transaction_conflict")
            await super().write(token, record, replacing=replacing)

    store = TransactionConflictOnce()
    lifecycle = SessionLifecycle(store, LIFETIME)
    state = await loaded(lifecycle, store, {"user": "ada"})
    state.session["mine"] = 1
    assert await lifecycle.finish(state, state.session) == Written("token", 3600)
    assert store.take() == ["write", "read", "write"]


async def test_a_session_destroyed_meanwhile_is_never_resurrected(
    lifecycle: SessionLifecycle, memory_store: MemoryStore
) -> None:
    state = await loaded(lifecycle, memory_store, {"user": "ada"})
    del memory_store.records["token"]
    state.session["late"] = 1
    assert await lifecycle.finish(state, state.session) == Destroyed()
    assert memory_store.records == {}


async def test_a_regeneration_that_lost_a_race_keeps_the_winners_keys_under_the_new_token(
    lifecycle: SessionLifecycle, memory_store: MemoryStore
) -> None:
    state = await loaded(lifecycle, memory_store, {"user": "ada"})
    another_request_writes(memory_store, {"user": "ada", "theirs": 1})
    state.regenerate = True
    outcome = await lifecycle.finish(state, state.session)
    assert isinstance(outcome, Written)
    assert list(memory_store.records) == [outcome.token]
    assert json.loads(memory_store.records[outcome.token].data) == {"user": "ada", "theirs": 1}


async def test_retries_back_off_on_the_event_loop_and_give_up_leaving_the_stored_session_as_it_was(
    memory_store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    class AlwaysLoses(MemoryStore):
        async def write(
            self, token: str, record: StoredSession, *, replacing: str | None = None, forward: bool = False
        ) -> None:
            self.operations.append("write")
            raise SessionConflict("lost", current=self.records[token], reason="present")

    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr("starlette_dynamo_session._core.retries.anyio.sleep", sleep)
    store = AlwaysLoses()
    lifecycle = SessionLifecycle(store, LIFETIME)
    state = await loaded(lifecycle, store, {"user": "ada"})
    before = store.records["token"]
    state.session["mine"] = 1
    with pytest.raises(StoreUnavailable, match=f"after {MERGE.attempts} conflicting writes"):
        await lifecycle.finish(state, state.session)
    assert store.take() == ["write"] * MERGE.attempts
    assert len(pauses) == MERGE.attempts - 1
    assert all(0 <= pause <= MERGE.cap for pause in pauses)
    assert store.records["token"] == before


async def test_a_lifetime_already_over_stores_nothing(memory_store: MemoryStore) -> None:
    lifecycle = SessionLifecycle(memory_store, Lifetime(max_age=0))
    state = await lifecycle.load(None)
    state.session["user"] = "ada"
    assert await lifecycle.finish(state, state.session) == Destroyed()
    assert (memory_store.take(), memory_store.records) == ([], {})


async def test_a_session_past_a_shortened_lifetime_is_deleted_at_its_next_write(memory_store: MemoryStore) -> None:
    lifecycle = SessionLifecycle(memory_store, Lifetime(max_age=60))
    memory_store.records["token"] = stored({"user": "ada"}, age=120)
    state = await lifecycle.load("token")
    state.session["n"] = 1
    assert await lifecycle.finish(state, state.session) == Destroyed()
    assert memory_store.records == {}


async def test_a_new_session_whose_first_write_conflicts_is_an_error_not_a_merge(
    lifecycle: SessionLifecycle, memory_store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("starlette_dynamo_session._core.lifecycle.new_token", lambda: "taken")
    memory_store.records["taken"] = stored({"someone": "else"})
    state = await lifecycle.load(None)
    state.session["user"] = "ada"
    with pytest.raises(SessionConflict):
        await lifecycle.finish(state, state.session)
    assert json.loads(memory_store.records["taken"].data) == {"someone": "else"}
