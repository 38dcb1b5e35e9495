"""Concurrent requests on one session: nothing lost, nothing resurrected, and the event loop never blocked."""

from __future__ import annotations

import functools
import threading
from typing import Any

import anyio
import boto3
import httpx
import pytest
from botocore.config import Config
from moto.dynamodb.models import DynamoDBBackend
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from starlette_dynamo_session import DynamoSessionMiddleware, DynamoStore
from tests.conftest import SECRET_KEY
from tests.support.recorder import OperationRecorder

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def atomic_moto_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies each write to an item atomically; moto checks a condition and writes without a lock, so
    under threads two conditional writes can both pass. One lock around moto's item operations restores the real
    behaviour (DynamoDB Local needs nothing of the kind)."""
    lock = threading.RLock()
    for name in ("get_item", "put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)

        def locked(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return __original(*args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, locked)


class Barrier:
    """Once armed, holds requests inside their endpoint until ``parties`` of them have loaded the session."""

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self.armed = False
        self.arrived = 0
        self.all_arrived = anyio.Event()
        self.one_arrived = anyio.Event()

    async def wait(self) -> None:
        if not self.armed:
            return
        self.arrived += 1
        self.one_arrived.set()
        if self.arrived >= self.parties:
            self.all_arrived.set()
        with anyio.fail_after(30):  # a request that never arrives fails the test instead of hanging it
            await self.all_arrived.wait()

    async def wait_released(self) -> None:
        """Let every held request go on."""
        self.all_arrived.set()


def make_app(store: DynamoStore, barrier: Barrier | None = None) -> Starlette:
    async def set_key(request: Request) -> JSONResponse:
        if barrier is not None:
            await barrier.wait()
        request.session[request.query_params["key"]] = request.query_params["value"]
        return JSONResponse({"session": request.session})

    async def clear(request: Request) -> JSONResponse:
        if barrier is not None:
            await barrier.wait()
        request.session.clear()
        return JSONResponse({})

    async def view(request: Request) -> JSONResponse:
        return JSONResponse({"session": request.session})

    def sync_probe(request: Request) -> PlainTextResponse:
        return PlainTextResponse("sync ok")

    async def probe(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    routes = [
        Route("/set", set_key, methods=["POST"]),
        Route("/clear", clear, methods=["POST"]),
        Route("/view", view),
        Route("/probe", probe),
        Route("/sync-probe", sync_probe),
    ]
    return Starlette(
        routes=routes, middleware=[Middleware(DynamoSessionMiddleware, store=store, secret_key=SECRET_KEY)]
    )


async def client_for(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def start_session(client: httpx.AsyncClient, **data: str) -> None:
    for key, value in data.items():
        response = await client.post("/set", params={"key": key, "value": value})
        assert response.status_code == 200


async def in_parallel(client: httpx.AsyncClient, requests: list[tuple[str, dict[str, str]]]) -> list[httpx.Response]:
    responses: list[httpx.Response | None] = [None] * len(requests)

    async def send(index: int, path: str, params: dict[str, str]) -> None:
        responses[index] = await client.post(path, params=params)

    async with anyio.create_task_group() as tasks:
        for index, (path, params) in enumerate(requests):
            tasks.start_soon(send, index, path, params)
    return [response for response in responses if response is not None]


async def test_parallel_requests_setting_different_keys_keep_both(store: DynamoStore) -> None:
    barrier = Barrier(2)
    client = await client_for(make_app(store, barrier))
    await start_session(client, user="ada")
    barrier.armed = True
    await in_parallel(client, [("/set", {"key": "a", "value": "1"}), ("/set", {"key": "b", "value": "2"})])
    assert (await client.get("/view")).json() == {"session": {"user": "ada", "a": "1", "b": "2"}}


async def test_a_conflict_between_processes_costs_the_loser_one_more_write_and_no_read(
    store: DynamoStore, recorder: OperationRecorder
) -> None:
    barrier = Barrier(2)
    # Two applications, each with its own middleware, stand for two processes serving one session.
    client = await client_for(make_app(store, barrier))
    await start_session(client, user="ada")
    other = await client_for(make_app(store, barrier))
    other.cookies = client.cookies
    barrier.armed = True
    recorder.take()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(functools.partial(start_session, client, a="1"))
        tasks.start_soon(functools.partial(start_session, other, b="2"))
    assert sorted(recorder.take()) == ["GetItem"] * 2 + ["PutItem"] * 3
    assert (await client.get("/view")).json() == {"session": {"user": "ada", "a": "1", "b": "2"}}


async def test_writes_of_one_session_in_one_process_take_turns_and_never_conflict(
    store: DynamoStore, recorder: OperationRecorder
) -> None:
    barrier = Barrier(2)
    client = await client_for(make_app(store, barrier))
    await start_session(client, user="ada")
    barrier.armed = True
    recorder.take()
    await in_parallel(client, [("/set", {"key": "a", "value": "1"}), ("/set", {"key": "b", "value": "2"})])
    assert sorted(recorder.take()) == ["GetItem"] * 2 + ["PutItem"] * 2
    assert (await client.get("/view")).json() == {"session": {"user": "ada", "a": "1", "b": "2"}}


async def test_when_both_change_one_key_the_later_write_wins_it(store: DynamoStore) -> None:
    barrier = Barrier(2)
    client = await client_for(make_app(store, barrier))
    await start_session(client, user="ada", theme="light")
    barrier.armed = True
    responses = await in_parallel(
        client, [("/set", {"key": "theme", "value": "dark"}), ("/set", {"key": "theme", "value": "blue"})]
    )
    final = (await client.get("/view")).json()["session"]
    assert final["user"] == "ada"
    assert final["theme"] in {"dark", "blue"}
    assert all(response.status_code == 200 for response in responses)


async def test_a_cleared_session_is_not_resurrected_by_a_request_that_loaded_it_before(store: DynamoStore) -> None:
    barrier = Barrier(2)
    client = await client_for(make_app(store, barrier))
    await start_session(client, user="ada")
    barrier.armed = True
    late: list[httpx.Response] = []

    async def late_write() -> None:
        late.append(await client.post("/set", params={"key": "late", "value": "write"}))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(late_write)
        await barrier.one_arrived.wait()
        barrier.armed = False
        assert (await client.post("/clear")).status_code == 200
        await barrier.wait_released()

    assert late[0].status_code == 200
    assert "Max-Age=0" in late[0].headers["set-cookie"]
    assert store.client.scan(TableName=store.table_name)["Count"] == 0


async def test_fifty_concurrent_requests_on_one_session_lose_no_key(store: DynamoStore) -> None:
    client = await client_for(make_app(store))
    await start_session(client, user="ada")
    requests = [("/set", {"key": f"key-{number}", "value": str(number)}) for number in range(50)]
    responses = await in_parallel(client, requests)
    assert [response.status_code for response in responses] == [200] * 50
    session = (await client.get("/view")).json()["session"]
    assert session == {"user": "ada", **{f"key-{number}": str(number) for number in range(50)}}


async def test_a_logout_racing_with_twenty_writes_leaves_no_session(store: DynamoStore) -> None:
    barrier = Barrier(21)
    client = await client_for(make_app(store, barrier))
    await start_session(client, user="ada")
    barrier.armed = True  # every request loads the session before any of them goes on
    requests = [("/set", {"key": f"key-{number}", "value": "x"}) for number in range(20)]
    requests.insert(10, ("/clear", {}))
    responses = await in_parallel(client, requests)
    assert all(response.status_code == 200 for response in responses)
    # Writes stored before the logout were ended with it; writes after it found the session gone and were dropped.
    assert store.client.scan(TableName=store.table_name)["Count"] == 0


class SlowStore:
    """Holds every store request in its worker thread until released; tells when one is held, and how many were held
    at once at most."""

    def __init__(self, store: DynamoStore) -> None:
        self.held = threading.Event()
        self.release = threading.Event()
        self.holding = self.most_held = 0
        self._lock = threading.Lock()
        store.client.meta.events.register("before-send.dynamodb", self._hold)

    def _hold(self, **kwargs: Any) -> None:
        with self._lock:
            self.holding += 1
            self.most_held = max(self.most_held, self.holding)
        self.held.set()
        self.release.wait(timeout=30)
        with self._lock:
            self.holding -= 1


@pytest.fixture
def small_pool_store(boto_session: boto3.Session, store: DynamoStore) -> DynamoStore:
    """The test table, on the botocore transport, through a client with a pool (and so a thread limiter) of two
    connections."""
    return DynamoStore(
        boto_session, table_name=store.table_name, config=Config(max_pool_connections=2), transport="botocore"
    )


async def test_the_event_loop_keeps_serving_while_store_calls_are_slow(small_pool_store: DynamoStore) -> None:
    app = make_app(small_pool_store)
    client, anonymous = await client_for(app), await client_for(app)
    await start_session(client, user="ada")
    slow = SlowStore(small_pool_store)
    async with anyio.create_task_group() as tasks:
        for _ in range(5):
            tasks.start_soon(client.get, "/view")
        await anyio.to_thread.run_sync(slow.held.wait)
        with anyio.fail_after(10):
            assert (await anonymous.get("/probe")).text == "ok"
            assert (await anonymous.get("/sync-probe")).text == "sync ok"
        slow.release.set()


async def test_session_threads_are_bounded_by_the_connection_pool(small_pool_store: DynamoStore) -> None:
    client = await client_for(make_app(small_pool_store))
    await start_session(client, user="ada")
    slow = SlowStore(small_pool_store)
    async with anyio.create_task_group() as tasks:
        for _ in range(6):
            tasks.start_soon(client.get, "/view")
        with anyio.fail_after(30):  # two reach DynamoDB, however slow the machine
            while slow.holding < 2:
                await anyio.sleep(0.01)
        await anyio.sleep(0.3)  # time for more requests to reach DynamoDB, were they not held back
        assert slow.holding == 2
        slow.release.set()
    assert slow.most_held == 2


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_the_botocore_transport_serves_concurrent_sessions_under_trio(
    store: DynamoStore, recorder: OperationRecorder
) -> None:
    client = await client_for(make_app(store))
    await start_session(client, user="ada")
    responses = await in_parallel(client, [("/set", {"key": f"key-{number}", "value": "x"}) for number in range(5)])
    assert [response.status_code for response in responses] == [200] * 5
    session = (await client.get("/view")).json()["session"]
    assert session == {"user": "ada", **{f"key-{number}": "x" for number in range(5)}}
    assert "GetItem" in recorder.take()
