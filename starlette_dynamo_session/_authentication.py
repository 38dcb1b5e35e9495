"""Authentication state on the session: record that the user authenticated, read it back, and require a recent,
strong enough one for a sensitive action ("sudo mode"); and, for a password change, end the user's other sessions.

The authentication is stored with the session, outside its data: it survives regeneration, a concurrent request's
merge never changes or loses it, and reading it costs no DynamoDB call beyond the session's own read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import cast

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from starlette_dynamo_session._connection import session_state
from starlette_dynamo_session._core import clock
from starlette_dynamo_session._core.lifecycle import SessionLifecycle
from starlette_dynamo_session._core.records import MAX_AUTH_LEVEL, Authentication
from starlette_dynamo_session._core.session import LIFECYCLE_SCOPE_KEY
from starlette_dynamo_session._core.users import end_others

__all__ = ["Authentication", "authentication", "end_other_sessions", "mark_authenticated", "require_authentication"]


def mark_authenticated(conn: HTTPConnection, *, level: int = 1) -> None:
    """Record that the request's user authenticated now, at ``level`` (an application's own scale: 1 for a
    password, 2 for a second factor...). Call it at sign-in, and again at a step-up re-authentication.

    It is stored when the response starts, with the session (a session that ends empty stores nothing). Raises
    ``ValueError`` when ``level`` is not a whole number from 1 to ``MAX_AUTH_LEVEL`` (2**31 - 1), and
    ``RuntimeError`` when ``DynamoSessionMiddleware`` is not installed.
    """
    _check_level(level)
    session_state(conn).authenticated = Authentication(clock.now(), level)


def _check_level(level: int) -> None:
    """Raise ``ValueError`` unless ``level`` is a whole number from 1 to ``MAX_AUTH_LEVEL``."""
    if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= MAX_AUTH_LEVEL:
        raise ValueError(f"level must be a whole number from 1 to {MAX_AUTH_LEVEL}, not {level!r}")


def authentication(conn: HTTPConnection) -> Authentication | None:
    """The session's latest authentication (``at``, ``level``), or ``None`` when it has none: a new session, one
    never marked, or one the request cleared. Raises ``RuntimeError`` when ``DynamoSessionMiddleware`` is not
    installed."""
    state = session_state(conn)
    if state.authenticated is not None:
        return state.authenticated
    if state.loaded is None or state.session.cleared:
        return None
    return state.loaded.record.auth


def require_authentication(*, max_age: int | None = None, level: int = 1) -> Callable[[HTTPConnection], Authentication]:
    """A check that the request's session authenticated at ``level`` or above, and, with ``max_age``, within the
    last ``max_age`` seconds; it returns that ``Authentication``.

    Use it as a FastAPI dependency (``Depends(require_authentication(max_age=300))``) or call it with the request
    in a Starlette endpoint. The check raises Starlette's ``HTTPException`` with status 401 when the session has no
    authentication, a weaker one, or an older one. ``require_authentication`` raises ``ValueError`` for a ``level``
    out of that range or a negative ``max_age``.
    """
    _check_level(level)
    if max_age is not None and max_age < 0:
        raise ValueError(f"max_age must be a number of seconds of at least 0, or None, not {max_age!r}")

    def check_authentication(conn: HTTPConnection) -> Authentication:
        found = authentication(conn)
        if found is None:
            raise HTTPException(401, "Authentication required.")
        if found.level < level:
            raise HTTPException(401, f"Authentication at level {level} required.")
        if max_age is not None and clock.now() - found.at > timedelta(seconds=max_age):
            raise HTTPException(401, "Recent authentication required: authenticate again.")
        return found

    return check_authentication


async def end_other_sessions(conn: HTTPConnection) -> int:
    """End every other session of the user the request's session is bound to, and give this session a new token at
    the end of the request; return how many sessions it ended. Call it when the user changes their password.

    The others end as with ``DynamoStore.revoke_all(user_id, keep=session_key(conn))``: once this returns, none of
    them can be used again, whichever process holds its cookie. This session keeps its data, binding and
    authentication under the new token (as ``regenerate_session`` gives one), so a copy of its old token is worth
    nothing either. A session bound in this same request (``regenerate_session(conn, user_id=...)``) counts as bound.

    Raises ``ValueError`` when the session is not bound to a user, ``TypeError`` when the middleware's store cannot
    end a user's sessions (it has no ``revoke_all``), ``RuntimeError`` when ``DynamoSessionMiddleware`` is not
    installed, and ``TableNotFound`` or ``StoreUnavailable`` when the store fails.
    """
    state = session_state(conn)
    lifecycle = cast(SessionLifecycle, conn.scope[LIFECYCLE_SCOPE_KEY])  # the middleware put it beside the state
    return await end_others(lifecycle.store, state)
