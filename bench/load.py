"""The load generator: a process of its own that reads one JSON command per line on stdin and answers each with one
JSON line on stdout (``python -m bench.load``; ``LoadWorker`` drives it from the orchestrator).

It is kept cheap so that it is not the bottleneck: raw HTTP/1.1 over asyncio streams, one keep-alive connection per
unit of concurrency, all connected before the clock starts, and a fixed number of requests shared between them.

Commands (``cmd``):

* ``http`` - ``port``, ``path``, ``n`` requests over ``concurrency`` connections; request ``k`` carries
  ``cookies[k]`` if given; ``collect_cookies`` returns the ``Set-Cookie`` pair of each response; ``pause`` seconds
  between two requests of one connection. Answers latencies (s), statuses, ``start``/``end`` (``time.monotonic``).
* ``probe`` - ``count`` sequential requests to ``port``/``path``, ``interval`` seconds apart: their start times and
  latencies, to see how long a server takes to answer a trivial route while it is under load.
* ``raw`` - the floor of any DynamoDB-backed session: ``n`` GetItem (``op: get``) or PutItem (``op: put``) calls on
  ``table`` from ``threads`` threads, through a client configured as ``DynamoStore`` configures its own, with items of
  the shape and size the store writes. The endpoint comes from ``AWS_ENDPOINT_URL_DYNAMODB``.
* ``quit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import IO, Any, cast

import boto3

from bench.apps import OperationCounter
from starlette_dynamo_session import DynamoStore
from starlette_dynamo_session._session import dumps, encode_payload
from starlette_dynamo_session._signing import new_token

RAW_ITEMS = 256  # distinct items the raw GetItem baseline cycles through
SESSION_LIFETIME = timedelta(days=14)

Result = dict[str, Any]


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    """Send one request and read its response; return the status and the first ``Set-Cookie`` pair (or b"")."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    cookie = b""
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"set-cookie" and not cookie:
            cookie = value.strip().split(b";", 1)[0]
        elif name == b"transfer-encoding":
            raise RuntimeError("chunked responses are not supported by this load generator")
    if length:
        await reader.readexactly(length)
    return status, cookie


def _request_bytes(path: str, cookie: str | None) -> bytes:
    cookie_line = f"Cookie: {cookie}\r\n" if cookie else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{cookie_line}\r\n".encode("latin-1")


async def run_http(
    port: int,
    path: str,
    n: int,
    concurrency: int,
    cookies: Sequence[str] | None = None,
    collect_cookies: bool = False,
    pause: float = 0.0,
) -> Result:
    """``n`` requests over ``concurrency`` keep-alive connections; see the module doc."""
    if cookies is not None and len(cookies) < n:
        raise ValueError(f"{n} requests need {n} cookies, got {len(cookies)}")
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(min(concurrency, n))]
    requests = [_request_bytes(path, None if cookies is None else cookies[k]) for k in range(n)]
    latencies = [0.0] * n
    set_cookies = [""] * n
    statuses: dict[str, int] = {}
    position = 0

    async def drive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal position
        while position < n:
            k = position
            position += 1
            if pause and k >= len(connections):
                await asyncio.sleep(pause)
            began = time.perf_counter()
            status, cookie = await _exchange(reader, writer, requests[k])
            latencies[k] = time.perf_counter() - began
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if collect_cookies:
                set_cookies[k] = cookie.decode("latin-1")

    start = time.monotonic()
    try:
        await asyncio.gather(*(drive(reader, writer) for reader, writer in connections))
    finally:
        end = time.monotonic()
        for _, writer in connections:
            writer.close()
        for _, writer in connections:
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    result: Result = {"latencies": latencies, "statuses": statuses, "start": start, "end": end}
    if collect_cookies:
        result["cookies"] = set_cookies
    return result


