"""DynamoStore's contract, one test per sentence of its documentation (README and docstrings).

Every test runs on each backend; the tests of the store's coroutines (marked ``every_transport``) run on each transport
case too. The synchronous methods always use the store's botocore client, whatever its transport."""

from __future__ import annotations

import hashlib
import logging
import uuid
from base64 import urlsafe_b64encode
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from botocore.config import Config
from starlette.routing import Route

from starlette_dynamo_session import (
    MAX_ITEM_BYTES,
    DynamoStore,
    SessionConflict,
    SessionTooLarge,
    StoredSession,
    StoreUnavailable,
    TableNotFound,
)
from tests.conftest import Recorder, make_client_factory
from tests.endpoints import later, raw_item, update_session, view_session

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.literals import KeyTypeType, ScalarAttributeTypeType


@pytest.fixture(params=[True, False], ids=["sealed", "plain"])
def seal_data(request: pytest.FixtureRequest) -> bool:
    """The store's contract holds whether it seals its data or not."""
    return cast(bool, request.param)


def test_default_table_and_attribute_names(boto_session: boto3.Session) -> None:
    store = DynamoStore(boto_session)
    names = (store.table_name, store.token_name, store.data_name, store.expiry_name, store.ttl_name)
    assert names == ("sessions", "token", "data", "expiry", "ttl")
    assert (store.created_name, store.version_name) == ("created", "version")


def test_empty_names_are_refused(boto_session: boto3.Session) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        DynamoStore(boto_session, table_name="")
    with pytest.raises(ValueError, match="must not be empty"):
        DynamoStore(boto_session, data_name="")


def test_names_are_read_only(store: DynamoStore) -> None:
    with pytest.raises(AttributeError):
        store.table_name = "other"  # type: ignore[misc]


def test_custom_attribute_names_are_used_in_the_item(boto_session: boto3.Session) -> None:
    store = DynamoStore(
        boto_session,
        table_name="custom",
        token_name="id",
        data_name="payload",
        expiry_name="ends",
        ttl_name="gone",
        created_name="born",
        version_name="v",
    )
    store.create_table()
    store.save("t", b"x", later())
    assert set(raw_item(store, "t") or {}) == {"id", "payload", "ends", "gone", "born", "v"}
    assert store.find("t") == b"x"


def test_duplicate_attribute_names_are_refused(boto_session: boto3.Session) -> None:
    with pytest.raises(ValueError, match="attribute names must all differ"):
        DynamoStore(boto_session, data_name="token")


def test_find_returns_what_save_stored(store: DynamoStore) -> None:
    store.save("token-1", b"\x00binary\xff", later())
    assert store.find("token-1") == b"\x00binary\xff"


@pytest.mark.parametrize(
    "change",
    [{"data": {"S": "text, not bytes"}}, {"expiry": {"S": "soon"}}, {"version": None}, {"created": None}],
)
def test_an_item_of_another_shape_is_an_unknown_session(store: DynamoStore, change: dict[str, Any]) -> None:
    item: dict[str, Any] = {
        "token": {"S": store.key("token-1")},
        "data": {"B": b"{}"},
        "created": {"N": "1700000000"},
        "expiry": {"N": "4000000000"},
        "version": {"N": "1"},
    }
    item.update(change)  # None: the attribute is missing
    store.client.put_item(TableName=store.table_name, Item={name: value for name, value in item.items() if value})
    assert store.find("token-1") is None


def test_find_returns_none_for_an_unknown_token(store: DynamoStore) -> None:
    assert store.find("never-saved") is None


def test_find_returns_none_once_expired_even_before_dynamodb_deletes_it(
    store: DynamoStore, clock: Callable[[float], None]
) -> None:
    # Expired on the store's clock only: DynamoDB Local's TTL sweeper, on the real one, must not delete it meanwhile.
    store.save("token-1", b"data", datetime.now(UTC) + timedelta(seconds=60))
    clock(120)
    assert raw_item(store, "token-1") is not None
    assert store.find("token-1") is None


def test_find_is_one_strongly_consistent_get_item(store: DynamoStore, recorder: Recorder) -> None:
    requests: list[dict[str, Any]] = []
    store.client.meta.events.register(
        "provide-client-params.dynamodb.GetItem", lambda params, **_: requests.append(params)
    )
    store.find("token-1")
    assert recorder.take() == ["GetItem"]
    assert requests[0]["ConsistentRead"] is True


def test_save_replaces_an_existing_session(store: DynamoStore) -> None:
    store.save("token-1", b"first", later())
    store.save("token-1", b"second", later())
    assert store.find("token-1") == b"second"


