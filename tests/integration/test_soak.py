"""The soak: many requests through ``uvicorn --workers 2`` of ``tests/apps/counter.py`` on DynamoDB Local, then a check
that not one update was lost. Its checks are also shown to catch a server that loses updates.

In the suite it is short: ``SOAK_REQUESTS`` (2,000) increments over ``SOAK_SESSIONS`` (20) sessions, then a tenth as
many concurrent merges. ``scripts/soak`` runs it in full, 20,000 increments over 100 sessions:

    SOAK_REQUESTS=20000 SOAK_SESSIONS=100 venv/bin/pytest -s -m soak tests/integration/test_soak.py

The test creates a table of its own on the test session's DynamoDB Local, starts uvicorn and drives it over HTTP,
``CONCURRENCY`` requests in flight, in two phases:

1. counter: ``POST /increment`` over every session, one request in flight per session (the next increment of a session
   is sent when the previous one has answered) and many sessions at once. Every answer must be the next number, and
   every counter must end equal to the requests sent for its session. This finds lost updates across worker processes,
   connection reuse and botocore retries.
2. merge: ``POST /set?key=...`` over the same sessions, ``MERGE_CONCURRENCY`` requests in flight on each session at
   once, each setting a key of its own: the optimistic-concurrency merge must keep all of them (and the counter).
   Concurrent increments of one counter would be a same-key conflict, which the later write wins by design: that is
   why the counter phase keeps one request per session in flight.

It prints a summary (requests, failures, wrong answers and counters, lost keys, duration, requests per second,
conflicting writes the middleware merged and retried; ``-s`` shows it) and fails if anything failed or was lost.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from harness.processes import running_server, uvicorn_command
from starlette_dynamo_session import DynamoStore

pytestmark = pytest.mark.anyio

REQUESTS = int(os.environ.get("SOAK_REQUESTS", "2000"))  # increments in the counter phase
SESSIONS = int(os.environ.get("SOAK_SESSIONS", "20"))
MERGE_REQUESTS = REQUESTS // 10  # requests of the merge phase, one new key each
CONCURRENCY = 32  # requests in flight
MERGE_CONCURRENCY = 8  # requests in flight on one session when merging
WORKERS = 2  # uvicorn worker processes
MAX_SECONDS = 1800.0  # stop sending after this long: a bound on the run, not an assertion
REQUEST_TIMEOUT = 30.0  # seconds for one request
# An idle connection is dropped by the client well before uvicorn closes it (--timeout-keep-alive): otherwise a request
# sent on a connection the server is closing at that moment fails, and that would be the soak's fault, not the server's.
CLIENT_KEEPALIVE_EXPIRY = 2.0  # seconds
SERVER_KEEPALIVE_TIMEOUT = 30  # seconds
# Lines of the server's log that mean something went wrong: a traceback, a refused request, a worker killed.
SERVER_ERROR_MARKERS = ("Traceback", "session store unavailable", "session not saved", "died", "not ready in time")
SECRET_KEY = "soak-secret-key"


@dataclass(frozen=True)
class Plan:
    """How much the soak sends: increments and merges, over how many sessions, how many in flight, for how long."""

    requests: int
    sessions: int
    merge_requests: int
    concurrency: int = CONCURRENCY
    merge_concurrency: int = MERGE_CONCURRENCY
    max_seconds: float = MAX_SECONDS


def count_conflicts(path: Path) -> int:
    """The conflicting writes logged so far in ``path`` (``SESSION_CONFLICT_LOG`` of ``tests/apps/counter.py``)."""
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
    """The key that merge request ``number`` of a session sets."""
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
        """The phase's figures as JSON-ready values, latencies as percentiles in milliseconds."""
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
        """Whether the soak's time is up."""
        return time.monotonic() > self.deadline


async def counter_phase(driver: Driver, records: list[SessionRecord]) -> Phase:
    """Send every session's increments, one at a time per session; check each answer is the next number."""
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
    """Set every session's merge keys, ``per_session`` requests at once on ``sessions_at_once`` sessions at a time."""
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
    """Every session as the server reads it at the end (``None`` if it could not be read), by index."""

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


def plan_sessions(requests: int, merge_requests: int, sessions: int) -> list[SessionRecord]:
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


def no_cookies() -> CookieJar:
    """A cookie jar that keeps nothing: every request carries exactly the cookie of its own session."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


async def drive(client: httpx.AsyncClient, plan: Plan, conflict_log: Path) -> dict[str, Any]:
    """Run both phases of ``plan`` through ``client``, read every session back and check it; return the summary."""
    records = plan_sessions(plan.requests, plan.merge_requests, plan.sessions)
    driver = Driver(client, plan.concurrency, time.monotonic() + plan.max_seconds)
    counter = await counter_phase(driver, records)
    counter.conflicts_retried = count_conflicts(conflict_log)
    sessions_at_once = max(1, plan.concurrency // plan.merge_concurrency)
    merge = await merge_phase(driver, records, plan.merge_concurrency, sessions_at_once)
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


def report(summary: dict[str, Any], plan: Plan) -> str:
    """The summary as a few lines of text."""
    lines = [
        f"soak: {summary['requests']} requests, {plan.sessions} sessions, {plan.concurrency} in flight, "
        f"{WORKERS} uvicorn workers"
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
    lines.append(f"  table    {summary['items']} items for {plan.sessions} sessions")
    for kind, examples in summary["examples"].items():
        lines += [f"  {kind}: {example}" for example in examples]
    return "\n".join(lines)


def count_items(store: DynamoStore) -> int:
    """How many items the store's table holds (a strongly consistent scan)."""
    pages = store.client.get_paginator("scan").paginate(TableName=store.table_name, Select="COUNT", ConsistentRead=True)
    return sum(int(page["Count"]) for page in pages)


