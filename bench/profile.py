"""The hot path of one session request, in-process: ``python -m bench.profile --json OUT`` (``bench.run`` runs it with
DynamoDB Local as the endpoint).

The app of ``bench.apps`` (variant ``dynamo``) is called directly as an ASGI app, one request at a time, without an
HTTP server, so that what is left is the middleware, Starlette's routing and the store's botocore calls. It measures:

* thread entries (``anyio.to_thread.run_sync``) and DynamoDB operations per request, per scenario;
* wall time and CPU time (all threads of the process) per request, for a read-only request and a change, with the
  store calls in worker threads as shipped, and inline on the event loop (the difference is the cost of the hops);
* where the time goes: cProfile of the same requests with the store calls inline (so that one profiler sees all of
  it), its own time grouped by component, and the cumulative time of botocore's stages;
* the effect of each proposed change (``CANDIDATES``), applied by monkeypatching in this process only, measured in
  alternating batches against the code as shipped.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
from botocore.config import Config
from starlette.types import ASGIApp, Message

import starlette_dynamo_session._store as store_module
from bench.apps import OperationCounter, build_app, dynamo_store
from starlette_dynamo_session import DynamoSessionMiddleware
from starlette_dynamo_session._session import decode_payload, dumps, encode_payload, session_text
from starlette_dynamo_session._store import StoredSession

BATCH = 25  # requests per measured batch; batches of the variants alternate
JSON_SIZES = (1, 10, 100)  # KiB, for the JSON cost of the read path


async def call(app: ASGIApp, path: str, cookie: str | None = None) -> tuple[int, str | None]:
    """One GET request straight into the ASGI app: its status and the ``name=value`` of its ``Set-Cookie``."""
    headers = [(b"host", b"127.0.0.1")]
    if cookie:
        headers.append((b"cookie", cookie.encode("latin-1")))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    messages: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    await app(scope, receive, send)
    start = messages[0]
    set_cookie = None
    for name, value in start.get("headers", []):
        if name == b"set-cookie":
            set_cookie = value.decode("latin-1").split(";", 1)[0]
    return int(start["status"]), set_cookie


class HopCounter:
    """Counts entries into worker threads (``anyio.to_thread.run_sync``) while installed."""

    def __init__(self) -> None:
        self.count = 0

    @contextmanager
    def installed(self) -> Iterator[None]:
        original = anyio.to_thread.run_sync

        async def counting(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await original(*args, **kwargs)

        anyio.to_thread.run_sync = counting  # type: ignore[assignment]
        try:
            yield
        finally:
            anyio.to_thread.run_sync = original


@contextmanager
def inline_store_calls() -> Iterator[None]:
    """Run the store calls on the event loop thread (for profiling and for the cost of the hops only)."""
    original = DynamoSessionMiddleware._in_thread

    async def inline(self: DynamoSessionMiddleware, function: Callable[..., Any], *args: Any) -> Any:
        return function(*args)

    DynamoSessionMiddleware._in_thread = inline  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoSessionMiddleware._in_thread = original  # type: ignore[method-assign]


# --- Proposed changes, applied by monkeypatching, each with the code it stands for. -------------------------------


@contextmanager
def p2_no_parameter_validation() -> Iterator[None]:
    """P2: ``DEFAULT_CONFIG`` with ``parameter_validation=False`` (the store builds every request itself)."""
    original = store_module.DEFAULT_CONFIG
    store_module.DEFAULT_CONFIG = original.merge(Config(parameter_validation=False))
    try:
        yield
    finally:
        store_module.DEFAULT_CONFIG = original


@dataclass(frozen=True)
class Candidate:
    name: str
    title: str
    patch: Callable[[], Any]  # a context manager factory; entered while the app is built and while it runs


CANDIDATES = (Candidate("p2", "P2: botocore `parameter_validation=False`", p2_no_parameter_validation),)


# --- Measurements ---------------------------------------------------------------------------------------------------


@dataclass
class Setup:
    table: str
    app: ASGIApp
    counter: OperationCounter
    hops: HopCounter


def make_setup(table: str, patch: Callable[[], Any] | None = None) -> Setup:
    counter = OperationCounter()
    if patch is None:
        app = build_app("dynamo", table=table, counter=counter, store=dynamo_store(counter, table))
    else:
        with patch():
            app = build_app("dynamo", table=table, counter=counter, store=dynamo_store(counter, table))
    return Setup(table, app, counter, HopCounter())


async def new_sessions(app: ASGIApp, n: int) -> list[str]:
    cookies = []
    for _ in range(n):
        status, cookie = await call(app, "/write")
        if status != 200 or cookie is None:
            raise RuntimeError(f"/write answered {status} without a cookie")
        cookies.append(cookie)
    return cookies


async def per_scenario(setup: Setup, n: int) -> dict[str, dict[str, float]]:
    """Thread entries and DynamoDB operations per request, for each scenario."""
    cookies = await new_sessions(setup.app, n * 3)
    plan: dict[str, list[str | None]] = {
        "anon": [None] * n,
        "write": [None] * n,
        "read": list(cookies[:n]),
        "change": list(cookies[n : 2 * n]),
        "clear": list(cookies[2 * n :]),
    }
    counts: dict[str, dict[str, float]] = {}
    for scenario, scenario_cookies in plan.items():
        before = setup.counter.snapshot()
        setup.hops.count = 0
        with setup.hops.installed():
            for cookie in scenario_cookies:
                await call(setup.app, f"/{scenario}", cookie)
        after = setup.counter.snapshot()
        ops = {name: (after.get(name, 0) - before.get(name, 0)) / n for name in after}
        counts[scenario] = {"thread_entries": setup.hops.count / n, **{k: v for k, v in ops.items() if v}}
    return counts


async def timed_batch(app: ASGIApp, path: str, cookies: list[str]) -> tuple[list[float], float]:
    """Wall times (ms) of the requests, and CPU ms per request (every thread of the process)."""
    walls = []
    cpu = time.process_time()
    for cookie in cookies:
        began = time.perf_counter()
        status, _ = await call(app, path, cookie)
        walls.append((time.perf_counter() - began) * 1000)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}")
    return walls, (time.process_time() - cpu) * 1000 / len(cookies)


async def compare(
    variants: dict[str, tuple[ASGIApp, Callable[[], Any] | None]], path: str, requests: int
) -> dict[str, dict[str, float]]:
    """Run ``requests`` requests of ``path`` on each variant in alternating batches; per variant: median wall time,
    median CPU per request, and the median of per-batch ratios against the first variant."""
    names = list(variants)
    cookies = {name: await new_sessions(app, requests) for name, (app, _) in variants.items()}
    walls: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names}
    for batch_index, offset in enumerate(range(0, requests, BATCH)):
        order = names if batch_index % 2 == 0 else names[::-1]
        for name in order:
            app, patch = variants[name]
            with patch() if patch is not None else _nothing():
                batch_walls, cpu = await timed_batch(app, path, cookies[name][offset : offset + BATCH])
            walls[name].append(statistics.median(batch_walls))
            cpus[name].append(cpu)
    base = names[0]
    return {
        name: {
            "wall_ms": statistics.median(walls[name]),
            "cpu_ms": statistics.median(cpus[name]),
            "wall_ratio": statistics.median([a / b for a, b in zip(walls[name], walls[base], strict=True)]),
            "cpu_ratio": statistics.median([a / b for a, b in zip(cpus[name], cpus[base], strict=True)]),
        }
        for name in names
    }


@contextmanager
def _nothing() -> Iterator[None]:
    yield


COMPONENTS = (
    ("socket I/O (kernel; waiting for DynamoDB Local)", ("<socket>",)),
    ("botocore (serialize, sign, hooks, user agent, parse)", ("botocore/",)),
    ("urllib3 + http.client + email (HTTP/1.1 client)", ("urllib3/", "/http/client.py", "/email/")),
    ("starlette_dynamo_session (this package)", ("starlette_dynamo_session/",)),
    ("starlette (routing, requests, responses)", ("starlette/",)),
    ("json", ("/json/",)),
    ("itsdangerous + hmac + hashlib + base64", ("itsdangerous/", "/hmac.py", "/hashlib.py", "/base64.py")),
    ("asyncio + anyio", ("/asyncio/", "anyio/")),
)


def component(filename: str, name: str) -> str:
    if filename == "~" and ("sendall" in name or "recv" in name or "_socket" in name):
        return COMPONENTS[0][0]
    for label, markers in COMPONENTS[1:]:
        if any(marker in filename for marker in markers):
            return label
    return "other (stdlib, builtins)"


def breakdown(profile: cProfile.Profile, requests: int) -> dict[str, Any]:
    """Own time per request by component (a builtin's time goes to its caller's component, socket calls apart), the
    cumulative time of botocore's stages, and the functions with the most own time."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in stats.values())
    by_component: dict[str, float] = {}
    for (filename, _, name), (_, _, own, _, callers) in stats.items():
        label = component(filename, name)
        if filename == "~" and label == "other (stdlib, builtins)" and callers:
            caller_total = sum(edge[2] for edge in callers.values()) or 1.0
            for caller, edge in callers.items():
                share = own * edge[2] / caller_total
                caller_label = component(caller[0], caller[2])
                by_component[caller_label] = by_component.get(caller_label, 0.0) + share
            continue
        by_component[label] = by_component.get(label, 0.0) + own
    stages = {
        "botocore client call (all of it)": ("botocore/client.py", "_make_api_call"),
        "signing (SigV4)": ("botocore/signers.py", "sign"),
        "user agent string": ("botocore/client.py", "_convert_to_request_dict"),
        "parameter validation + serialization": ("botocore/validate.py", "serialize_to_request"),
        "endpoint rules": ("botocore/client.py", "_resolve_endpoint_ruleset"),
        "HTTP round trip (urllib3)": ("urllib3/connectionpool.py", "urlopen"),
        "response parsing": ("botocore/parsers.py", "parse"),
    }
    stage_ms: dict[str, float] = {}
    for label, (file_marker, function) in stages.items():
        cumulative = sum(
            entry[3] for (filename, _, name), entry in stats.items() if file_marker in filename and name == function
        )
        stage_ms[label] = cumulative * 1000 / requests
    top = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:12]
    return {
        "total_ms": total * 1000 / requests,
        "components_ms": {
            label: ms * 1000 / requests for label, ms in sorted(by_component.items(), key=lambda i: -i[1])
        },
        "stages_ms": stage_ms,
        "top": [
            {
                "function": f"{Path(filename).name}:{line}({name})" if filename != "~" else name,
                "own_ms": entry[2] * 1000 / requests,
                "calls": entry[1] / requests,
            }
            for (filename, line, name), entry in top
        ],
    }