async def run_probe(port: int, path: str, count: int, interval: float) -> Result:
    """``count`` requests one after the other on one connection, ``interval`` seconds apart."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = _request_bytes(path, None)
    starts: list[float] = []
    latencies: list[float] = []
    try:
        for _ in range(count):
            starts.append(time.monotonic())
            began = time.perf_counter()
            await _exchange(reader, writer, request)
            latencies.append(time.perf_counter() - began)
            await asyncio.sleep(interval)
    finally:
        writer.close()
        await writer.wait_closed()
    return {"starts": starts, "latencies": latencies}


def raw_item(store: DynamoStore, token: str, session_bytes: int) -> dict[str, Any]:
    """The item ``DynamoStore.save`` would write for a session of about ``session_bytes`` bytes of JSON."""
    expiry = datetime.now(UTC) + SESSION_LIFETIME
    data = encode_payload(time.time(), dumps({"blob": "x" * max(0, session_bytes - 11)}))
    return dict(store.item(token, data, expiry, version=1))


def run_raw(table: str, op: str, n: int, threads: int, session_bytes: int) -> Result:
    """``n`` GetItem or PutItem calls from ``threads`` threads; see the module doc."""
    if op not in ("get", "put"):
        raise ValueError(f"op must be 'get' or 'put', not {op!r}")
    counter = OperationCounter()
    session = boto3.Session()
    session.events.register("before-send.dynamodb", counter.on_dynamodb_request)
    store = DynamoStore(session, table_name=table)
    client = store.client
    keys: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    if op == "get":
        for _ in range(min(RAW_ITEMS, n)):
            item = raw_item(store, new_token(), session_bytes)
            client.put_item(TableName=table, Item=item)
            keys.append({store.token_name: item[store.token_name]})
    else:
        items = [raw_item(store, new_token(), session_bytes) for _ in range(n)]
    before = counter.snapshot()
    latencies = [0.0] * n
    positions = itertools.count()

    def call(k: int) -> None:
        if op == "get":
            client.get_item(TableName=table, Key=keys[k % len(keys)], ConsistentRead=True)
        else:
            client.put_item(TableName=table, Item=items[k])

    def drive() -> None:
        while (k := next(positions)) < n:
            began = time.perf_counter()
            call(k)
            latencies[k] = time.perf_counter() - began

    with ThreadPoolExecutor(max_workers=threads) as pool:
        # Start every thread (and warm its connection) before the clock starts.
        barrier = threading.Barrier(threads + 1)

        def start_then_drive() -> None:
            barrier.wait()
            drive()

        futures = [pool.submit(start_then_drive) for _ in range(threads)]
        barrier.wait()
        start = time.monotonic()
        cpu = time.process_time()
        for future in futures:
            future.result()
        end = time.monotonic()
        cpu = time.process_time() - cpu
    after = counter.snapshot()
    ops = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    return {"latencies": latencies, "statuses": {}, "start": start, "end": end, "ops": ops, "cpu": cpu}


def handle(command: dict[str, Any]) -> Result:
    """Run one command and return its result."""
    kind = command["cmd"]
    if kind == "http":
        return asyncio.run(
            run_http(
                int(command["port"]),
                str(command["path"]),
                int(command["n"]),
                int(command["concurrency"]),
                command.get("cookies"),
                bool(command.get("collect_cookies", False)),
                float(command.get("pause", 0.0)),
            )
        )
    if kind == "probe":
        return asyncio.run(
            run_probe(int(command["port"]), str(command["path"]), int(command["count"]), float(command["interval"]))
        )
    if kind == "raw":
        return run_raw(
            str(command["table"]),
            str(command["op"]),
            int(command["n"]),
            int(command["threads"]),
            int(command["session_bytes"]),
        )
    raise ValueError(f"unknown command {kind!r}")


def main() -> int:
    """Answer commands until ``quit`` or the end of stdin."""
    for line in sys.stdin:
        command = json.loads(line)
        if command.get("cmd") == "quit":
            break
        try:
            result = handle(command)
        except Exception as exc:  # reported to the orchestrator, which raises it there
            result = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    return 0


class LoadWorker:
    """A ``bench.load`` process, driven over its stdin and stdout. Stop it with ``close``."""

    def __init__(self, python: str, env: dict[str, str], cwd: str) -> None:
        self.process = subprocess.Popen(
            [python, "-m", "bench.load"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=cwd,
            text=True,
        )

    def send(self, command: dict[str, Any]) -> None:
        """Start ``command``; ``receive`` returns its result."""
        stdin = cast(IO[str], self.process.stdin)
        stdin.write(json.dumps(command) + "\n")
        stdin.flush()

    def receive(self) -> Result:
        """The result of the command sent last. Raises ``RuntimeError`` if the command failed."""
        line = cast(IO[str], self.process.stdout).readline()
        if not line:
            raise RuntimeError(f"the load generator exited (status {self.process.wait()})")
        result = cast(Result, json.loads(line))
        if "error" in result:
            raise RuntimeError(f"load generator: {result['error']}")
        return result

    def run(self, command: dict[str, Any]) -> Result:
        self.send(command)
        return self.receive()

    def close(self) -> None:
        """Ask it to quit, then stop it by its PID if it has not."""
        with contextlib.suppress(BrokenPipeError, ValueError, OSError):
            self.send({"cmd": "quit"})
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


if __name__ == "__main__":
    sys.exit(main())
