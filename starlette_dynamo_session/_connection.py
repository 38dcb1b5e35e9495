"""The functions of a request that act on its session beyond the dict: a new token at sign-in, a lifetime of its
own, its public key. Each finds the request's ``SessionState`` where ``DynamoSessionMiddleware`` left it in the
ASGI scope."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from starlette_dynamo_session._core import clock
from starlette_dynamo_session._core.records import MAX_LIFETIME, SessionUser
from starlette_dynamo_session._core.session import SKIPPED, STATE_SCOPE_KEY, SessionState, SkippedSession
from starlette_dynamo_session._core.tokens import digest
from starlette_dynamo_session._core.users import check_user_id, client_details

__all__ = ["regenerate_session", "session_key", "set_session_max_age", "session_state"]


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
    state = session_state(conn)
    if user_id is not None:
        agent, ip = client_details(conn.headers.get("user-agent"), None if conn.client is None else conn.client.host)
        state.bind = SessionUser(user_id, clock.now(), agent, ip)
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
    session_state(conn).max_age = max_age


def session_key(conn: HTTPConnection) -> str | None:
    """The stable public id of the request's stored session: the digest its item is keyed by, never the token.

    ``None`` when the request came without a stored session. Safe to show on a page. Raises ``RuntimeError`` when
    ``DynamoSessionMiddleware`` is not installed.
    """
    loaded = session_state(conn).loaded
    return None if loaded is None else digest(loaded.token)


def session_state(conn: HTTPConnection) -> SessionState:
    """The request's ``SessionState``. Raises ``RuntimeError`` on a path of ``skip_paths``, or when
    ``DynamoSessionMiddleware`` is not installed."""
    if isinstance(conn.scope.get("session"), SkippedSession):
        raise RuntimeError(SKIPPED)
    state = conn.scope.get(STATE_SCOPE_KEY)
    if not isinstance(state, SessionState):
        raise RuntimeError("DynamoSessionMiddleware must be installed to use this function")
    return state
