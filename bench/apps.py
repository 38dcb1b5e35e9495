"""The app every variant serves, ``create_app``: a uvicorn factory configured by environment variables.

* ``BENCH_VARIANT``: ``bare`` (no session middleware), ``cookie`` (Starlette's ``SessionMiddleware``),
  ``starsessions`` (with its ``InMemoryStore``), ``dynamo`` (``DynamoSessionMiddleware`` on
  ``transport="botocore"``) or ``dynamo-auto`` (the same on the default transport, ``"auto"``: aiohttp under
  uvicorn's asyncio loop); for the last two, ``BENCH_TABLE``, ``BENCH_POOL`` (``max_pool_connections``, if set) and
  ``BENCH_IDLE_TIMEOUT``. Their DynamoDB requests go to ``AWS_ENDPOINT_URL_DYNAMODB``: a ``harness.proxy`` that
  counts them (and may slow them down).
* Routes: ``/anon`` (no session), ``/read``, ``/write`` (a new session of ``SESSION_BYTES``), ``/change`` (one
  key), ``/clear``, ``/static`` (an asset, under the middleware's ``skip_paths``), ``/raw`` (the floor: one
  ``store.read`` of a seeded session, outside the middleware), ``/_ops``: starsessions' store calls so far, and
  ``/_limits``: each change of the default transport's in-flight limit so far, ``[time.monotonic(), limit]``, as
  the package logs them (DEBUG, ``in_flight_limit``), and ``/_gc``: each garbage collection so far,
  ``[time.monotonic() at its start, generation, seconds it held the process]``.
"""

from __future__ import annotations

import gc
import itertools
import logging
import os
import threading
import time
from typing import Literal

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

VARIANTS = ("bare", "cookie", "starsessions", "dynamo", "dynamo-auto")
TRANSPORTS: dict[str, Literal["botocore", "auto"]] = {
    "dynamo": "botocore",
    "dynamo-auto": "auto",
}  # the variants on DynamoDB, by transport
SECRET_KEY = "bench-secret-key"  # noqa: S105 - a benchmark's fixed key
SESSION_BYTES = 1024  # of JSON, in the session a first write creates
LIFETIME = 14 * 24 * 60 * 60  # seconds: every middleware's default
RAW_ITEMS = 256  # seeded sessions the raw floor cycles through


def raw_token(k: int) -> str:
    """The token of seeded session ``k % RAW_ITEMS``, which ``/raw`` reads."""
    return f"bench-raw-{k % RAW_ITEMS:04}"


class OperationCounter:
    """Store operations by name, counted from any thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def add(self, name: str) -> None:
        """Count one ``name`` operation."""
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1

    def snapshot(self) -> dict[str, int]:
        """The counts so far."""
        with self.lock:
            return dict(self.counts)


class CountingStore(InMemoryStore):
    """starsessions' ``InMemoryStore``, counting its calls."""

    def __init__(self, counter: OperationCounter) -> None:
        super().__init__()
        self.counter = counter

    async def read(self, session_id: str, lifetime: int) -> bytes:
        """Count, then read."""
        self.counter.add("read")
        return await super().read(session_id, lifetime)

    async def write(self, session_id: str, data: bytes, lifetime: int, ttl: int) -> str:
        """Count, then write."""
        self.counter.add("write")
        return await super().write(session_id, data, lifetime, ttl)

    async def remove(self, session_id: str) -> None:
        """Count, then remove."""
        self.counter.add("remove")
        await super().remove(session_id)


class CollectionLog:
    """The process's garbage collections, timed through ``gc.callbacks``: when each started (``time.monotonic()``),
    its generation, and how long it held the process (wall time: what a request arriving meanwhile waits)."""

    def __init__(self) -> None:
        self.collections: list[tuple[float, int, float]] = []
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        now = time.monotonic()
        if phase == "start":
            self._started = now
        else:
            self.collections.append((self._started, info["generation"], now - self._started))


