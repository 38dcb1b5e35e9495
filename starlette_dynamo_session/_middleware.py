"""DynamoSessionMiddleware: Starlette's SessionMiddleware, with the data in DynamoDB behind a signed token."""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import anyio.to_thread
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starlette_dynamo_session._exceptions import SessionConflict, SessionError, SessionTooLarge, StoreUnavailable
from starlette_dynamo_session._session import (
    STATE_SCOPE_KEY,
    Changes,
    Session,
    decode_payload,
    dumps,
    encode_payload,
    session_text,
)
from starlette_dynamo_session._signing import SecretKey, TokenSigner, new_token
from starlette_dynamo_session._store import DynamoStore, StoredSession

__all__ = ["DynamoSessionMiddleware"]

logger = logging.getLogger("starlette_dynamo_session")

T = TypeVar("T")

DEFAULT_MAX_AGE = 14 * 24 * 60 * 60  # 14 days, in seconds
# How long the server keeps a session that has neither max_age nor idle_timeout, after its last write.
BROWSER_SESSION_LIFETIME = 14 * 24 * 60 * 60  # 14 days, in seconds
# An idle deadline is pushed back only once it would move by at least this fraction of idle_timeout, so an
# active session costs at most one refresh write per tenth of its idle window.
IDLE_REFRESH_FRACTION = 0.1
RETRY_AFTER_SECONDS = 5
# Conflicting writes on one session are retried this many times, after a random pause of up to
# CONFLICT_BACKOFF * 2**attempt seconds (capped at CONFLICT_BACKOFF_CAP).
MAX_COMMIT_ATTEMPTS = 40
CONFLICT_BACKOFF = 0.002
CONFLICT_BACKOFF_CAP = 0.2

_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_EXPIRED = "expires=Thu, 01 Jan 1970 00:00:00 GMT"


@dataclass(slots=True)
class _RequestState:
    """What the middleware knows about one request's session, from loading it to saving it."""

    session: Session
    token: str | None = None  # the token of the stored session this request loaded, if any
    stored: StoredSession | None = None
    created: float = 0.0
    initial: str = "{}"
    regenerate: bool = False


