"""Soak: many requests through a real uvicorn server of ``tests/apps/counter.py`` on DynamoDB Local, then a check that
not one update was lost.

    venv/bin/python bench/soak.py [--requests 20000] [--sessions 100] [--concurrency 32] [--workers 2] ...
    scripts/soak ...                       (the same, after installing what it needs)

It starts DynamoDB Local (or uses ``--endpoint``), creates a table of its own, starts ``uvicorn`` (``--workers`` worker
processes) and drives it over HTTP from this process, ``--concurrency`` requests in flight, in two phases:

1. counter: ``--requests`` ``POST /increment`` over ``--sessions`` sessions, one request in flight per session (the
   next increment of a session is sent when the previous one has answered) and many sessions at once. Every answer
   must be the next number, and every counter must end equal to the requests sent for its session. This finds lost
   updates across worker processes, connection reuse and botocore retries.
2. merge: ``--merge-requests`` ``POST /set?key=...`` over the same sessions, ``--merge-concurrency`` requests in flight
   on each session at once, each setting a key of its own: the optimistic-concurrency merge must keep all of them (and
   the counter). Concurrent increments of one counter would be a same-key conflict, which the later write wins by
   design: that is why the counter phase keeps one request per session in flight.

It prints a summary (requests, failures, wrong answers and counters, lost keys, duration, requests per second,
conflicting writes the middleware merged and retried) and exits 1 if anything failed or was lost, 0 otherwise.
DynamoDB Local and uvicorn are started by this process and stopped by their PIDs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import IO, Any

import boto3
import httpx

from starlette_dynamo_session import DynamoStore

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 30.0  # seconds for uvicorn to answer after it starts
REQUEST_TIMEOUT = 30.0  # seconds for one request
# An idle connection is dropped by the client well before uvicorn closes it (--timeout-keep-alive): otherwise a request
# sent on a connection the server is closing at that moment fails, and that would be the soak's fault, not the server's.
CLIENT_KEEPALIVE_EXPIRY = 2.0  # seconds
SERVER_KEEPALIVE_TIMEOUT = 30  # seconds
# Lines of the server's log that mean something went wrong: a traceback, a refused request, a worker killed.
SERVER_ERROR_MARKERS = ("Traceback", "session store unavailable", "session not saved", "died", "not ready in time")
CONFLICT_CODES = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})
SECRET_KEY = "soak-secret-key"  # noqa: S105 - the test app's signing key, nothing else


# --- the server side: tests/apps/counter.py, counting the conflicting writes it retries ------------------------------


class ConflictLog:
    """An ``after-call.dynamodb`` handler appending one line to a file per write refused on its condition: each is a
    conflict the middleware then merges and retries. Lines from all worker processes go to one file (``O_APPEND``)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def __call__(self, parsed: dict[str, Any], **kwargs: Any) -> None:
        if parsed.get("Error", {}).get("Code") in CONFLICT_CODES:
            os.write(self.fd, b"conflict\n")


def create_app() -> Any:
    """The uvicorn factory (``bench.soak:create_app``): ``tests.apps.counter``'s app, configured by its environment
    variables, with its store's conflicts counted in ``SOAK_CONFLICT_LOG``."""
    from tests.apps import counter

    stores = [entry.kwargs.get("store") for entry in counter.app.user_middleware]
    store = next(store for store in stores if isinstance(store, DynamoStore))
    store.client.meta.events.register("after-call.dynamodb", ConflictLog(os.environ["SOAK_CONFLICT_LOG"]))
    return counter.app


