"""The ASGI apps the benchmark serves: one app, five routes, behind each session middleware under test.

``create_app`` is a uvicorn factory (``uvicorn --factory bench.apps:create_app``) configured by environment variables,
so that each variant runs in its own server process:

* ``BENCH_VARIANT`` - ``bare`` (no session middleware), ``cookie`` (Starlette's ``SessionMiddleware``),
  ``starsessions`` (starsessions with its ``InMemoryStore``) or ``dynamo`` (``DynamoSessionMiddleware``).
* ``BENCH_TABLE`` - the DynamoDB table (``dynamo``); the endpoint comes from ``AWS_ENDPOINT_URL_DYNAMODB``.
* ``BENCH_SESSION_BYTES`` - the size of the session the ``/write`` route creates (default 1024).
* ``BENCH_STORE_DELAY`` - seconds added to every DynamoDB request, in the worker thread (default 0).
* ``BENCH_IDLE_TIMEOUT`` - ``idle_timeout`` of ``DynamoSessionMiddleware`` (default: none).
* ``BENCH_POOL`` - the store's ``max_pool_connections``, which is also the middleware's thread limit (default: the
  store's default, 32).
* ``BENCH_SWITCH_INTERVAL`` - ``sys.setswitchinterval`` for the server process, in seconds (default: Python's 0.005).

Routes: ``/anon`` (does not touch the session), ``/read`` (reads it), ``/write`` (creates it: sent without a cookie),
``/change`` (changes one key), ``/clear`` (empties it), and ``/_ops``: how many store operations the server made so
far, by name (DynamoDB operations counted on the boto3 Session's ``before-send.dynamodb`` event; starsessions store
calls counted by wrapping its store's ``read``/``write``/``remove``).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import boto3
from botocore.config import Config
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starsessions import InMemoryStore, SessionAutoloadMiddleware, SessionMiddleware as StarSessionMiddleware

from starlette_dynamo_session import DynamoSessionMiddleware, DynamoStore

VARIANTS = ("bare", "cookie", "starsessions", "dynamo")
SECRET_KEY = "bench-secret-key"  # noqa: S105 - a benchmark's fixed key, not a secret
DEFAULT_TABLE = "bench-sessions"
DEFAULT_SESSION_BYTES = 1024
SESSION_LIFETIME = 14 * 24 * 60 * 60  # seconds, as every middleware's default cookie lifetime


class OperationCounter:
    """Counts operations by name, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def add(self, name: str) -> None:
        with self._lock:
            self.counts[name] = self.counts.get(name, 0) + 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def on_dynamodb_request(self, request: Any, **_: Any) -> None:
        """A ``before-send.dynamodb`` handler: counts the request by its operation (``X-Amz-Target``)."""
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else str(target)
        self.add(target.rpartition(".")[2])


class CountingStore(InMemoryStore):
    """starsessions' ``InMemoryStore``, counting its calls."""

    def __init__(self, counter: OperationCounter) -> None:
        super().__init__()
        self.counter = counter

    async def read(self, session_id: str, lifetime: int) -> bytes:
        self.counter.add("read")
        return await super().read(session_id, lifetime)

    async def write(self, session_id: str, data: bytes, lifetime: int, ttl: int) -> str:
        self.counter.add("write")
        return await super().write(session_id, data, lifetime, ttl)

    async def remove(self, session_id: str) -> None:
        self.counter.add("remove")
        await super().remove(session_id)


def delay_hook(seconds: float) -> Callable[..., None]:
    """A ``before-send.dynamodb`` handler that makes every DynamoDB request ``seconds`` slower, in its own thread."""

    def delay(**_: Any) -> None:
        time.sleep(seconds)

    return delay


def session_data(user: str, size: int) -> dict[str, Any]:
    """A session whose JSON text is about ``size`` bytes."""
    data: dict[str, Any] = {"user": user, "n": 0, "blob": ""}
    data["blob"] = "x" * max(0, size - len('{"user":"","n":0,"blob":""}') - len(user))
    return data