async def profiled(setup: Setup, path: str, requests: int) -> dict[str, Any]:
    cookies = await new_sessions(setup.app, requests)
    profile = cProfile.Profile()
    with inline_store_calls():
        profile.enable()
        for cookie in cookies:
            await call(setup.app, path, cookie)
        profile.disable()
    return breakdown(profile, requests)


def session_of_size(kib: int) -> dict[str, Any]:
    """A plausible session of about ``kib`` KiB of JSON: a user, a CSRF token and a cart of small records."""
    data: dict[str, Any] = {"user": "user-1", "csrf": "x" * 43, "flash": [], "cart": []}
    index = 0
    while len(dumps(data)) < kib * 1024:
        data["cart"].append({"sku": f"SKU-{index:06d}", "qty": index % 5 + 1, "price": "19.99", "title": "Título"})
        index += 1
    return data


def json_cost() -> dict[str, dict[str, float]]:
    """CPU (µs, best of 7) of the JSON work of a read-only request on the event loop - decode the stored bytes,
    remember the loaded state, serialize the session again to see it unchanged - as shipped (the loaded state cut
    from the stored bytes by ``session_text``) and as before (the loaded session serialized once more)."""
    results: dict[str, dict[str, float]] = {}
    for kib in JSON_SIZES:
        stored = StoredSession(encode_payload(time.time(), dumps(session_of_size(kib))), datetime.now(UTC), 1)

        def before(stored: StoredSession = stored) -> bool:
            decoded = decode_payload(stored.data)
            assert decoded is not None
            initial = dumps(decoded[1])
            return dumps(dict(decoded[1])) == initial

        def shipped(stored: StoredSession = stored) -> bool:
            decoded = decode_payload(stored.data)
            assert decoded is not None
            initial = session_text(stored.data, decoded[1])
            return dumps(dict(decoded[1])) == initial

        assert before() and shipped()
        figures = {}
        for label, function in (("before_us", before), ("shipped_us", shipped)):
            repeats = max(5, 2000 // kib)
            best = min(_time_per_call(function, repeats) for _ in range(7))
            figures[label] = best
        results[f"{kib} KiB"] = figures
    return results


def _time_per_call(function: Callable[[], object], repeats: int) -> float:
    began = time.process_time()
    for _ in range(repeats):
        function()
    return (time.process_time() - began) * 1e6 / repeats


async def measure(table: str, requests: int) -> dict[str, Any]:
    base = make_setup(table)
    result: dict[str, Any] = {"requests": requests}
    result["per_scenario"] = await per_scenario(base, 20)
    # Warm DynamoDB Local's JIT for these paths before timing.
    warm = await new_sessions(base.app, requests)
    for cookie in warm:
        await call(base.app, "/read", cookie)
        await call(base.app, "/change", cookie)
    hops: dict[str, Any] = {}
    for path in ("/read", "/change"):
        hops[path] = await compare(
            {"threads": (base.app, None), "inline": (base.app, inline_store_calls)}, path, requests
        )
    result["hops"] = hops
    result["profile"] = {path: await profiled(base, path, requests) for path in ("/read", "/change")}
    candidates: dict[str, Any] = {}
    for candidate in CANDIDATES:
        patched = make_setup(table, candidate.patch)
        candidates[candidate.name] = {
            "title": candidate.title,
            **{
                path: await compare(
                    {"shipped": (base.app, None), candidate.name: (patched.app, candidate.patch)}, path, requests
                )
                for path in ("/read", "/change")
            },
        }
    result["candidates"] = candidates
    result["json_cost"] = json_cost()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--table", default="bench-sessions")
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args.table, args.requests))
    args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
