"""DynamoStore: session items in one DynamoDB table, made from a shared boto3 Session.

The store is a facade: its read-only settings are ``settings``'s, its client and transport come from ``connect``,
the session items' requests from ``requests``, the table's own calls from ``table``, error translation from
``errors``, and everything that touches a user's sessions from the users' index (``user_index``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import boto3
from botocore.config import Config

from starlette_dynamo_session._core import clock
from starlette_dynamo_session._core.events import SessionEvent, notify
from starlette_dynamo_session._core.records import Forwarded, StoredSession
from starlette_dynamo_session._core.rotation import MAX_FORWARDS
from starlette_dynamo_session._core.tokens import digest
from starlette_dynamo_session._core.users import SessionInfo
from starlette_dynamo_session._dynamodb import table
from starlette_dynamo_session._dynamodb.answers import check_answers
from starlette_dynamo_session._dynamodb.connect import connect
from starlette_dynamo_session._dynamodb.defaults import (
    DEFAULT_CREATED_NAME,
    DEFAULT_DATA_NAME,
    DEFAULT_EXPIRY_NAME,
    DEFAULT_MAX_AGE_NAME,
    DEFAULT_TABLE_NAME,
    DEFAULT_TOKEN_NAME,
    DEFAULT_TTL_NAME,
    DEFAULT_VERSION_NAME,
)
from starlette_dynamo_session._dynamodb.errors import translate_errors
from starlette_dynamo_session._dynamodb.forwarding import is_forwarding
from starlette_dynamo_session._dynamodb.item import ItemLayout
from starlette_dynamo_session._dynamodb.requests import SessionRequests
from starlette_dynamo_session._dynamodb.settings import StoreSettings, check_names
from starlette_dynamo_session._dynamodb.tracing import traced
from starlette_dynamo_session._dynamodb.user_index import UserIndex

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

__all__ = ["DynamoStore"]


class DynamoStore(StoreSettings):
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
      client's Config (timeouts, retry attempts, and ``max_pool_connections``, 32 by default, the ceiling of the
      limit on requests in flight, which adapts to what the event loop carries); the session's handlers see each call
      (``before-call``, ``after-call``) and each attempt (``before-send``) as on the botocore client, and may answer
      them (moto's ``mock_aws`` does). It needs the session for its credentials, so it cannot be combined with
      ``client``, and it follows botocore's standard retry mode only. ``"botocore"`` calls the client in worker
      threads. Close the store with ``await store.aclose()`` (for example in the application's lifespan); a loop that
      ends through ``asyncio.run``, anyio or uvicorn closes its connections itself. The synchronous methods always use
      the client.

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
        check_names(table_name, names)
        client, self._transport = connect(session, client, config, transport)
        check_answers(client.meta.events)
        super().__init__(client, table_name, ItemLayout(*names, seal_data))
        self._requests = SessionRequests(table_name, self._layout)
        self._users = UserIndex(self._send, self._requests)

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
        request = self._requests.get(token)
        with self._call("GetItem"):
            response = self._client.get_item(**request)
        record = self._layout.record(response.get("Item"), token)
        return None if record is None else record.data

    def save(self, token: str, data: bytes, expiry: datetime) -> None:
        """Save ``data`` under ``token`` until ``expiry``, inserting it or replacing what is there.

        ``expiry`` is an aware datetime (a naive one is read as local time, as ``datetime.timestamp`` does). A
        replaced session keeps its creation time, and its version counts on. Raises ``SessionTooLarge`` before
        sending anything when the item would exceed DynamoDB's 400 KB limit, ``SessionConflict`` when ``token`` was
        rotated away (``rotate_token_every``: its item forwards to the session's new token, and is never turned back
        into a session), and ``TableNotFound`` or ``StoreUnavailable``.
        """
        request = self._requests.save(token, StoredSession(data=data, created=clock.now(), expiry=expiry, version=1))
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
        table.ping(self._client, self._table_name, self._layout.token, self._call)

    def create_table(self) -> None:
        """Create the table (on-demand billing, TTL on ``ttl_name``) and wait until it can be used.

        A table that already exists is fine, and so is TTL already enabled. Raises ``StoreUnavailable``.
        """
        table.create_table(self._client, self._table_name, self._layout.token, self._layout.ttl, self._call)

    async def read(self, token: str) -> StoredSession | Forwarded | None:
        """The session stored under ``token`` with its creation time, expiry and version (its data unsealed), or
        ``None`` when it is unknown, has expired, or does not open under ``token`` (a strongly consistent read);
        ``Forwarded`` when ``token`` was rotated and its forwarding item has not expired.

        Raises ``TableNotFound`` or ``StoreUnavailable``.
        """
        response = await self._send("GetItem", self._requests.get(token))
        item = response.get("Item")
        record = self._layout.read(item, token)
        if record is None and item is not None and self._layout.expired(item):
            notify(SessionEvent("expired", digest(token)))
        return record

    async def write(
        self, token: str, record: StoredSession, *, replacing: str | None = None, forward: bool = False
    ) -> None:
        """Store ``record`` under ``token`` if the item is still at ``record.version - 1`` (absent, for version 1).

        With ``replacing``, ``token`` is a new token for the session stored under ``replacing`` at
        ``record.version - 1``: one transaction writes the new item and deletes the old one (with ``forward``,
        replaces it by a forwarding item to ``token``, its successor sealed under the old token). A lost race costs no
        extra read: DynamoDB returns the item that won with the failure. A bound record (``record.user``) under a
        new token enters its user's item in the same transaction, waiting briefly while a ``revoke_all`` of that
        user holds it. Raises ``SessionConflict`` (carrying that item), ``SessionTooLarge`` before sending anything
        when the item is too large, and ``TableNotFound`` or ``StoreUnavailable``.
        """
        replacing = None if record.version == 1 else replacing
        if record.user is not None and (replacing is not None or record.version == 1):
            await self._users.bind(token, record, record.user, replacing=replacing, forward=forward)
        elif replacing is None:
            await self._send("PutItem", self._requests.put(token, record, previous=record.version - 1), (token,))
        else:
            items = self._requests.replacement(token, record, replacing=replacing, forward=forward)
            await self._send("TransactWriteItems", {"TransactItems": items}, (token, replacing))

    async def remove(self, token: str) -> None:
        """Delete the session stored under ``token``; an unknown token is not an error. A bound session also leaves
        its user's index. A rotated token's forwarding item goes with the session it forwards to (down the chain:
        one more DeleteItem per rotation).

        Raises ``TableNotFound`` or ``StoreUnavailable``.
        """
        for _ in range(MAX_FORWARDS + 1):
            response = await self._send("DeleteItem", self._requests.delete(digest(token)))
            item = response.get("Attributes")
            found = None if item is None or not is_forwarding(item) else self._layout.read(item, token)
            if not isinstance(found, Forwarded):  # a session (or nothing): the end of the chain
                await self._users.removed(item)
                return
            token = found.successor

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
        """Make one DynamoDB call through the transport (``_call``); ``tokens`` as ``translate_errors`` takes them."""
        with self._call(operation, tokens):
            return await self._transport.call(operation, request)

    def _call(self, operation: str, tokens: Sequence[str] = ()) -> AbstractContextManager[None]:
        """One DynamoDB API call: its errors translated (``errors``), in its OpenTelemetry span when the application
        traces (``tracing``)."""
        return traced(operation, self._table_name, translate_errors(operation, self._table_name, self._layout, tokens))
