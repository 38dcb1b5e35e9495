"""DynamoStore: session items in one DynamoDB table, made from a shared boto3 Session."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from starlette_dynamo_session._exceptions import SessionConflict, SessionTooLarge, StoreUnavailable, TableNotFound

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

__all__ = ["DynamoStore", "StoredSession"]

DEFAULT_TABLE_NAME = "sessions"
DEFAULT_TOKEN_NAME = "token"  # noqa: S105 - an attribute name, not a secret
DEFAULT_DATA_NAME = "data"
DEFAULT_EXPIRY_NAME = "expiry"
DEFAULT_TTL_NAME = "ttl"
DEFAULT_VERSION_NAME = "version"

# DynamoDB's item size limit: attribute names and values, counted as DynamoDB counts them.
MAX_ITEM_BYTES = 400 * 1024

DEFAULT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=2,  # seconds
    read_timeout=3,  # seconds
    max_pool_connections=32,
    user_agent_extra="starlette-dynamo-session",
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_USABLE_TABLE_STATUSES = frozenset({"ACTIVE", "UPDATING"})
_LOST_RACE_REASONS = ("ConditionalCheckFailed", "TransactionConflict")
# A conditional write that another region's write beat, on a multi-region strongly consistent table.
_LOST_RACE_CODES = ("ConditionalCheckFailedException", "ReplicatedWriteConflictException")


@dataclass(frozen=True, slots=True)
class StoredSession:
    """One session item as the store holds it: the bytes, their exact expiry and the item's version."""

    data: bytes
    expiry: datetime
    version: int


