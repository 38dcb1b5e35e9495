"""DynamoSessionMiddleware: Starlette's SessionMiddleware, with the data in DynamoDB behind a signed token."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Literal

from starlette._utils import get_route_path  # how Starlette's routing strips root_path (private, in 0.35 to 1.x)
from starlette.datastructures import MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starlette_dynamo_session._core.events import SessionEvent, listening, notify, refusal
from starlette_dynamo_session._core.exceptions import SessionError
from starlette_dynamo_session._core.http import SessionHttp, refusal_response
from starlette_dynamo_session._core.lifecycle import SessionLifecycle
from starlette_dynamo_session._core.lifetimes import DEFAULT_MAX_AGE, Lifetime
from starlette_dynamo_session._core.records import MAX_LIFETIME, SessionStore
from starlette_dynamo_session._core.rotation import DEFAULT_ROTATION_GRACE, Rotation
from starlette_dynamo_session._core.session import LIFECYCLE_SCOPE_KEY, STATE_SCOPE_KEY, SkippedSession
from starlette_dynamo_session._core.tokens import TokenSigner, digest
from starlette_dynamo_session._keys import SecretKey, key_texts
from starlette_dynamo_session._legacy import CookieSessionReader

__all__ = ["DynamoSessionMiddleware"]

logger = logging.getLogger("starlette_dynamo_session")


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
    * **rotate_token_every** - *(optional)* seconds after which a session's token is replaced by a new one at its
      next request (data, lifetime and user binding kept; the response carries the new token). ``None`` (the
      default) never rotates.
    * **rotation_grace** - *(optional)* seconds during which a rotated token still opens the same session (requests
      in flight, other tabs); 30 by default. A rotated token presented later is a replay: the session ends for
      every holder and a ``"token_replayed"`` event is sent.

    Raises ``ValueError`` for an invalid cookie or header name, no secret key, a ``max_age`` beyond 100 years either
    way, an ``idle_timeout`` that is not positive or is beyond 100 years, a ``skip_paths`` entry that does not start
    with ``/``, a ``max_sessions_per_user`` below 1 or with a store that cannot list and revoke sessions, an
    empty ``import_cookie_sessions`` key, a ``rotate_token_every`` that is not a positive whole number or ``None``,
    or a ``rotation_grace`` that is not a whole number at least 0 and smaller than ``rotate_token_every``.
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
        rotate_token_every: int | None = None,
        rotation_grace: int = DEFAULT_ROTATION_GRACE,
    ) -> None:
        if max_age is not None and abs(max_age) > MAX_LIFETIME:
            raise ValueError(f"max_age must be at most 100 years ({MAX_LIFETIME} seconds) either way, or None")
        if idle_timeout is not None and not 0 < idle_timeout <= MAX_LIFETIME:
            raise ValueError(
                f"idle_timeout must be a positive number of seconds up to 100 years ({MAX_LIFETIME}), or None"
            )
        self.app = app
        self.http = SessionHttp(
            TokenSigner(key_texts(secret_key, "secret_key")),
            cookie=session_cookie,
            header=session_header,
            path=path,
            same_site=same_site,
            https_only=https_only,
            domain=domain,
            partitioned=partitioned,
            skip_paths=skip_paths,
        )
        self.lifecycle = SessionLifecycle(
            store,
            Lifetime(max_age, idle_timeout),
            max_sessions_per_user=max_sessions_per_user,
            record_client=record_client,
            rotation=Rotation(rotate_token_every, rotation_grace),
        )
        self.legacy = None if import_cookie_sessions is None else CookieSessionReader(import_cookie_sessions, max_age)
        self.on_event = on_event

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with listening(self.on_event):  # the events of this request go to on_event
            await self._call(scope, receive, send)

    async def _call(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self.http.skips(get_route_path(scope)):
            scope["session"] = SkippedSession()
            await self.app(scope, receive, send)
            return

        incoming = self.http.incoming(scope["headers"])
        # A cookie of Starlette's SessionMiddleware, signed with a key it was given: its data, to store anew.
        imported = None
        if incoming.token is None and incoming.signed and incoming.header is None and self.legacy is not None:
            imported = self.legacy.read(incoming.signed)
        try:
            state = await self.lifecycle.load(incoming.token)
        except SessionError as exc:
            await _refuse(scope, receive, send, exc, incoming.token)
            return
        if imported is not None:
            state.session.update(imported)
            state.imported = True
        scope["session"] = state.session
        scope[STATE_SCOPE_KEY] = state
        scope[LIFECYCLE_SCOPE_KEY] = self.lifecycle
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
                added = self.http.response_headers(outcome, incoming)
                if state.session.accessed or added:
                    for name in self.http.vary():
                        headers.add_vary_header(name)
                for name, value in added:
                    headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_wrapper)


async def _refuse(scope: Scope, receive: Receive, send: Send, exc: SessionError, token: str | None) -> None:
    """Answer a request whose session (under ``token``, if any) could not be loaded or saved, without touching the
    stored data, and tell the listeners why."""
    notify(refusal(exc, None if token is None else digest(token)))
    answer = refusal_response(exc)
    logger.error("%s: %s", answer.log, exc)
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": answer.websocket_code, "reason": "session store unavailable"})
        return
    await PlainTextResponse(answer.text, status_code=answer.status, headers=answer.headers)(scope, receive, send)
