"""Pruning users' items (``_user_pruning``), on moto: a user who signs in thousands of times without anyone listing
their sessions keeps a small user item, and the pruning costs a few requests per hundred sign-ins."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio

from starlette_dynamo_session import DynamoStore, StoredSession
from starlette_dynamo_session._core.records import SessionUser
from starlette_dynamo_session._core.tokens import digest, new_token
from starlette_dynamo_session._dynamodb.item import item_size
from starlette_dynamo_session._dynamodb.user_pruning import PRUNE_AFTER
from tests.conftest import make_client_factory
from tests.dynamodb.test_concurrency import atomic_moto_writes  # noqa: F401 - autouse: moto's writes, atomic as DynamoDB's
from tests.dynamodb.test_users import device, listed
from tests.support.recorder import OperationRecorder

ENDED_SIGN_INS = 3_000  # what that many unlisted sign-ins left in a user item: some 160 KB
SIGN_INS = 3 * PRUNE_AFTER + 50
USER_ITEM_BOUND = 70 + 51 * (PRUNE_AFTER + 50)  # bytes: key, version, count, entries (100 + the live at most)


def user_item(store: DynamoStore, user: str) -> dict[str, Any]:
    item = store.client.get_item(TableName=store.table_name, Key=store._users.user_key(user), ConsistentRead=True)
    return dict(item.get("Item", {}))


async def bind(store: DynamoStore, user: str, token: str | None = None) -> str:
    """Sign a new session in as ``user`` straight through the store, as the middleware does: one minute to live."""
    token = token or new_token()
    now = datetime.fromtimestamp(time.time(), UTC)
    session = StoredSession(b'{"user":"ada"}', now, now + timedelta(seconds=60), 1, user=SessionUser(user, now))
    await store.write(token, session)
    return token


def test_a_user_item_three_thousand_unlisted_sign_ins_filled_shrinks_and_stays_small_as_sign_ins_go_on(
    moto_store: DynamoStore, clock: Callable[[float], None]
) -> None:
    entries = {f"s#{digest(f'ended {n}')}": {"N": "1700000000.123456"} for n in range(ENDED_SIGN_INS)}
    key = moto_store._users.user_key("ada")
    moto_store.client.put_item(TableName=moto_store.table_name, Item={**key, "version": {"N": "1"}, **entries})
    assert item_size(user_item(moto_store, "ada")) > 150 * 1024

    async def sign_in_many() -> None:
        for n in range(SIGN_INS):
            token = await bind(moto_store, "ada")
            if n % 3 == 0:
                await moto_store.remove(token)  # signed out
            if n % 50 == 49:
                clock(61)  # the others expire

    anyio.run(sign_in_many)
    device(make_client_factory(moto_store))
    item = user_item(moto_store, "ada")
    assert item_size(item) < USER_ITEM_BOUND
    assert len([name for name in item if name.startswith("s#")]) <= PRUNE_AFTER + 50
    assert len(listed(moto_store, "ada")) <= 34


def test_pruning_costs_three_requests_once_per_hundred_sign_ins_of_a_user(
    moto_store: DynamoStore, moto_recorder: OperationRecorder
) -> None:
    async def sign_in_many() -> None:
        for _ in range(PRUNE_AFTER + 1):
            await bind(moto_store, "ada")

    anyio.run(sign_in_many)
    pruning = ["TransactWriteItems", "GetItem", "UpdateItem", "TransactWriteItems"]  # refused, read, pruned, bound
    assert moto_recorder.take() == ["TransactWriteItems"] * PRUNE_AFTER + pruning


def test_pruning_keeps_the_entry_of_a_session_whose_expiry_moved_on_since_it_was_bound(
    moto_store: DynamoStore, clock: Callable[[float], None]
) -> None:
    refreshed = new_token()

    async def refresh_then_sign_in_many() -> None:
        await bind(moto_store, "ada", refreshed)
        bound = await moto_store.read(refreshed)
        assert isinstance(bound, StoredSession)
        await moto_store.write(refreshed, replace(bound, expiry=bound.expiry + timedelta(hours=1), version=2))
        clock(61)  # past the expiry its entry recorded
        for _ in range(PRUNE_AFTER):  # the last one prunes
            await bind(moto_store, "ada")

    anyio.run(refresh_then_sign_in_many)
    [info] = [info for info in listed(moto_store, "ada") if info.key == digest(refreshed)]
    assert user_item(moto_store, "ada")[f"s#{info.key}"] == {"N": str(math.ceil(info.expires.timestamp()))}
