"""The harness that the tests and the benchmark share, on what only the benchmark uses otherwise: the proxy's counts
by operation, its delay and its timing of store calls, proxies sharing one event loop, and a process's CPU time and
wait for a CPU."""

from __future__ import annotations

import gc
import math
import os
import time
from collections.abc import Iterator

import httpx
import pytest
from aiohttp import web

from harness.processes import cpu_seconds, run_queue_seconds
from harness.proxy import Proxy, proxies
from tests.support.loopback import LoopbackServer, answer

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")

DELAY = 0.2  # seconds


@pytest.fixture(autouse=True)
def collected() -> Iterator[None]:
    """Collect what each test's proxies and servers left to the garbage collector before the next test starts, so
    that a socket their event loops dropped at shutdown is reclaimed here, not reported in another module's test."""
    yield
    gc.collect()


async def list_tables(request: web.Request) -> web.Response:
    await request.read()
    return answer({"TableNames": []})


@pytest.fixture
def upstream() -> Iterator[str]:
    """The URL of a server that answers every request as DynamoDB answers ListTables."""
    with LoopbackServer(list_tables) as server:
        yield server.url


def send(url: str, operation: str) -> int:
    """POST a DynamoDB request of ``operation`` to ``url``; its answer's status."""
    headers = {"X-Amz-Target": f"DynamoDB_20120810.{operation}"}
    return httpx.post(url, content=b"{}", headers=headers, trust_env=False).status_code


def test_the_proxy_lists_and_counts_the_operations_it_passes_on(upstream: str) -> None:
    with Proxy(upstream) as proxy:
        assert [send(proxy.url, operation) for operation in ("GetItem", "PutItem", "GetItem")] == [200, 200, 200]
        assert proxy.take() == ["GetItem", "PutItem", "GetItem"]
        assert proxy.take() == []
        assert proxy.snapshot() == {"GetItem": 2, "PutItem": 1}


def test_proxies_on_one_event_loop_each_hold_a_request_their_own_delay(upstream: str) -> None:
    with proxies(upstream) as start:
        slow, fast = start(DELAY), start(0.0)
        began = time.monotonic()
        assert send(slow.url, "GetItem") == 200
        assert time.monotonic() - began >= DELAY
        assert send(fast.url, "UpdateItem") == 200
        assert (slow.snapshot(), fast.snapshot()) == ({"GetItem": 1}, {"UpdateItem": 1})


def test_the_proxy_times_each_store_call_from_the_whole_request_to_its_answer_delay_included(upstream: str) -> None:
    headers = {"X-Amz-Target": "DynamoDB_20120810.GetItem"}
    with Proxy(upstream, delay=DELAY) as proxy, httpx.Client(trust_env=False) as client:
        assert client.post(proxy.url, content=b"{}", headers=headers).status_code == 200
        between = time.monotonic()
        statuses = [client.post(proxy.url, content=b"{}", headers=headers).status_code for _ in range(2)]
        assert statuses == [200, 200]  # the same keep-alive connection: each answer is timed to its own request
        everything = proxy.store_times(0.0, time.monotonic())
        later = proxy.store_times(between, time.monotonic())
    assert len(everything) == 3
    assert len(later) == 2
    assert all(seconds >= DELAY for seconds in everything)


def test_the_proxy_closes_the_connection_of_a_chunked_request_without_passing_it_on(upstream: str) -> None:
    headers = {"X-Amz-Target": "DynamoDB_20120810.GetItem"}
    with Proxy(upstream) as proxy, pytest.raises(httpx.TransportError):
        httpx.post(proxy.url, content=iter([b"{}"]), headers=headers, trust_env=False)
    assert proxy.take() == []


def test_cpu_seconds_count_the_cpu_time_a_process_has_used() -> None:
    before, spun, turns = cpu_seconds(os.getpid()), time.process_time(), 0
    while time.process_time() - spun < 0.1:
        turns += 1
    assert turns > 0
    assert cpu_seconds(os.getpid()) - before >= 0.05


def test_run_queue_seconds_never_go_back_and_are_nan_for_a_process_that_is_gone() -> None:
    first = run_queue_seconds(os.getpid())
    assert first >= 0
    assert run_queue_seconds(os.getpid()) >= first
    assert math.isnan(run_queue_seconds(2**22 + 1))  # over the kernel's largest PID
