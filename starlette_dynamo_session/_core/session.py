"""One request's session: the dict the application sees, and what the lifecycle knows of it from load to save."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette_dynamo_session._core.records import DEFAULT, Authentication, MaxAge, SessionUser, StoredSession

__all__ = [
    "LIFECYCLE_SCOPE_KEY",
    "SKIPPED",
    "STATE_SCOPE_KEY",
    "Loaded",
    "Session",
    "SessionState",
    "SkippedSession",
    "as_left",
]

# Where the middleware keeps a request's SessionState in the ASGI scope.
STATE_SCOPE_KEY = "starlette_dynamo_session.state"
# Where the middleware keeps its SessionLifecycle, for what acts on the store beyond the request's own session.
LIFECYCLE_SCOPE_KEY = "starlette_dynamo_session.lifecycle"


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
    authenticated: Authentication | None = None  # what mark_authenticated recorded during this request
    imported: bool = False  # the session came from a cookie of Starlette's SessionMiddleware (import_cookie_sessions)
    forwarded: bool = False  # the request presented a rotated token within its grace: loaded is the current one
    replayed: bool = False  # the request presented a rotated token after its grace: the session was ended
