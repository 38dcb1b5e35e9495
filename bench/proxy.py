"""A loopback TCP proxy in front of DynamoDB Local that counts the DynamoDB requests passing through it, by operation
(``X-Amz-Target``), and can hold each one ``delay`` seconds before forwarding it: the slow store of the event-loop
check. It sees both transports' requests alike (a botocore event handler sees no aiohttp request).

``proxies()`` runs every proxy of a run on one event loop in a thread of the orchestrator, so their CPU is neither
the servers' nor the load generator's. Each listens on 127.0.0.1 only, holds at most ``MAX_CONNECTIONS``, and
stops, with its connections, when the block ends.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

MAX_CONNECTIONS = 256  # per proxy: more than any store's pool
MAX_BODY = 1 << 20  # bytes: a DynamoDB request body is at most a few hundred KB


class Proxy:
    """One listening proxy: its ``port`` and the requests it has forwarded so far (``snapshot``)."""

    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream, self.delay = upstream, delay
        self.port = 0
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None

    def snapshot(self) -> dict[str, int]:
        """The DynamoDB requests forwarded so far, by operation (``GetItem``...)."""
        with self.lock:
            return dict(self.counts)

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        self.server = await asyncio.start_server(self.accept, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        if self.server is not None:
            self.server.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Relay one client connection to its own upstream connection until either side closes."""
        task = asyncio.current_task()
        if len(self.tasks) >= MAX_CONNECTIONS or task is None:
            writer.close()
            return
        self.tasks.add(task)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
            relays = [
                asyncio.ensure_future(self.requests(reader, upstream_writer)),
                asyncio.ensure_future(copy(upstream_reader, writer)),
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
            self.tasks.discard(task)
            for side in (writer, upstream_writer):
                if side is not None:
                    side.close()

    async def requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Forward HTTP/1.1 requests (``Content-Length`` bodies: what both transports send), counting each and
        holding it ``delay`` seconds first. Raises ``ValueError`` for anything else."""
        with suppress(asyncio.IncompleteReadError):  # the client closed its connection
            while True:
                head = await reader.readuntil(b"\r\n\r\n")  # at most the stream's 64 KiB limit
                length, operation = 0, "unknown"
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
                with self.lock:
                    self.counts[operation] = self.counts.get(operation, 0) + 1
                if self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(head + body)
                await writer.drain()


async def copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes from ``reader`` to ``writer`` until ``reader`` ends."""
    while chunk := await reader.read(1 << 16):
        writer.write(chunk)
        await writer.drain()


@contextmanager
def proxies(upstream_url: str) -> Iterator[Callable[[float], Proxy]]:
    """Run proxies in front of ``upstream_url`` (``http://127.0.0.1:PORT``) on one event loop in a thread; yield a
    function that starts one, adding ``delay`` seconds to each request. Everything stops when the block ends."""
    host, _, port = upstream_url.removeprefix("http://").rstrip("/").partition(":")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="bench-proxies", daemon=True)
    thread.start()
    started: list[Proxy] = []

    def start(delay: float) -> Proxy:
        proxy = Proxy((host, int(port)), delay)
        asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(10)
        started.append(proxy)
        return proxy

    try:
        yield start
    finally:
        for proxy in started:
            asyncio.run_coroutine_threadsafe(proxy.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