# --- the soak, on DynamoDB Local ------------------------------------------------------------------------------------


@pytest.mark.soak
@pytest.mark.dynamodb_local
async def test_a_soak_through_two_uvicorn_workers_keeps_every_counter_exact_and_every_merged_key(
    dynamodb_local_session: boto3.Session, dynamodb_local_endpoint: str, tmp_path: Path
) -> None:
    store = DynamoStore(dynamodb_local_session, table_name=f"soak-{uuid.uuid4().hex}")
    store.create_table()
    plan = Plan(REQUESTS, SESSIONS, MERGE_REQUESTS)
    conflict_log = tmp_path / "conflicts.log"
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_local_endpoint,
        "SESSION_TABLE": store.table_name,
        "SESSION_SECRET_KEY": SECRET_KEY,
        "SESSION_CONFLICT_LOG": str(conflict_log),
    }
    command = uvicorn_command(
        "tests.apps.counter:app",
        *("--workers", str(WORKERS), "--timeout-keep-alive", str(SERVER_KEEPALIVE_TIMEOUT)),
        *("--no-access-log", "--log-level", "info"),
    )
    with running_server(command, log_dir=tmp_path, name="uvicorn", env=env) as server:
        async with client_for(server.url, plan.concurrency) as client:
            summary = await drive(client, plan, conflict_log)
    errors = [line for line in server.output().splitlines() if any(marker in line for marker in SERVER_ERROR_MARKERS)]
    summary["server_errors"] = len(errors)
    summary["examples"]["server_errors"] = errors[:5]
    summary["items"] = count_items(store)
    print(report(summary, plan))

    counter, merge = summary["phases"]
    assert (counter["requests"], merge["requests"]) == (REQUESTS, MERGE_REQUESTS)
    assert summary["failures"] == summary["wrong_answers"] == summary["wrong_sessions"] == 0, summary["examples"]
    assert summary["server_errors"] == 0, errors[:5]
    assert summary["items"] == SESSIONS
    # One request in flight per session: no two writes of a session ever raced.
    assert counter["conflicts_retried"] == 0


# --- the soak's checks, against servers that lose updates on purpose -------------------------------------------------


class InMemoryCounterApp:
    """``tests/apps/counter.py``'s routes with sessions in a dict, and optionally the bugs the soak must catch: one
    write of each session lost (the one that makes its count ``lose_increment``), or every write of key ``lose_key``."""

    def __init__(self, lose_increment: int | None = None, lose_key: str | None = None) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}
        self.lost: set[str] = set()
        self.lose_increment = lose_increment
        self.lose_key = lose_key
        routes = [
            Route("/", self.show),
            Route("/increment", self.increment, methods=["POST"]),
            Route("/set", self.set_value, methods=["POST"]),
        ]
        self.app = Starlette(routes=routes)

    def load(self, request: Request) -> tuple[str, dict[str, Any]]:
        token = request.cookies.get("session") or uuid.uuid4().hex
        return token, dict(self.sessions.get(token, {}))

    def answer(self, token: str, session: dict[str, Any]) -> JSONResponse:
        response = JSONResponse({"session": session, "pid": 0})
        response.set_cookie("session", token)
        return response

    async def show(self, request: Request) -> JSONResponse:
        token, session = self.load(request)
        return self.answer(token, session)

    async def increment(self, request: Request) -> JSONResponse:
        token, session = self.load(request)
        session["count"] = session.get("count", 0) + 1
        if session["count"] == self.lose_increment and token not in self.lost:
            self.lost.add(token)
        else:
            self.sessions[token] = session
        return self.answer(token, session)

    async def set_value(self, request: Request) -> JSONResponse:
        token, session = self.load(request)
        session[request.query_params["key"]] = request.query_params["value"]
        if request.query_params["key"] != self.lose_key:
            self.sessions[token] = session
        return self.answer(token, session)


async def soak_in_memory(app: InMemoryCounterApp, tmp_path: Path) -> dict[str, Any]:
    plan = Plan(requests=60, sessions=3, merge_requests=12, merge_concurrency=4)
    async with client_for("http://soak", plan.concurrency, httpx.ASGITransport(app=app.app)) as client:
        return await drive(client, plan, tmp_path / "conflicts.log")


async def test_the_soak_finds_nothing_wrong_with_a_server_that_loses_nothing(tmp_path: Path) -> None:
    summary = await soak_in_memory(InMemoryCounterApp(), tmp_path)
    assert (summary["requests"], summary["failures"], summary["wrong_answers"], summary["wrong_sessions"]) == (
        72,
        0,
        0,
        0,
    )


async def test_the_soak_reports_a_lost_increment(tmp_path: Path) -> None:
    summary = await soak_in_memory(InMemoryCounterApp(lose_increment=5), tmp_path)
    assert summary["wrong_answers"] == 3 * 15  # from the 6th increment on, every answer of every session is one short
    assert summary["wrong_sessions"] == 3
    assert "counter is 19, expected 20" in summary["examples"]["wrong_sessions"][0]["problems"]


async def test_the_soak_reports_a_lost_merge_key(tmp_path: Path) -> None:
    summary = await soak_in_memory(InMemoryCounterApp(lose_key="merge-2"), tmp_path)
    assert summary["wrong_answers"] == 0
    assert summary["wrong_sessions"] == 3
    assert summary["examples"]["wrong_sessions"][0]["problems"] == ["1 merge keys lost or wrong: merge-2"]
