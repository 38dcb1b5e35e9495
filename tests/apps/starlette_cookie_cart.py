"""The cart of an application before it moved to DynamoSessionMiddleware: Starlette's own cookie sessions.

    LEGACY_SESSION_SECRET_KEY=... python -m uvicorn tests.apps.starlette_cookie_cart:app --host 127.0.0.1 --port 8003

``GET /add?item=NAME`` puts one of ``NAME`` in the session's cart, in the demo's format (``{"item", "qty"}``), and
shows the cart as JSON. The browser test fills a cart here, then opens the demo, which imports the cookie.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def add(request: Request) -> JSONResponse:
    # A new list: Starlette's cookie sessions save only what is assigned, not a change inside a value.
    cart = [*request.session.get("cart", []), {"item": request.query_params["item"], "qty": 1}]
    request.session["cart"] = cart
    return JSONResponse(cart)


async def ready(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[Route("/", ready), Route("/add", add)],
    middleware=[Middleware(SessionMiddleware, secret_key=os.environ["LEGACY_SESSION_SECRET_KEY"])],
)
