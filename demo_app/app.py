"""The demo application: sign in, a visit counter, a cart, and the DynamoDB item behind the session."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from botocore.exceptions import BotoCoreError, ClientError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Secret
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from demo_app import pages
from demo_app.account import Account
from demo_app.devices import MAX_DEVICES, SIGNED_OUT_NOTICE, Devices
from starlette_dynamo_session import (
    MAX_ITEM_BYTES,
    DynamoSessionMiddleware,
    DynamoStore,
    SessionError,
    flash,
    get_flashed_messages,
    item_size,
    mark_authenticated,
    regenerate_session,
    session_key,
    set_session_max_age,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

__all__ = ["create_app"]

DEFAULT_MAX_AGE = 14 * 24 * 60 * 60  # 14 days, in seconds
REMEMBER_ME = 30 * 24 * 60 * 60  # 30 days, in seconds
# Routes that never use the session: a request there costs no DynamoDB call, even with a session cookie.
SKIP_PATHS = ["/style.css", "/healthz"]
MAX_NAME_LENGTH = 40  # characters
MAX_ITEM_NAME_LENGTH = 60  # characters
MAX_CART_LINES = 50
MAX_FORM_BYTES = 4096

# Every page is private to one session: never cached, never framed, and no script runs at all.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src data:; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def create_app(
    store: DynamoStore,
    *,
    secret_key: str | Secret | Sequence[str | Secret],
    session_cookie: str = "session",
    max_age: int | None = DEFAULT_MAX_AGE,
    https_only: bool = False,
    import_cookie_sessions: str | Sequence[str] | None = None,
) -> Starlette:
    """The demo app, with its sessions in ``store`` behind ``DynamoSessionMiddleware``.

    ``secret_key``, ``session_cookie``, ``max_age``, ``https_only`` and ``import_cookie_sessions`` (the key of a
    Starlette ``SessionMiddleware`` whose cookies move into the store) go to the middleware unchanged.
    """
    demo = _Demo(store, session_cookie)
    devices = Devices(store, page=_page, form=_form)
    account = Account(page=_page, form=_form)
    routes = [
        Route("/", demo.home),
        Route("/sign-in", demo.sign_in, methods=["POST"]),
        Route("/sign-out", demo.sign_out, methods=["POST"]),
        Route("/counter", demo.counter),
        Route("/cart", demo.cart),
        Route("/cart/add", demo.add_to_cart, methods=["POST"]),
        Route("/cart/remove", demo.remove_from_cart, methods=["POST"]),
        Route("/session", demo.session_item),
        Route("/sessions", devices.sessions),
        Route("/sessions/sign-out", devices.sign_out_one, methods=["POST"]),
        Route("/sessions/sign-out-others", devices.sign_out_others, methods=["POST"]),
        Route("/account/password", account.password),
        Route("/account/password", account.change_password, methods=["POST"]),
        Route("/account/confirm", account.confirm),
        Route("/account/confirm", account.reauthenticate, methods=["POST"]),
        Route("/healthz", demo.healthz),
        Route("/style.css", demo.stylesheet),
    ]
    middleware = [
        Middleware(
            DynamoSessionMiddleware,
            store=store,
            secret_key=secret_key,
            session_cookie=session_cookie,
            max_age=max_age,
            https_only=https_only,
            import_cookie_sessions=import_cookie_sessions,
            skip_paths=SKIP_PATHS,
            max_sessions_per_user=MAX_DEVICES,
        )
    ]
    return Starlette(routes=routes, middleware=middleware)


class _Demo:
    """The endpoints. The session holds ``user`` (a name), ``visits`` (a number) and ``cart`` (a list of
    ``{"item": name, "qty": n}``)."""

    def __init__(self, store: DynamoStore, session_cookie: str) -> None:
        self.store = store
        self.session_cookie = session_cookie

    async def home(self, request: Request) -> Response:
        return _page(_home(request, notice=" ".join(get_flashed_messages(request)) or None))

    async def sign_in(self, request: Request) -> Response:
        form = await _form(request)
        name = " ".join(form.get("name", "").split())
        if not name or len(name) > MAX_NAME_LENGTH:
            error = f"Please enter a name of 1 to {MAX_NAME_LENGTH} characters."
            return _page(_home(request, error=error), status_code=400)
        # A new token on sign-in (a token planted before is worth nothing after), bound to the user: the demo has no
        # passwords, so a name is the user id, and everyone who signs in with the same name shares the sessions page.
        regenerate_session(request, user_id=name)
        # "Remember me": a cookie that lasts 30 days; otherwise one the browser forgets when it closes.
        set_session_max_age(request, REMEMBER_ME if form.get("remember") == "on" else None)
        request.session["user"] = name
        mark_authenticated(request)  # when the user last proved who they are: "Change password" asks for a recent one
        flash(request, f"Welcome, {name}: this session now has a new token, bound to you.")
        return RedirectResponse("/", status_code=303)

    async def sign_out(self, request: Request) -> Response:
        request.session.clear()  # the signed-in session is deleted from DynamoDB, its binding with it
        flash(request, SIGNED_OUT_NOTICE)  # a new session carries the message; reading it on the next page ends it
        return RedirectResponse("/", status_code=303)

    async def counter(self, request: Request) -> Response:
        visits = _visits(request) + 1
        request.session["visits"] = visits
        return _page(pages.counter(user=_user(request), visits=visits))

    async def cart(self, request: Request) -> Response:
        return _page(pages.cart(user=_user(request), lines=_cart_lines(request), error=None))

    async def add_to_cart(self, request: Request) -> Response:
        item = " ".join((await _form(request)).get("item", "").split())
        if not item or len(item) > MAX_ITEM_NAME_LENGTH:
            return self._cart_error(request, f"Please enter an item of 1 to {MAX_ITEM_NAME_LENGTH} characters.")
        cart = _cart(request)
        line = next((line for line in cart if str(line["item"]).casefold() == item.casefold()), None)
        if line is not None:
            line["qty"] += 1  # a change nested inside the session: the middleware still sees it
        elif len(cart) < MAX_CART_LINES:
            cart.append({"item": item, "qty": 1})
        else:
            return self._cart_error(request, f"The cart holds at most {MAX_CART_LINES} different items.")
        return RedirectResponse("/cart", status_code=303)

    async def remove_from_cart(self, request: Request) -> Response:
        index = (await _form(request)).get("index", "")
        cart = _cart(request)
        if index.isdigit() and int(index) < len(cart):
            del cart[int(index)]
        if not cart:
            request.session.pop("cart", None)
        return RedirectResponse("/cart", status_code=303)

    def _cart_error(self, request: Request, error: str) -> Response:
        return _page(pages.cart(user=_user(request), lines=_cart_lines(request), error=error), status_code=400)

    async def session_item(self, request: Request) -> Response:
        key = session_key(request)  # the digest the item is keyed by; None when the cookie opened no stored session
        user = _user(request)
        table = self.store.table_name
        if key is None:
            missing = (
                "Your browser has no session yet: count a visit, fill the cart or sign in to start one."
                if self.session_cookie not in request.cookies
                else "Your session cookie opens no session: it is not signed with this server's key, or its session "
                "was destroyed, has expired or was never saved."
            )
            return _page(pages.session_item(user=user, table=table, item=None, missing=missing))
        try:
            item = await run_in_threadpool(self._read_item, key)
        except (BotoCoreError, ClientError) as exc:
            return PlainTextResponse(f"DynamoDB could not be read: {exc}", status_code=503)
        if item is None:
            missing = "There is no item for your session any more: it was destroyed a moment ago."
            return _page(pages.session_item(user=user, table=table, item=None, missing=missing))
        opened = json.dumps(dict(request.session), separators=(",", ":"), ensure_ascii=False)
        view = self._describe(item, opened)
        return _page(pages.session_item(user=user, table=table, item=view, missing=""))

    async def healthz(self, request: Request) -> Response:
        try:
            await run_in_threadpool(self.store.ping)
        except SessionError as exc:
            return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def stylesheet(self, request: Request) -> Response:
        return Response(pages.STYLESHEET, media_type="text/css", headers={"Cache-Control": "no-cache"})

    def _read_item(self, key: str) -> dict[str, AttributeValueTypeDef] | None:
        """The item stored under ``key`` (the session's digest), as DynamoDB returns it (a strongly consistent
        read)."""
        response = self.store.client.get_item(
            TableName=self.store.table_name, Key={self.store.token_name: {"S": key}}, ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else dict(item)

    def _describe(self, item: dict[str, AttributeValueTypeDef], opened: str) -> pages.ItemView:
        """The page's view of a raw item: one row per attribute, known ones first, with what each means; ``opened``
        is the session it holds, as the application reads it."""
        store = self.store
        hints = {
            store.token_name: "partition key: SHA-256 digest of the token in your cookie, base64url",
            store.created_name: "when the session was first saved, epoch seconds",
            store.expiry_name: "exact expiry, epoch seconds",
            store.ttl_name: "DynamoDB's TTL attribute: the table deletes the item some time after this",
            store.version_name: "1 on the first write, one more on every write; conditional writes compare it",
            store.data_name: (
                "the session, sealed under the token in your cookie: nonce, ciphertext and tag, shown below"
                if store.seal_data
                else "the session itself as UTF-8 JSON, shown below"
            ),
        }
        order = [
            store.token_name,
            store.created_name,
            store.expiry_name,
            store.ttl_name,
            store.version_name,
            store.data_name,
        ]
        moments = (store.created_name, store.expiry_name, store.ttl_name)
        names = [name for name in order if name in item] + sorted(item.keys() - set(order))
        rows = []
        for name in names:
            kind, value = next(iter(item[name].items()))
            hint = hints.get(name, "")
            if isinstance(value, bytes | bytearray):
                text = f"{len(value):,} bytes"
            else:
                text = str(value)
                moment = _moment(text) if kind == "N" and name in moments else None
                if moment is not None:
                    hint = f"{moment:%Y-%m-%d %H:%M:%S} UTC: {hint}"
            rows.append(pages.ItemRow(name=name, type=kind, value=text, hint=hint))
        data = item.get(store.data_name, {}).get("B", b"")
        expiry = _moment(str(item.get(store.expiry_name, {}).get("N", "0")))
        if expiry is not None and expiry > datetime.now(UTC):
            status = f"Live until {expiry:%Y-%m-%d %H:%M:%S} UTC."
        else:
            status = "Expired: the store ignores this item until DynamoDB deletes it."
        return pages.ItemView(
            rows=rows,
            size=item_size(item),
            max_size=MAX_ITEM_BYTES,
            data=base64.b64encode(data).decode("ascii") if store.seal_data else bytes(data).decode("utf-8", "replace"),
            status=status,
            sealed=store.seal_data,
            opened=opened,
        )


def _page(html: str, *, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def _home(request: Request, *, notice: str | None = None, error: str | None = None) -> str:
    return pages.home(
        user=_user(request),
        visits=_visits(request),
        lines=_cart_lines(request),
        keys=len(request.session),
        notice=notice,
        error=error,
    )


async def _form(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded form body (the first value of each); 413 when the body is too large."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(status_code=413)
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    except ValueError as exc:
        raise HTTPException(status_code=400) from exc
    return {name: values[0] for name, values in fields.items()}


def _user(request: Request) -> str | None:
    user = request.session.get("user")
    return user if isinstance(user, str) else None


def _visits(request: Request) -> int:
    visits = request.session.get("visits")
    return visits if isinstance(visits, int) else 0


def _cart(request: Request) -> list[dict[str, Any]]:
    """The cart inside the session, created when missing; changing it changes the session."""
    cart = request.session.get("cart")
    if not isinstance(cart, list):
        cart = request.session["cart"] = []
    return cart


def _cart_lines(request: Request) -> list[pages.CartLine]:
    cart = request.session.get("cart")
    if not isinstance(cart, list):
        return []
    return [pages.CartLine(name=str(line["item"]), quantity=int(line["qty"])) for line in cart]


def _moment(number: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(Decimal(number)), UTC)
    except (InvalidOperation, ValueError, OverflowError, OSError):
        return None
