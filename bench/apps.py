"""The app every variant serves, ``create_app``: a uvicorn factory configured by environment variables.

* ``BENCH_VARIANT``: ``bare`` (no session middleware), ``cookie`` (Starlette's ``SessionMiddleware``),
  ``starsessions`` (with its ``InMemoryStore``) or ``dynamo`` (``DynamoSessionMiddleware``); for ``dynamo``,
  ``BENCH_TABLE``, ``BENCH_STORE_DELAY`` (seconds added to every DynamoDB request) and ``BENCH_IDLE_TIMEOUT``.
* Routes: ``/anon`` (no session), ``/read``, ``/write`` (a new session of ``SESSION_BYTES``), ``/change`` (one
  key), ``/clear``, ``/static`` (an asset, under the middleware's ``skip_paths``), and ``/_ops``: the store
  operations the server has made so far, by name.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from typing import Any

import boto3
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starsessions import InMemoryStore, SessionAutoloadMiddleware, SessionMiddleware as StarSessionMiddleware

from starlette_dynamo_session import DynamoSessionMiddleware, DynamoStore

VARIANTS = ("bare", "cookie", "starsessions", "dynamo")
SECRET_KEY = "bench-secret-key"  # noqa: S105 - a benchmark's fixed key
SESSION_BYTES = 1024  # of JSON, in the session a first write creates
LIFETIME = 14 * 24 * 60 * 60  # seconds: every middleware's default


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

    def count_dynamodb_request(self, request: Any, **_: Any) -> None:
        """A botocore ``before-send.dynamodb`` handler: counts the request by its operation (``X-Amz-Target``)."""
        target = request.headers.get("X-Amz-Target", b"")
        self.add((target.decode() if isinstance(target, bytes) else str(target)).rpartition(".")[2])


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


def dynamo_store(table: str, counter: OperationCounter, delay: float) -> DynamoStore:
    """A store on a boto3 Session whose DynamoDB requests are counted and, with ``delay``, made that much slower."""
    session = boto3.Session()
    session.events.register("before-send.dynamodb", counter.count_dynamodb_request)
    if delay > 0:
        session.events.register("before-send.dynamodb", lambda **_: time.sleep(delay))
    return DynamoStore(session, table_name=table)


def session_middleware(variant: str, counter: OperationCounter) -> list[Middleware]:
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
    if variant == "dynamo":
        table = os.environ["BENCH_TABLE"]
        store = dynamo_store(table, counter, float(os.environ.get("BENCH_STORE_DELAY", "0")))
        idle_timeout = int(os.environ["BENCH_IDLE_TIMEOUT"]) if os.environ.get("BENCH_IDLE_TIMEOUT") else None
        return [
            Middleware(
                DynamoSessionMiddleware,
                store=store,
                secret_key=SECRET_KEY,
                max_age=LIFETIME,
                idle_timeout=idle_timeout,
                skip_paths=["/static"],
            )
        ]
    raise ValueError(f"unknown variant {variant!r}: pick one of {', '.join(VARIANTS)}")


def create_app() -> Starlette:
    """The app of the variant named by ``BENCH_VARIANT`` (see the module docstring)."""
    variant = os.environ.get("BENCH_VARIANT", "bare")
    counter = OperationCounter()
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

    async def ops(request: Request) -> Response:
        return JSONResponse(counter.snapshot())

    routes = [Route(f"/{handler.__name__}", handler) for handler in (anon, read, write, change, clear, static)]
    return Starlette(routes=[*routes, Route("/_ops", ops)], middleware=session_middleware(variant, counter))
