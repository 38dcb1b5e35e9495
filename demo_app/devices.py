"""The demo's "Your sessions" page: every session of the signed-in user, and signing any of them out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from demo_app import pages
from starlette_dynamo_session import DynamoStore, SessionInfo, flash, get_flashed_messages, session_key

__all__ = ["MAX_DEVICES", "SIGNED_OUT_NOTICE", "Devices", "sessions_page"]

MAX_DEVICES = 3  # the middleware's max_sessions_per_user: a fourth sign-in signs out the least recently used
SIGNED_OUT_NOTICE = "You are signed out: your session's item was deleted from DynamoDB."

Page = Callable[[str], HTMLResponse]
Form = Callable[[Request], Awaitable[dict[str, str]]]


class Devices:
    """The endpoints of the "Your sessions" page, over the demo's store; ``page`` wraps HTML in the demo's
    response headers and ``form`` reads a posted form."""

    def __init__(self, store: DynamoStore, *, page: Page, form: Form) -> None:
        self.store = store
        self.page = page
        self.form = form

    async def sessions(self, request: Request) -> Response:
        """Every live session of the signed-in user, this device marked."""
        user = _user(request)
        if user is None:
            return RedirectResponse("/", status_code=303)
        infos = await self.store.list_sessions(user)
        shown = " ".join(get_flashed_messages(request)) or None
        return self.page(sessions_page(user=user, infos=infos, current=session_key(request), notice=shown))

    async def sign_out_one(self, request: Request) -> Response:
        """Sign out one of the user's sessions (this device's too); a key that is not one of theirs does nothing."""
        user = _user(request)
        key = (await self.form(request)).get("key", "")
        if user is None:
            return RedirectResponse("/", status_code=303)
        if key == session_key(request):
            request.session.clear()  # this device: its item is deleted, its binding with it
            flash(request, SIGNED_OUT_NOTICE)
            return RedirectResponse("/", status_code=303)
        if key in {info.key for info in await self.store.list_sessions(user)}:  # only the user's own sessions
            await self.store.revoke(key)
            flash(request, "That session is signed out.")
        return RedirectResponse("/sessions", status_code=303)

    async def sign_out_others(self, request: Request) -> Response:
        """Sign out every session of the user except this one."""
        user = _user(request)
        if user is not None:
            await self.store.revoke_all(user, keep=session_key(request))
            flash(request, "Every other session is signed out.")
        return RedirectResponse("/sessions", status_code=303)


def sessions_page(*, user: str, infos: Sequence[SessionInfo], current: str | None, notice: str | None) -> str:
    """The "Your sessions" page."""
    rows = []
    for info in infos:
        this = info.key == current
        badge = ' <span class="badge" id="this-device">this device</span>' if this else ""
        label = "Sign out this device" if this else f"Sign out {_browser(info.user_agent)}"
        rows.append(
            f'<tr class="device"><td>{escape(_browser(info.user_agent))}{badge}'
            f'<span class="hint">{escape(info.user_agent or "not recorded")}</span></td>'
            f'<td data-label="IP address"><code>{escape(info.ip or "-")}</code></td>'
            f'<td data-label="Signed in">{_when(info.created)}</td>'
            f'<td data-label="Last seen">{_when(info.last_seen)}</td>'
            f'<td data-label="Last auth">{_authenticated(info)}</td>'
            '<td><form method="post" action="/sessions/sign-out">'
            f'<input type="hidden" name="key" value="{escape(info.key)}">'
            f'<button class="quiet" type="submit" aria-label="{escape(label)}">Sign out</button></form></td></tr>'
        )
    banner = f'<div class="notice" role="status">{escape(notice)}</div>' if notice else ""
    body = f"""{banner}<h1>Your sessions</h1>
<p class="lead">Everywhere <strong>{escape(user)}</strong> is signed in, most recently used first. At most
<strong id="max-devices">{MAX_DEVICES}</strong> devices: signing in on another signs out the least recently used.</p>
<div class="card list">
<table class="stack cards">
<thead><tr><th>Browser</th><th>IP address</th><th>Signed in</th><th>Last seen</th><th>Last authenticated</th><th></th>
</tr></thead>
<tbody>{"".join(rows)}</tbody>
</table>
</div>
<div class="actions"><form method="post" action="/sessions/sign-out-others">
<button class="danger" type="submit">Sign out everywhere else</button></form>
<a href="/account/password">Change password</a></div>"""
    return pages.layout("Your sessions", body, path="/sessions", user=user)


def _authenticated(info: SessionInfo) -> str:
    """When the session's user last authenticated on it, and at which level beyond the first."""
    if info.authenticated_at is None:
        return '<span class="muted">never</span>'
    level = "" if info.auth_level in (None, 1) else f" (level {info.auth_level})"
    return f"{_when(info.authenticated_at)}{level}"


def _browser(user_agent: str | None) -> str:
    """A short name for the browser a User-Agent header names."""
    if not user_agent:
        return "Unknown browser"
    for token, name in (("Edg/", "Edge"), ("Chrome/", "Chrome"), ("Firefox/", "Firefox"), ("Safari/", "Safari")):
        if token in user_agent:
            return name
    return user_agent.split("/")[0][:40] or "Unknown browser"


def _when(moment: datetime) -> str:
    return f'<time datetime="{moment.isoformat()}">{moment:%Y-%m-%d %H:%M:%S} UTC</time>'


def _user(request: Request) -> str | None:
    user = request.session.get("user")
    return user if isinstance(user, str) else None
