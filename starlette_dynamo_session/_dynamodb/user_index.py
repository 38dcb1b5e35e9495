"""The users' index: the per-user item that names a user's sessions, and every write to it.

The layout, all in the sessions table, with no secondary index and no Scan:

* A bound session is an ordinary session item with the user's attributes (``binding``).
* Each user who ever bound a session has one *user item* (``user_items``), holding a ``version``, a count of
  bindings, and one entry per session bound to the user, holding its expiry.
* The user item is *complete*: a session is bound, and re-keyed on regeneration, in the same transaction that
  writes the index entry and counts the user's version on (``UserIndex.bind``). A sign-out or a revoke takes the
  entry out at once; entries of sessions that expired are pruned as sign-ins go in (``user_pruning``), and listing
  prunes too.
* ``revoke_all`` takes a short lease on the user item (a conditional write that returns the entries), deletes
  every session the entries name, then releases the lease with a write conditional on the version being the one it
  read. A binding is conditional on no lease being held, so sign-ins of the user wait (retrying briefly) while
  ``revoke_all`` works; should one get through anyway (the lease ran out), the version check fails and
  ``revoke_all`` starts over with the new entries. Once the check passes, every session bound before that instant
  is deleted. A request that loaded a revoked session and saves after cannot bring it back: its write is
  conditional on the version it loaded, and a deleted item has none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import anyio

from starlette_dynamo_session._core.events import SessionEvent, notify
from starlette_dynamo_session._core.exceptions import SessionConflict, StoreUnavailable
from starlette_dynamo_session._core.records import SessionUser, StoredSession
from starlette_dynamo_session._core.retries import INDEX_WRITE, REVOKE_ALL
from starlette_dynamo_session._core.users import SessionInfo, check_user_id, is_session_key
from starlette_dynamo_session._dynamodb.attributes import whole_seconds
from starlette_dynamo_session._dynamodb.binding import parse_user
from starlette_dynamo_session._dynamodb.requests import SessionRequests
from starlette_dynamo_session._dynamodb.user_items import UserItems
from starlette_dynamo_session._dynamodb.user_pruning import entries_due, prune_due
from starlette_dynamo_session._dynamodb.users import Send, read_sessions, session_info

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

__all__ = ["DELETE_CONCURRENCY", "UserIndex", "busy_user_item"]

DELETE_CONCURRENCY = 16  # DeleteItem requests in flight at once in revoke_all


def busy_user_item(conflict: SessionConflict) -> bool:
    """Whether a binding transaction failed only on its user item (a ``revoke_all`` holds it, another transaction
    was changing it, or it is due for pruning). The binding can be retried as it is. Raises nothing."""
    return conflict.reason == "user_item_busy"


class UserIndex:
    """The user items of the table that ``requests`` writes to, and the operations over a user's sessions; ``send``
    is the store's own."""

    def __init__(self, send: Send, requests: SessionRequests) -> None:
        self._send = send
        self._sessions = requests
        self._layout = requests.layout
        self._items = UserItems(requests.table, requests.layout)

    def user_key(self, user_id: str) -> dict[str, AttributeValueTypeDef]:
        """The key of ``user_id``'s user item."""
        return self._items.key(user_id)

    async def bind(
        self, token: str, record: StoredSession, user: SessionUser, *, replacing: str | None, forward: bool = False
    ) -> None:
        """Store ``record`` (bound to ``user``) under the new token ``token``, deleting the session under
        ``replacing`` if given (with ``forward``, leaving its forwarding item instead), in one transaction that also
        enters it in the user's index.

        While only the user item refuses (``busy_user_item``), the binding is tried again (``INDEX_WRITE``): at once
        after pruning a user item that was due for it, after a pause while a ``revoke_all`` holds it or another
        sign-in was changing it. Raises ``SessionConflict`` (carrying the session item that won, or, once the tries
        run out, saying the user item is busy), ``SessionTooLarge`` before sending anything, and ``TableNotFound``
        or ``StoreUnavailable``.
        """
        items = self._sessions.replacement(token, record, replacing=replacing, forward=forward)
        items.append({"Update": self._items.binding(token, user, record.expiry, replacing=replacing)})
        # A failure returns the item that failed its condition: the session under the token its reason's index
        # names (the user item, last, is never a session).
        tokens = (token,) if replacing is None else (token, replacing)
        for attempt in INDEX_WRITE.tries():
            try:
                await self._send("TransactWriteItems", {"TransactItems": items}, tokens)
                return
            except SessionConflict as conflict:
                if not busy_user_item(conflict) or INDEX_WRITE.last(attempt):
                    raise
            if not await self.prune(user.user_id):
                await INDEX_WRITE.pause(attempt)

    async def prune(self, user_id: str) -> bool:
        """Prune the user item when it is due (``PRUNE_AFTER`` bindings since its last pruning, or none counted);
        return whether it was, so that a refused binding can be retried at once.

        Only the entries whose recorded expiry has passed are looked at: their sessions are read (consistently), the
        entries of ended ones are removed, and those of sessions whose expiry moved on since (idle refresh, a
        browser session's writes) get the new expiry. Raises ``TableNotFound`` or ``StoreUnavailable``.
        """
        item = (await self._send("GetItem", self._items.get(user_id))).get("Item") or {}
        if not prune_due(item):
            return False
        due = entries_due(item)
        live = await read_sessions(self._send, self._items.table, self._layout, user_id, due)
        changes = [(key, None if key not in live else str(whole_seconds(live[key].expires))) for key in due]
        for request in self._items.pruning(user_id, changes):
            await self._update(request, check=False)
        return True

    async def list_sessions(self, user_id: str) -> list[SessionInfo]:
        """The user's live sessions, most recently used first; the index entries of ended ones are pruned. Raises
        ``ValueError`` for a user id ``check_user_id`` refuses, and ``TableNotFound`` or ``StoreUnavailable``."""
        check_user_id(user_id)
        _, keys = await self._read_index(user_id)
        sessions = await read_sessions(self._send, self._items.table, self._layout, user_id, keys)
        ended = [key for key in keys if key not in sessions]
        if ended:
            await self._forget(user_id, ended)
        return sorted(sessions.values(), key=lambda info: info.last_seen, reverse=True)

    async def revoke(self, key: str) -> None:
        """Delete the session item keyed ``key``, then its index entry; anything but a session's key is a no-op.
        Raises ``TableNotFound`` or ``StoreUnavailable``."""
        if not is_session_key(key):
            return
        response = await self._send("DeleteItem", self._sessions.delete(key))
        if self._layout.live(response.get("Attributes") or {}):
            notify(SessionEvent("revoked", key))
        await self.removed(response.get("Attributes"))

    async def removed(self, item: Mapping[str, Any] | None) -> None:
        """Take a deleted session item out of its user's index, if it was bound (best effort: an entry left behind
        names a session that no longer exists, and listing prunes it). Raises ``TableNotFound`` or
        ``StoreUnavailable``."""
        try:
            user = None if item is None else parse_user(item)
            key = None if item is None else str(item[self._layout.token]["S"])
        except (KeyError, TypeError, ValueError, ArithmeticError):
            return
        if user is not None and key is not None:
            await self._forget(user.user_id, [key])

    async def revoke_all(self, user_id: str, *, keep: str | None = None) -> int:
        """Delete every session of the user but ``keep``, until no sign-in committed meanwhile; return how many
        live sessions were ended. Raises ``ValueError`` for a user id ``check_user_id`` refuses,
        ``StoreUnavailable`` when the user item stays busy (``REVOKE_ALL``), and ``TableNotFound`` or
        ``StoreUnavailable``."""
        check_user_id(user_id)
        ended = 0
        deleted: set[str] = set()
        for attempt in REVOKE_ALL.tries():
            leased = await self._lease(user_id)
            if leased is None:  # held by another revoke_all
                await REVOKE_ALL.pause(attempt)
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
        raise StoreUnavailable(f"revoke_all gave up after {REVOKE_ALL.attempts} attempts: the user item stayed busy")

    async def _lease(self, user_id: str) -> tuple[int, list[str]] | None:
        """Take the user item's lease; return its version and the keys it names, ``(0, [])`` when there is no user
        item, or ``None`` when another ``revoke_all`` holds the lease."""
        try:
            response = await self._send("UpdateItem", self._items.lease(user_id))
        except SessionConflict as conflict:
            if conflict.reason == "absent":
                return 0, []
            return None
        return self._items.index(response.get("Attributes") or {})

    async def _read_index(self, user_id: str) -> tuple[int, list[str]]:
        """The user item's version (0 when there is none) and the session keys it names (a consistent read)."""
        return self._items.index((await self._send("GetItem", self._items.get(user_id))).get("Item") or {})

    async def _delete_sessions(self, user_id: str, keys: list[str]) -> int:
        """Delete the session items of ``keys`` that are bound to the user; return how many of them were live."""
        ended = 0
        limiter = anyio.CapacityLimiter(DELETE_CONCURRENCY)

        async def delete(key: str) -> None:
            nonlocal ended
            async with limiter:
                try:
                    response = await self._send("DeleteItem", self._sessions.delete(key, user_id=user_id))
                except SessionConflict:
                    return  # gone already, or bound to someone else
            if session_info(self._layout, response.get("Attributes") or {}) is not None:
                ended += 1
                notify(SessionEvent("revoked", key))

        async with anyio.create_task_group() as group:
            for key in keys:
                group.start_soon(delete, key)
        return ended

    async def _forget(self, user_id: str, keys: Iterable[str], *, version: int | None = None) -> None:
        """Remove the index entries of ``keys`` from the user item (``UserItems.forgetting``).

        With ``version``, the last write also releases ``revoke_all``'s lease and is conditional on the user item
        still being at that version: it raises ``SessionConflict`` when it is not. Without, an entry that cannot
        be removed because of a racing transaction is left for a later listing to prune.
        """
        requests = self._items.forgetting(user_id, keys, version=version)
        for index, request in enumerate(requests):
            await self._update(request, check=version is not None and index == len(requests) - 1)

    async def _update(self, request: Mapping[str, Any], *, check: bool) -> None:
        """Send an UpdateItem of the user item. With ``check``, any conflict raises ``SessionConflict``; without,
        a failed condition (no user item) is the end of it, and a racing transaction is waited out a few times
        (``INDEX_WRITE``) before the write is given up."""
        for attempt in INDEX_WRITE.tries():
            try:
                await self._send("UpdateItem", request)
                return
            except SessionConflict as conflict:
                if check:
                    raise
                if conflict.reason == "absent":  # no user item to change
                    return
            if INDEX_WRITE.last(attempt):
                return
            await INDEX_WRITE.pause(attempt)
