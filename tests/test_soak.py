"""The soak (bench/soak.py), short: 2,000 increments over 20 sessions through two uvicorn workers on DynamoDB Local,
then 200 concurrent merges, and not one update lost. Its checks are also shown to catch a server that loses updates."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.soak import client_for, drive, parse
from tests.dynamodb_local import ROOT

SOAK_TIMEOUT = 600  # seconds: a bound on the subprocess, far above what it takes; not an assertion

pytestmark = pytest.mark.anyio


@pytest.mark.dynamodb_local
def test_a_short_soak_keeps_every_counter_exact_and_every_merged_key(dynamodb_local_endpoint: str) -> None:
    command = [sys.executable, "bench/soak.py", "--requests", "2000", "--sessions", "20", "--merge-requests", "200"]
    command += ["--endpoint", dynamodb_local_endpoint, "--json"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=SOAK_TIMEOUT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])
    counter, merge = summary["phases"]
    assert (counter["name"], counter["requests"], merge["name"], merge["requests"]) == ("counter", 2000, "merge", 200)
    assert summary["requests"] == 2200
    assert summary["failures"] == summary["wrong_answers"] == summary["wrong_sessions"] == 0
    assert summary["server_errors"] == 0
    assert summary["items"] == 20
    # One request in flight per session: no two writes of a session ever raced.
    assert counter["conflicts_retried"] == 0
    assert result.stdout.splitlines()[-2] == "OK"


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
    options = parse(["--requests", "60", "--sessions", "3", "--merge-requests", "12", "--merge-concurrency", "4"])
    async with client_for("http://soak", options.concurrency, httpx.ASGITransport(app=app.app)) as client:
        return await drive(client, options, tmp_path / "conflicts.log")


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
