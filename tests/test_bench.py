"""The benchmark machinery works: a real uvicorn server of each kind, driven by the load-generator process, counts the
store operations each scenario makes, and the report renders. Counts only, never timings."""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest

from bench import capacity, profile, report
from bench.load import LoadWorker
from bench.run import Results, key, run_raw, run_scenario, session_cookies
from bench.servers import PYTHON, ROOT, Server, bench_environment
from bench.stats import Sample
from starlette_dynamo_session import DynamoStore

TABLE = "bench-smoke"
REQUESTS = 6
CONCURRENCY = 3


UNUSED_ENDPOINT = "http://127.0.0.1:9"  # for servers that never call DynamoDB (nothing listens on port 9)


@contextmanager
def load_worker() -> Iterator[LoadWorker]:
    """A load-generator process, its DynamoDB endpoint the one of this test's environment."""
    load = LoadWorker(PYTHON, bench_environment(endpoint()), str(ROOT))
    try:
        yield load
    finally:
        load.close()


def endpoint() -> str:
    return os.environ.get("AWS_ENDPOINT_URL_DYNAMODB", UNUSED_ENDPOINT)


def scenario_ops(worker: LoadWorker, server: Server) -> dict[str, Sample]:
    """Each scenario once, the way a round runs them: first writes make the sessions the others use."""
    samples: dict[str, Sample] = {}
    samples["write"], cookies = run_scenario(worker, server, "write", REQUESTS, CONCURRENCY, None)
    assert len(cookies) == REQUESTS
    for scenario in ("read", "change", "clear"):
        samples[scenario], _ = run_scenario(worker, server, scenario, REQUESTS, CONCURRENCY, cookies)
    samples["anon"], _ = run_scenario(worker, server, "anon", REQUESTS, CONCURRENCY, None)
    return samples


def test_starsessions_store_calls_are_counted() -> None:
    server = Server.start("starsessions", bench_environment(UNUSED_ENDPOINT), BENCH_VARIANT="starsessions")
    try:
        with load_worker() as worker:
            samples = scenario_ops(worker, server)
    finally:
        server.stop()
    assert {scenario: sample.ops for scenario, sample in samples.items()} == {
        "write": {"write": 1.0},
        "read": {"read": 1.0, "write": 1.0},  # no change detection: a read-only request writes the session back
        "change": {"read": 1.0, "write": 1.0},
        "clear": {"read": 1.0, "remove": 1.0},
        "anon": {},
    }
    assert all(sample.n == REQUESTS for sample in samples.values())


@pytest.mark.dynamodb_local
def test_dynamodb_operations_per_request(dynamodb_local_session: boto3.Session) -> None:
    DynamoStore(dynamodb_local_session, table_name=TABLE).create_table()
    server = Server.start("dynamo", bench_environment(endpoint()), BENCH_VARIANT="dynamo", BENCH_TABLE=TABLE)
    try:
        with load_worker() as worker:
            samples = scenario_ops(worker, server)
            raw = run_raw(worker, "get", REQUESTS, 2, table=TABLE)
    finally:
        server.stop()
    assert {scenario: sample.ops for scenario, sample in samples.items()} == {
        "write": {"UpdateItem": 1.0},
        "read": {"GetItem": 1.0},
        "change": {"GetItem": 1.0, "UpdateItem": 1.0},
        "clear": {"GetItem": 1.0, "DeleteItem": 1.0},
        "anon": {},
    }
    assert raw.ops == {"GetItem": 1.0}
    assert raw.n == REQUESTS


@pytest.mark.dynamodb_local
def test_idle_refresh_and_session_cookies(dynamodb_local_session: boto3.Session) -> None:
    """A server with ``idle_timeout`` refreshes nothing while the refresh window has not passed."""
    DynamoStore(dynamodb_local_session, table_name=TABLE).create_table()
    env = bench_environment(endpoint())
    server = Server.start("idle", env, BENCH_VARIANT="dynamo", BENCH_TABLE=TABLE, BENCH_IDLE_TIMEOUT="3600")
    try:
        with load_worker() as worker:
            cookies = session_cookies(worker, server, 2, concurrency=2)
            sample, _ = run_scenario(worker, server, "read", 2, 1, [cookies[0], cookies[0]])
    finally:
        server.stop()
    assert sample.ops == {"GetItem": 1.0}  # the window is 360 s: no refresh write


@pytest.mark.dynamodb_local
def test_no_thread_without_a_cookie(dynamodb_local_session: boto3.Session) -> None:
    """The profiler's counts: a request without a cookie never enters a worker thread; the others enter one per
    DynamoDB request."""
    DynamoStore(dynamodb_local_session, table_name=TABLE).create_table()
    counts = asyncio.run(profile.per_scenario(profile.make_setup(TABLE), 2))
    assert {scenario: figures["thread_entries"] for scenario, figures in counts.items()} == {
        "anon": 0.0,
        "write": 1.0,
        "read": 1.0,
        "change": 2.0,
        "clear": 2.0,
    }


def test_report_renders(tmp_path: Path) -> None:
    """The report and the capacity page render from a (tiny, partial) set of results."""
    results = Results(command="test", started="now", machine={"nproc": "2"}, plan={"rounds": 1, "requests": {1: 1}})
    results.plan["requests"] = {1: 2, 64: 2}
    latencies = {"latencies": [0.001, 0.002], "start": 0.0, "end": 0.01}
    for variant, ops in (("dynamo", {"GetItem": 2}), ("bare", {}), ("raw", {"GetItem": 2})):
        scenario = "get" if variant == "raw" else "read"
        for concurrency in (1, 64):
            results.add(key(variant, scenario, concurrency), Sample.of(latencies, ops, 0.001))
    report.write(results, tmp_path / "benchmarks.md", tmp_path / "benchmarks.png")
    text = (tmp_path / "benchmarks.md").read_text()
    assert "| read-only session | `DynamoSessionMiddleware` + DynamoDB Local |" in text
    assert (tmp_path / "benchmarks.png").read_bytes().startswith(b"\x89PNG")
    page = capacity.render(results)
    assert "| read-only session | GetItem 1 | 1 / 0 | $0.125 |" in page


def test_item_sizes_match_the_store() -> None:
    """The capacity page's item size is what ``item_size`` counts for a real item of that session size."""
    size = capacity.stored_item_size(1024)
    assert 1024 < size < 1024 + 200
    assert capacity.write_units(size) == 2
    assert capacity.read_units(size) == 1
    assert math.isclose(capacity.cost({"GetItem": 1, "UpdateItem": 1}, size).dollars_per_million, 0.125 + 2 * 0.625)
