"""DynamoStore: session items in one DynamoDB table, made from a shared boto3 Session."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import anyio
import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from starlette_dynamo_session._core.events import SessionEvent, notify, store_call_finished
from starlette_dynamo_session._core.exceptions import (
    ConflictReason,
    SessionConflict,
    SessionError,
    StoreUnavailable,
    TableNotFound,
)
from starlette_dynamo_session._core.records import StoredSession
from starlette_dynamo_session._core.tokens import digest
from starlette_dynamo_session._dynamodb.answers import check_answers
from starlette_dynamo_session._dynamodb.binding import BINDING_NAMES
from starlette_dynamo_session._dynamodb.item import ItemLayout
from starlette_dynamo_session._dynamodb.region import dynamodb_client
from starlette_dynamo_session._dynamodb.tracing import call_span
from starlette_dynamo_session._dynamodb.transports.aiohttp_send import AiohttpSend
from starlette_dynamo_session._dynamodb.transports.choice import AutoTransport, BotocoreTransport, Transport
from starlette_dynamo_session._dynamodb.transports.pipeline import Pipeline
from starlette_dynamo_session._dynamodb.users import INDEX_ATTEMPTS, RETRY_PAUSE, SessionInfo, UserIndex, busy_user_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        GetItemInputTypeDef,
        PutItemInputTypeDef,
        TransactWriteItemTypeDef,
        UpdateItemInputTypeDef,
    )

__all__ = ["DynamoStore", "conflict_reason"]

DEFAULT_TABLE_NAME = "sessions"
DEFAULT_TOKEN_NAME = "token"  # noqa: S105 - an attribute name, not a secret
DEFAULT_DATA_NAME = "data"
DEFAULT_EXPIRY_NAME = "expiry"
DEFAULT_TTL_NAME = "ttl"
DEFAULT_CREATED_NAME = "created"
DEFAULT_VERSION_NAME = "version"
DEFAULT_MAX_AGE_NAME = "max_age"

DEFAULT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=2,  # seconds
    read_timeout=3,  # seconds
    max_pool_connections=32,
    user_agent_extra="starlette-dynamo-session",
)
# On the aiohttp transport the pool size is also the bound on requests in flight, all on the event loop's one
# core: with 8, a 20 ms store kept a no-session probe's p99 under 5 ms and session throughput at 0.92x of its ideal
# in two runs, where 16 and 32 missed that p99 (docs/benchmarks.md, "The aiohttp transport's in-flight limit").
DEFAULT_AIOHTTP_CONFIG = DEFAULT_CONFIG.merge(Config(max_pool_connections=8))

# The DynamoDB error codes that mean something to the caller, and the reasons a transaction names for each of its
# items (``CancellationReasons[].Code``). Every other error is StoreUnavailable.
ERROR_CODES: Mapping[str, type[SessionError]] = {
    "ResourceNotFoundException": TableNotFound,
    "ConditionalCheckFailedException": SessionConflict,  # another writer got there first
    "TransactionConflictException": SessionConflict,  # a transaction was changing the item
    "ReplicatedWriteConflictException": SessionConflict,  # another region's write won (multi-region tables)
    "ConditionalCheckFailed": SessionConflict,
    "TransactionConflict": SessionConflict,
}
# The failures that carry the item as it is (ReturnValuesOnConditionCheckFailure=ALL_OLD; none when it is absent).
ITEM_RETURNED_CODES = frozenset({"ConditionalCheckFailedException", "ConditionalCheckFailed"})

_USABLE_TABLE_STATUSES = frozenset({"ACTIVE", "UPDATING"})


class DynamoStore:
    """Keeps session data in one DynamoDB table, keyed by a SHA-256 digest of the session token.

    It is safe to share between threads and event loops: it holds a botocore client, which is thread-safe.

    Usage::

        store = DynamoStore(boto3.Session(region_name="eu-west-1"), table_name="sessions")
        store.create_table()
        store.save(token, b"...", datetime.now(UTC) + timedelta(days=14))
        assert store.find(token) == b"..."

    Parameters:

    * **session** - *(optional)* the shared ``boto3.Session`` the client is made from. Its region, credentials
      and event handlers apply to every request the store makes. Defaults to ``boto3.Session()``. The region is
      botocore's (``config``'s ``region_name``, then the session's: ``AWS_DEFAULT_REGION``, the profile), or else
      ``AWS_REGION`` (what the other AWS SDKs read, and Lambda and ECS set); with none of them, the store raises
      botocore's ``NoRegionError`` with a message that names them.
    * **client** - *(optional)* an existing DynamoDB client to use instead of making one. It cannot be combined
      with ``session`` or ``config``.
    * **table_name**, **token_name**, **data_name**, **expiry_name**, **ttl_name**, **created_name**,
      **version_name**, **max_age_name** - *(optional)* the table and its attribute names.
    * **config** - *(optional)* a ``botocore.config.Config`` merged on top of the store's defaults
      (standard retries, 2 s connect and 3 s read timeouts, 32 pooled connections on the botocore transport and 8
      otherwise).
    * **seal_data** - *(optional)* ``True`` (the default) stores the data attribute sealed: encrypted and
      authenticated (AES-256-GCM, a fresh nonce per write) under a key derived from the session token, which is
      never stored, and bound to the item, so a copy of the table reveals no session content. ``False`` stores the
      data as it is. Data that does not open (another setting, tampered with, copied from another item) reads as an
      unknown session.
    * **transport** - *(optional)* how the coroutines (``read``, ``write``, ``remove`` and the users' API: the
      middleware's requests) reach DynamoDB. ``"auto"`` (the default) is ``"aiohttp"`` under asyncio and
      ``"botocore"`` under any other event loop (trio), decided per call; with ``client``, it is ``"botocore"``.
      ``"aiohttp"`` sends them over aiohttp on the event loop, with no worker thread: serialized, signed, retried and
      parsed by botocore's own code with the session's credentials, to the client's endpoint and region, with the
      client's Config (timeouts, retry attempts, and ``max_pool_connections``, 8 by default here, which also bounds
      the requests in flight); the session's handlers see each call (``before-call``, ``after-call``) and each
      attempt (``before-send``) as on the botocore client, and may answer them (moto's ``mock_aws`` does). It needs
      the session for its credentials, so it cannot be combined with ``client``, and it follows botocore's standard
      retry mode only. ``"botocore"`` calls the client in worker threads. Close the store with
      ``await store.aclose()`` (for example in the application's lifespan); a loop that ends through
      ``asyncio.run``, anyio or uvicorn closes its connections itself. The synchronous methods always use the client.

    Raises ``ValueError`` when ``client`` comes with ``session``, ``config`` or ``transport="aiohttp"``, when two
    attribute names are the same or one is empty, or for an unknown transport.
    """

    def __init__(
        self,
        session: boto3.Session | None = None,
        *,
        client: DynamoDBClient | None = None,
        table_name: str = DEFAULT_TABLE_NAME,
        token_name: str = DEFAULT_TOKEN_NAME,
        data_name: str = DEFAULT_DATA_NAME,
        expiry_name: str = DEFAULT_EXPIRY_NAME,
        ttl_name: str = DEFAULT_TTL_NAME,
        created_name: str = DEFAULT_CREATED_NAME,
        version_name: str = DEFAULT_VERSION_NAME,
        max_age_name: str = DEFAULT_MAX_AGE_NAME,
        config: Config | None = None,
        transport: Literal["auto", "botocore", "aiohttp"] = "auto",
        seal_data: bool = True,
    ) -> None:
        names = (token_name, data_name, expiry_name, ttl_name, created_name, version_name, max_age_name)
        if len(set(names)) != len(names):
            raise ValueError(f"attribute names must all differ, got {names!r}")
        if len(set(names + BINDING_NAMES)) != len(names) + len(BINDING_NAMES):
            raise ValueError(f"attribute names must differ from the bound sessions' {BINDING_NAMES!r}, got {names!r}")
        if not all(names) or not table_name:
            raise ValueError("the table name and attribute names must not be empty")
        if transport not in ("auto", "botocore", "aiohttp"):
            raise ValueError(f"transport must be 'auto', 'botocore' or 'aiohttp', not {transport!r}")
        if client is not None:
            if session is not None or config is not None:
                raise ValueError("pass either client= or session=/config=, not both: a client is already configured")
            if transport == "aiohttp":
                raise ValueError("transport='aiohttp' signs with the session's credentials: pass session=, not client=")
            self._client = client
        else:
            session = session if session is not None else boto3.Session()
            defaults = DEFAULT_CONFIG if transport == "botocore" else DEFAULT_AIOHTTP_CONFIG
            self._client = dynamodb_client(session, defaults.merge(config or Config()))
        check_answers(self._client.meta.events)
        self._table_name = table_name
        self._layout = ItemLayout(
            token_name, data_name, expiry_name, ttl_name, created_name, version_name, max_age_name, seal_data
        )
        self._names = {
            "#data": data_name,
            "#expiry": expiry_name,
            "#ttl": ttl_name,
            "#created": created_name,
            "#version": version_name,
        }
        self._transport: Transport = BotocoreTransport(self._client)
        if session is not None and transport != "botocore":
            pipeline = _aiohttp_transport(self._client, session)
            self._transport = pipeline if transport == "aiohttp" else AutoTransport(pipeline, self._transport)
        self._users = UserIndex(self._send, table_name, self._layout)

    @property
    def table_name(self) -> str:
        """The DynamoDB table holding the sessions."""
        return self._table_name

    @property
    def token_name(self) -> str:
        """The partition key attribute (a string: the digest of the token)."""
        return self._layout.token

    @property
    def data_name(self) -> str:
        """The attribute holding the session bytes (binary)."""
        return self._layout.data

    @property
    def expiry_name(self) -> str:
        """The attribute holding the exact expiry instant (a number: epoch seconds with microseconds)."""
        return self._layout.expiry

    @property
    def ttl_name(self) -> str:
        """The table's DynamoDB TTL attribute (a number: epoch seconds, rounded up)."""
        return self._layout.ttl

    @property
    def created_name(self) -> str:
        """The attribute holding the session's creation instant (a number: epoch seconds with microseconds)."""
        return self._layout.created

    @property
    def version_name(self) -> str:
        """The attribute holding the item's version, which conditional writes compare."""
        return self._layout.version

    @property
    def max_age_name(self) -> str:
        """The attribute holding a session's own lifetime (a number of seconds, or NULL for a browser session)."""
        return self._layout.max_age

    @property
    def seal_data(self) -> bool:
        """Whether the data attribute is sealed under the session token (``True``) or stored as it is."""
        return self._layout.sealed

    @property
    def client(self) -> DynamoDBClient:
        """The botocore DynamoDB client every request goes through."""
        return self._client

    def key(self, token: str) -> str:
        """The partition key stored for ``token``: its SHA-256 digest, base64url without padding."""
        return digest(token)

    def find(self, token: str) -> bytes | None:
        """Return the data saved under ``token``.

        Returns ``None`` when the token is unknown, its session has expired (DynamoDB's TTL deletes expired items
        up to days late, so the expiry is checked on every read), or its sealed data does not open under it
        (tampered with, or copied from another item). The read is strongly consistent.
        Raises ``TableNotFound`` or ``StoreUnavailable``.
        """
        request = self._get_request(token)
        with self._call("GetItem"):
            response = self._client.get_item(**request)
        record = self._layout.record(response.get("Item"), token)
        return None if record is None else record.data

    def save(self, token: str, data: bytes, expiry: datetime) -> None:
        """Save ``data`` under ``token`` until ``expiry``, inserting it or replacing what is there.

        ``expiry`` is an aware datetime (a naive one is read as local time, as ``datetime.timestamp`` does). A
        replaced session keeps its creation time, and its version counts on. Raises ``SessionTooLarge`` before
        sending anything when the item would exceed DynamoDB's 400 KB limit, and ``TableNotFound`` or
        ``StoreUnavailable``.
        """
        record = StoredSession(data=data, created=datetime.fromtimestamp(time.time(), UTC), expiry=expiry, version=1)
        request = self._save_request(token, record)
        with self._call("UpdateItem"):
            self._client.update_item(**request)

    def delete(self, token: str) -> None:
        """Delete the session saved under ``token``; deleting an unknown token is not an error.

        Raises ``TableNotFound`` or ``StoreUnavailable``.
        """
        key = self._layout.key(token)
        with self._call("DeleteItem"):
            self._client.delete_item(TableName=self._table_name, Key=key)

    def ping(self) -> None:
        """Check that the table exists and can be used; return quietly when it can.

        Raises ``TableNotFound`` when the table is missing, ``StoreUnavailable`` when DynamoDB cannot be reached,
        the table is not usable (being created or deleted), or its key is not the store's: a partition key named
        ``token_name`` of type S, and no sort key. ``python -m starlette_dynamo_session doctor`` checks the rest.
        """
        with self._call("DescribeTable"):
            table = self._client.describe_table(TableName=self._table_name)["Table"]
            types = {
                attribute["AttributeName"]: attribute["AttributeType"] for attribute in table["AttributeDefinitions"]
            }
            keys = [
                (key["AttributeName"], key["KeyType"], types.get(key["AttributeName"])) for key in table["KeySchema"]
            ]
        status = table.get("TableStatus", "ACTIVE")
        if status not in _USABLE_TABLE_STATUSES:
            raise StoreUnavailable(f"table {self._table_name!r} is {status}, not ACTIVE")
        if keys != [(self._layout.token, "HASH", "S")]:
            shown = ", ".join(f"{name} ({kind} {type_})" for name, kind, type_ in keys)
            [(name, _, type_), *others] = keys
            fix = (
                f"pass DynamoStore(token_name={name!r})"
                if type_ == "S" and not others
                else "key schemas cannot change: create the table again with python -m starlette_dynamo_session "
                "create-table --table NAME"
            )
            raise StoreUnavailable(
                f"table {self._table_name!r} is keyed by {shown}, but the store by {self._layout.token} (HASH S) "
                f"alone. Fix: {fix} (python -m starlette_dynamo_session doctor checks the whole table)"
            )

    def create_table(self) -> None:
        """Create the table (on-demand billing, TTL on ``ttl_name``) and wait until it can be used.

        A table that already exists is fine, and so is TTL already enabled. Raises ``StoreUnavailable``.
        """
        with self._call("CreateTable"):
            try:
                self._client.create_table(
                    TableName=self._table_name,
                    KeySchema=[{"AttributeName": self._layout.token, "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": self._layout.token, "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST",
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
                    raise
            self._client.get_waiter("table_exists").wait(
                TableName=self._table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
            )
            ttl = self._client.describe_time_to_live(TableName=self._table_name)["TimeToLiveDescription"]
            if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and ttl.get("AttributeName") == self._layout.ttl:
                return
            self._client.update_time_to_live(
                TableName=self._table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": self._layout.ttl},
            )

    async def read(self, token: str) -> StoredSession | None:
        """The session stored under ``token`` with its creation time, expiry and version (its data unsealed), or
        ``None`` when it is unknown, has expired, or does not open under ``token`` (a strongly consistent read).

        Raises ``TableNotFound`` or ``StoreUnavailable``.
        """
        response = await self._send("GetItem", self._get_request(token))
        item = response.get("Item")
        record = self._layout.record(item, token)
        if record is None and item is not None and self._layout.expired(item):
            notify(SessionEvent("expired", digest(token)))
        return record

    async def write(self, token: str, record: StoredSession, *, replacing: str | None = None) -> None:
        """Store ``record`` under ``token`` if the item is still at ``record.version - 1`` (absent, for version 1).

        With ``replacing``, ``token`` is a new token for the session stored under ``replacing`` at
        ``record.version - 1``: one transaction writes the new item and deletes the old one. A lost race costs no
        extra read: DynamoDB returns the item that won with the failure. A bound record (``record.user``) under a
        new token enters its user's item in the same transaction, waiting briefly while a ``revoke_all`` of that
        user holds it. Raises ``SessionConflict`` (carrying that item), ``SessionTooLarge`` before sending anything
        when the item is too large, and ``TableNotFound`` or ``StoreUnavailable``.
        """
        replacing = None if record.version == 1 else replacing
        binding = record.user is not None and (replacing is not None or record.version == 1)
        if replacing is None and not binding:
            await self._send("PutItem", self._put_request(token, record, previous=record.version - 1), (token,))
            return
        items: list[TransactWriteItemTypeDef] = [{"Put": self._put_request(token, record, previous=0)}]
        if replacing is not None:
            delete_old: Any = {
                "TableName": self._table_name,
                "Key": self._layout.key(replacing),
                "ConditionExpression": "#version = :previous",
                "ExpressionAttributeNames": {"#version": self._layout.version},
                "ExpressionAttributeValues": {":previous": {"N": str(record.version - 1)}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
            items.append({"Delete": delete_old})
        if record.user is not None and binding:  # the session enters its user's index in the same transaction
            update = self._users.binding_update(token, record.user, record.expiry, replacing=replacing)
            items.append({"Update": update})
        for attempt in range(INDEX_ATTEMPTS):
            try:
                # A failure returns the item that failed its condition: the session under the token its reason's
                # index names (the user item, last, is never a session).
                tokens = (token,) if replacing is None else (token, replacing)
                await self._send("TransactWriteItems", {"TransactItems": items}, tokens)
                return
            except SessionConflict as conflict:
                # Only the user item refused: a revoke_all holds it, another sign-in was changing it (wait), or it
                # is due for pruning (prune, then retry at once).
                if not binding or not busy_user_item(conflict) or attempt == INDEX_ATTEMPTS - 1:
                    raise
            if record.user is not None and await self._users.prune(record.user.user_id):
                continue
            await anyio.sleep(random.uniform(0, RETRY_PAUSE * 2**attempt))  # noqa: S311

    async def remove(self, token: str) -> None:
        """Delete the session stored under ``token``; an unknown token is not an error. A bound session also leaves
        its user's index.

        Raises ``TableNotFound`` or ``StoreUnavailable``.
        """
        request = {"TableName": self._table_name, "Key": self._layout.key(token), "ReturnValues": "ALL_OLD"}
        response = await self._send("DeleteItem", request)
        await self._users.removed(response.get("Attributes"))

    async def list_sessions(self, user_id: str) -> list[SessionInfo]:
        """The live sessions bound to ``user_id``, most recently used first; expired ones never appear, even before
        DynamoDB's TTL deletes them.

        Two consistent reads, no Scan: the user's item, then the sessions it names (in batches of 100). Raises
        ``ValueError`` for a user id that is not a non-empty string of at most 256 characters that encodes as UTF-8,
        and ``TableNotFound`` or ``StoreUnavailable``.
        """
        return await self._users.list_sessions(user_id)

    async def revoke(self, key: str) -> None:
        """End the session whose key is ``key`` (``SessionInfo.key``, ``session_key(request)``): once this returns,
        no request can use it again, and one that loaded it before cannot save it back.

        A key that is not a session of this table is not an error: nothing is ended (a string that is not shaped
        like a key is not even sent). Raises ``TableNotFound`` or ``StoreUnavailable``.
        """
        await self._users.revoke(key)

    async def revoke_all(self, user_id: str, *, keep: str | None = None) -> int:
        """End every session of ``user_id`` except the one whose key is ``keep``; return how many live sessions it
        ended.

        A session that was live when this returns can never be used again, whichever process holds its cookie,
        including one bound by a sign-in that raced with this call. Raises ``ValueError`` for a user id that is
        not a non-empty string of at most 256 characters that encodes as UTF-8, ``StoreUnavailable`` when sign-ins
        of the user keep racing with it, and ``TableNotFound`` or ``StoreUnavailable``.
        """
        return await self._users.revoke_all(user_id, keep=keep)

    async def aclose(self) -> None:
        """Close what the transport holds open for the running event loop (the aiohttp transport's connections);
        the store stays usable and opens new ones when it is next used. Nothing to do for the botocore transport."""
        await self._transport.aclose()

    async def _send(self, operation: str, request: Mapping[str, Any], tokens: Sequence[str] = ()) -> Mapping[str, Any]:
        with self._call(operation, tokens):
            return await self._transport.call(operation, request)

    def _get_request(self, token: str) -> GetItemInputTypeDef:
        return {"TableName": self._table_name, "Key": self._layout.key(token), "ConsistentRead": True}

    def _put_request(self, token: str, record: StoredSession, *, previous: int) -> PutItemInputTypeDef:
        """The PutItem request that stores ``record`` under ``token`` only where the item is at version ``previous``
        (absent, for 0); when it is not, DynamoDB returns the item that won, so merging costs no extra read."""
        request: PutItemInputTypeDef = {
            "TableName": self._table_name,
            "Item": self._layout.item(token, record),
            "ConditionExpression": "attribute_not_exists(#version)",
            "ExpressionAttributeNames": {"#version": self._layout.version},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if previous:
            request["ConditionExpression"] = "#version = :previous"
            request["ExpressionAttributeValues"] = {":previous": {"N": str(previous)}}
        return request

    def _save_request(self, token: str, record: StoredSession) -> UpdateItemInputTypeDef:
        """The UpdateItem request that stores ``record``'s data and expiry under ``token`` whatever is there,
        keeping the session's creation time and own lifetime, and counting its version on (``save``)."""
        item = self._layout.item(token, record)
        values: dict[str, AttributeValueTypeDef] = {
            ":data": item[self._layout.data],
            ":expiry": item[self._layout.expiry],
            ":ttl": item[self._layout.ttl],
            ":created": item[self._layout.created],
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
        }
        return {
            "TableName": self._table_name,
            "Key": self._layout.key(token),
            "UpdateExpression": (
                "SET #data = :data, #expiry = :expiry, #ttl = :ttl, #created = if_not_exists(#created, :created), "
                "#version = if_not_exists(#version, :zero) + :one"
            ),
            "ExpressionAttributeNames": self._names,
            "ExpressionAttributeValues": values,
        }

    @contextmanager
    def _call(self, operation: str, tokens: Sequence[str] = ()) -> Iterator[None]:
        """One DynamoDB API call: in its OpenTelemetry span (``_tracing``), with its errors translated."""
        with call_span(operation, self._table_name), self._translate_errors(operation, tokens):
            yield

    @contextmanager
    def _translate_errors(self, operation: str, tokens: Sequence[str] = ()) -> Iterator[None]:
        """Turn botocore's exceptions into this package's by ``ERROR_CODES``, keeping the AWS code in the message.

        ``tokens`` are the tokens of the request's items, in order: a conflict's returned item is read (and
        unsealed) under the token of the item whose condition failed. Every call is timed in the store latency
        histogram (``_events``).
        """
        began = time.perf_counter()
        try:
            yield
        except ClientError as exc:
            store_call_finished(operation, time.perf_counter() - began, exc)
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            failure: Mapping[str, Any] = exc.response
            index = 0
            cancelled = code == "TransactionCanceledException"
            if cancelled:
                reasons = exc.response.get("CancellationReasons", [])
                index, failure = next(
                    ((at, reason) for at, reason in enumerate(reasons) if reason.get("Code") in ERROR_CODES),
                    (0, {"Code": code}),
                )
                code = str(failure["Code"])
            error = ERROR_CODES.get(code, StoreUnavailable)
            if error is SessionConflict:
                reason = conflict_reason(code, failure, on_session=index < len(tokens) or not cancelled)
                current = self._layout.record(failure.get("Item"), tokens[index]) if index < len(tokens) else None
                message = f"{operation} lost to a concurrent write ({code})"
                raise SessionConflict(message, current=current, reason=reason) from exc
            if error is TableNotFound:
                raise TableNotFound(f"DynamoDB table {self._table_name!r} does not exist ({code})") from exc
            raise error(f"DynamoDB {operation} failed ({code})") from exc
        except BotoCoreError as exc:
            store_call_finished(operation, time.perf_counter() - began, exc)
            raise StoreUnavailable(f"DynamoDB {operation} failed ({type(exc).__name__}: {exc})") from exc
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            # botocore's parser, or the answer's reading, on an answer of another shape than the operation's: what
            # came back is not DynamoDB's answer (the requests themselves are built before this is entered).
            store_call_finished(operation, time.perf_counter() - began, exc)
            shape = f"DynamoDB {operation} gave an answer of the wrong shape ({type(exc).__name__})"
            raise StoreUnavailable(shape) from exc
        else:
            store_call_finished(operation, time.perf_counter() - began, None)


def conflict_reason(code: str, failure: Mapping[str, Any], *, on_session: bool) -> ConflictReason:
    """Why a conditional write failed, from DynamoDB's error code (a cancelled transaction's reason code for the item
    that failed), the item the failure returned (``ReturnValuesOnConditionCheckFailure=ALL_OLD`` returns none for an
    absent item), and whether that item is a session's: in a transaction, any other item is the user's item."""
    if not on_session:
        return "user_item_busy"
    if code not in ITEM_RETURNED_CODES:
        return "transaction_conflict"
    return "present" if failure.get("Item") else "absent"


def _aiohttp_transport(client: DynamoDBClient, session: boto3.Session) -> Pipeline:
    """The aiohttp transport for ``client``: botocore's pipeline over aiohttp, signing with ``session``'s
    credentials."""
    config: Any = client.meta.config
    send = AiohttpSend(
        int(config.max_pool_connections),
        config.connect_timeout,
        config.read_timeout,
        proxies=config.proxies,
        verify=_verify(client),
    )
    return Pipeline(client, session.get_credentials(), send)


def _verify(client: DynamoDBClient) -> bool | str:
    """How the botocore client checks certificates, as botocore resolved it when the client was made (``verify=``,
    ``AWS_CA_BUNDLE``, ``ca_bundle`` in the config file, ``REQUESTS_CA_BUNDLE``): ``True``, ``False`` or a CA bundle.
    botocore keeps it on the client's HTTP session only; a client without one checks with the defaults."""
    verify = getattr(getattr(getattr(client, "_endpoint", None), "http_session", None), "_verify", True)
    return verify if isinstance(verify, bool | str) else True
