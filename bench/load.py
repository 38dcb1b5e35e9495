"""The load generator: a process of its own (``python -m bench.load``) that reads one JSON command per line on stdin
and answers each with one JSON line on stdout. ``LoadWorker`` drives it from ``bench.run``.

It stays cheap so that it is not the bottleneck: raw HTTP/1.1 over asyncio streams, one keep-alive connection per
unit of concurrency, all connected before the clock starts, and a fixed number of requests shared between them.

Commands: ``http`` (``run_http``), with its arguments.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, cast

from harness.processes import stop_process

COMMAND_TIMEOUT = 300.0  # seconds: no command runs longer

Result = dict[str, Any]


def request_bytes(path: str, cookie: str | None) -> bytes:
    """One HTTP/1.1 GET of ``path``, with a ``Cookie`` header if ``cookie`` is given."""
    cookie_line = f"Cookie: {cookie}\r\n" if cookie else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{cookie_line}\r\n".encode("latin-1")


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, str]:
    """Send one request, read its response: the status and the first ``Set-Cookie`` pair (or "")."""
    writer.write(request)
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    length, cookie = 0, ""
    for line in head[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "set-cookie" and not cookie:
            cookie = value.strip().split(";", 1)[0]
    await reader.readexactly(length)
    return int(head[0].split(" ", 2)[1]), cookie


async def run_http(
    port: int,
    path: str,
    n: int,
    concurrency: int,
    cookies: Sequence[str] | None = None,
    pause: float = 0.0,
    stop_file: str | None = None,
) -> Result:
    """``n`` GETs of ``path`` on ``port`` over ``concurrency`` connections, request ``k`` carrying ``cookies[k]``
    if given, ``pause`` seconds between two requests of one connection, stopping early once ``stop_file`` exists:
    each sent request's start (``time.monotonic``) and latency (s), the statuses, each response's ``Set-Cookie``
    pair, and the ``start`` and ``end`` of the run."""
    if cookies is not None and len(cookies) < n:
        raise ValueError(f"{n} requests need {n} cookies, got {len(cookies)}")
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(min(concurrency, n))]
    requests = [request_bytes(path, cookies[k] if cookies else None) for k in range(n)]
    starts, latencies, set_cookies, statuses = [0.0] * n, [0.0] * n, [""] * n, [0] * n
    next_request = iter(range(n))

    async def drive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for k in next_request:
            if stop_file is not None and os.path.exists(stop_file):
                break
            starts[k], began = time.monotonic(), time.perf_counter()
            statuses[k], set_cookies[k] = await exchange(reader, writer, requests[k])
            latencies[k] = time.perf_counter() - began
            if pause:
                await asyncio.sleep(pause)

    start = time.monotonic()
    try:
        async with asyncio.timeout(COMMAND_TIMEOUT):
            await asyncio.gather(*(drive(reader, writer) for reader, writer in connections))
    finally:
        end = time.monotonic()
        for _, writer in connections:
            writer.close()
    sent = [k for k in range(n) if statuses[k]]
    counted = {str(status): statuses.count(status) for status in set(statuses) if status}
    return {
        "starts": [starts[k] for k in sent],
        "latencies": [latencies[k] for k in sent],
        "statuses": counted,
        "cookies": [set_cookies[k] for k in sent],
        "start": start,
        "end": end,
    }


COMMANDS: dict[str, Callable[..., Result]] = {
    "http": lambda **arguments: asyncio.run(run_http(**arguments)),
}


def main() -> int:
    """Answer commands until stdin ends."""
    for line in sys.stdin:
        try:
            command = json.loads(line)
            result = COMMANDS[command.pop("cmd")](**command)
        except Exception as exc:  # the orchestrator raises it on its side
            result = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    return 0


class LoadWorker:
    """A ``bench.load`` process, driven over its stdin and stdout; stopped by ``close``."""

    def __init__(self, env: Mapping[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.load"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=cwd
        )

    def send(self, **command: Any) -> None:
        """Start ``command``; ``receive`` returns its result."""
        stdin = cast(IO[bytes], self.process.stdin)
        stdin.write(json.dumps(command).encode() + b"\n")
        stdin.flush()

    def receive(self) -> Result:
        """The result of the command sent last. Raises ``RuntimeError`` if it failed."""
        line = cast(IO[bytes], self.process.stdout).readline()
        if not line:
            raise RuntimeError(f"the load generator exited with status {self.process.wait()}")
        result = cast(Result, json.loads(line))
        if "error" in result:
            raise RuntimeError(f"load generator: {result['error']}")
        return result

    def run(self, **command: Any) -> Result:
        """Run ``command`` and return its result."""
        self.send(**command)
        return self.receive()

    def close(self) -> None:
        """Stop it by its PID."""
        stop_process(self.process)
        for pipe in (self.process.stdin, self.process.stdout):
            cast(IO[bytes], pipe).close()


if __name__ == "__main__":
    sys.exit(main())
