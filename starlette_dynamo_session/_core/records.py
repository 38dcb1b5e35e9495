"""The store interface the session lifecycle needs, and the record it reads and writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

__all__ = [
    "DEFAULT",
    "MAX_AUTH_LEVEL",
    "MAX_LIFETIME",
    "Authentication",
    "Forwarded",
    "MaxAge",
    "SessionStore",
    "SessionUser",
    "StoredSession",
]

DEFAULT: Literal["default"] = "default"
# The longest lifetime a session can be given, either way: 100 years of 365 days, in seconds. A longer max_age or
# idle_timeout is refused, and an item that holds one is damaged: its expiry could not be represented.
MAX_LIFETIME = 100 * 365 * 24 * 60 * 60
# A session's own absolute lifetime in seconds, ``None`` for a browser session, or ``"default"``: the middleware's.
MaxAge = int | None | Literal["default"]


@dataclass(frozen=True, slots=True)
class SessionUser:
    """Whom a bound session belongs to (``regenerate_session(conn, user_id=...)``), when it was last seen (an aware
    datetime in UTC), and the client it was bound from (``None`` when not recorded)."""

    user_id: str
    last_seen: datetime
    user_agent: str | None = None
    ip: str | None = None


# The highest authentication level a session can record: an application's scale is a handful of levels, and this
# bound keeps a level a plain 32-bit number wherever it is stored.
MAX_AUTH_LEVEL = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Authentication:
    """The latest authentication of a session's user (``mark_authenticated``): when it happened (``at``, an aware
    datetime in UTC) and how strong it was (``level``: an application's own scale, such as 1 for a password and 2
    for a second factor)."""

    at: datetime
    level: int


@dataclass(frozen=True, slots=True)
class StoredSession:
    """One stored session: its data, when it was created, when it expires, and the version of the item.

    ``data`` is the session as the middleware stores it (JSON text, UTF-8); ``created`` and ``expiry`` are aware
    datetimes in UTC; ``version`` is 1 for the first write of a session and one more for every write after it;
    ``max_age`` is the session's own absolute lifetime in seconds (``set_session_max_age``), ``None`` for a browser
    session, or ``"default"`` for the middleware's ``max_age``; ``user`` is the user it is bound to, if any;
    ``token_issued`` is when the session's current token was issued (an aware datetime in UTC), ``None`` for "at its
    creation": regeneration and rotation set it; ``auth`` is the latest authentication recorded on it, if any.
    """

    data: bytes
    created: datetime
    expiry: datetime
    version: int
    max_age: MaxAge = DEFAULT
    user: SessionUser | None = None
    token_issued: datetime | None = None
    auth: Authentication | None = None

    @property
    def issued(self) -> datetime:
        """When the session's current token was issued: ``token_issued``, or its creation."""
        return self.created if self.token_issued is None else self.token_issued


@dataclass(frozen=True, slots=True)
class Forwarded:
    """What a rotated token's item holds instead of a session (``rotate_token_every``): the token that replaced it
    (``successor``) and when (``rotated_at``, an aware datetime in UTC). A store keeps it until the session's expiry
    at the time of the rotation, and never in clear: only the rotated token opens it."""

    successor: str
    rotated_at: datetime


class SessionStore(Protocol):
    """What ``DynamoSessionMiddleware`` needs from a store: three coroutines over versioned session records.

    ``DynamoStore`` implements it; so can a store for tests that keeps its records in memory.
    """

    async def read(self, token: str) -> StoredSession | Forwarded | None:
        """The session stored under ``token``, or ``None`` when it is unknown or has expired; ``Forwarded`` when
        ``token`` was rotated away and its item forwards to the successor (until it expires).

        Raises ``TableNotFound`` or ``StoreUnavailable``.
        """

    async def write(
        self, token: str, record: StoredSession, *, replacing: str | None = None, forward: bool = False
    ) -> None:
        """Store ``record`` under ``token`` if no other writer got there first.

        The write succeeds only if the stored item is still at ``record.version - 1`` (absent, for version 1). With
        ``replacing``, ``token`` must be new: the item under ``replacing`` must be at ``record.version - 1``, and it
        is deleted in the same atomic write (a regenerated token); with ``forward`` too (a rotated token), it is
        not deleted but replaced by a forwarding item: ``Forwarded(token, record.issued)`` at ``record.version``,
        until ``record.expiry``. Raises ``SessionConflict``, carrying the item that won when the store returns it (a
        ``Forwarded`` when the token was rotated meanwhile); ``SessionTooLarge`` before anything is sent when the
        record is too large to store; ``TableNotFound`` or ``StoreUnavailable``.
        """

    async def remove(self, token: str) -> None:
        """Delete the session stored under ``token``; an unknown token is not an error. When ``token`` was rotated,
        its forwarding item goes, and the session it forwards to with it (down the chain of rotations).

        Raises ``TableNotFound`` or ``StoreUnavailable``.
        """
