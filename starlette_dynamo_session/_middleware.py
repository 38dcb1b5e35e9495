"""DynamoSessionMiddleware: Starlette's SessionMiddleware, with the data in DynamoDB behind a signed token."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Literal

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starlette_dynamo_session._base import SessionStore
from starlette_dynamo_session._exceptions import SessionError, SessionTooLarge
from starlette_dynamo_session._lifecycle import DEFAULT_MAX_AGE, Destroyed, Lifetime, Outcome, SessionLifecycle, Written
from starlette_dynamo_session._session import STATE_SCOPE_KEY
from starlette_dynamo_session._signing import SecretKey, TokenSigner

__all__ = ["DynamoSessionMiddleware"]

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

    Raises ``ValueError`` for an invalid cookie name, no secret key, or an ``idle_timeout`` that is not positive.
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
    ) -> None:
        if not _COOKIE_NAME.fullmatch(session_cookie):
            raise ValueError(f"invalid cookie name: {session_cookie!r}")
        if idle_timeout is not None and idle_timeout <= 0:
            raise ValueError("idle_timeout must be a positive number of seconds, or None")
        self.app = app
        self.lifecycle = SessionLifecycle(store, Lifetime(max_age, idle_timeout))
        self.signer = TokenSigner(secret_key)
        self.session_cookie = session_cookie
        self.path = path
        flags = ["httponly", f"samesite={same_site}"]
        if https_only:  # the Secure flag only works over HTTPS
            flags.append("secure")
        if domain is not None:
            flags.append(f"domain={domain}")
        if partitioned:
            flags.append("partitioned")
        self.security_flags = "; ".join(flags)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        cookie = HTTPConnection(scope).cookies.get(self.session_cookie)
        try:
            state = await self.lifecycle.load(None if cookie is None else self.signer.unsign(cookie))
        except SessionError as exc:
            await _refuse(scope, receive, send, exc)
            return
        scope["session"] = state.session
        scope[STATE_SCOPE_KEY] = state
        refused = False

        async def send_wrapper(message: Message) -> None:
            nonlocal refused
            if refused:
                return
            if message["type"] == "http.response.start":
                try:
                    outcome = await self.lifecycle.finish(state)  # stored before the response starts
                except SessionError as exc:
                    refused = True
                    await _refuse(scope, receive, send, exc)
                    return
                set_cookie = self._set_cookie(outcome)
                headers = MutableHeaders(scope=message)
                if state.session.accessed or set_cookie is not None:
                    headers.add_vary_header("Cookie")
                if set_cookie is not None:
                    headers.append("Set-Cookie", set_cookie)
            await send(message)

        await self.app(scope, receive, send_wrapper)

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


async def _refuse(scope: Scope, receive: Receive, send: Send, exc: SessionError) -> None:
    """Answer a request whose session could not be loaded or saved, without touching the stored data."""
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
