"""Sessions shared across processes: uvicorn servers of tests/apps/counter.py, in processes of their own, on one
DynamoDB Local table."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import boto3
import httpx
import pytest

from harness.processes import ServerProcess, start_server, uvicorn_command
from starlette_dynamo_session import DynamoStore

pytestmark = pytest.mark.dynamodb_local

SECRET_KEY = "cross-process-secret"

Serve = Callable[..., str]


@pytest.fixture
def shared_store(dynamodb_local_session: boto3.Session) -> DynamoStore:
    """A table of its own on DynamoDB Local; the servers reach it through AWS_ENDPOINT_URL_DYNAMODB."""
    store = DynamoStore(dynamodb_local_session, table_name=f"cross-process-{uuid.uuid4().hex}")
    store.create_table()
    return store


@pytest.fixture
def serve(shared_store: DynamoStore, tmp_path: Path) -> Iterator[Serve]:
    """Start ``python -m uvicorn tests.apps.counter:app`` (or ``app``) on a free port of 127.0.0.1 with these extra
    options and environment variables, and return its URL once it answers; every server is stopped by its PID after
    the test."""
    servers: list[ServerProcess] = []
    env = {**os.environ, "SESSION_TABLE": shared_store.table_name, "SESSION_SECRET_KEY": SECRET_KEY}

    def serve(*options: str, app: str = "tests.apps.counter:app", **settings: str) -> str:
        command = uvicorn_command(app, *options)
        servers.append(start_server(command, log_dir=tmp_path, name="uvicorn", env={**env, **settings}))
        return servers[-1].url

    yield serve
    for server in servers:
        server.stop()


def with_cookie(cookie: str) -> dict[str, str]:
    return {"Cookie": f"session={cookie}"}


def test_a_session_made_in_one_process_is_read_changed_and_destroyed_through_another(
    serve: Serve, shared_store: DynamoStore
) -> None:
    first, second = serve(), serve()

    created = httpx.post(f"{first}/set", params={"key": "user", "value": "alice"})
    cookie = created.cookies["session"]
    read = httpx.get(f"{second}/", headers=with_cookie(cookie))
    assert read.json()["session"] == {"user": "alice"}
    assert read.json()["pid"] != created.json()["pid"]

    changed = httpx.post(f"{second}/set", params={"key": "user", "value": "bob"}, headers=with_cookie(cookie))
    assert changed.json()["session"] == {"user": "bob"}
    assert httpx.get(f"{first}/", headers=with_cookie(cookie)).json()["session"] == {"user": "bob"}

    destroyed = httpx.post(f"{second}/clear", headers=with_cookie(cookie))
    assert "Max-Age=0" in destroyed.headers["set-cookie"]
    assert httpx.get(f"{first}/", headers=with_cookie(cookie)).json()["session"] == {}
    assert shared_store.client.scan(TableName=shared_store.table_name)["Count"] == 0


def test_uvicorn_with_two_workers_serves_one_session_consistently(serve: Serve) -> None:
    url = serve("--workers", "2")
    # No keep-alive: each request is a new connection, which either worker may accept.
    with httpx.Client(base_url=url, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        first = client.post("/increment")
        cookie = first.cookies["session"]
        responses: list[dict[str, Any]] = [first.json()]
        pids = {first.json()["pid"]}
        while len(responses) < 10 or (len(pids) < 2 and len(responses) < 200):
            responses.append(client.post("/increment", headers=with_cookie(cookie)).json())
            pids.add(responses[-1]["pid"])
        final = client.get("/", headers=with_cookie(cookie)).json()
    assert len(pids) == 2, "one worker served every request"
    assert [response["session"]["count"] for response in responses] == list(range(1, len(responses) + 1))
    assert final["session"] == {"count": len(responses)}


def test_concurrent_changes_to_one_session_through_two_workers_all_land(serve: Serve) -> None:
    url = serve("--workers", "2")
    with httpx.Client(base_url=url, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        cookie = client.post("/set", params={"key": "start", "value": "0"}).cookies["session"]

        def set_key(number: int) -> int:
            response = client.post(
                "/set", params={"key": f"key-{number}", "value": str(number)}, headers=with_cookie(cookie)
            )
            response.raise_for_status()
            return int(response.json()["pid"])

        sent = 0
        pids: set[int] = set()
        with ThreadPoolExecutor(max_workers=8) as pool:
            # Batches of 24 concurrent requests, until both workers have served some (at most 10 batches).
            while sent == 0 or (len(pids) < 2 and sent < 240):
                pids |= set(pool.map(set_key, range(sent, sent + 24)))
                sent += 24
        final = client.get("/", headers=with_cookie(cookie)).json()
    assert final["session"] == {"start": "0", **{f"key-{number}": str(number) for number in range(sent)}}
    assert len(pids) == 2, "one worker served every request"


STORM_WRITES = 120


def sessions_read(url: str, cookie: str, until: threading.Event) -> list[Any]:
    """The session as each of a series of reads with ``cookie`` saw it: at least one read, then more until
    ``until`` is set."""
    seen: list[Any] = []
    with httpx.Client(base_url=url, headers=with_cookie(cookie)) as client:
        while not seen or not until.is_set():
            response = client.get("/")
            response.raise_for_status()
            seen.append(response.json()["session"])
    return seen


async def storm(url: str, cookie: str) -> list[httpx.Response]:
    """``STORM_WRITES`` concurrent requests on one session, each setting a key of its own."""
    limits = httpx.Limits(max_connections=STORM_WRITES)
    responses: list[httpx.Response] = []
    async with (
        httpx.AsyncClient(base_url=url, headers=with_cookie(cookie), limits=limits, timeout=60) as client,
        anyio.create_task_group() as tasks,
    ):

        async def write(number: int) -> None:
            responses.append(await client.post("/set", params={"key": f"key-{number}", "value": str(number)}))

        for number in range(STORM_WRITES):
            tasks.start_soon(write, number)
    return responses


@pytest.mark.parametrize("transport", ["botocore", "aiohttp"])
def test_a_write_storm_on_one_session_stores_every_write_while_another_user_is_served_their_own_session(
    serve: Serve, transport: str
) -> None:
    url = serve(SESSION_TRANSPORT=transport)
    stormed = httpx.post(f"{url}/set", params={"key": "start", "value": "0"}).cookies["session"]
    bystander = httpx.post(f"{url}/set", params={"key": "user", "value": "bob"}).cookies["session"]

    storm_over = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        during_storm = pool.submit(sessions_read, url, bystander, storm_over)
        try:
            responses = anyio.run(storm, url, stormed)
        finally:
            storm_over.set()
        seen_by_bystander = during_storm.result()

    assert [response.status_code for response in responses] == [200] * STORM_WRITES
    final = httpx.get(f"{url}/", headers=with_cookie(stormed)).json()["session"]
    assert final == {"start": "0", **{f"key-{number}": str(number) for number in range(STORM_WRITES)}}
    assert seen_by_bystander == [{"user": "bob"}] * len(seen_by_bystander)


ROUNDS = 4


def test_concurrent_sign_ins_of_one_user_leave_exactly_the_limit_in_every_round(
    serve: Serve, shared_store: DynamoStore
) -> None:
    url = serve("--workers", "2", app="tests.apps.users:app", SESSION_LIMIT="3")

    def sign_in(_: int) -> str:
        # A client of its own, with no cookie jar: each sign-in starts a new session (none regenerates another's).
        response = httpx.post(f"{url}/sign-in", params={"user": "ada"})
        response.raise_for_status()
        return response.cookies.get("session") or ""

    for _ in range(ROUNDS):
        with ThreadPoolExecutor(max_workers=10) as pool:
            cookies = list(pool.map(sign_in, range(10)))
        alive = [cookie for cookie in cookies if httpx.get(f"{url}/", headers=with_cookie(cookie)).json()["session"]]
        assert len(anyio.run(shared_store.list_sessions, "ada")) == 3
        assert len(alive) == 3


def test_a_password_change_in_one_process_ends_the_users_sessions_held_in_another(serve: Serve) -> None:
    first, second = (serve(app="tests.apps.users:app", SESSION_LIMIT="10") for _ in range(2))

    def sign_in(url: str, user: str = "ada") -> str:
        response = httpx.post(f"{url}/sign-in", params={"user": user})
        response.raise_for_status()
        return response.cookies.get("session") or ""

    this, *on_first = [sign_in(first) for _ in range(3)]
    on_second, bob = [sign_in(second) for _ in range(2)], sign_in(second, "bob")
    changed = httpx.post(f"{first}/change-password", headers=with_cookie(this))
    assert changed.json() == {"ended": 4}
    new = changed.cookies.get("session") or ""
    sessions = {
        url: [httpx.get(f"{url}/", headers=with_cookie(cookie)).json()["session"] for cookie in on_first + on_second]
        for url in (first, second)
    }
    assert sessions == {first: [{}] * 4, second: [{}] * 4}
    assert httpx.get(f"{second}/", headers=with_cookie(bob)).json()["session"] == {"user": "bob"}
    assert httpx.get(f"{second}/", headers=with_cookie(new)).json()["session"] == {"user": "ada"}
    assert httpx.get(f"{second}/", headers=with_cookie(this)).json()["session"] == {}
