"""Testing applications without DynamoDB: ``MemoryStore`` keeps sessions in this process's memory.

Usage::

    from starlette_dynamo_session.testing import MemoryStore

    app.add_middleware(DynamoSessionMiddleware, store=MemoryStore(), secret_key="test")
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from starlette_dynamo_session._core.events import SessionEvent, notify
from starlette_dynamo_session._core.exceptions import ConflictReason, SessionConflict
from starlette_dynamo_session._core.records import Forwarded, StoredSession
from starlette_dynamo_session._core.rotation import MAX_FORWARDS
from starlette_dynamo_session._core.tokens import digest
from starlette_dynamo_session._core.users import SessionInfo, check_user_id
from starlette_dynamo_session._dynamodb.item import ItemLayout

__all__ = ["MemoryStore"]

# The size rule is DynamoDB's, counted on the item DynamoStore would write with its default attribute names.
_LAYOUT = ItemLayout("token", "data", "expiry", "ttl", "created", "version", "max_age", sealed=True)


class MemoryStore:
    """A session store in this process's memory, for an application's own tests and for single-process development.

    It follows ``DynamoStore``'s rules for everything the middleware and the users' API use: versioned writes (a
    request that lost a race merges its changes, as on DynamoDB), expiry checked on every read, each session's own
    lifetime and authentication, DynamoDB's 400 KB item limit (``SessionTooLarge``), sessions bound to users with
    ``list_sessions``, ``revoke`` and ``revoke_all``, and so ``max_sessions_per_user`` and ``end_other_sessions``,
    and rotated tokens that forward to their successor (``rotate_token_every``). Sessions are keyed by the same
    digest of the token (``key``). It is never shared between processes, and its sessions end with the process.

    Safe to share between the requests and event loops of one process.
    """

    def __init__(self) -> None:
        self._records: dict[str, StoredSession] = {}  # by token
        self._tokens: dict[str, str] = {}  # the token of each session, by key
        self._forwards: dict[str, tuple[Forwarded, datetime]] = {}  # rotated tokens: where to and until when

    def key(self, token: str) -> str:
        """A session's public id: the SHA-256 digest of its token, base64url without padding, as ``DynamoStore``'s."""
        return digest(token)

    async def read(self, token: str) -> StoredSession | Forwarded | None:
        """The session stored under ``token``, or ``None`` when it is unknown or has expired; ``Forwarded`` when
        ``token`` was rotated and its forwarding item has not expired."""
        forwarded = self._forwarded(token)
        if forwarded is not None:
            return forwarded
        record = self._records.get(token)
        if record is None:
            return None
        if not _is_live(record):
            notify(SessionEvent("expired", digest(token)))
            return None
        return record

    async def write(
        self, token: str, record: StoredSession, *, replacing: str | None = None, forward: bool = False
    ) -> None:
        """Store ``record`` under ``token`` if the session there (or under ``replacing``, which it then replaces) is
        still at ``record.version - 1`` (absent, for version 1). With ``forward``, ``replacing`` is not forgotten
        but forwards to ``token`` until ``record.expiry``.

        Raises ``SessionConflict`` carrying the session that won (``Forwarded`` when its token was rotated, ``None``
        when it is gone or has expired), and ``SessionTooLarge`` when DynamoDB would refuse the item for its size.
        """
        _LAYOUT.item(token, record)
        target = token if replacing is None else replacing
        forwarded = self._forwarded(target)
        if forwarded is not None:
            raise SessionConflict("lost to a rotation of the token", current=forwarded, reason="present")
        previous = self._records.get(target)
        if (0 if previous is None else previous.version) != record.version - 1:
            current = previous if previous is not None and _is_live(previous) else None
            reason: ConflictReason = "absent" if previous is None else "present"
            raise SessionConflict("lost to a concurrent write", current=current, reason=reason)
        if replacing is not None:
            self._forget(replacing)
            if forward:
                self._forwards[replacing] = (Forwarded(token, record.issued), record.expiry)
        self._records[token] = record
        self._tokens[digest(token)] = token

    async def remove(self, token: str) -> None:
        """Delete the session stored under ``token``; an unknown token is not an error. A rotated token's forwarding
        item goes with the session it forwards to (down the chain)."""
        for _ in range(MAX_FORWARDS + 1):
            forwarded, _expiry = self._forwards.pop(token, (None, None))
            self._forget(token)
            if forwarded is None:
                return
            token = forwarded.successor

    async def list_sessions(self, user_id: str) -> list[SessionInfo]:
        """The live sessions bound to ``user_id``, most recently used first.

        Raises ``ValueError`` for a user id that is not a non-empty string of at most 256 characters.
        """
        check_user_id(user_id)
        sessions = [
            SessionInfo(
                digest(token),
                user.user_id,
                record.created,
                user.last_seen,
                record.expiry,
                user.user_agent,
                user.ip,
                None if record.auth is None else record.auth.at,
                None if record.auth is None else record.auth.level,
            )
            for token, record in self._records.items()
            if (user := record.user) is not None and user.user_id == user_id and _is_live(record)
        ]
        return sorted(sessions, key=lambda info: info.last_seen, reverse=True)

    async def revoke(self, key: str) -> None:
        """End the session whose key is ``key``; an unknown key is not an error."""
        token = self._tokens.get(key)
        if token is None:
            return
        record = self._forget(token)
        if record is not None and _is_live(record):
            notify(SessionEvent("revoked", key))

    async def revoke_all(self, user_id: str, *, keep: str | None = None) -> int:
        """End every session of ``user_id`` except the one whose key is ``keep``; return how many live sessions it
        ended.

        Raises ``ValueError`` for a user id that is not a non-empty string of at most 256 characters.
        """
        check_user_id(user_id)
        ended = 0
        for info in await self.list_sessions(user_id):
            if info.key != keep:
                await self.revoke(info.key)
                ended += 1
        return ended

    def _forwarded(self, token: str) -> Forwarded | None:
        """The live forwarding item of ``token``, if it was rotated (an expired one is forgotten)."""
        forwarded, expiry = self._forwards.get(token, (None, None))
        if forwarded is None or expiry is None or expiry <= datetime.fromtimestamp(time.time(), UTC):
            self._forwards.pop(token, None)
            return None
        return forwarded

    def _forget(self, token: str) -> StoredSession | None:
        self._tokens.pop(digest(token), None)
        return self._records.pop(token, None)


def _is_live(record: StoredSession) -> bool:
    return record.expiry > datetime.fromtimestamp(time.time(), UTC)
