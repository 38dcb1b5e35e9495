"""Session data sealed at rest: the sealing itself, then what a copy of the table, or write access to it, can do
with sealed items (docs/security.md, section 3)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from starlette.routing import Route

from starlette_dynamo_session import MAX_ITEM_BYTES, DynamoStore, SessionTooLarge, StoredSession, item_size
from starlette_dynamo_session._core.tokens import digest, new_token
from starlette_dynamo_session._dynamodb.item import ItemLayout
from starlette_dynamo_session._dynamodb.sealing import SEALING_OVERHEAD, data_key, open_sealed, seal
from tests.conftest import ClientFactory
from tests.endpoints import later, raw_item, update_session, view_session
from tests.support.recorder import OperationRecorder

TOKEN = new_token()
KEY = digest(TOKEN)
DATA = json.dumps({"user": "ada", "cart": ["pear"] * 40}).encode()
ROUTES = [Route("/view", view_session), Route("/update", update_session, methods=["POST"])]


def test_sealed_data_opens_under_its_token_and_item_key() -> None:
    assert open_sealed(TOKEN, KEY, seal(TOKEN, KEY, DATA)) == DATA


def test_sealing_adds_a_nonce_and_a_tag_and_hides_the_data() -> None:
    sealed = seal(TOKEN, KEY, DATA)
    assert len(sealed) == len(DATA) + SEALING_OVERHEAD == len(DATA) + 12 + 16
    assert b"ada" not in sealed and b"pear" not in sealed


def test_every_seal_has_a_fresh_nonce() -> None:
    sealed = [seal(TOKEN, KEY, DATA) for _ in range(1000)]
    assert len({value[:12] for value in sealed}) == 1000
    assert len(set(sealed)) == 1000


def test_the_data_key_is_derived_apart_from_the_digest_that_keys_the_item() -> None:
    key = data_key(TOKEN)
    assert len(key) == 32
    assert key != hashlib.sha256(TOKEN.encode()).digest()
    assert key != data_key(new_token())


@pytest.mark.parametrize("token", [TOKEN, "", "é" * 100, new_token()])
def test_the_data_key_is_rfc_5869_hkdf_sha256_of_the_token(token: str) -> None:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"starlette_dynamo_session data key v1")
    assert data_key(token) == hkdf.derive(token.encode("utf-8"))


def test_sealed_data_does_not_open_under_another_token() -> None:
    assert open_sealed(new_token(), KEY, seal(TOKEN, KEY, DATA)) is None


def test_sealed_data_does_not_open_for_another_item() -> None:
    assert open_sealed(TOKEN, digest(new_token()), seal(TOKEN, KEY, DATA)) is None


@pytest.mark.parametrize("position", [0, 11, 12, 40, -17, -1])
def test_a_flipped_bit_anywhere_makes_sealed_data_not_open(position: int) -> None:
    sealed = bytearray(seal(TOKEN, KEY, DATA))
    sealed[position] ^= 0x01
    assert open_sealed(TOKEN, KEY, bytes(sealed)) is None


@pytest.mark.parametrize("value", [b"", b"x" * 27, b'{"user":"ada"}' * 3])
def test_truncated_or_unsealed_bytes_do_not_open(value: bytes) -> None:
    assert open_sealed(TOKEN, KEY, value) is None
    assert open_sealed(TOKEN, KEY, seal(TOKEN, KEY, DATA)[:-1]) is None


def test_a_copy_of_the_table_holds_no_session_content(store: DynamoStore) -> None:
    store.save(TOKEN, DATA, later())
    items = store.client.scan(TableName=store.table_name)["Items"]
    assert b"ada" not in bytes(items[0]["data"]["B"])
    assert TOKEN not in repr(items)
    assert store.find(TOKEN) == DATA


def test_data_copied_into_another_item_does_not_open_there(store: DynamoStore) -> None:
    victim, attacker = new_token(), new_token()
    store.save(victim, b'{"user":"admin"}', later())
    store.save(attacker, b'{"user":"mallory"}', later())
    copied = (raw_item(store, victim) or {})["data"]
    store.client.update_item(
        TableName=store.table_name,
        Key={"token": {"S": store.key(attacker)}},
        UpdateExpression="SET #d = :d",
        ExpressionAttributeNames={"#d": "data"},
        ExpressionAttributeValues={":d": copied},
    )
    assert store.find(attacker) is None
    assert store.find(victim) == b'{"user":"admin"}'


@pytest.mark.anyio
async def test_tampered_ciphertext_is_an_unknown_session(store: DynamoStore) -> None:
    store.save(TOKEN, DATA, later())
    sealed = bytearray((raw_item(store, TOKEN) or {})["data"]["B"])
    sealed[20] ^= 0xFF
    store.client.update_item(
        TableName=store.table_name,
        Key={"token": {"S": KEY}},
        UpdateExpression="SET #d = :d",
        ExpressionAttributeNames={"#d": "data"},
        ExpressionAttributeValues={":d": {"B": bytes(sealed)}},
    )
    assert store.find(TOKEN) is None
    assert await store.read(TOKEN) is None


def test_a_tampered_session_is_an_empty_one_never_a_500(
    dynamo_client_factory: ClientFactory, store: DynamoStore
) -> None:
    client = dynamo_client_factory(ROUTES)
    client.post("/update", json={"user": "ada"})
    token = client.cookies["session"].split(".")[0]
    sealed = bytearray((raw_item(store, token) or {})["data"]["B"])
    sealed[-1] ^= 0x01
    store.client.update_item(
        TableName=store.table_name,
        Key={"token": {"S": store.key(token)}},
        UpdateExpression="SET #d = :d",
        ExpressionAttributeNames={"#d": "data"},
        ExpressionAttributeValues={":d": {"B": bytes(sealed)}},
    )
    response = client.get("/view")
    assert (response.status_code, response.json()) == (200, {"session": {}})


def test_plain_data_does_not_open_in_a_sealing_store_nor_sealed_data_in_a_plain_one(store: DynamoStore) -> None:
    plain = DynamoStore(client=store.client, table_name=store.table_name, seal_data=False)
    plain.save("plain-token", b'{"user":"ada"}', later())
    store.save("sealed-token", b'{"user":"ada"}', later())
    assert store.find("plain-token") is None  # turning sealing on ends the sessions stored before
    assert plain.find("sealed-token") != b'{"user":"ada"}'  # and off: the middleware reads these as no session


@pytest.mark.anyio
async def test_the_400_kb_guard_counts_the_sealed_bytes(store: DynamoStore, recorder: OperationRecorder) -> None:
    moment = datetime(2030, 1, 2, 3, 4, 5, 123457, tzinfo=UTC)
    plain = ItemLayout("token", "data", "expiry", "ttl", "created", "version", "max_age", sealed=False)
    sealed = ItemLayout("token", "data", "expiry", "ttl", "created", "version", "max_age", sealed=True)
    # The longest data a plain item takes: exactly at DynamoDB's limit. Sealed, it is over by the nonce and tag.
    longest = MAX_ITEM_BYTES - item_size(plain.item(TOKEN, StoredSession(b"", moment, moment, 1)))
    assert item_size(plain.item(TOKEN, StoredSession(b"x" * longest, moment, moment, 1))) == MAX_ITEM_BYTES
    short = b"x" * (longest - SEALING_OVERHEAD)
    assert item_size(sealed.item(TOKEN, StoredSession(short, moment, moment, 1))) == MAX_ITEM_BYTES
    with pytest.raises(SessionTooLarge, match=f"is {MAX_ITEM_BYTES + SEALING_OVERHEAD} bytes"):
        await store.write(TOKEN, StoredSession(b"x" * longest, moment, moment, 1))
    assert recorder.take() == []


@pytest.mark.anyio
async def test_a_regenerated_session_is_sealed_under_its_new_token(store: DynamoStore) -> None:
    await store.write("old", StoredSession(DATA, datetime.now(UTC), later(), 1))
    await store.write("new", StoredSession(DATA, datetime.now(UTC), later(), 2), replacing="old")
    sealed = bytes((raw_item(store, "new") or {})["data"]["B"])
    assert open_sealed("new", digest("new"), sealed) == DATA
    assert open_sealed("old", digest("old"), sealed) is None
    assert open_sealed("old", digest("new"), sealed) is None
