"""Tiny HTTP servers on 127.0.0.1 for the transport tests, each on an event loop in a thread of its own.

``LoopbackServer(handler)`` answers every request with ``handler`` (an aiohttp.web handler);
``RecordingProxy(upstream)`` is ``harness.proxy.Proxy`` in front of ``upstream``, which lists the DynamoDB operations
it passes on, so the tests can count what a store sent whichever transport sent it, and which answers the operations
a test names with aiohttp responses of its own.
"""

from __future__ import annotations

import json
import ssl
from binascii import crc32
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web

from harness.loop_thread import Background, LoopThread
from harness.processes import HOST
from harness.proxy import Proxy

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Serve = Callable[[Handler], str]

# Headers that frame a body, which ``response_bytes`` writes itself.
_FRAMING = frozenset({"content-length", "transfer-encoding"})


class LoopbackServer(Background):
    """Serves ``handler`` on a free port of 127.0.0.1 from ``start()`` until ``stop()`` (or as a context manager)."""

    def __init__(self, handler: Handler, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._handler = handler
        self._ssl_context = ssl_context
        self._loop = LoopThread("loopback-server")
        self._runner: web.AppRunner | None = None
        self.url = ""

    def start(self) -> str:
        """Start serving and return the server's URL (``http://127.0.0.1:PORT``)."""
        self._loop.start()
        self.url = self._loop.run(self._serve())
        return self.url

    def stop(self) -> None:
        """Stop serving, close every connection and end the thread."""
        runner, self._runner = self._runner, None
        if runner is not None:
            self._loop.run(runner.cleanup())
        self._loop.stop()

    async def _serve(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handler)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, HOST, 0, ssl_context=self._ssl_context).start()
        host, port = self._runner.addresses[0][:2]
        return f"{'http' if self._ssl_context is None else 'https'}://{host}:{port}"


class RecordingProxy(Proxy):
    """``harness.proxy.Proxy``, which lists the DynamoDB operations it passes on, and answers an operation named in
    ``intercept`` itself, with the response that factory makes, instead of passing it on."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.intercept: dict[str, Callable[[], web.Response]] = {}

    def answer_for(self, operation: str) -> bytes | None:
        """The factory's response for ``operation`` in ``intercept``, as HTTP/1.1 bytes; else ``None``."""
        factory = self.intercept.get(operation)
        return None if factory is None else response_bytes(factory())


def response_bytes(response: web.Response) -> bytes:
    """``response`` (of bytes, not a streamed payload) as an HTTP/1.1 server writes it, with its ``Content-Length``."""
    body = response.body
    assert isinstance(body, bytes), body
    lines = [f"HTTP/1.1 {response.status} {response.reason}"]
    lines += [f"{name}: {value}" for name, value in response.headers.items() if name.lower() not in _FRAMING]
    lines.append(f"Content-Length: {len(body)}")
    return "\r\n".join([*lines, "", ""]).encode("latin-1") + body


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