class DynamoSessionMiddleware:
    """Server-side sessions for Starlette and FastAPI: ``request.session`` lives in DynamoDB, the cookie holds only a
    signed, random token.

    A drop-in for ``starlette.middleware.sessions.SessionMiddleware``: the same keywords mean the same thing.

    Parameters:

    * **store** - the ``DynamoStore`` that holds the sessions.
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
        store: DynamoStore,
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
        self.store = store
        self.signer = TokenSigner(secret_key)
        self.session_cookie = session_cookie
        self.max_age = max_age
        self.idle_timeout = idle_timeout
        self.path = path
        flags = ["httponly", f"samesite={same_site}"]
        if https_only:  # the Secure flag only works over HTTPS
            flags.append("secure")
        if domain is not None:
            flags.append(f"domain={domain}")
        if partitioned:
            flags.append("partitioned")
        self.security_flags = "; ".join(flags)
        # Our own limiter, as large as the client's connection pool: session I/O neither waits for connections
        # nor takes the threads that the application's own sync endpoints run in.
        self.limiter = anyio.CapacityLimiter(store.max_pool_connections)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        state = _RequestState(session=Session())
        cookie = HTTPConnection(scope).cookies.get(self.session_cookie)
        token = None if cookie is None else self.signer.unsign(cookie)
        if token is not None:
            try:
                stored = await self._in_thread(self.store.load, token)
            except SessionError as exc:
                await self._refuse(scope, receive, send, exc)
                return
            self._adopt(state, token, stored)
        scope["session"] = state.session
        scope[STATE_SCOPE_KEY] = state

        replaced = False

        async def send_wrapper(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return
            if message["type"] == "http.response.start":
                try:
                    set_cookie = await self._persist(state)
                except SessionError as exc:
                    replaced = True
                    await self._refuse(scope, receive, send, exc)
                    return
                headers = MutableHeaders(scope=message)
                if state.session.accessed or set_cookie is not None:
                    headers.add_vary_header("Cookie")
                if set_cookie is not None:
                    headers.append("Set-Cookie", set_cookie)
            await send(message)

        await self.app(scope, receive, send_wrapper)

    def _adopt(self, state: _RequestState, token: str, stored: StoredSession | None) -> None:
        """Fill the request's session from what the store returned; unknown data means no session."""
        decoded = None if stored is None else decode_payload(stored.data)
        if stored is None or decoded is None:
            return
        state.token, state.stored = token, stored
        state.created, data = decoded
        state.session.update(data)
        state.initial = session_text(stored.data, data)

    async def _persist(self, state: _RequestState) -> str | None:
        """Save, delete or refresh the session as the request left it; return the ``Set-Cookie`` value, if any."""
        session = state.session
        current = dumps(session) if session or state.token is not None else "{}"
        now = time.time()
        if state.regenerate and state.token is not None and current != "{}":
            return await self._write(state, current, now, new_token())
        if current == state.initial:
            if state.token is not None and state.stored is not None and self._idle_deadline_is_stale(state, now):
                await self._in_thread(self._refresh, state.token, state.stored, state.created, now)
            return None
        if current == "{}":  # a stored session was cleared: destroy it
            assert state.token is not None  # noqa: S101 - an unchanged empty session returned above
            await self._in_thread(self.store.delete, state.token)
            return self._expired_cookie()
        return await self._write(state, current, now, new_token() if state.token is None else state.token)

    async def _write(self, state: _RequestState, current: str, now: float, token: str) -> str:
        """Store the changed session under ``token`` and return its cookie, or an expired one if it was destroyed
        meanwhile."""
        created = now if state.stored is None else state.created
        expiry = self._expiry(created, now)
        if expiry > now:
            saved = await self._in_thread(self._commit, state, token, current, created, expiry)
            if not saved:
                return self._expired_cookie()
        parts = [f"{self.session_cookie}={self.signer.sign(token)}", f"path={self.path}"]
        if self.max_age is not None:
            parts.append(f"Max-Age={self.max_age - int(now - created)}")
        parts.append(self.security_flags)
        return "; ".join(parts)

    def _commit(self, state: _RequestState, token: str, current: str, created: float, expiry: float) -> bool:
        """Write the session conditionally on the version that was loaded; on a conflict, re-read, apply this
        request's own changes on top and try again. Return ``False`` when the session was destroyed meanwhile."""
        version = None if state.stored is None else state.stored.version
        previous_token = state.token if token != state.token else None
        changes: Changes | None = None
        for attempt in range(MAX_COMMIT_ATTEMPTS):
            data = encode_payload(created, current)
            try:
                self.store.commit(token, data, _moment(expiry), version=version, previous_token=previous_token)
                return True
            except SessionConflict:
                if state.token is None:
                    raise  # a brand-new random token cannot collide: this is not a race to merge
            time.sleep(random.uniform(0, min(CONFLICT_BACKOFF_CAP, CONFLICT_BACKOFF * 2**attempt)))  # noqa: S311
            fresh = self.store.load(state.token)
            decoded = None if fresh is None else decode_payload(fresh.data)
            if fresh is None or decoded is None:
                return False
            if changes is None:
                changes = Changes.between(json.loads(state.initial), state.session)
            created, fresh_session = decoded
            current = dumps(changes.apply_to(fresh_session))
            version = fresh.version
        raise StoreUnavailable(f"gave up saving a session after {MAX_COMMIT_ATTEMPTS} conflicting writes")

    def _idle_deadline_is_stale(self, state: _RequestState, now: float) -> bool:
        if self.idle_timeout is None or state.stored is None:
            return False
        deadline = self._expiry(state.created, now)
        return deadline - state.stored.expiry.timestamp() >= self.idle_timeout * IDLE_REFRESH_FRACTION

    def _refresh(self, token: str, stored: StoredSession, created: float, now: float) -> None:
        """Push the idle deadline back; a conflict means a concurrent write already did."""
        with contextlib.suppress(SessionConflict):
            self.store.commit(token, stored.data, _moment(self._expiry(created, now)), version=stored.version)

    def _expiry(self, created: float, now: float) -> float:
        """When the server stops honouring the session: the earliest of its absolute and idle deadlines."""
        deadlines = []
        if self.max_age is not None:
            deadlines.append(created + self.max_age)
        if self.idle_timeout is not None:
            deadlines.append(now + self.idle_timeout)
        return min(deadlines) if deadlines else now + BROWSER_SESSION_LIFETIME

    def _expired_cookie(self) -> str:
        return "; ".join([f"{self.session_cookie}=", f"path={self.path}", _EXPIRED, "Max-Age=0", self.security_flags])

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(function, *args, limiter=self.limiter)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, exc: SessionError) -> None:
        """Answer a request whose session could not be loaded or saved, without touching the stored data."""
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
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1013, "reason": "session store unavailable"})
        else:
            await response(scope, receive, send)


def _moment(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, UTC)
