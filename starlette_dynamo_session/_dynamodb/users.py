"""Users' sessions: the per-user item that indexes a user's sessions, and listing and revoking them.

The layout, all in the sessions table, with no secondary index and no Scan:

* A bound session is an ordinary session item with the user's attributes (``_binding``).
* Each user who ever bound a session has one *user item*, keyed ``user#`` + the SHA-256 digest of the user id
  (``#`` is not in the digests' alphabet, so it can never be a session's key). It holds a ``version``, a count of
  bindings, and one attribute per session bound to the user, named ``s#`` + the session's key, holding its expiry.
* The user item is *complete*: a session is bound, and re-keyed on regeneration, in the same transaction that
  writes the index entry and counts the user's version on. A sign-out or a revoke takes the entry out at once;
  entries of sessions that expired are pruned as sign-ins go in (``_user_pruning``), and listing prunes too.
* ``revoke_all`` takes a short lease on the user item (a conditional write that returns the entries), deletes
  every session the entries name, then releases the lease with a write conditional on the version being the one it
  read. A binding is conditional on no lease being held, so sign-ins of the user wait (retrying briefly) while
  ``revoke_all`` works; should one get through anyway (the lease ran out), the version check fails and
  ``revoke_all`` starts over with the new entries. Once the check passes, every session bound before that instant
  is deleted. A request that loaded a revoked session and saves after cannot bring it back: its write is
  conditional on the version it loaded, and a deleted item has none.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import anyio

from starlette_dynamo_session._core.events import SessionEvent, notify
from starlette_dynamo_session._core.exceptions import SessionConflict, StoreUnavailable
from starlette_dynamo_session._core.records import SessionUser
from starlette_dynamo_session._core.tokens import digest
from starlette_dynamo_session._dynamodb.binding import (
    IP_NAME,
    LAST_SEEN_NAME,
    USER_AGENT_NAME,
    USER_ID_NAME,
    check_user_id,
    instant,
    parse_user,
)
from starlette_dynamo_session._dynamodb.item import ItemLayout, log_damaged
from starlette_dynamo_session._dynamodb.user_pruning import (
    BINDS_NAME,
    ENTRY_PREFIX,
    PRUNE_AFTER,
    entries_due,
    prune_due,
    prune_request,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, UpdateTypeDef

__all__ = ["SessionInfo", "UserIndex", "UserSessions", "busy_user_item", "is_session_key"]

USER_KEY_PREFIX = "user#"
LEASE_NAME = "revoking"  # on the user item: until when (epoch seconds) revoke_all holds it
LEASE_SECONDS = 10
# revoke_all starts over when a sign-in of the same user commits while it works, at most this many times.
REVOKE_ALL_ATTEMPTS = 50
BATCH_GET_LIMIT = 100  # keys per BatchGetItem
REMOVE_LIMIT = 100  # attributes removed per UpdateItem (an expression is at most 4 KB)
DELETE_CONCURRENCY = 16  # DeleteItem requests in flight at once in revoke_all
RETRY_PAUSE = 0.01  # seconds, doubled per attempt, for unprocessed keys and index writes that lost a race
INDEX_ATTEMPTS = 8

_SESSION_KEY = re.compile(r"[A-Za-z0-9_-]{43}")

Send = Callable[[str, Mapping[str, Any]], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One live session of a user, as ``DynamoStore.list_sessions`` returns it.

    ``key`` is the session's public id (``session_key``, and what ``revoke`` takes); ``created``, ``last_seen`` and
    ``expires`` are aware datetimes in UTC (``last_seen`` moves at most once per ``LAST_SEEN_INTERVAL`` seconds
    unless the session is written); ``user_agent`` (truncated) and ``ip`` are the client's when the session was
    bound, or ``None`` when the middleware does not record them.
    """

    key: str
    user_id: str
    created: datetime
    last_seen: datetime
    expires: datetime
    user_agent: str | None
    ip: str | None


@runtime_checkable
class UserSessions(Protocol):
    """What ``max_sessions_per_user`` needs from a store beside ``SessionStore``: listing and revoking."""

    async def list_sessions(self, user_id: str) -> list[SessionInfo]:
        """The user's live sessions, most recently used first."""

    async def revoke(self, key: str) -> None:
        """End the session whose key is ``key``; an unknown key is not an error."""


def busy_user_item(conflict: SessionConflict) -> bool:
    """Whether a binding transaction failed only on its user item (a ``revoke_all`` holds it, another transaction
    was changing it, or it is due for pruning). The binding can be retried as it is."""
    return conflict.reason == "user_item_busy"