def test_save_stores_the_exact_expiry_and_a_ttl_in_epoch_seconds_rounded_up(store: DynamoStore) -> None:
    expiry = datetime(2030, 1, 2, 3, 4, 5, 250_000, tzinfo=UTC)
    store.save("token-1", b"data", expiry)
    item = raw_item(store, "token-1") or {}
    assert item["expiry"] == {"N": "1893553445.250000"}
    assert item["ttl"] == {"N": "1893553446"}


def test_a_whole_second_expiry_is_its_own_ttl(store: DynamoStore) -> None:
    store.save("token-1", b"data", datetime(2030, 1, 1, tzinfo=UTC))
    assert (raw_item(store, "token-1") or {})["ttl"] == {"N": "1893456000"}


@pytest.mark.anyio
@pytest.mark.every_transport
async def test_a_naive_expiry_is_read_as_local_time(store: DynamoStore) -> None:
    naive = datetime.now() + timedelta(minutes=5)
    store.save("token-1", b"data", naive)
    stored = await store.read("token-1")
    assert isinstance(stored, StoredSession)
    assert stored.expiry.timestamp() == pytest.approx(naive.timestamp(), abs=1e-6)


def test_the_item_key_is_a_sha256_digest_never_the_token(store: DynamoStore) -> None:
    token = "secret-session-token"
    store.save(token, b"data", later())
    items = store.client.scan(TableName=store.table_name)["Items"]
    expected = urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()
    assert [item["token"]["S"] for item in items] == [expected]
    assert token not in repr(items)


def test_delete_removes_the_session(store: DynamoStore) -> None:
    store.save("token-1", b"data", later())
    store.delete("token-1")
    assert raw_item(store, "token-1") is None


def test_deleting_an_unknown_token_is_not_an_error(store: DynamoStore, recorder: Recorder) -> None:
    store.delete("never-saved")
    assert recorder.take() == ["DeleteItem"]


def test_a_session_over_400_kb_is_refused_before_any_request(store: DynamoStore, recorder: Recorder) -> None:
    with pytest.raises(SessionTooLarge, match="over DynamoDB's limit of 409600"):
        store.save("token-1", b"x" * MAX_ITEM_BYTES, later())
    assert recorder.take() == []


def test_a_session_far_beyond_a_cookies_4_kb_is_stored(store: DynamoStore) -> None:
    data = b"x" * 300_000
    store.save("token-1", data, later())
    assert store.find("token-1") == data


def test_ping_returns_quietly_when_the_table_is_usable(store: DynamoStore, recorder: Recorder) -> None:
    store.ping()
    assert recorder.take() == ["DescribeTable"]


def test_ping_raises_table_not_found_for_a_missing_table(boto_session: boto3.Session) -> None:
    with pytest.raises(TableNotFound, match="'missing' does not exist"):
        DynamoStore(boto_session, table_name="missing").ping()


def table_keyed_by(session: boto3.Session, *keys: tuple[str, KeyTypeType, ScalarAttributeTypeType]) -> str:
    """A new table whose key schema is ``keys``, each (attribute name, key type, attribute type); its name."""
    name = f"test-keyed-{uuid.uuid4().hex}"
    client = session.client("dynamodb")
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": attribute, "KeyType": kind} for attribute, kind, _ in keys],
        AttributeDefinitions=[{"AttributeName": attribute, "AttributeType": type_} for attribute, _, type_ in keys],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return name


def test_ping_on_a_table_keyed_by_another_attribute_names_the_token_name_to_pass(boto_session: boto3.Session) -> None:
    table = table_keyed_by(boto_session, ("id", "HASH", "S"))
    with pytest.raises(StoreUnavailable, match=r"keyed by id \(HASH S\), but the store by token .*token_name='id'"):
        DynamoStore(boto_session, table_name=table).ping()


def test_ping_on_a_table_with_a_sort_key_says_to_create_the_table_again(boto_session: boto3.Session) -> None:
    table = table_keyed_by(boto_session, ("token", "HASH", "S"), ("at", "RANGE", "N"))
    with pytest.raises(StoreUnavailable, match="key schemas cannot change: create the table again with python -m"):
        DynamoStore(boto_session, table_name=table).ping()


def test_ping_on_a_table_whose_partition_key_is_a_number_says_to_create_the_table_again(
    boto_session: boto3.Session,
) -> None:
    table = table_keyed_by(boto_session, ("token", "HASH", "N"))
    with pytest.raises(StoreUnavailable, match=r"keyed by token \(HASH N\).*create-table --table NAME"):
        DynamoStore(boto_session, table_name=table).ping()