class DynamoStore:
    """Keeps session data in one DynamoDB table, keyed by a SHA-256 digest of the session token.

    It is safe to share between threads: it holds nothing but a botocore client, which is thread-safe.

    Usage::

        store = DynamoStore(boto3.Session(region_name="eu-west-1"), table_name="sessions")
        store.create_table()
        store.save(token, b"...", datetime.now(UTC) + timedelta(days=14))
        assert store.find(token) == b"..."

    Parameters:

    * **session** - *(optional)* the shared ``boto3.Session`` the client is made from. Its region, credentials
      and event handlers apply to every request the store makes. Defaults to ``boto3.Session()``.
    * **client** - *(optional)* an existing DynamoDB client to use instead of making one. It cannot be combined
      with ``session`` or ``config``.
    * **table_name**, **token_name**, **data_name**, **expiry_name**, **ttl_name**, **version_name** -
      *(optional)* the table and its attribute names.
    * **config** - *(optional)* a ``botocore.config.Config`` merged on top of the store's defaults
      (standard retries, 2 s connect and 3 s read timeouts, 32 pooled connections).

    Raises ``ValueError`` when ``client`` comes with ``session`` or ``config``, or when two attribute names are
    the same.
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
        version_name: str = DEFAULT_VERSION_NAME,
        config: Config | None = None,
    ) -> None:
        names = (token_name, data_name, expiry_name, ttl_name, version_name)
        if len(set(names)) != len(names):
            raise ValueError(f"attribute names must all differ, got {names!r}")
        if not all(names) or not table_name:
            raise ValueError("the table name and attribute names must not be empty")
        if client is not None:
            if session is not None or config is not None:
                raise ValueError("pass either client= or session=/config=, not both: a client is already configured")
            self._client = client
        else:
            session = session if session is not None else boto3.Session()
            self._client = session.client("dynamodb", config=DEFAULT_CONFIG.merge(config or Config()))
        self._table_name = table_name
        self._token_name = token_name
        self._data_name = data_name
        self._expiry_name = expiry_name
        self._ttl_name = ttl_name
        self._version_name = version_name
        self._names = {"#k": token_name, "#d": data_name, "#e": expiry_name, "#t": ttl_name, "#v": version_name}

    @property
    def table_name(self) -> str:
        """The DynamoDB table holding the sessions."""
        return self._table_name

    @property
    def token_name(self) -> str:
        """The partition key attribute (a string: the digest of the token)."""
        return self._token_name

    @property
    def data_name(self) -> str:
        """The attribute holding the session bytes (binary)."""
        return self._data_name

    @property
    def expiry_name(self) -> str:
        """The attribute holding the exact expiry instant (a number: epoch seconds with microseconds)."""
        return self._expiry_name

    @property
    def ttl_name(self) -> str:
        """The table's DynamoDB TTL attribute (a number: epoch seconds, rounded up)."""
        return self._ttl_name

    @property
    def version_name(self) -> str:
        """The attribute holding the item's version, which conditional writes compare."""
        return self._version_name

    @property
    def client(self) -> DynamoDBClient:
        """The botocore DynamoDB client every request goes through."""
        return self._client

    @property
    def max_pool_connections(self) -> int:
        """How many HTTP connections the client keeps: the number of threads that can use it without waiting."""
        return int(getattr(self._client.meta.config, "max_pool_connections", 10))

    def key(self, token: str) -> str:
        """The partition key stored for ``token``: its SHA-256 digest, base64url without padding."""
        digest = hashlib.sha256(token.encode("utf-8")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def find(self, token: str) -> bytes | None:
        """Return the data saved under ``token``.

        Returns ``None`` when the token is unknown or its session has expired: DynamoDB's TTL deletes expired
        items up to days late, so the expiry is checked on every read. The read is strongly consistent.
        Raises ``TableNotFound`` or ``StoreUnavailable``.
        """
        stored = self.load(token)
        return None if stored is None else stored.data

    def load(self, token: str) -> StoredSession | None:
        """Like ``find``, but return the data with its expiry and version, for a later ``commit``."""
        with self._translate_errors("GetItem"):
            response = self._client.get_item(
                TableName=self._table_name,
                Key={self._token_name: {"S": self.key(token)}},
                ConsistentRead=True,
            )
        item = response.get("Item")
        if item is None:
            return None
        expiry = _datetime_from_number(item[self._expiry_name]["N"])
        if expiry.timestamp() <= time.time():
            return None
        return StoredSession(
            data=bytes(item[self._data_name]["B"]),
            expiry=expiry,
            version=int(item.get(self._version_name, {"N": "0"})["N"]),
        )

    def save(self, token: str, data: bytes, expiry: datetime) -> None:
        """Save ``data`` under ``token`` until ``expiry``, inserting it or replacing what is there.

        ``expiry`` is an aware datetime (a naive one is read as local time, as ``datetime.timestamp`` does).
        Raises ``SessionTooLarge`` before sending anything when the item would exceed DynamoDB's 400 KB limit,
        and ``TableNotFound`` or ``StoreUnavailable``.
        """
        update = self._update_request(token, data, expiry, version=None, condition=None)
        with self._translate_errors("UpdateItem"):
            self._client.update_item(**update)

    def commit(
        self,
        token: str,
        data: bytes,
        expiry: datetime,
        *,
        version: int | None,
        previous_token: str | None = None,
    ) -> int:
        """Save ``data`` under ``token`` only if the item is still at ``version``, and return the new version.

        ``version=None`` means the item must not exist yet. With ``previous_token``, the item saved at ``version``
        under that token is deleted in the same transaction and ``token``, which must be new, takes its place.
        Raises ``SessionConflict`` when another writer got there first, ``SessionTooLarge`` before sending
        anything when the item is too large, and ``TableNotFound`` or ``StoreUnavailable``.
        """
        if previous_token is None:
            condition = "attribute_not_exists(#k)" if version is None else "#v = :expected"
            update = self._update_request(token, data, expiry, version=version, condition=condition)
            with self._translate_errors("UpdateItem"):
                self._client.update_item(**update)
            return (version or 0) + 1
        put = self._update_request(token, data, expiry, version=None, condition="attribute_not_exists(#k)")
        actions: list[Any] = [{"Update": put}]
        if version is not None:
            delete = {
                "TableName": self._table_name,
                "Key": {self._token_name: {"S": self.key(previous_token)}},
                "ConditionExpression": "#v = :expected",
                "ExpressionAttributeNames": {"#v": self._version_name},
                "ExpressionAttributeValues": {":expected": {"N": str(version)}},
            }
            actions.append({"Delete": delete})
        with self._translate_errors("TransactWriteItems"):
            self._client.transact_write_items(TransactItems=actions)
        return 1

    def delete(self, token: str) -> None:
        """Delete the session saved under ``token``; deleting an unknown token is not an error.

        Raises ``TableNotFound`` or ``StoreUnavailable``.
        """
        with self._translate_errors("DeleteItem"):
            self._client.delete_item(TableName=self._table_name, Key={self._token_name: {"S": self.key(token)}})

    def ping(self) -> None:
        """Check that the table exists and can be used; return quietly when it can.

        Raises ``TableNotFound`` when the table is missing, ``StoreUnavailable`` when DynamoDB cannot be reached
        or the table is not usable (being created or deleted).
        """
        with self._translate_errors("DescribeTable"):
            status = self._client.describe_table(TableName=self._table_name)["Table"].get("TableStatus", "ACTIVE")
        if status not in _USABLE_TABLE_STATUSES:
            raise StoreUnavailable(f"table {self._table_name!r} is {status}, not ACTIVE")

    def create_table(self) -> None:
        """Create the table (on-demand billing, TTL on ``ttl_name``) and wait until it can be used.

        A table that already exists is fine, and so is TTL already enabled. Raises ``StoreUnavailable``.
        """
        with self._translate_errors("CreateTable"):
            try:
                self._client.create_table(
                    TableName=self._table_name,
                    KeySchema=[{"AttributeName": self._token_name, "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": self._token_name, "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST",
                )
            except ClientError as exc:
                if _error_code(exc) != "ResourceInUseException":
                    raise
            self._client.get_waiter("table_exists").wait(
                TableName=self._table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
            )
            ttl = self._client.describe_time_to_live(TableName=self._table_name)["TimeToLiveDescription"]
            if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and ttl.get("AttributeName") == self._ttl_name:
                return
            self._client.update_time_to_live(
                TableName=self._table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": self._ttl_name},
            )

    def item(self, token: str, data: bytes, expiry: datetime, *, version: int) -> dict[str, AttributeValueTypeDef]:
        """The whole item stored for ``token``, as DynamoDB attribute values: what ``save`` and ``commit`` write."""
        micros = (expiry.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)  # exact: no float on the way
        return {
            self._token_name: {"S": self.key(token)},
            self._data_name: {"B": data},
            # The exact expiry in epoch seconds with six decimals; the TTL in whole seconds, rounded up.
            self._expiry_name: {"N": f"{micros // 1_000_000}.{micros % 1_000_000:06d}"},
            self._ttl_name: {"N": str(-(-micros // 1_000_000))},
            self._version_name: {"N": str(version)},
        }

    def _update_request(
        self, token: str, data: bytes, expiry: datetime, *, version: int | None, condition: str | None
    ) -> dict[str, Any]:
        """Build an UpdateItem request that writes the whole item, after checking its size."""
        attributes = self.item(token, data, expiry, version=(version or 0) + 1)
        key = attributes[self._token_name]["S"]
        size = item_size(attributes)
        if size > MAX_ITEM_BYTES:
            raise SessionTooLarge(f"the session item is {size} bytes, over DynamoDB's limit of {MAX_ITEM_BYTES}")
        values: dict[str, AttributeValueTypeDef] = {
            ":d": attributes[self._data_name],
            ":e": attributes[self._expiry_name],
            ":t": attributes[self._ttl_name],
        }
        names = dict(self._names)
        if version is None and condition is None:
            version_expression = "if_not_exists(#v, :zero) + :one"
            values.update({":zero": {"N": "0"}, ":one": {"N": "1"}})
        else:
            version_expression = ":next"
            values[":next"] = attributes[self._version_name]
        request: dict[str, Any] = {
            "TableName": self._table_name,
            "Key": {self._token_name: {"S": key}},
            "UpdateExpression": f"SET #d = :d, #e = :e, #t = :t, #v = {version_expression}",
        }
        if condition is not None:
            request["ConditionExpression"] = condition
            if version is not None:
                values[":expected"] = {"N": str(version)}
        if "#k" not in (condition or ""):
            del names["#k"]
        request["ExpressionAttributeNames"] = names
        request["ExpressionAttributeValues"] = values
        return request

    @contextmanager
    def _translate_errors(self, operation: str) -> Iterator[None]:
        """Turn botocore's exceptions into this package's, keeping the AWS error code in the message."""
        try:
            yield
        except ClientError as exc:
            code = _error_code(exc)
            if code == "ResourceNotFoundException":
                raise TableNotFound(f"DynamoDB table {self._table_name!r} does not exist ({code})") from exc
            # A transaction names why it was cancelled in its message: a failed condition, or a concurrent write
            # to one of its items; either way another writer got there first.
            if code in _LOST_RACE_CODES or (
                code == "TransactionCanceledException" and any(reason in str(exc) for reason in _LOST_RACE_REASONS)
            ):
                raise SessionConflict(f"{operation} lost to a concurrent write ({code})") from exc
            if code == "ValidationException" and "size" in str(exc).lower():
                raise SessionTooLarge(f"DynamoDB {operation} refused the item as too large ({code})") from exc
            raise StoreUnavailable(f"DynamoDB {operation} failed ({code})") from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(f"DynamoDB {operation} failed ({type(exc).__name__}: {exc})") from exc


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """The size DynamoDB counts for an item of string (``S``), binary (``B``) and number (``N``) attributes."""
    size = 0
    for name, value in item.items():
        size += len(name.encode("utf-8"))
        if "S" in value:
            size += len(value["S"].encode("utf-8"))
        elif "B" in value:
            size += len(value["B"])
        else:
            size += _number_size(value["N"])
    return size


def _number_size(text: str) -> int:
    """Bytes DynamoDB uses for a number: one per pair of significant digits (pairs aligned on the decimal
    point), plus one."""
    sign, digits, exponent = Decimal(text).normalize().as_tuple()
    if digits == (0,):
        return 1
    if not isinstance(exponent, int):
        raise ValueError(f"not a finite number: {text!r}")
    lowest = exponent - exponent % 2
    highest = exponent + len(digits) - 1
    highest += 1 - highest % 2
    return (highest - lowest + 1) // 2 + 1 + sign


def _datetime_from_number(text: str) -> datetime:
    micros = int(Decimal(text) * 1_000_000)
    return _EPOCH + timedelta(microseconds=micros)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))