class LimitLog(logging.Handler):
    """The in-flight limits the package logs, with the time each took effect."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.changes: list[tuple[float, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the limit of a record that carries one."""
        limit = getattr(record, "in_flight_limit", None)
        if isinstance(limit, int):
            self.changes.append((time.monotonic(), limit))


def dynamo_store(variant: str) -> DynamoStore:
    """The store of a DynamoDB variant, configured from the environment."""
    pool = os.environ.get("BENCH_POOL")
    config = Config(max_pool_connections=int(pool)) if pool else None
    return DynamoStore(
        boto3.Session(), table_name=os.environ["BENCH_TABLE"], config=config, transport=TRANSPORTS[variant]
    )


def session_middleware(variant: str, counter: OperationCounter, store: DynamoStore | None) -> list[Middleware]:
    """The middleware stack of ``variant``, configured from the environment."""
    if variant == "bare":
        return []
    if variant == "cookie":
        return [Middleware(SessionMiddleware, secret_key=SECRET_KEY, max_age=LIFETIME)]
    if variant == "starsessions":
        return [
            Middleware(StarSessionMiddleware, store=CountingStore(counter), lifetime=LIFETIME, cookie_https_only=False),
            Middleware(SessionAutoloadMiddleware),
        ]
    if store is not None:
        idle_timeout = int(os.environ["BENCH_IDLE_TIMEOUT"]) if os.environ.get("BENCH_IDLE_TIMEOUT") else None
        return [
            Middleware(
                DynamoSessionMiddleware,
                store=store,
                secret_key=SECRET_KEY,
                max_age=LIFETIME,
                idle_timeout=idle_timeout,
                skip_paths=["/static", "/raw"],
            )
        ]
    raise ValueError(f"unknown variant {variant!r}: pick one of {', '.join(VARIANTS)}")


def create_app() -> Starlette:
    """The app of the variant named by ``BENCH_VARIANT`` (see the module docstring)."""
    variant = os.environ.get("BENCH_VARIANT", "bare")
    counter = OperationCounter()
    store = dynamo_store(variant) if variant in TRANSPORTS else None
    limits = LimitLog()
    collections = CollectionLog()
    if variant in TRANSPORTS:
        package_logger = logging.getLogger("starlette_dynamo_session")
        package_logger.setLevel(logging.DEBUG)
        package_logger.addHandler(limits)
    raw_reads = itertools.count()
    has_session = variant != "bare"
    users = itertools.count()
    padding = "x" * (SESSION_BYTES - len('{"user":"user-000000","n":0,"blob":""}'))

    async def anon(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def read(request: Request) -> Response:
        return JSONResponse({"user": request.session.get("user") if has_session else None})

    async def write(request: Request) -> Response:
        if has_session:
            request.session.update(user=f"user-{next(users):06}", n=0, blob=padding)
        return JSONResponse({})

    async def change(request: Request) -> Response:
        if has_session:
            request.session["n"] = int(request.session.get("n", 0)) + 1
        return JSONResponse({})

    async def clear(request: Request) -> Response:
        if has_session:
            request.session.clear()
        return JSONResponse({})

    async def static(request: Request) -> Response:
        return PlainTextResponse("body { color: teal }", media_type="text/css")

    async def raw(request: Request) -> Response:
        found = store is not None and await store.read(raw_token(next(raw_reads))) is not None
        return PlainTextResponse("ok" if found else "not found", status_code=200 if found else 404)

    async def ops(request: Request) -> Response:
        return JSONResponse(counter.snapshot())

    async def limit_changes(request: Request) -> Response:
        return JSONResponse(limits.changes)

    async def garbage_collections(request: Request) -> Response:
        return JSONResponse(collections.collections)

    handlers = (anon, read, write, change, clear, static, raw)
    routes = [
        *(Route(f"/{handler.__name__}", handler) for handler in handlers),
        Route("/_ops", ops),
        Route("/_limits", limit_changes),
        Route("/_gc", garbage_collections),
    ]
    return Starlette(routes=routes, middleware=session_middleware(variant, counter, store))