@pytest.mark.parametrize("method", ["find", "delete", "save", "ping"])
def test_every_operation_raises_table_not_found_for_a_missing_table(boto_session: boto3.Session, method: str) -> None:
    store = DynamoStore(boto_session, table_name="missing")
    arguments: dict[str, tuple[Any, ...]] = {"find": ("t",), "delete": ("t",), "save": ("t", b"d", later()), "ping": ()}
    with pytest.raises(TableNotFound) as raised:
        getattr(store, method)(*arguments[method])
    assert "ResourceNotFoundException" in str(raised.value)
    assert raised.value.__cause__ is not None


def test_create_table_makes_an_on_demand_table_with_ttl(store: DynamoStore) -> None:
    table = store.client.describe_table(TableName=store.table_name)["Table"]
    ttl = store.client.describe_time_to_live(TableName=store.table_name)["TimeToLiveDescription"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "token", "KeyType": "HASH"}]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "ttl")


def test_create_table_on_an_existing_table_is_fine(store: DynamoStore, recorder: Recorder) -> None:
    store.save("token-1", b"data", later())
    store.create_table()
    assert store.find("token-1") == b"data"
    assert "UpdateTimeToLive" not in recorder.take()


def record(data: bytes, version: int, *, expiry: datetime | None = None) -> StoredSession:
    """A session record to write, created now."""
    return StoredSession(data, datetime.now(UTC), expiry or later(), version)


@pytest.mark.anyio
@pytest.mark.every_transport
async def test_write_stores_a_record_that_read_returns_to_the_microsecond(store: DynamoStore) -> None:
    written = StoredSession(b'{"a":1}', datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC), later(), 1)
    await store.write("token-1", written)
    assert await store.read("token-1") == written


@pytest.mark.anyio
@pytest.mark.every_transport
async def test_the_item_has_the_data_sealed_or_as_it_was_given_and_each_instant_in_its_own_attribute(
    store: DynamoStore,
) -> None:
    created = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    await store.write("token-1", StoredSession(b'{"a":1}', created, datetime(2030, 1, 1, 0, 0, 0, 1, tzinfo=UTC), 1))
    item = raw_item(store, "token-1") or {}
    data = bytes(item.pop("data")["B"])
    if store.seal_data:
        assert len(data) == len(b'{"a":1}') + 28 and b'"a"' not in data  # nonce, ciphertext, tag
    else:
        assert data == b'{"a":1}'
    assert item == {
        "token": {"S": store.key("token-1")},
        "created": {"N": "1714979289.123456"},
        "expiry": {"N": "1893456000.000001"},
        "ttl": {"N": "1893456001"},
        "version": {"N": "1"},
    }


@pytest.mark.anyio
@pytest.mark.every_transport
async def test_a_first_write_succeeds_only_when_the_item_is_absent(store: DynamoStore) -> None:
    await store.write("token-1", record(b"first", 1))
    with pytest.raises(SessionConflict):
        await store.write("token-1", record(b"second", 1))
    assert store.find("token-1") == b"first"


@pytest.mark.anyio
@pytest.mark.every_transport
async def test_a_write_on_a_stale_version_raises_conflict_and_changes_nothing(store: DynamoStore) -> None:
    await store.write("token-1", record(b"v1", 1))
    await store.write("token-1", record(b"v2", 2))
    with pytest.raises(SessionConflict):
        await store.write("token-1", record(b"stale", 2))
    stored = await store.read("token-1")
    assert isinstance(stored, StoredSession) and (stored.data, stored.version) == (b"v2", 2)


@pytest.mark.anyio
@pytest.mark.every_transport
async def test_a_lost_write_carries_the_item_that_won_and_costs_one_request(
    store: DynamoStore, recorder: Recorder
) -> None:
    await store.write("token-1", record(b"v1", 1))
    winner = record(b"winner", 2)
    await store.write("token-1", winner)
    recorder.take()
    with pytest.raises(SessionConflict) as raised:
        await store.write("token-1", record(b"loser", 2))
    assert (raised.value.reason, raised.value.item_returned, raised.value.current) == ("present", True, winner)
    assert recorder.take() == ["PutItem"]


@pytest.mark.anyio
@pytest.mark.every_transport
async def test_a_write_on_a_deleted_session_raises_conflict_with_no_current_item(store: DynamoStore) -> None:
    await store.write("token-1", record(b"v1", 1))
    store.delete("token-1")
    with pytest.raises(SessionConflict) as raised:
        await store.write("token-1", record(b"resurrected", 2))
    assert (raised.value.reason, raised.value.item_returned, raised.value.current) == ("absent", True, None)
    assert raw_item(store, "token-1") is None


