"""Tiny HTTP servers on 127.0.0.1 for the transport tests, each on an event loop in a thread of its own.

``LoopbackServer(handler)`` answers every request with ``handler`` (an aiohttp.web handler);
``RecordingProxy(upstream)`` passes every request on to ``upstream`` unchanged and lists its DynamoDB operations, so
the tests can count what a store sent whichever transport sent it.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from binascii import crc32
from collections.abc import Awaitable, Callable, Iterator
from types import TracebackType
from typing import Any, Self

import aiohttp
import pytest
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Serve = Callable[[Handler], str]

# Headers that belong to one connection and are not passed on.
_HOP_BY_HOP = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive"})
_START_TIMEOUT = 10.0  # seconds


class LoopbackServer:
    """Serves ``handler`` on a free port of 127.0.0.1 from ``start()`` until ``stop()`` (or as a context manager)."""

    def __init__(self, handler: Handler, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._handler = handler
        self._ssl_context = ssl_context
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loopback-server", daemon=True)
        self.url = ""

    def start(self) -> str:
        """Start serving and return the server's URL (``http://127.0.0.1:PORT``)."""
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT) or not self.url:
            raise RuntimeError("the loopback server did not start")
        return self.url

    def stop(self) -> None:
        """Stop serving, close every connection and end the thread."""
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(_START_TIMEOUT)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    async def on_startup(self) -> None:
        """Runs on the server's loop before it serves (subclasses open clients here)."""

    async def on_cleanup(self) -> None:
        """Runs on the server's loop after it has stopped serving."""

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handler)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        try:
            await self.on_startup()
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self._ssl_context).start()
            host, port = runner.addresses[0][:2]
            self.url = f"{'http' if self._ssl_context is None else 'https'}://{host}:{port}"
        finally:
            self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await runner.cleanup()
            await self.on_cleanup()


class RecordingProxy(LoopbackServer):
    """Passes every request on to ``upstream`` and its answer back byte for byte (``x-amz-crc32`` still holds), and
    lists the DynamoDB operation of each request it passed on (``X-Amz-Target``'s last part: ``"GetItem"``...).

    An operation named in ``intercept`` is not passed on: the proxy answers it with what that factory makes.
    """

    def __init__(self, upstream: str) -> None:
        super().__init__(self._forward)
        self._upstream = upstream.rstrip("/")
        self._client: aiohttp.ClientSession | None = None
        self.operations: list[str] = []
        self.intercept: dict[str, Callable[[], web.Response]] = {}

    def take(self) -> list[str]:
        """The operations passed on since the last call, and start a new list."""
        operations, self.operations = self.operations, []
        return operations

    async def on_startup(self) -> None:
        self._client = aiohttp.ClientSession(auto_decompress=False)

    async def on_cleanup(self) -> None:
        if self._client is not None:
            await self._client.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._client is not None
        body = await request.read()
        operation = request.headers.get("X-Amz-Target", "").rpartition(".")[2]
        if operation in self.intercept:
            return self.intercept[operation]()
        self.operations.append(operation)
        headers = {name: value for name, value in request.headers.items() if name.lower() not in _HOP_BY_HOP}
        async with self._client.request(
            request.method, self._upstream + request.path_qs, data=body, headers=headers, skip_auto_headers=["Accept"]
        ) as answer:
            payload = await answer.read()
            kept = {name: value for name, value in answer.headers.items() if name.lower() not in _HOP_BY_HOP}
            return web.Response(status=answer.status, body=payload, headers=kept)


def answer(payload: dict[str, Any], status: int = 200, *, crc: int | None = None) -> web.Response:
    """An answer as DynamoDB gives it: JSON 1.0 with the body's CRC32 in ``x-amz-crc32`` (or ``crc`` instead)."""
    body = json.dumps(payload).encode()
    checksum = crc32(body) & 0xFFFFFFFF if crc is None else crc
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amz-crc32": str(checksum)}
    return web.Response(status=status, body=body, headers=headers)


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Serve]:
    """Start a loopback server with a handler and point DynamoDB clients made after it there; stopped after the test."""
    servers: list[LoopbackServer] = []

    def start(handler: Handler) -> str:
        server = LoopbackServer(handler)
        servers.append(server)
        url = server.start()
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", url)
        return url

    yield start
    for server in servers:
        server.stop()
