"""The demo's "Change password" page: a sensitive action behind a recent authentication ("sudo mode"), with the
re-authentication step it asks for when the last one is older than five minutes, and the other devices' sessions
ended once the password changed.

The demo keeps no passwords (anyone signs in with a name), so its re-authentication asks for the name again and the
new password is checked but not kept: what a real application does around them, with the session, is all here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from html import escape

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from demo_app import pages
from starlette_dynamo_session import (
    end_other_sessions,
    flash,
    get_flashed_messages,
    mark_authenticated,
    regenerate_session,
    require_authentication as required,
)

__all__ = ["MIN_PASSWORD_LENGTH", "REAUTHENTICATE_AFTER", "Account"]

REAUTHENTICATE_AFTER = 300  # seconds: an authentication older than this asks for a new one before a password change
MIN_PASSWORD_LENGTH = 8  # characters
MAX_PASSWORD_LENGTH = 128  # characters

Page = Callable[..., HTMLResponse]
Form = Callable[[Request], Awaitable[dict[str, str]]]

recent_authentication = required(max_age=REAUTHENTICATE_AFTER)


class Account:
    """The endpoints of "Change password" and of its re-authentication step; ``page`` wraps HTML in the demo's
    response headers (``status_code=`` too) and ``form`` reads a posted form."""

    def __init__(self, *, page: Page, form: Form) -> None:
        self.page = page
        self.form = form

    async def password(self, request: Request) -> Response:
        """The change-password form, once the user authenticated in the last five minutes; the re-authentication
        step otherwise."""
        user = _user(request)
        if user is None:
            return RedirectResponse("/", status_code=303)
        if not _recently_authenticated(request):
            return RedirectResponse("/account/confirm", status_code=303)
        notice = " ".join(get_flashed_messages(request)) or None
        return self.page(password_page(user=user, notice=notice, error=None))

    async def change_password(self, request: Request) -> Response:
        """Change the password: every other session of the user ends, and this one gets a new token."""
        user = _user(request)
        form = await self.form(request)
        if user is None:
            return RedirectResponse("/", status_code=303)
        if not _recently_authenticated(request):  # the form sat open for more than five minutes
            return RedirectResponse("/account/confirm", status_code=303)
        error = _password_error(form.get("password", ""), form.get("again", ""))
        if error is not None:
            return self.page(password_page(user=user, notice=None, error=error), status_code=400)
        ended = await end_other_sessions(request)
        others = "1 other session" if ended == 1 else f"{ended} other sessions"
        flash(request, f"Password changed: {others} signed out, and this one has a new token.")
        return RedirectResponse("/sessions", status_code=303)

    async def confirm(self, request: Request) -> Response:
        """The re-authentication step."""
        user = _user(request)
        if user is None:
            return RedirectResponse("/", status_code=303)
        return self.page(confirm_page(user=user, error=None))

    async def reauthenticate(self, request: Request) -> Response:
        """Check the credential again (the demo's: the name) and record a new authentication."""
        user = _user(request)
        form = await self.form(request)
        if user is None:
            return RedirectResponse("/", status_code=303)
        if " ".join(form.get("name", "").split()) != user:
            error = "That is not the name you signed in with."
            return self.page(confirm_page(user=user, error=error), status_code=400)
        regenerate_session(request)  # a new token on every authentication, re-authentication included
        mark_authenticated(request)
        flash(request, "Thanks: you can change your password for the next five minutes.")
        return RedirectResponse("/account/password", status_code=303)


def password_page(*, user: str, notice: str | None, error: str | None) -> str:
    """The change-password form."""
    body = f"""{pages.banner(notice, error)}<h1>Change password</h1>
<p class="lead">Changing your password signs out every other device of <strong>{escape(user)}</strong>, and gives
this one a new token. The demo keeps no passwords: it checks the new one and forgets it.</p>
<div class="card">
<form class="inline" method="post" action="/account/password">
<label>New password <input type="password" name="password" minlength="{MIN_PASSWORD_LENGTH}"
maxlength="{MAX_PASSWORD_LENGTH}" required autocomplete="new-password"></label>
<label>New password again <input type="password" name="again" minlength="{MIN_PASSWORD_LENGTH}"
maxlength="{MAX_PASSWORD_LENGTH}" required autocomplete="new-password"></label>
<button type="submit">Change password</button>
</form>
</div>"""
    return pages.layout("Change password", body, path="/account/password", user=user)


def confirm_page(*, user: str, error: str | None) -> str:
    """The re-authentication step."""
    body = f"""{pages.banner(None, error)}<h1>Confirm it's you</h1>
<p class="lead">Your last sign-in was more than five minutes ago. Before a password change, sign in again: the demo
asks for your name, where an application asks for your password.</p>
<div class="card">
<form class="inline" method="post" action="/account/confirm">
<label>Your name <input type="text" name="name" maxlength="40" required autofocus autocomplete="off"></label>
<button type="submit">Confirm</button>
</form>
</div>"""
    return pages.layout("Confirm it's you", body, path="/account/confirm", user=user)


def _recently_authenticated(request: Request) -> bool:
    try:
        recent_authentication(request)
    except HTTPException:
        return False
    return True


def _password_error(password: str, again: str) -> str | None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        return f"Choose a password of {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters."
    if password != again:
        return "The two passwords differ."
    return None


def _user(request: Request) -> str | None:
    user = request.session.get("user")
    return user if isinstance(user, str) else None