@pytest.mark.anyio
@pytest.mark.every_transport
async def test_a_conflict_with_an_expired_item_carries_no_current_item(
    store: DynamoStore, clock: Callable[[float], None]
) -> None:
    # Expired on the store's clock only: DynamoDB Local's TTL sweeper, on the real one, must not delete it meanwhile.
    store.save("token-1", b"old", datetime.now(UTC) + timedelta(seconds=60))
    clock(120)
    with pytest.raises(SessionConflict) as raised:
        await store.write("token-1", record(b"new", 1))
    assert (raised.value.item_returned, raised.value.current) == (True, None)


@pytest.mark.anyio
@pytest.mark.every_transport
async def test_save_counts_the_version_on_so_conditional_writers_notice(store: DynamoStore) -> None:
    await store.write("token-1", record(b"v1", 1))
    store.save("token-1", b"plain save", later())
    with pytest.raises(SessionConflict):
        await store.write("token-1", record(b"stale", 2))
    stored = await store.read("token-1")
    assert isinstance(stored, StoredSession) and (stored.data, stored.version) == (b"plain save", 2)


@pytest.mark.anyio
@pytest.mark.every_transport
async def test_save_keeps_the_creation_time_of_the_session_it_replaces(store: DynamoStore) -> None:
    created = datetime(2024, 1, 1, tzinfo=UTC)
    await store.write("token-1", StoredSession(b"v1", created, later(), 1))
    store.save("token-1", b"v2", later())
    stored = await store.read("token-1")
    assert isinstance(stored, StoredSession) and stored.created == created


@pytest.mark.anyio
@pytest.mark.every_transport
async def test_replacing_moves_the_session_to_a_new_token_in_one_transaction(
    store: DynamoStore, recorder: Recorder
) -> None:
    await store.write("old", record(b"data", 1))
    recorder.take()
    await store.write("new", record(b"data", 2), replacing="old")
    assert recorder.take() == ["TransactWriteItems"]
    assert store.find("new") == b"data"
    assert raw_item(store, "old") is None


@pytest.mark.anyio
@pytest.mark.every_transport
async def test_replacing_a_session_that_changed_meanwhile_carries_the_item_that_won(store: DynamoStore) -> None:
    await store.write("old", record(b"data", 1))
    changed = record(b"changed", 2)
    await store.write("old", changed)
    with pytest.raises(SessionConflict) as raised:
        await store.write("new", record(b"data", 2), replacing="old")
    assert (raised.value.item_returned, raised.value.current) == (True, changed)
    assert store.find("old") == b"changed"
    assert store.find("new") is None


@pytest.mark.anyio
@pytest.mark.every_transport
async def test_remove_deletes_the_session(store: DynamoStore) -> None:
    await store.write("token-1", record(b"data", 1))
    await store.remove("token-1")
    assert await store.read("token-1") is None


@pytest.mark.anyio
@pytest.mark.every_transport
async def test_a_record_over_400_kb_is_refused_before_any_request(store: DynamoStore, recorder: Recorder) -> None:
    with pytest.raises(SessionTooLarge):
        await store.write("token-1", record(b"x" * MAX_ITEM_BYTES, 1))
    assert recorder.take() == []


def test_many_threads_can_share_one_store(store: DynamoStore) -> None:
    def round_trip(number: int) -> bytes | None:
        token = f"token-{number}"
        store.save(token, str(number).encode(), later())
        found = store.find(token)
        store.delete(token)
        return found

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(round_trip, range(200)))
    assert results == [str(number).encode() for number in range(200)]
    assert store.client.scan(TableName=store.table_name)["Count"] == 0


def test_a_handler_on_the_shared_session_sees_every_store_request(boto_session: boto3.Session) -> None:
    seen: list[str] = []
    boto_session.events.register("before-send.dynamodb", lambda request, **_: seen.append(request.url))
    store = DynamoStore(boto_session, table_name="observed")
    store.create_table()
    seen.clear()
    store.save("t", b"d", later())
    store.find("t")
    store.delete("t")
    store.ping()
    assert len(seen) == 4


def test_the_users_config_is_merged_over_the_store_defaults(boto_session: boto3.Session) -> None:
    store = DynamoStore(boto_session, config=Config(read_timeout=7, region_name="eu-west-3"))
    config = store.client.meta.config
    assert (config.read_timeout, config.connect_timeout) == (7, 2)  # type: ignore[attr-defined]
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}  # type: ignore[attr-defined]
    assert store.client.meta.region_name == "eu-west-3"
    assert config.max_pool_connections == 32  # type: ignore[attr-defined] # the ceiling of the in-flight limit
    botocore_store = DynamoStore(boto_session, transport="botocore")
    assert botocore_store.client.meta.config.max_pool_connections == 32  # type: ignore[attr-defined] # its threads


