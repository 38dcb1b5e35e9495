"""Users' sessions, apart from any store: the rules for user ids and the client details a bound session keeps, a
user's session as listing describes it, and what a store offers to list and revoke them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from starlette_dynamo_session._core.tokens import digest

if TYPE_CHECKING:
    from starlette_dynamo_session._core.records import SessionStore
    from starlette_dynamo_session._core.session import SessionState

__all__ = [
    "LAST_SEEN_INTERVAL",
    "MAX_IP_LENGTH",
    "MAX_USER_AGENT_LENGTH",
    "MAX_USER_ID_LENGTH",
    "RevokesAll",
    "SessionInfo",
    "UserSessions",
    "check_user_id",
    "client_details",
    "end_others",
    "is_session_key",
]

_SESSION_KEY = re.compile(r"[A-Za-z0-9_-]{43}")

MAX_USER_ID_LENGTH = 256  # characters
MAX_USER_AGENT_LENGTH = 256  # characters kept of a User-Agent header
MAX_IP_LENGTH = 64  # characters: an IPv6 address with a zone fits
# A bound session's "last seen" moves on every write of the session, and otherwise at most once per this many
# seconds: a request that only reads it costs one extra write per interval, never one per request.
LAST_SEEN_INTERVAL = 5 * 60


def check_user_id(user_id: object) -> str:
    """``user_id`` itself when it is a usable user id: a non-empty ``str`` of at most 256 characters that encodes as
    UTF-8 (a lone surrogate such as ``"\\ud800"`` does not, and DynamoDB could not store it).

    Raises ``ValueError`` for anything else.
    """
    if not isinstance(user_id, str) or not user_id or len(user_id) > MAX_USER_ID_LENGTH or not _is_utf8(user_id):
        shown = repr(user_id) if len(repr(user_id)) <= 80 else f"{repr(user_id)[:77]}..."
        raise ValueError(
            f"user_id must be a non-empty string of at most {MAX_USER_ID_LENGTH} characters that encodes as UTF-8, "
            f"not {shown}"
        )
    return user_id


def _is_utf8(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8: it holds no lone surrogate."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def client_details(user_agent: str | None, ip: str | None) -> tuple[str | None, str | None]:
    """The user agent and IP address as a bound session keeps them: truncated, and ``None`` when empty."""
    return (
        user_agent[:MAX_USER_AGENT_LENGTH] or None if user_agent else None,
        ip[:MAX_IP_LENGTH] or None if ip else None,
    )


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One live session of a user, as ``DynamoStore.list_sessions`` returns it.

    ``key`` is the session's public id (``session_key``, and what ``revoke`` takes); ``created``, ``last_seen`` and
    ``expires`` are aware datetimes in UTC (``last_seen`` moves at most once per ``LAST_SEEN_INTERVAL`` seconds
    unless the session is written); ``user_agent`` (truncated) and ``ip`` are the client's when the session was
    bound, or ``None`` when the middleware does not record them; ``authenticated_at`` (aware, UTC) and
    ``auth_level`` are the session's latest authentication (``mark_authenticated``), or ``None`` when it has none.
    """

    key: str
    user_id: str
    created: datetime
    last_seen: datetime
    expires: datetime
    user_agent: str | None
    ip: str | None
    authenticated_at: datetime | None = None
    auth_level: int | None = None


@runtime_checkable
class UserSessions(Protocol):
    """What ``max_sessions_per_user`` needs from a store beside ``SessionStore``: listing and revoking."""

    async def list_sessions(self, user_id: str) -> list[SessionInfo]:
        """The user's live sessions, most recently used first."""

    async def revoke(self, key: str) -> None:
        """End the session whose key is ``key``; an unknown key is not an error."""


@runtime_checkable
class RevokesAll(Protocol):
    """What ``end_other_sessions`` needs from a store: ending all of a user's sessions but one."""

    async def revoke_all(self, user_id: str, *, keep: str | None = None) -> int:
        """End every session of the user except the one whose key is ``keep``; return how many it ended."""


def is_session_key(key: object) -> bool:
    """Whether ``key`` has the shape of a session's key (a SHA-256 digest, base64url without padding). Raises
    nothing."""
    return isinstance(key, str) and _SESSION_KEY.fullmatch(key) is not None


async def end_others(store: SessionStore, state: SessionState) -> int:
    """End every other session of the user that ``state``'s session is bound to (or is being bound to by this
    request), as the store's ``revoke_all`` with ``keep=`` this one, and mark this session for a new token when the
    request ends (as a regeneration does); return how many sessions it ended.

    Raises ``ValueError`` when the session is not bound to a user, ``TypeError`` when the store cannot end a user's
    sessions (it has no ``revoke_all``), and ``TableNotFound`` or ``StoreUnavailable``.
    """
    loaded = state.loaded
    stored = None if loaded is None or state.session.cleared else loaded.record.user
    user = state.bind or stored
    if user is None:
        raise ValueError(
            "end_other_sessions needs a session bound to a user: bind it with regenerate_session(conn, user_id=...)"
        )
    if not isinstance(store, RevokesAll):
        raise TypeError("end_other_sessions needs a store that can end a user's sessions (revoke_all)")
    ended = await store.revoke_all(user.user_id, keep=None if loaded is None else digest(loaded.token))
    state.regenerate = True
    return ended
