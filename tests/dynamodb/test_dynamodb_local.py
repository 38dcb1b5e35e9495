"""What only a real DynamoDB shows, checked against AWS's DynamoDB Local: the exact item size limit, TTL as the server
enforces it, and the TTL sweeper. (Conditional writes and transactions are in the store contract, which runs here
too.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from harness.processes import wait_until
from starlette_dynamo_session import MAX_ITEM_BYTES, DynamoStore, SessionTooLarge, item_size
from starlette_dynamo_session._dynamodb.sealing import SEALING_OVERHEAD
from tests.conftest import DYNAMODB_LOCAL
from tests.endpoints import raw_item
from tests.support.recorder import OperationRecorder

pytestmark = [
    pytest.mark.dynamodb_local,
    pytest.mark.parametrize("dynamodb_case", [DYNAMODB_LOCAL], indirect=True),
]

SWEEP_TIMEOUT = 60.0  # seconds; DynamoDB Local's sweeper deleted expired items 9 to 10 s after expiry when measured


def largest_data_dynamodb_accepts(store: DynamoStore, token: str, expiry: datetime) -> int:
    """Bisect the longest ``data`` DynamoDB takes in the item ``store.save(token, data, expiry)`` writes: the item
    is saved once with no data, then only its data attribute grows, written straight through the client."""
    store.save(token, b"", expiry)
    key = {store.token_name: {"S": store.key(token)}}

    def accepted(length: int) -> bool:
        try:
            store.client.update_item(
                TableName=store.table_name,
                Key=key,
                UpdateExpression="SET #d = :d",
                ExpressionAttributeNames={"#d": store.data_name},
                ExpressionAttributeValues={":d": {"B": b"x" * length}},
            )
        except ClientError as exc:
            assert exc.response.get("Error", {}).get("Code") == "ValidationException", exc
            assert "size" in str(exc), exc
            return False
        return True

    accepted_length, refused_length = 0, MAX_ITEM_BYTES + 1
    assert not accepted(refused_length)
    while refused_length - accepted_length > 1:
        middle = (accepted_length + refused_length) // 2
        if accepted(middle):
            accepted_length = middle
        else:
            refused_length = middle
    return accepted_length


@pytest.mark.parametrize(
    ("created", "expiry"),
    [
        # Whole seconds: the trailing zeros take no bytes, in either instant.
        (datetime(2029, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)),
        # Microseconds ending in 00: one byte fewer than ...
        (datetime(2029, 1, 2, 3, 4, 5, 123_400, tzinfo=UTC), datetime(2030, 1, 2, 3, 4, 5, 250_000, tzinfo=UTC)),
        # ... every digit significant.
        (datetime(2029, 1, 2, 3, 4, 5, 123_457, tzinfo=UTC), datetime(2030, 1, 2, 3, 4, 5, 123_457, tzinfo=UTC)),
    ],
)
@pytest.mark.parametrize("seal_data", [True, False], ids=["sealed", "plain"])
def test_the_size_guard_accepts_exactly_what_dynamodb_accepts(
    store: DynamoStore,
    recorder: OperationRecorder,
    monkeypatch: pytest.MonkeyPatch,
    created: datetime,
    expiry: datetime,
) -> None:
    # An item's size depends on the digits of its creation time, which save() reads from the clock: every item of
    # this test is created at the same known instant, so each one is exactly as large as the probe.
    monkeypatch.setattr(time, "time", created.timestamp)
    # The longest data attribute DynamoDB takes; sealed, the session in it is shorter by the nonce and tag.
    largest = largest_data_dynamodb_accepts(store, "probe", expiry) - (SEALING_OVERHEAD if store.seal_data else 0)
    recorder.take()
    store.save("largest", b"x" * largest, expiry)
    assert recorder.take() == ["UpdateItem"]
    assert store.find("largest") == b"x" * largest
    assert item_size(raw_item(store, "largest") or {}) == MAX_ITEM_BYTES  # as DynamoDB counts it, to the byte
    recorder.take()
    with pytest.raises(SessionTooLarge, match="over DynamoDB's limit"):
        store.save("one-byte-more", b"x" * (largest + 1), expiry)
    assert recorder.take() == []


def test_creating_the_table_twice_is_fine_and_ttl_is_enabled_on_the_ttl_attribute(store: DynamoStore) -> None:
    store.create_table()
    ttl = store.client.describe_time_to_live(TableName=store.table_name)["TimeToLiveDescription"]
    assert (ttl.get("TimeToLiveStatus"), ttl.get("AttributeName")) == ("ENABLED", store.ttl_name)


def test_enabling_ttl_again_is_refused_by_dynamodb_which_create_table_avoids(store: DynamoStore) -> None:
    with pytest.raises(ClientError, match="TimeToLive is already enabled"):
        store.client.update_time_to_live(
            TableName=store.table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": store.ttl_name}
        )
    store.create_table()


def test_an_expired_session_is_not_found_while_its_item_is_still_in_the_table(
    store: DynamoStore, clock: Callable[[float], None]
) -> None:
    store.save("token", b"data", datetime.now(UTC) + timedelta(hours=1))
    assert store.find("token") == b"data"
    clock(2 * 60 * 60)  # the store's clock only: the server's TTL is still an hour away, so its sweeper keeps the item
    assert store.find("token") is None
    assert raw_item(store, "token") is not None


def test_the_ttl_sweeper_deletes_an_expired_item(store: DynamoStore) -> None:
    store.save("token", b"data", datetime.now(UTC) - timedelta(seconds=1))
    assert wait_until(lambda: raw_item(store, "token") is None, timeout=SWEEP_TIMEOUT)