def test_a_client_can_be_passed_instead_of_a_session(boto_session: boto3.Session) -> None:
    client = boto_session.client("dynamodb")
    store = DynamoStore(client=client, table_name="with-client")
    store.create_table()
    store.save("t", b"d", later())
    assert store.client is client
    assert store.find("t") == b"d"


def test_a_client_with_a_session_or_config_is_refused(boto_session: boto3.Session) -> None:
    client = boto_session.client("dynamodb")
    with pytest.raises(ValueError, match="either client= or session="):
        DynamoStore(boto_session, client=client)
    with pytest.raises(ValueError, match="either client= or session="):
        DynamoStore(client=client, config=Config())


def test_no_session_means_the_sdk_defaults(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-2")
    assert DynamoStore().client.meta.region_name == "ap-southeast-2"


def test_an_unreachable_endpoint_raises_store_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")
    store = DynamoStore(config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=1))
    with pytest.raises(StoreUnavailable, match="GetItem failed .*EndpointConnectionError") as raised:
        store.find("t")
    assert raised.value.__cause__ is not None


DAMAGES = {
    "created far beyond the year 9999": {"created": {"N": "1e400"}},
    "created before the year 1": {"created": {"N": "-1e20"}},
    "created in the year 9999, where its lifetime overflows": {"created": {"N": "253402300000"}},
    "expiry far beyond the year 9999": {"expiry": {"N": "1e400"}},
    "max_age of 20 digits": {"max_age": {"N": "99999999999999999999"}},
    "max_age of minus 20 digits": {"max_age": {"N": "-99999999999999999999"}},
    "max_age not whole": {"max_age": {"N": "1.5"}},
    "last_seen far beyond the year 9999": {"user_id": {"S": "ada"}, "last_seen": {"N": "1e400"}},
    "authenticated_at far beyond the year 9999": {"authenticated_at": {"N": "1e400"}, "auth_level": {"N": "1"}},
    "auth_level below 1": {"authenticated_at": {"N": "1700000000.000000"}, "auth_level": {"N": "0"}},
    "auth_level beyond 2**31 - 1": {"authenticated_at": {"N": "1700000000.000000"}, "auth_level": {"N": "2147483648"}},
    "auth_level not whole": {"authenticated_at": {"N": "1700000000.000000"}, "auth_level": {"N": "1.5"}},
    "auth_level without authenticated_at": {"auth_level": {"N": "2"}},
    "authenticated_at without auth_level": {"authenticated_at": {"N": "1700000000.000000"}},
}
SESSION_ROUTES = [Route("/view", view_session), Route("/update", update_session, methods=["POST"])]


def damage(store: DynamoStore, token: str, attributes: dict[str, Any]) -> None:
    """Overwrite attributes of the item stored for ``token`` with the store's client, past the store."""
    names = {f"#a{index}": name for index, name in enumerate(attributes)}
    values = {f":v{index}": value for index, value in enumerate(attributes.values())}
    store.client.update_item(
        TableName=store.table_name,
        Key={store.token_name: {"S": store.key(token)}},
        UpdateExpression="SET " + ", ".join(f"{name} = {value}" for name, value in zip(names, values, strict=True)),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


@pytest.mark.parametrize("attributes", DAMAGES.values(), ids=DAMAGES.keys())
def test_a_session_item_with_a_damaged_attribute_is_no_session_never_a_500(
    moto_store: DynamoStore, attributes: dict[str, Any]
) -> None:
    client = make_client_factory(moto_store)(SESSION_ROUTES)
    client.post("/update", json={"user": "ada"})
    damage(moto_store, client.cookies["session"].split(".")[0], attributes)
    response = client.get("/view")
    assert (response.status_code, response.json()) == (200, {"session": {}})
    assert client.post("/update", json={"user": "bob"}).status_code == 200


def test_a_damaged_session_item_is_logged_once_as_a_warning_naming_its_key_not_its_token(
    moto_store: DynamoStore, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client_factory(moto_store)(SESSION_ROUTES)
    client.post("/update", json={"user": "ada"})
    token = client.cookies["session"].split(".")[0]
    damage(moto_store, token, {"max_age": {"N": "99999999999999999999"}})
    with caplog.at_level(logging.WARNING, logger="starlette_dynamo_session"):
        client.get("/view")
    [record] = [record for record in caplog.records if record.name == "starlette_dynamo_session"]
    assert record.levelno == logging.WARNING
    assert moto_store.key(token) in record.getMessage()
    assert token not in record.getMessage()
