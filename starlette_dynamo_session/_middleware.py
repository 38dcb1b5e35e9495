"""DynamoSessionMiddleware: Starlette's SessionMiddleware, with the data in DynamoDB behind a signed token."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal

from starlette._utils import get_route_path  # how Starlette's routing strips root_path (private, in 0.35 to 1.x)
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starlette_dynamo_session._core.events import SessionEvent, listening, notify, refusal
from starlette_dynamo_session._core.exceptions import SessionError, SessionTooLarge
from starlette_dynamo_session._core.lifecycle import (
    DEFAULT_MAX_AGE,
    Destroyed,
    Lifetime,
    Outcome,
    SessionLifecycle,
    Written,
)
from starlette_dynamo_session._core.records import MAX_LIFETIME, SessionStore
from starlette_dynamo_session._core.session import STATE_SCOPE_KEY, SkippedSession
from starlette_dynamo_session._core.tokens import SecretKey, TokenSigner, digest
from starlette_dynamo_session._legacy import CookieSessionReader

__all__ = ["DynamoSessionMiddleware", "cookie_value"]

logger = logging.getLogger("starlette_dynamo_session")

RETRY_AFTER_SECONDS = 5

_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_EXPIRED = "expires=Thu, 01 Jan 1970 00:00:00 GMT"


class DynamoSessionMiddleware:
    """Server-side sessions for Starlette and FastAPI: ``request.session`` lives in DynamoDB, the cookie holds only a
    signed, random token.

    A drop-in for ``starlette.middleware.sessions.SessionMiddleware``: the same keywords mean the same thing.

    Parameters:

    * **store** - the ``DynamoStore`` (or any ``SessionStore``) that holds the sessions.
    * **secret_key** - a key, or a list of keys: the first signs cookies, all of them verify.
    * **session_cookie** - *(optional)* the cookie's name, ``"session"`` by default.
    * **max_age** - *(optional)* the session's absolute lifetime from its creation, in seconds; 14 days by
      default. ``None`` makes a browser-session cookie.
    * **idle_timeout** - *(optional)* seconds without a request after which the session ends.
    * **path**, **same_site**, **https_only**, **domain**, **partitioned** - *(optional)* cookie attributes.
    * **session_header** - *(optional)* a header name (``"X-Session-Token"``) for API clients: a request that
      sends it is served from its value, never from a cookie, and its response carries the current token in that
      header (empty when the session ended) instead of a ``Set-Cookie``.
    * **skip_paths** - *(optional)* path prefixes (``"/static"``) whose requests neither read nor write the store;
      ``request.session`` raises ``RuntimeError`` there. They are matched as Starlette's routes are, below the
      ``root_path`` (a ``Mount``'s, or ``uvicorn --root-path``'s).
    * **on_event** - *(optional)* a callable given a ``SessionEvent`` for each session created, regenerated,
      destroyed or found expired, each conflict merged, each store failure answered with 503 and each session too
      large to store; with the session's key, never its token or data. It runs in the event loop: keep it quick.
    * **max_sessions_per_user** - *(optional)* when binding a session (``regenerate_session(request,
      user_id=...)``) would give its user more sessions than this, the least recently used ones are revoked.
    * **import_cookie_sessions** - *(optional)* the secret key (or keys) the application gave Starlette's
      ``SessionMiddleware`` before: a request whose session cookie is one that middleware signed with one of them,
      within ``max_age`` (14 days when ``None``), has that cookie's data as its session, stored with one write under a
      new token whose cookie replaces the old one (an ``"imported"`` event). A cookie that verifies under none of them
      is an empty session, and costs no store call.
    * **record_client** - *(optional)* whether a bound session records the client's ``User-Agent`` (truncated)
      and IP address (the ASGI client address) when it is bound; ``True`` by default.

    Raises ``ValueError`` for an invalid cookie or header name, no secret key, a ``max_age`` beyond 100 years either
    way, an ``idle_timeout`` that is not positive or is beyond 100 years, a ``skip_paths`` entry that does not start
    with ``/``, a ``max_sessions_per_user`` below 1 or with a store that cannot list and revoke sessions, or an
    empty ``import_cookie_sessions`` key.
    """

    def __init__(
        self,
        app: ASGIApp,
        store: SessionStore,
        secret_key: SecretKey | Sequence[SecretKey],
        session_cookie: str = "session",
        max_age: int | None = DEFAULT_MAX_AGE,
        idle_timeout: int | None = None,
        path: str = "/",
        same_site: Literal["lax", "strict", "none"] = "lax",
        https_only: bool = False,
        domain: str | None = None,
        partitioned: bool = False,
        session_header: str | None = None,
        skip_paths: Sequence[str] = (),
        on_event: Callable[[SessionEvent], None] | None = None,
        max_sessions_per_user: int | None = None,
        record_client: bool = True,
        import_cookie_sessions: SecretKey | Sequence[SecretKey] | None = None,
    ) -> None:
        if not _COOKIE_NAME.fullmatch(session_cookie):
            raise ValueError(f"invalid cookie name: {session_cookie!r}")
        if session_header is not None and not _COOKIE_NAME.fullmatch(session_header):
            raise ValueError(f"invalid header name: {session_header!r}")
        if max_age is not None and abs(max_age) > MAX_LIFETIME:
            raise ValueError(f"max_age must be at most 100 years ({MAX_LIFETIME} seconds) either way, or None")
        if idle_timeout is not None and not 0 < idle_timeout <= MAX_LIFETIME:
            raise ValueError(
                f"idle_timeout must be a positive number of seconds up to 100 years ({MAX_LIFETIME}), or None"
            )
        if isinstance(skip_paths, str) or not all(prefix.startswith("/") for prefix in skip_paths):
            raise ValueError(f"skip_paths must be a list of path prefixes starting with '/', got {skip_paths!r}")
        self.app = app
        self.lifecycle = SessionLifecycle(
            store,
            Lifetime(max_age, idle_timeout),
            max_sessions_per_user=max_sessions_per_user,
            record_client=record_client,
        )
        self.signer = TokenSigner(secret_key)
        self.legacy = None if import_cookie_sessions is None else CookieSessionReader(import_cookie_sessions, max_age)
        self.session_cookie = session_cookie
        self.session_header = session_header
        self.skip_paths = tuple(prefix.rstrip("/") for prefix in skip_paths)
        self.path = path
        self.on_event = on_event
        flags = ["httponly", f"samesite={same_site}"]
        if https_only:  # the Secure flag only works over HTTPS
            flags.append("secure")
        if domain is not None:
            flags.append(f"domain={domain}")
        if partitioned:
            flags.append("partitioned")
        self.security_flags = "; ".join(flags)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with listening(self.on_event):  # the events of this request go to on_event
            await self._call(scope, receive, send)

    async def _call(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self._skips(get_route_path(scope)):
            scope["session"] = SkippedSession()
            await self.app(scope, receive, send)
            return

        connection = HTTPConnection(scope)
        # An API client's header, when it sends one (empty until it has a token), and never mixed with a cookie.
        sent = self.session_header is not None and self.session_header in connection.headers
        header = self.session_header if sent else None
        signed: str | None
        if header is not None:
            signed = connection.headers[header]
        else:
            signed = cookie_value("; ".join(connection.headers.getlist("cookie")), self.session_cookie)
        token = self.signer.unsign(signed) if signed else None
        # A cookie of Starlette's SessionMiddleware, signed with a key it was given: its data, to store anew.
        imported = None if token is not None or not signed or header is not None else self._import(signed)
        try:
            state = await self.lifecycle.load(token)
        except SessionError as exc:
            await _refuse(scope, receive, send, exc, token)
            return
        if imported is not None:
            state.session.update(imported)
            state.imported = True
        scope["session"] = state.session
        scope[STATE_SCOPE_KEY] = state
        refused = False

        async def send_wrapper(message: Message) -> None:
            nonlocal refused
            if refused:
                return
            if message["type"] == "http.response.start":
                try:
                    # What scope["session"] holds now is stored (a framework may have replaced it), before the
                    # response starts.
                    outcome = await self.lifecycle.finish(state, scope.get("session"))
                except SessionError as exc:
                    refused = True
                    await _refuse(scope, receive, send, exc, None if state.loaded is None else state.loaded.token)
                    return
                headers = MutableHeaders(scope=message)
                token_value = None if header is None else self._token_header(outcome)
                set_cookie = None if header is not None else self._set_cookie(outcome)
                if state.session.accessed or token_value is not None or set_cookie is not None:
                    headers.add_vary_header("Cookie")
                    if self.session_header is not None:
                        headers.add_vary_header(self.session_header)
                if header is not None and token_value is not None:
                    headers[header] = token_value
                if set_cookie is not None:
                    headers.append("Set-Cookie", set_cookie)
            await send(message)

        await self.app(scope, receive, send_wrapper)

    def _import(self, cookie: str) -> dict[str, Any] | None:
        """The session of a Starlette ``SessionMiddleware`` cookie, when ``import_cookie_sessions`` verifies it."""
        return None if self.legacy is None else self.legacy.read(cookie)

    def _skips(self, route_path: str) -> bool:
        """Whether a path, as Starlette's routing sees it (below the ``root_path`` of a ``Mount`` or of
        ``uvicorn --root-path``), is one of ``skip_paths`` or under one."""
        return any(route_path == prefix or route_path.startswith(prefix + "/") for prefix in self.skip_paths)

    def _token_header(self, outcome: Outcome) -> str | None:
        """The session header an outcome calls for: the new signed token, empty for an ended session, or none."""
        match outcome:
            case Written(token=token):
                return self.signer.sign(token)
            case Destroyed():
                return ""
            case _:
                return None

    def _set_cookie(self, outcome: Outcome) -> str | None:
        """The ``Set-Cookie`` value an outcome calls for: the new token, an expired cookie, or none."""
        match outcome:
            case Written(token=token, max_age=max_age):
                parts = [f"{self.session_cookie}={self.signer.sign(token)}", f"path={self.path}"]
                if max_age is not None:
                    parts.append(f"Max-Age={max_age}")
            case Destroyed():
                parts = [f"{self.session_cookie}=", f"path={self.path}", _EXPIRED, "Max-Age=0"]
            case _:
                return None
        return "; ".join([*parts, self.security_flags])


def cookie_value(cookie_header: str, name: str) -> str | None:
    """The value of the first cookie called ``name`` in a ``Cookie`` header, exactly as the client sent it, or
    ``None`` when there is none.

    Pairs are split on ``;`` and then on their first ``=``, and only spaces and tabs around names and values are
    dropped: nothing is unquoted or unescaped, so a cookie has one spelling only (``session="..."`` is not
    ``session=...``). Of several cookies of that name the first wins, as browsers send the one with the most
    specific path first (RFC 6265, section 5.4); Starlette's ``request.cookies`` keeps the last.
    """
    for pair in cookie_header.split(";"):
        key, equals, value = pair.partition("=")
        if equals and key.strip(" \t") == name:
            return value.strip(" \t")
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, exc: SessionError, token: str | None) -> None:
    """Answer a request whose session (under ``token``, if any) could not be loaded or saved, without touching the
    stored data, and tell the listeners why."""
    notify(refusal(exc, None if token is None else digest(token)))
    if scope["type"] == "websocket":
        logger.error("session store unavailable: %s", exc)
        await send({"type": "websocket.close", "code": 1013, "reason": "session store unavailable"})
        return
    if isinstance(exc, SessionTooLarge):
        logger.error("session not saved: %s", exc)
        response = PlainTextResponse("The session is too large to be saved.", status_code=500)
    else:
        logger.error("session store unavailable: %s", exc)
        response = PlainTextResponse(
            "Sessions are unavailable right now. Please retry shortly.",
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    await response(scope, receive, send)