def count_conflicts(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


# --- what was sent, what came back, and what must hold --------------------------------------------------------------


@dataclass
class SessionRecord:
    """One session of the soak: the requests sent for it and what was wrong with their answers."""

    index: int
    increments: int  # requests planned in the counter phase
    merge_keys: int  # requests planned in the merge phase, one key each
    cookie: str | None = None
    sent: int = 0  # increments sent
    merge_sent: int = 0
    failures: list[str] = field(default_factory=list)  # requests that did not answer 200, and why
    wrong: list[str] = field(default_factory=list)  # answers that were 200 but not what they had to be

    def expected(self) -> dict[str, Any]:
        """The session as it must be at the end: the counter at the number of increments sent, every merge key."""
        expected: dict[str, Any] = {"count": self.sent} if self.sent else {}
        expected.update({merge_key(number): str(number) for number in range(self.merge_sent)})
        return expected


def merge_key(number: int) -> str:
    return f"merge-{number}"


def problems_in_final(record: SessionRecord, final: dict[str, Any]) -> list[str]:
    """What is wrong with a session as read at the end: a counter that is not exact, a merge key lost or wrong."""
    expected = record.expected()
    problems = []
    if final.get("count") != expected.get("count"):
        problems.append(f"counter is {final.get('count')}, expected {expected.get('count')}")
    lost = sorted(key for key in expected if key != "count" and final.get(key) != expected[key])
    if lost:
        problems.append(f"{len(lost)} merge keys lost or wrong: {', '.join(lost[:5])}")
    extra = sorted(set(final) - set(expected))
    if extra:
        problems.append(f"unexpected keys: {', '.join(extra[:5])}")
    return problems


@dataclass
class Phase:
    """The figures of one phase."""

    name: str
    requests: int = 0
    failures: int = 0
    wrong_answers: int = 0
    seconds: float = 0.0
    conflicts_retried: int = 0
    latencies: list[float] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def percentile(fraction: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000, 1) if ordered else 0.0

        figures = {key: value for key, value in asdict(self).items() if key != "latencies"}
        figures["seconds"] = round(self.seconds, 2)
        figures["requests_per_second"] = round(self.requests / self.seconds, 1) if self.seconds else 0.0
        figures["latency_ms"] = {"p50": percentile(0.5), "p99": percentile(0.99), "max": percentile(1.0)}
        return figures


# --- the client side ------------------------------------------------------------------------------------------------


class Driver:
    """Sends the soak's requests over one pooled HTTP client, at most ``concurrency`` in flight, until ``deadline``."""

    def __init__(self, client: httpx.AsyncClient, concurrency: int, deadline: float) -> None:
        self.client = client
        self.slots = asyncio.Semaphore(concurrency)
        self.deadline = deadline

    async def send(
        self, phase: Phase, record: SessionRecord, path: str, params: dict[str, str] | None = None
    ) -> dict[str, Any] | None:
        """POST ``path`` with the session's cookie; return the session the app answered, or ``None`` after recording
        the failure. A first answer gives the session its cookie; a later one must keep it."""
        headers = {"Cookie": f"session={record.cookie}"} if record.cookie else {}
        async with self.slots:
            started = time.monotonic()
            try:
                response = await self.client.post(path, params=params, headers=headers)
            except httpx.HTTPError as exc:
                response, error = None, f"{type(exc).__name__}: {exc}"
            phase.latencies.append(time.monotonic() - started)
        phase.requests += 1
        if response is None or response.status_code != 200:
            phase.failures += 1
            reason = error if response is None else f"HTTP {response.status_code}: {response.text[:200]!r}"
            record.failures.append(f"{phase.name} {path}: {reason}")
            return None
        cookie = response.cookies.get("session")
        if record.cookie is None:
            record.cookie = cookie
        elif cookie is not None and cookie != record.cookie:
            record.wrong.append(f"{phase.name} {path}: the session was given a new cookie")
            phase.wrong_answers += 1
        session: dict[str, Any] = response.json()["session"]
        return session

    def out_of_time(self) -> bool:
        return time.monotonic() > self.deadline


async def counter_phase(driver: Driver, records: list[SessionRecord]) -> Phase:
    phase = Phase("counter")

    async def run(record: SessionRecord) -> None:
        for _ in range(record.increments):
            if driver.out_of_time():
                record.failures.append("counter: out of time before sending every increment")
                phase.failures += 1
                return
            record.sent += 1
            session = await driver.send(phase, record, "/increment")
            # Once a request of the session failed, its next count is unknown: that failure is reported already.
            if session is not None and session.get("count") != record.sent and not record.failures:
                record.wrong.append(f"increment {record.sent} answered count {session.get('count')}")
                phase.wrong_answers += 1

    started = time.monotonic()
    await asyncio.gather(*(run(record) for record in records))
    phase.seconds = time.monotonic() - started
    return phase


async def merge_phase(driver: Driver, records: list[SessionRecord], per_session: int, sessions_at_once: int) -> Phase:
    phase = Phase("merge")
    sessions = asyncio.Semaphore(sessions_at_once)

    async def run(record: SessionRecord) -> None:
        in_flight = asyncio.Semaphore(per_session)

        async def set_key(number: int) -> None:
            async with in_flight:
                await driver.send(phase, record, "/set", {"key": merge_key(number), "value": str(number)})

        async with sessions:
            if driver.out_of_time():
                record.failures.append("merge: out of time before sending every key")
                phase.failures += 1
                return
            record.merge_sent = record.merge_keys
            await asyncio.gather(*(set_key(number) for number in range(record.merge_keys)))

    started = time.monotonic()
    await asyncio.gather(*(run(record) for record in records))
    phase.seconds = time.monotonic() - started
    return phase


async def read_finals(driver: Driver, records: list[SessionRecord]) -> dict[int, dict[str, Any] | None]:
    async def read(record: SessionRecord) -> tuple[int, dict[str, Any] | None]:
        if record.cookie is None:
            return record.index, None
        async with driver.slots:
            try:
                response = await driver.client.get("/", headers={"Cookie": f"session={record.cookie}"})
            except httpx.HTTPError:
                return record.index, None
        return record.index, response.json()["session"] if response.status_code == 200 else None

    return dict(await asyncio.gather(*(read(record) for record in records)))


def plan(requests: int, merge_requests: int, sessions: int) -> list[SessionRecord]:
    """Share the requests of each phase between the sessions as evenly as possible."""
    return [
        SessionRecord(
            index,
            requests // sessions + (index < requests % sessions),
            merge_requests // sessions + (index < merge_requests % sessions),
        )
        for index in range(sessions)
    ]


def client_for(url: str, concurrency: int, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The soak's HTTP client: ``concurrency`` pooled keep-alive connections (or ``transport``), and no cookie jar."""
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=CLIENT_KEEPALIVE_EXPIRY
    )
    return httpx.AsyncClient(
        base_url=url, limits=limits, timeout=REQUEST_TIMEOUT, cookies=no_cookies(), transport=transport
    )


async def drive(client: httpx.AsyncClient, options: argparse.Namespace, conflict_log: Path) -> dict[str, Any]:
    """Run both phases through ``client``, read every session back and check it; return the summary."""
    records = plan(options.requests, options.merge_requests, options.sessions)
    driver = Driver(client, options.concurrency, time.monotonic() + options.max_seconds)
    counter = await counter_phase(driver, records)
    counter.conflicts_retried = count_conflicts(conflict_log)
    sessions_at_once = max(1, options.concurrency // options.merge_concurrency)
    merge = await merge_phase(driver, records, options.merge_concurrency, sessions_at_once)
    merge.conflicts_retried = count_conflicts(conflict_log) - counter.conflicts_retried
    finals = await read_finals(driver, records)

    wrong_sessions = []
    for record in records:
        final = finals[record.index]
        found = ["could not be read"] if final is None else problems_in_final(record, final)
        if found:
            wrong_sessions.append({"session": record.index, "problems": found})
    failures = [failure for record in records for failure in record.failures]
    wrong = [answer for record in records for answer in record.wrong]
    return {
        "phases": [counter.summary(), merge.summary()],
        "requests": counter.requests + merge.requests,
        "failures": len(failures),
        "wrong_answers": len(wrong),
        "wrong_sessions": len(wrong_sessions),
        "examples": {"failures": failures[:5], "wrong_answers": wrong[:5], "wrong_sessions": wrong_sessions[:5]},
        "seconds": round(counter.seconds + merge.seconds, 2),
    }


async def soak(url: str, options: argparse.Namespace, conflict_log: Path) -> dict[str, Any]:
    async with client_for(url, options.concurrency) as client:
        return await drive(client, options, conflict_log)


def no_cookies() -> CookieJar:
    """A cookie jar that keeps nothing: every request carries exactly the cookie of its own session."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


# --- processes: DynamoDB Local and uvicorn, started here and stopped by PID -----------------------------------------


def environment(endpoint: str, own_dynamodb: bool) -> dict[str, str]:
    """The servers' environment: DynamoDB at ``endpoint``; fake credentials when it is our own DynamoDB Local."""
    if own_dynamodb:
        from bench.servers import bench_environment  # bench/ is importable once main() has put the root on sys.path

        return bench_environment(endpoint)
    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@contextmanager
def dynamodb(endpoint: str | None) -> Iterator[str]:
    """``endpoint``, or the URL of a DynamoDB Local started for the soak and stopped by its PID afterwards."""
    if endpoint is not None:
        yield endpoint
        return
    from tests.dynamodb_local import start

    server = start()
    try:
        yield server.endpoint
    finally:
        server.stop()


@contextmanager
def table(env: dict[str, str]) -> Iterator[Table]:
    """A new sessions table on the servers' DynamoDB, deleted afterwards."""
    client = boto3.client(
        "dynamodb",
        endpoint_url=env["AWS_ENDPOINT_URL_DYNAMODB"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
    )
    name = f"soak-{uuid.uuid4().hex}"
    DynamoStore(client=client, table_name=name).create_table()
    try:
        yield Table(name, client)
    finally:
        client.delete_table(TableName=name)


@dataclass
class Table:
    name: str
    client: Any

    def count_items(self) -> int:
        """How many items the table holds (a strongly consistent scan)."""
        pages = self.client.get_paginator("scan").paginate(TableName=self.name, Select="COUNT", ConsistentRead=True)
        return sum(int(page["Count"]) for page in pages)


@contextmanager
def uvicorn(env: dict[str, str], workers: int, log: IO[bytes]) -> Iterator[str]:
    """uvicorn serving ``bench.soak:create_app`` on a free port of 127.0.0.1; stopped by its PID."""
    from tests.dynamodb_local import free_port, stop_process

    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.soak:create_app", "--factory", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers), "--timeout-keep-alive", str(SERVER_KEEPALIVE_TIMEOUT)]
    command += ["--no-access-log", "--log-level", "info"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not serve {url}:\n{read_log(log)}")
            try:
                httpx.get(url, timeout=5).raise_for_status()
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        stop_process(process)


def read_log(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")


# --- the command ----------------------------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=20_000, help="increments in the counter phase (20000)")
    parser.add_argument("--sessions", type=int, default=100, help="sessions (100)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (32)")
    parser.add_argument("--merge-requests", type=int, help="requests of the merge phase (a tenth of --requests)")
    parser.add_argument("--merge-concurrency", type=int, default=8, help="in flight on one session when merging (8)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (2)")
    parser.add_argument("--endpoint", help="use this DynamoDB (URL) instead of starting DynamoDB Local")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="stop sending after this long (1800)")
    parser.add_argument("--json", action="store_true", help="end with the summary as one line of JSON")
    options = parser.parse_args(argv)
    if options.merge_requests is None:
        options.merge_requests = options.requests // 10
    for name in ("requests", "sessions", "concurrency", "merge_concurrency", "workers"):
        if getattr(options, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if options.merge_requests < 0:
        parser.error("--merge-requests must not be negative")
    return options


def report(summary: dict[str, Any], options: argparse.Namespace) -> str:
    lines = [
        f"soak: {summary['requests']} requests, {options.sessions} sessions, {options.concurrency} in flight, "
        f"{options.workers} uvicorn workers, DynamoDB at {summary['endpoint']}"
    ]
    for phase in summary["phases"]:
        latency = phase["latency_ms"]
        lines.append(
            f"  {phase['name']:<8} {phase['requests']:>6} requests  {phase['failures']} failed  "
            f"{phase['wrong_answers']} wrong answers  {phase['seconds']:.1f} s  {phase['requests_per_second']} req/s  "
            f"p50 {latency['p50']} ms  p99 {latency['p99']} ms  conflicts retried {phase['conflicts_retried']}"
        )
    lines.append(
        f"  total    {summary['requests']:>6} requests  {summary['failures']} failed  "
        f"{summary['wrong_answers']} wrong answers  {summary['wrong_sessions']} wrong sessions  "
        f"server errors logged: {summary['server_errors']}  {summary['seconds']:.1f} s"
    )
    lines.append(f"  table    {summary['items']} items for {options.sessions} sessions")
    for kind, examples in summary["examples"].items():
        lines += [f"  {kind}: {example}" for example in examples]
    lines.append("OK" if summary["ok"] else "FAILED")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    if sys.path[0] == str(Path(__file__).resolve().parent):
        # Run as a script (bench/soak.py): import tests/ and bench/ from the root, and bench's modules only as bench.*
        sys.path[0] = str(ROOT)
    with ExitStack() as stack:
        endpoint = stack.enter_context(dynamodb(options.endpoint))
        env = environment(endpoint, own_dynamodb=options.endpoint is None)
        sessions_table = stack.enter_context(table(env))
        env["SESSION_TABLE"] = sessions_table.name
        env["SESSION_SECRET_KEY"] = SECRET_KEY
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="soak-")))
        env["SOAK_CONFLICT_LOG"] = str(work / "conflicts.log")
        log = stack.enter_context((work / "uvicorn.log").open("w+b"))
        url = stack.enter_context(uvicorn(env, options.workers, log))
        summary = asyncio.run(soak(url, options, work / "conflicts.log"))
        server_log = read_log(log)
        summary["items"] = sessions_table.count_items()
    summary["endpoint"] = endpoint
    errors = [line for line in server_log.splitlines() if any(marker in line for marker in SERVER_ERROR_MARKERS)]
    summary["server_errors"] = len(errors)
    summary["examples"]["server_errors"] = errors[:5]
    summary["ok"] = summary["items"] == options.sessions and not (
        summary["failures"] or summary["wrong_answers"] or summary["wrong_sessions"] or summary["server_errors"]
    )
    print(report(summary, options), flush=True)
    if options.json:
        print(json.dumps(summary), flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