def make_routes(has_session: bool, session_bytes: int, counter: OperationCounter) -> list[Route]:
    """The five scenario routes and ``/_ops``; without a session middleware the routes do no session work."""
    serial = iter(range(1 << 62))

    async def anon(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def read(request: Request) -> Response:
        user = request.session.get("user") if has_session else None
        return JSONResponse({"user": user})

    async def write(request: Request) -> Response:
        if has_session:
            request.session.update(session_data(f"user-{next(serial)}", session_bytes))
        return JSONResponse({"user": None})

    async def change(request: Request) -> Response:
        if has_session:
            request.session["n"] = int(request.session.get("n", 0)) + 1
        return JSONResponse({"user": None})

    async def clear(request: Request) -> Response:
        if has_session:
            request.session.clear()
        return JSONResponse({"user": None})

    async def ops(request: Request) -> Response:
        return JSONResponse(counter.snapshot())

    handlers: dict[str, Callable[[Request], Awaitable[Response]]] = {
        "/anon": anon,
        "/read": read,
        "/write": write,
        "/change": change,
        "/clear": clear,
        "/_ops": ops,
    }
    return [Route(path, handler) for path, handler in handlers.items()]


def dynamo_store(
    counter: OperationCounter,
    table: str = DEFAULT_TABLE,
    delay: float = 0.0,
    session: boto3.Session | None = None,
    pool: int | None = None,
) -> DynamoStore:
    """A ``DynamoStore`` whose boto3 Session counts (and, with ``delay``, slows down) every DynamoDB request."""
    session = session if session is not None else boto3.Session()
    session.events.register("before-send.dynamodb", counter.on_dynamodb_request)
    if delay > 0:
        session.events.register("before-send.dynamodb", delay_hook(delay))
    config = Config(max_pool_connections=pool) if pool else None
    return DynamoStore(session, table_name=table, config=config)


def build_app(
    variant: str,
    *,
    table: str = DEFAULT_TABLE,
    session_bytes: int = DEFAULT_SESSION_BYTES,
    delay: float = 0.0,
    idle_timeout: int | None = None,
    counter: OperationCounter | None = None,
    store: DynamoStore | None = None,
    pool: int | None = None,
) -> Starlette:
    """The app of one variant. Raises ``ValueError`` for an unknown variant."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}: pick one of {', '.join(VARIANTS)}")
    counter = counter if counter is not None else OperationCounter()
    middleware: list[Middleware] = []
    if variant == "cookie":
        middleware = [Middleware(SessionMiddleware, secret_key=SECRET_KEY, max_age=SESSION_LIFETIME)]
    elif variant == "starsessions":
        middleware = [
            Middleware(
                StarSessionMiddleware, store=CountingStore(counter), lifetime=SESSION_LIFETIME, cookie_https_only=False
            ),
            Middleware(SessionAutoloadMiddleware),
        ]
    elif variant == "dynamo":
        store = store if store is not None else dynamo_store(counter, table, delay, pool=pool)
        middleware = [
            Middleware(
                DynamoSessionMiddleware,
                store=store,
                secret_key=SECRET_KEY,
                max_age=SESSION_LIFETIME,
                idle_timeout=idle_timeout,
            )
        ]
    return Starlette(routes=make_routes(variant != "bare", session_bytes, counter), middleware=middleware)


def create_app() -> Starlette:
    """The app of the variant named by ``BENCH_VARIANT``, configured from the environment (see the module doc)."""
    idle = os.environ.get("BENCH_IDLE_TIMEOUT", "")
    pool = os.environ.get("BENCH_POOL", "")
    switch_interval = os.environ.get("BENCH_SWITCH_INTERVAL", "")
    if switch_interval:
        sys.setswitchinterval(float(switch_interval))
    return build_app(
        os.environ.get("BENCH_VARIANT", "bare"),
        table=os.environ.get("BENCH_TABLE", DEFAULT_TABLE),
        session_bytes=int(os.environ.get("BENCH_SESSION_BYTES", DEFAULT_SESSION_BYTES)),
        delay=float(os.environ.get("BENCH_STORE_DELAY", "0")),
        idle_timeout=int(idle) if idle else None,
        pool=int(pool) if pool else None,
    )
