"""One request's session: the dict the application sees, what was loaded for it, and the functions of the
connection that act on it."""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import HTTPConnection

from starlette_dynamo_session._core.records import DEFAULT, MAX_LIFETIME, MaxAge, SessionUser, StoredSession
from starlette_dynamo_session._core.tokens import digest
from starlette_dynamo_session._dynamodb.binding import check_user_id, client_details

__all__ = ["Session", "SessionState", "SkippedSession", "regenerate_session", "session_key", "set_session_max_age"]

# Where the middleware keeps a request's SessionState in the ASGI scope.
STATE_SCOPE_KEY = "starlette_dynamo_session.state"


class Session(dict[str, Any]):
    """``request.session``: a plain ``dict`` of JSON values that remembers whether the application used it.

    Changes are found by comparing the serialized session with the one that was loaded, so changes nested
    inside lists and dicts are saved too.
    """

    accessed: bool = False
    cleared: bool = False  # the application called clear(): the stored session ends, binding and all

    def mark_accessed(self) -> None:
        """Record that the application used the session (Starlette's ``request.session`` calls this)."""
        self.accessed = True

    def clear(self) -> None:
        """Empty the session, and remember it was emptied: the stored session ends (a bound one's binding with it)
        even when the request then puts something new in (a flash message), which goes to a new session under a
        new token."""
        self.cleared = True
        super().clear()


class SkippedSession(Session):
    """``request.session`` on a path of the middleware's ``skip_paths``: using it raises ``RuntimeError``, so that
    a write there is never silently lost."""

    def mark_accessed(self) -> None:
        """Raise ``RuntimeError``: this path does not load or save sessions."""
        raise RuntimeError(SKIPPED)


def as_left(session: Session, left: object) -> Session:
    """The session as the request left it in ``scope["session"]``: the one it was given (``session``), a new one
    holding a mapping that replaced it (Litestar's ``request.set_session``), or an empty one when ``None`` or a
    sentinel (an enum member or a class, as Litestar's ``Empty`` from ``request.clear_session``) took its place,
    which ends the session.

    Raises ``TypeError`` for anything else, which the session could not store.
    """
    if left is session:
        return session
    if isinstance(left, Mapping):
        replaced = Session(left)
    elif left is None or isinstance(left, type | enum.Enum):
        replaced = Session()
    else:
        raise TypeError(f"scope['session'] must be a mapping, or None to end the session, not {type(left).__name__}")
    replaced.accessed = True
    return replaced


SKIPPED = (
    "request.session is not available on this path: it is under DynamoSessionMiddleware's skip_paths, whose "
    "requests neither read nor write sessions"
)


@dataclass(frozen=True, slots=True)
class Loaded:
    """The stored session a request's cookie led to: its token and the record as it was read."""

    token: str
    record: StoredSession


@dataclass(slots=True)
class SessionState:
    """What the middleware knows about one request's session, from loading it to the end of the request."""

    session: Session
    loaded: Loaded | None = None
    regenerate: bool = False
    max_age: MaxAge = DEFAULT  # the session's own lifetime: as loaded, or as set_session_max_age set it
    bind: SessionUser | None = None  # the user regenerate_session(conn, user_id=...) binds the session to
    imported: bool = False  # the session came from a cookie of Starlette's SessionMiddleware (import_cookie_sessions)


def regenerate_session(conn: HTTPConnection, *, user_id: str | None = None) -> None:
    """Give the session a new token at the end of this request, keeping its data.

    The item under the old token is deleted and the old cookie stops working. Call it when a user signs in, so a
    token planted before sign-in (session fixation) is worth nothing afterwards. With ``user_id``, the session is
    also bound to that user (``DynamoStore.list_sessions``, ``revoke_all``), recording the client's user agent and
    IP address unless the middleware has ``record_client=False``; a bound session stays bound across later requests
    and regenerations. Raises ``ValueError`` when ``user_id`` is not a non-empty string of at most 256 characters
    that encodes as UTF-8, and ``RuntimeError`` when ``DynamoSessionMiddleware`` is not installed.
    """
    if user_id is not None:
        check_user_id(user_id)
    state = _state(conn)
    if user_id is not None:
        agent, ip = client_details(conn.headers.get("user-agent"), None if conn.client is None else conn.client.host)
        state.bind = SessionUser(user_id, datetime.fromtimestamp(time.time(), UTC), agent, ip)
    state.regenerate = True


def set_session_max_age(conn: HTTPConnection, max_age: int | None) -> None:
    """Give this session an absolute lifetime of its own, ``max_age`` seconds from its creation, instead of the
    middleware's ``max_age`` ("remember me"); ``None`` makes its cookie a browser-session cookie, while the server
    still ends the session (after ``idle_timeout`` if set, otherwise 14 days after its last write).

    The lifetime is stored with the session: it holds for every later request and survives regeneration, and
    ``idle_timeout`` still applies. Raises ``ValueError`` when ``max_age`` is neither ``None`` nor an ``int`` of at
    most 100 years (``MAX_LIFETIME`` seconds) either way, and ``RuntimeError`` when ``DynamoSessionMiddleware`` is
    not installed.
    """
    if max_age is not None and (
        not isinstance(max_age, int) or isinstance(max_age, bool) or abs(max_age) > MAX_LIFETIME
    ):
        raise ValueError(
            f"max_age must be a whole number of seconds of at most 100 years ({MAX_LIFETIME}) either way, or None, "
            f"not {max_age!r}"
        )
    _state(conn).max_age = max_age


def session_key(conn: HTTPConnection) -> str | None:
    """The stable public id of the request's stored session: the digest its item is keyed by, never the token.

    ``None`` when the request came without a stored session. Safe to show on a page. Raises ``RuntimeError`` when
    ``DynamoSessionMiddleware`` is not installed.
    """
    loaded = _state(conn).loaded
    return None if loaded is None else digest(loaded.token)


def _state(conn: HTTPConnection) -> SessionState:
    if isinstance(conn.scope.get("session"), SkippedSession):
        raise RuntimeError(SKIPPED)
    state = conn.scope.get(STATE_SCOPE_KEY)
    if not isinstance(state, SessionState):
        raise RuntimeError("DynamoSessionMiddleware must be installed to use this function")
    return state
