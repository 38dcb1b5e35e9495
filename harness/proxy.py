"""A loopback TCP proxy in front of a DynamoDB (DynamoDB Local, moto's server) that lists the DynamoDB requests it
passes on by operation (``X-Amz-Target``'s last part: ``"GetItem"``...) and counts them, so that the tests and the
benchmark see both transports' requests alike (a botocore event handler sees no aiohttp request). It can hold each
request ``delay`` seconds before passing it on (the benchmark's slow store), and answer some operations itself
(``answer_for``, which the tests override). Requests and answers pass byte for byte (``x-amz-crc32`` still holds).
It times each request passed on, from the moment it has the whole request to the first byte of the answer: the store
call as the store side sees it, delay included, without the client's own time (``store_times``).

A proxy listens on 127.0.0.1 only, holds at most ``MAX_CONNECTIONS``, and runs on a ``LoopThread``: its own, or one
that ``proxies()`` shares between every proxy of a benchmark run. ``stop`` closes its connections too.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from urllib.parse import urlsplit

from harness.loop_thread import Background, LoopThread
from harness.processes import HOST

MAX_CONNECTIONS = 256  # per proxy: more than any store's pool
MAX_BODY = 1 << 20  # bytes: a DynamoDB request body is at most a few hundred KB


class Proxy(Background):
    """Passes the requests it gets on ``port`` (from ``start()`` until ``stop()``, or as a context manager) to
    ``upstream`` (``http://127.0.0.1:PORT``), each ``delay`` seconds late. ``operations`` lists the operations of the
    requests passed on since the last ``take()``; ``snapshot()`` counts them since the start."""

    def __init__(self, upstream: str, *, delay: float = 0.0, loop: LoopThread | None = None) -> None:
        address = urlsplit(upstream)
        self.upstream = (address.hostname or HOST, address.port or 80)
        self.delay = delay
        self.port = 0
        self.operations: list[str] = []
        self._counts: dict[str, int] = {}
        self._timed: list[tuple[float, float]] = []  # per request passed on: received, seconds to the answer
        self._lock = threading.Lock()
        self._own_loop = loop is None
        self._loop = LoopThread("proxy") if loop is None else loop
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        """Where to send requests: the value for ``AWS_ENDPOINT_URL_DYNAMODB``."""
        return f"http://{HOST}:{self.port}"

    def take(self) -> list[str]:
        """The operations passed on since the last call, and start a new list."""
        with self._lock:
            operations, self.operations = self.operations, []
        return operations

    def snapshot(self) -> dict[str, int]:
        """How many requests of each operation were passed on since the start."""
        with self._lock:
            return dict(self._counts)

    def store_times(self, start: float, end: float) -> list[float]:
        """How long each request the proxy received within ``[start, end]`` (``time.monotonic()``) took to answer
        (seconds), from the moment the proxy had it whole to the first byte of its answer."""
        with self._lock:
            return [seconds for received, seconds in self._timed if start <= received <= end]

    def answer_for(self, operation: str) -> bytes | None:
        """The HTTP response the proxy gives itself to a request of ``operation``, which then is neither passed on,
        listed nor delayed; ``None`` (always, here) passes it on. Runs on the proxy's event loop."""
        return None

    def start(self) -> str:
        """Listen on a free port of 127.0.0.1 (starting the proxy's own event loop if it has one), and return its
        URL."""
        if self._own_loop:
            self._loop.start()
        self._loop.run(self._listen())
        return self.url

    def stop(self) -> None:
        """Stop listening and close every connection (and the proxy's own event loop if it has one)."""
        self._loop.run(self._close())
        if self._own_loop:
            self._loop.stop()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, HOST, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Relay one client connection to its own upstream connection until either side closes."""
        task = asyncio.current_task()
        if len(self._tasks) >= MAX_CONNECTIONS or task is None:
            writer.close()
            return
        self._tasks.add(task)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
            received: deque[float] = deque()  # of the requests passed on and not answered yet, in order
            relays = [
                asyncio.ensure_future(self._requests(reader, upstream_writer, writer, received)),
                asyncio.ensure_future(self._answers(upstream_reader, writer, received)),
            ]
            try:
                await asyncio.wait(relays, return_when="FIRST_COMPLETED")
            finally:
                for relay in relays:
                    relay.cancel()
                await asyncio.gather(*relays, return_exceptions=True)  # a broken connection just ends
        except OSError:
            pass
        finally:
            self._tasks.discard(task)
            for side in (writer, upstream_writer):
                if side is not None:
                    side.close()

    async def _requests(
        self,
        reader: asyncio.StreamReader,
        upstream: asyncio.StreamWriter,
        client: asyncio.StreamWriter,
        received: deque[float],
    ) -> None:
        """Pass HTTP/1.1 requests (``Content-Length`` bodies: what both transports send) on to ``upstream``, listing
        and counting each, noting when it came in ``received`` and holding it ``delay`` seconds first, unless
        ``answer_for`` answers it to ``client``. Raises ``ValueError`` for anything else."""
        with suppress(asyncio.IncompleteReadError):  # the client closed its connection
            while True:
                head = await reader.readuntil(b"\r\n\r\n")  # at most the stream's 64 KiB limit
                length, operation = 0, ""
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"x-amz-target":
                        operation = value.strip().decode("latin-1").rpartition(".")[2]
                    elif name == b"transfer-encoding":
                        raise ValueError("chunked requests are not proxied")
                if not 0 <= length <= MAX_BODY:
                    raise ValueError(f"a body of {length} bytes")
                body = await reader.readexactly(length)
                answer = self.answer_for(operation)
                if answer is not None:
                    client.write(answer)
                    await client.drain()
                    continue
                received.append(time.monotonic())
                with self._lock:
                    self.operations.append(operation)
                    self._counts[operation] = self._counts.get(operation, 0) + 1
                if self.delay:
                    await asyncio.sleep(self.delay)
                upstream.write(head + body)
                await upstream.drain()

    async def _answers(
        self, upstream: asyncio.StreamReader, client: asyncio.StreamWriter, received: deque[float]
    ) -> None:
        """Copy the answers from ``upstream`` to ``client`` until ``upstream`` ends, timing each request of
        ``received`` to the first bytes that come back after it. A client sends its next request on a connection only
        once it has the whole answer, so bytes that come while ``received`` is empty continue an answer."""
        while chunk := await upstream.read(1 << 16):
            if received:
                now = time.monotonic()
                sent = received.popleft()
                with self._lock:
                    self._timed.append((sent, now - sent))
            client.write(chunk)
            await client.drain()


@contextmanager
def proxies(upstream: str) -> Iterator[Callable[[float], Proxy]]:
    """Run proxies in front of ``upstream`` (``http://127.0.0.1:PORT``) on one event loop in a thread of this
    process; yield a function that starts one, adding ``delay`` seconds to each request. Everything stops when the
    block ends."""
    started: list[Proxy] = []

    def start(delay: float) -> Proxy:
        proxy = Proxy(upstream, delay=delay, loop=loop)
        proxy.start()
        started.append(proxy)
        return proxy

    with LoopThread("proxies") as loop:
        try:
            yield start
        finally:
            for proxy in started:
                proxy.stop()