def is_session_key(key: object) -> bool:
    """Whether ``key`` has the shape of a session's key (a SHA-256 digest, base64url without padding)."""
    return isinstance(key, str) and _SESSION_KEY.fullmatch(key) is not None


class UserIndex:
    """The user items of one table, and the operations over a user's sessions; ``send`` is the store's own."""

    def __init__(self, send: Send, table_name: str, layout: ItemLayout) -> None:
        self._send = send
        self._table = table_name
        self._layout = layout

    def user_key(self, user_id: str) -> dict[str, AttributeValueTypeDef]:
        """The key of ``user_id``'s user item."""
        return {self._layout.token: {"S": USER_KEY_PREFIX + digest(user_id)}}

    def binding_update(
        self, token: str, user: SessionUser, expiry: datetime, *, replacing: str | None
    ) -> UpdateTypeDef:
        """The transaction item that enters the session stored under ``token`` until ``expiry`` in ``user``'s index
        (and takes out the one under ``replacing``, which it replaces), counting the user's version on.

        The entry's value is the session's expiry (epoch seconds, rounded up), so pruning reads only the sessions
        whose recorded expiry has passed. The item refuses the binding while a ``revoke_all`` holds it, and once
        ``PRUNE_AFTER`` bindings went in since its last pruning: the transaction then fails on the user item alone
        (``busy_user_item``), and ``prune`` makes room.
        """
        names = {
            "#new": ENTRY_PREFIX + digest(token),
            "#version": self._layout.version,
            "#lease": LEASE_NAME,
            "#binds": BINDS_NAME,
            "#key": self._layout.token,
        }
        expression = "SET #new = :until ADD #version :one, #binds :one"
        if replacing is not None:
            names["#old"] = ENTRY_PREFIX + digest(replacing)
            expression += " REMOVE #old"
        return {
            "TableName": self._table,
            "Key": self.user_key(user.user_id),
            "UpdateExpression": expression,
            # No revoke_all at work, and not due for pruning (an item without the count, from before it, is due).
            "ConditionExpression": (
                "(attribute_not_exists(#lease) OR #lease < :now) AND (attribute_not_exists(#key) OR #binds < :due)"
            ),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {
                ":until": {"N": str(math.ceil(expiry.timestamp()))},
                ":one": {"N": "1"},
                ":now": {"N": str(int(time.time()))},
                ":due": {"N": str(PRUNE_AFTER)},
            },
        }

    async def prune(self, user_id: str) -> bool:
        """Prune the user item when it is due (``PRUNE_AFTER`` bindings since its last pruning, or none counted);
        return whether it was, so that a refused binding can be retried at once.

        Only the entries whose recorded expiry has passed are looked at: their sessions are read (consistently), the
        entries of ended ones are removed, and those of sessions whose expiry moved on since (idle refresh, a
        browser session's writes) get the new expiry. Raises ``TableNotFound`` or ``StoreUnavailable``.
        """
        request = {"TableName": self._table, "Key": self.user_key(user_id), "ConsistentRead": True}
        item = (await self._send("GetItem", request)).get("Item") or {}
        if not prune_due(item):
            return False
        due = entries_due(item, time.time())
        live = await self._fetch(user_id, due)
        changes = [(key, None if key not in live else str(math.ceil(live[key].expires.timestamp()))) for key in due]
        chunks = [changes[start : start + REMOVE_LIMIT] for start in range(0, len(changes), REMOVE_LIMIT)] or [[]]
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            request = prune_request(self._table, self.user_key(user_id), self._layout.token, chunk, last=last)
            await self._update(request, check=False)
        return True

    async def list_sessions(self, user_id: str) -> list[SessionInfo]:
        """The user's live sessions, most recently used first; the index entries of ended ones are pruned."""
        check_user_id(user_id)
        _, keys = await self._read_index(user_id)
        sessions = await self._fetch(user_id, keys)
        ended = [key for key in keys if key not in sessions]
        if ended:
            await self._forget(user_id, ended)
        return sorted(sessions.values(), key=lambda info: info.last_seen, reverse=True)

    async def revoke(self, key: str) -> None:
        """Delete the session item keyed ``key``, then its index entry; anything but a session's key is a no-op."""
        if not is_session_key(key):
            return
        response = await self._send(
            "DeleteItem", {"TableName": self._table, "Key": {self._layout.token: {"S": key}}, "ReturnValues": "ALL_OLD"}
        )
        if self._was_live(response.get("Attributes") or {}):
            notify(SessionEvent("revoked", key))
        await self.removed(response.get("Attributes"))

    async def removed(self, item: Mapping[str, Any] | None) -> None:
        """Take a deleted session item out of its user's index, if it was bound (best effort: an entry left behind
        names a session that no longer exists, and listing prunes it)."""
        try:
            user = None if item is None else parse_user(item)
            key = None if item is None else str(item[self._layout.token]["S"])
        except (KeyError, TypeError, ValueError, ArithmeticError):
            return
        if user is not None and key is not None:
            await self._forget(user.user_id, [key])

    async def revoke_all(self, user_id: str, *, keep: str | None = None) -> int:
        """Delete every session of the user but ``keep``, until no sign-in committed meanwhile; return how many
        live sessions were ended."""
        check_user_id(user_id)
        ended = 0
        deleted: set[str] = set()
        for attempt in range(REVOKE_ALL_ATTEMPTS):
            leased = await self._lease(user_id)
            if leased is None:  # held by another revoke_all
                await anyio.sleep(min(RETRY_PAUSE * 2**attempt, 0.2))
                continue
            version, keys = leased
            if version == 0:  # no user item: nothing was ever bound to the user
                return ended
            targets = [key for key in keys if key != keep]
            ended += await self._delete_sessions(user_id, [key for key in targets if key not in deleted])
            deleted.update(targets)
            # Nothing was bound to the user since the lease was taken: every session bound before now is gone.
            try:
                await self._forget(user_id, targets, version=version)
            except SessionConflict:
                continue
            return ended
        raise StoreUnavailable(f"revoke_all gave up after {REVOKE_ALL_ATTEMPTS} attempts: the user item stayed busy")

    async def _lease(self, user_id: str) -> tuple[int, list[str]] | None:
        """Take the user item's lease; return its version and the keys it names, ``(0, [])`` when there is no user
        item, or ``None`` when another ``revoke_all`` holds the lease."""
        now = int(time.time())
        request = {
            "TableName": self._table,
            "Key": self.user_key(user_id),
            "UpdateExpression": "SET #lease = :until",
            "ConditionExpression": "attribute_exists(#key) AND (attribute_not_exists(#lease) OR #lease < :now)",
            "ExpressionAttributeNames": {"#key": self._layout.token, "#lease": LEASE_NAME},
            "ExpressionAttributeValues": {":until": {"N": str(now + LEASE_SECONDS)}, ":now": {"N": str(now)}},
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        try:
            response = await self._send("UpdateItem", request)
        except SessionConflict as conflict:
            if conflict.reason == "absent":
                return 0, []
            return None
        return self._index(response.get("Attributes") or {})

    async def _read_index(self, user_id: str) -> tuple[int, list[str]]:
        """The user item's version (0 when there is none) and the session keys it names (a consistent read)."""
        request = {"TableName": self._table, "Key": self.user_key(user_id), "ConsistentRead": True}
        return self._index((await self._send("GetItem", request)).get("Item") or {})

    def _index(self, item: Mapping[str, Any]) -> tuple[int, list[str]]:
        """A user item's version (0 for none) and the session keys it names."""
        keys = [name.removeprefix(ENTRY_PREFIX) for name in item if name.startswith(ENTRY_PREFIX)]
        return int(item.get(self._layout.version, {}).get("N", "0")), keys

    async def _fetch(self, user_id: str, keys: list[str]) -> dict[str, SessionInfo]:
        """The live sessions among ``keys`` that are bound to the user, by key (consistent reads, in batches)."""
        names = {
            "#key": self._layout.token,
            "#created": self._layout.created,
            "#expiry": self._layout.expiry,
            "#user": USER_ID_NAME,
            "#seen": LAST_SEEN_NAME,
            "#agent": USER_AGENT_NAME,
            "#ip": IP_NAME,
        }
        sessions: dict[str, SessionInfo] = {}
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            pending: Mapping[str, Any] = {
                self._table: {
                    "Keys": [{self._layout.token: {"S": key}} for key in keys[start : start + BATCH_GET_LIMIT]],
                    "ConsistentRead": True,
                    "ProjectionExpression": ", ".join(names),
                    "ExpressionAttributeNames": names,
                }
            }
            for attempt in range(INDEX_ATTEMPTS):
                response = await self._send("BatchGetItem", {"RequestItems": pending})
                for item in response.get("Responses", {}).get(self._table, []):
                    info = self._info(item)
                    if info is not None and info.user_id == user_id:
                        sessions[info.key] = info
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                await anyio.sleep(RETRY_PAUSE * 2**attempt)
            else:
                raise StoreUnavailable(f"BatchGetItem left keys unprocessed after {INDEX_ATTEMPTS} attempts")
        return sessions

    def _was_live(self, item: Mapping[str, Any]) -> bool:
        """Whether a deleted item was a session that had not expired."""
        try:
            return instant(item[self._layout.expiry]["N"]).timestamp() > time.time()
        except (KeyError, TypeError, ValueError, ArithmeticError):
            return False

    def _info(self, item: Mapping[str, Any]) -> SessionInfo | None:
        """The session an item read for listing describes, or ``None`` when it has expired or is damaged (another
        shape, or an instant out of range: logged at WARNING)."""
        try:
            user = parse_user(item)
            expires = instant(item[self._layout.expiry]["N"])
            key = str(item[self._layout.token]["S"])
            created = instant(item[self._layout.created]["N"])
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            log_damaged(item.get(self._layout.token, {}).get("S"), exc)
            return None
        if user is None or expires.timestamp() <= time.time():
            return None
        return SessionInfo(key, user.user_id, created, user.last_seen, expires, user.user_agent, user.ip)

    async def _delete_sessions(self, user_id: str, keys: list[str]) -> int:
        """Delete the session items of ``keys`` that are bound to the user; return how many of them were live."""
        ended = 0
        limiter = anyio.CapacityLimiter(DELETE_CONCURRENCY)

        async def delete(key: str) -> None:
            nonlocal ended
            request = {
                "TableName": self._table,
                "Key": {self._layout.token: {"S": key}},
                "ConditionExpression": "#user = :user",  # never another user's session, after a rebinding
                "ExpressionAttributeNames": {"#user": USER_ID_NAME},
                "ExpressionAttributeValues": {":user": {"S": user_id}},
                "ReturnValues": "ALL_OLD",
            }
            async with limiter:
                try:
                    response = await self._send("DeleteItem", request)
                except SessionConflict:
                    return  # gone already, or bound to someone else
            if self._info(response.get("Attributes") or {}) is not None:
                ended += 1
                notify(SessionEvent("revoked", key))

        async with anyio.create_task_group() as group:
            for key in keys:
                group.start_soon(delete, key)
        return ended

    async def _forget(self, user_id: str, keys: Iterable[str], *, version: int | None = None) -> None:
        """Remove the index entries of ``keys`` from the user item, at most ``REMOVE_LIMIT`` per write.

        With ``version``, the last write also releases ``revoke_all``'s lease and is conditional on the user item
        still being at that version: it raises ``SessionConflict`` when it is not. Without, an entry that cannot
        be removed because of a racing transaction is left for a later listing to prune.
        """
        entries = [ENTRY_PREFIX + key for key in keys]
        chunks = [entries[start : start + REMOVE_LIMIT] for start in range(0, len(entries), REMOVE_LIMIT)]
        if version is not None and not chunks:
            chunks = [[]]
        for index, chunk in enumerate(chunks):
            check = version is not None and index == len(chunks) - 1
            names = {f"#e{number}": entry for number, entry in enumerate(chunk)}
            request: dict[str, Any] = {"TableName": self._table, "Key": self.user_key(user_id)}
            if check:
                request["UpdateExpression"] = "REMOVE " + ", ".join([*names, "#lease"])
                request["ConditionExpression"] = "#version = :version"
                request["ExpressionAttributeValues"] = {":version": {"N": str(version)}}
                names.update({"#lease": LEASE_NAME, "#version": self._layout.version})
            else:
                request["UpdateExpression"] = "REMOVE " + ", ".join(names)
                request["ConditionExpression"] = "attribute_exists(#key)"  # never create a user item
                names["#key"] = self._layout.token
            request["ExpressionAttributeNames"] = names
            await self._update(request, check=check)

    async def _update(self, request: Mapping[str, Any], *, check: bool) -> None:
        """Send an UpdateItem of the user item. With ``check``, any conflict raises ``SessionConflict``; without,
        a failed condition (no user item) is the end of it, and a racing transaction is waited out a few times."""
        for attempt in range(INDEX_ATTEMPTS):
            try:
                await self._send("UpdateItem", request)
                return
            except SessionConflict as conflict:
                if check:
                    raise
                if conflict.reason == "absent":  # no user item to change
                    return
            await anyio.sleep(RETRY_PAUSE * 2**attempt)
