"""The benchmark run, what ``scripts/bench`` does: ``python -m bench.run [--quick] [--rounds N] [--out DIR]``.

It starts DynamoDB Local, one uvicorn server per variant (``bench.apps``), each DynamoDB variant behind a counting
proxy (``harness.proxy``), drives them from a separate load-generator process (``bench.load``) round after round,
checks the event loop under a slow store on both transports and the idle refresh, and writes the results as JSON
and as ``benchmarks.md`` and ``benchmarks.png`` (``bench.report``).

A full run refreshes the committed page, ``docs/``. A quick run's one-round figures are only a check that everything
works: they go to a new temporary folder, which the run prints, and ``docs/`` is left as it is.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import boto3

from bench import report
from bench.apps import LIFETIME, RAW_ITEMS, SESSION_BYTES, TRANSPORTS, VARIANTS, raw_token
from bench.load import LoadWorker, Result
from bench.processes import Server, dynamodb_local, environment, serve
from bench.results import Results, Sample, median, percentile
from harness.processes import ROOT, cpu_seconds, run_queue_seconds
from harness.proxy import Proxy, proxies
from starlette_dynamo_session import IDLE_REFRESH_FRACTION, DynamoStore

# The first write makes the sessions that read, change and clear then use: one session per request. "raw" (the
# floor: a store.read outside the middleware) runs on the DynamoDB variants only.
RUN_ORDER = ("write", "read", "static", "change", "clear", "anon", "raw")
CONCURRENCY = (1, 64)
TABLE, LOOP_TABLE, IDLE_TABLE = "bench-sessions", "bench-loop", "bench-idle"
STORE_DELAYS = (0.020, 0.080)  # seconds the proxy adds to every DynamoDB request in the event-loop checks
LOOP_SESSIONS = 200  # session requests in flight in the event-loop check
PROBE_INTERVAL = 0.005  # seconds between two probes
PROBE_LIMIT = 120.0  # seconds: the probes stop when the load does, or after this
IDLE_TIMEOUT = 10  # seconds: a refresh window of IDLE_TIMEOUT * IDLE_REFRESH_FRACTION
IDLE_PAUSE = 0.02  # seconds between two reads of the idle-refresh check
PACKAGES = ("starlette", "uvicorn", "boto3", "starsessions", "anyio", "h11")


@dataclasses.dataclass(frozen=True)
class Plan:
    """How much one run does."""

    rounds: int
    requests: int  # per timed run at concurrency 1; four times as many at 64
    warmup: int  # requests per variant and scenario before the first round
    loop_requests: int  # session requests of each event-loop check
    idle_reads: int  # reads of the idle-refresh check, IDLE_PAUSE apart
    ceilings: tuple[int, ...]  # max_pool_connections of the default transport's extra event-loop checks


FULL = Plan(rounds=5, requests=500, warmup=400, loop_requests=2000, idle_reads=180, ceilings=(8, 16, 48, 64))
QUICK = Plan(rounds=1, requests=40, warmup=20, loop_requests=300, idle_reads=60, ceilings=(8,))


def log(message: str) -> None:
    """Say what the run is doing, on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    models = [
        line.split(":")[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in line
    ]
    return {
        "cpus": f"{len(os.sched_getaffinity(0))} x {models[0] if models else 'unknown CPU'}",
        "python": platform.python_version(),
        "packages": ", ".join(f"{name} {version(name)}" for name in PACKAGES),
        "load_before": " ".join(f"{value:.2f}" for value in os.getloadavg()),
    }


def ops(server: Server) -> dict[str, int]:
    """The store operations ``server`` has made so far, by name: its proxy's count of DynamoDB requests, or
    starsessions' store calls, which the server counts itself."""
    if server.proxy is not None:
        return server.proxy.snapshot()
    return {str(name): int(count) for name, count in json.loads(server.get("/_ops")).items()}


def difference(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The operations counted between two snapshots."""
    return {name: count - before.get(name, 0) for name, count in after.items() if count != before.get(name, 0)}


def timed_run(
    load: LoadWorker, server: Server, path: str, n: int, concurrency: int, cookies: Sequence[str] | None = None
) -> tuple[Sample, Result]:
    """``n`` requests of ``path``: their sample and the load generator's result. Raises ``RuntimeError`` unless
    every response is a 200."""
    before, cpu = ops(server), cpu_seconds(server.process.pid)
    result = load.run(cmd="http", port=server.port, path=path, n=n, concurrency=concurrency, cookies=cookies)
    cpu, after = cpu_seconds(server.process.pid) - cpu, ops(server)
    if result["statuses"] != {"200": n}:
        raise RuntimeError(f"{server.name} {path}: statuses {result['statuses']}, expected {n} x 200")
    return Sample.of(result, difference(before, after), cpu), result


def cookies_of(result: Result, n: int) -> list[str]:
    """The session cookies ``n`` first writes got, as a browser gets them: from their ``Set-Cookie``."""
    cookies = [cookie for cookie in result["cookies"] if cookie]
    if len(cookies) != n:
        raise RuntimeError(f"{len(cookies)} session cookies from {n} first writes")
    return cookies


def new_sessions(load: LoadWorker, server: Server, n: int, concurrency: int) -> list[str]:
    """The cookies of ``n`` new sessions on ``server``."""
    return cookies_of(timed_run(load, server, "/write", n, concurrency)[1], n)


def run_round(load: LoadWorker, servers: dict[str, Server], requests: int) -> dict[str, Sample]:
    """Every scenario of every server in turn, at each concurrency (``requests`` per run at 1, four times as many
    at 64): the samples by "variant/scenario/concurrency"."""
    samples: dict[str, Sample] = {}
    for concurrency in CONCURRENCY:
        n = requests if concurrency == 1 else requests * 4
        cookies: dict[str, list[str]] = {}
        for scenario in RUN_ORDER:
            for variant, server in servers.items():
                if scenario == "raw" and variant not in TRANSPORTS:
                    continue
                carried = cookies.get(variant) if scenario in ("read", "static", "change", "clear") else None
                sample, result = timed_run(load, server, f"/{scenario}", n, concurrency, carried)
                samples[f"{variant}/{scenario}/{concurrency}"] = sample
                if scenario == "write" and variant != "bare":
                    cookies[variant] = cookies_of(result, n)
    return samples


def event_loop_check(
    load: LoadWorker, probe: LoadWorker, server: Server, delay: float, pool: int, plan: Plan, results: Results
) -> dict[str, float]:
    """LOOP_SESSIONS read-only session requests in flight on ``server``, whose store's ``max_pool_connections`` is
    ``pool`` and whose proxy adds ``delay`` to every DynamoDB request, while another process probes a route without
    a session on its own connection: the probe's latency shows whether the event loop stays free. The ideal
    throughput is the in-flight limit (the botocore transport's threads; the default transport's limit, averaged
    over the run's time) over the mean latency of one store call under this load, as the proxy times it (the delay
    and DynamoDB Local's answer, without the client's own time). The latency of one store call alone (the delay +
    the raw floor's p50 at concurrency 1, less the bare app's) is kept beside it, and so is the share of the time
    the server waited for a CPU."""
    variant = server.name.partition("@")[0]
    store_ms = max(0.0, median_p50(results, variant, "raw") - median_p50(results, "bare", "anon"))
    n = plan.loop_requests
    cookies = new_sessions(load, server, LOOP_SESSIONS, min(LOOP_SESSIONS, pool))
    with tempfile.TemporaryDirectory(prefix="bench-probe-") as folder:
        stop_file = Path(folder) / "stop"
        count = int(PROBE_LIMIT / PROBE_INTERVAL)
        probe.send(
            cmd="http",
            port=server.port,
            path="/anon",
            n=count,
            concurrency=1,
            pause=PROBE_INTERVAL,
            stop_file=str(stop_file),
        )
        time.sleep(0.3)  # probes of the idle server first
        proxy_cpu = cpu_seconds(os.getpid())  # this process's CPU is almost all the proxies'
        waited = run_queue_seconds(server.process.pid)
        sessions = [cookies[k % LOOP_SESSIONS] for k in range(n)]
        sample, result = timed_run(load, server, "/read", n, LOOP_SESSIONS, sessions)
        waited = run_queue_seconds(server.process.pid) - waited
        proxy_cpu = cpu_seconds(os.getpid()) - proxy_cpu
        stop_file.touch()
        probes = probe.receive()
    timed = list(zip(probes["starts"], (latency * 1000 for latency in probes["latencies"]), strict=True))
    under_load = [latency for began, latency in timed if result["start"] <= began <= result["end"]]
    idle = [latency for began, latency in timed if began < result["start"]]
    if TRANSPORTS[variant] == "botocore":
        limit = float(pool)
    else:
        limit = mean_limit(json.loads(server.get("/_limits")), result["start"], result["end"])
    store_times = server.proxy.store_times(result["start"], result["end"]) if server.proxy else []
    store_under_load = sum(store_times) / len(store_times) if store_times else math.nan
    ideal = limit / store_under_load
    pauses = collections_within(json.loads(server.get("/_gc")), result["start"], result["end"])
    return {
        "pool": pool,
        "limit": limit,
        "sessions": LOOP_SESSIONS,
        "requests": n,
        "delay_ms": delay * 1000,
        "store_ms": store_ms,
        "store_under_load_ms": store_under_load * 1000,
        "ideal": ideal,
        "run_queue_share": waited / (result["end"] - result["start"]),
        "throughput": sample.throughput,
        "session_p50_ms": sample.p50,
        "session_p99_ms": sample.p99,
        "cpu_ms": sample.cpu_ms,
        "proxy_cpu_ms": proxy_cpu * 1000 / n,
        "ops_per_request": sum(sample.ops.values()),
        "probes": len(under_load),
        "probe_p50_ms": percentile(under_load, 0.5),
        "probe_p99_ms": percentile(under_load, 0.99),
        "idle_probe_p50_ms": percentile(idle, 0.5),
        "idle_probe_p99_ms": percentile(idle, 0.99),
        "gc_collections": len(pauses),
        "gc_full_collections": sum(1 for generation, _ in pauses if generation == 2),
        "gc_longest_ms": max((seconds * 1000 for _, seconds in pauses), default=0.0),
        "gc_over_5ms": sum(1 for _, seconds in pauses if seconds > 0.005),
    }


def collections_within(collections: Sequence[Sequence[float]], start: float, end: float) -> list[tuple[int, float]]:
    """The garbage collections (``[start, generation, seconds]``, as the server's ``/_gc`` lists them) that began
    within ``[start, end]``: their generation and how long each held the server."""
    return [(int(generation), seconds) for began, generation, seconds in collections if start <= began <= end]


def mean_limit(changes: Sequence[Sequence[float]], start: float, end: float) -> float:
    """The time-weighted mean over ``[start, end]`` of a limit given by its changes, ``(time, limit)`` in order
    (the limit before the first change counts as the first's); NaN without any change."""
    if not changes or end <= start:
        return math.nan
    total, current = 0.0, changes[0][1]
    since = start
    for at, limit in changes:
        if at > start:
            total += current * (min(at, end) - since)
            since = min(at, end)
        current = limit
    total += current * (end - since)
    return total / (end - start)


def median_p50(results: Results, variant: str, scenario: str) -> float:
    """The median p50 at concurrency 1 of one variant and scenario (ms)."""
    return median([sample.p50 for sample in results.get(variant, scenario, 1)])


def idle_refresh_check(load: LoadWorker, server: Server, plan: Plan, results: Results) -> None:
    """One session read every IDLE_PAUSE seconds with ``idle_timeout`` set: its refresh writes against the number of
    refresh windows that passed."""
    written = time.monotonic()
    cookie = new_sessions(load, server, 1, 1)[0]
    before = ops(server)
    n = plan.idle_reads
    result = load.run(
        cmd="http", port=server.port, path="/read", n=n, concurrency=1, cookies=[cookie] * n, pause=IDLE_PAUSE
    )
    made = difference(before, ops(server))
    window = IDLE_TIMEOUT * IDLE_REFRESH_FRACTION
    results.idle_refresh = {
        "reads": n,
        "idle_timeout": IDLE_TIMEOUT,
        "window": window,
        "elapsed": result["end"] - written,
        "windows": math.floor((result["end"] - written) / window),
        "gets": made.get("GetItem", 0),
        "refresh_writes": sum(count for name, count in made.items() if name != "GetItem"),
    }


def seed(table: str) -> None:
    """The sessions the raw floor reads (``raw_token``), of ``SESSION_BYTES`` of JSON each."""
    store = DynamoStore(boto3.Session(), table_name=table)
    data = json.dumps({"blob": "x" * (SESSION_BYTES - len('{"blob":""}'))}, separators=(",", ":")).encode()
    for k in range(RAW_ITEMS):
        store.save(raw_token(k), data, datetime.now(UTC) + timedelta(seconds=LIFETIME))


def measure(plan: Plan, results: Results) -> None:
    """Everything that needs DynamoDB Local, which is started first and stopped last."""
    with ExitStack() as stack:
        log("starting DynamoDB Local")
        url = stack.enter_context(dynamodb_local())
        env = environment(url)
        os.environ.clear()
        os.environ.update(env)
        for table in (TABLE, LOOP_TABLE, IDLE_TABLE):
            store = DynamoStore(boto3.Session(), table_name=table)
            store.create_table()
        seed(TABLE)
        for variant, transport in TRANSPORTS.items():
            config = DynamoStore(boto3.Session(), transport=transport).client.meta.config
            # botocore's Config keeps its options as attributes its stubs do not declare
            results.pools[variant] = int(getattr(config, "max_pool_connections"))  # noqa: B009
        start_proxy: Callable[[float], Proxy] = stack.enter_context(proxies(url))
        load = LoadWorker(env, ROOT)
        stack.callback(load.close)
        probe = LoadWorker(env, ROOT)
        stack.callback(probe.close)
        with ExitStack() as running:
            servers = {
                name: running.enter_context(
                    serve(
                        name,
                        env,
                        start_proxy(0.0) if name in TRANSPORTS else None,
                        BENCH_VARIANT=name,
                        BENCH_TABLE=TABLE,
                    )
                )
                for name in VARIANTS
            }
            log("warming up")  # DynamoDB Local's JVM compiles its hot code in the first thousands of requests
            run_round(load, servers, plan.warmup)
            for index in range(plan.rounds):
                log(f"round {index + 1} of {plan.rounds}")
                order = VARIANTS[index % len(VARIANTS) :] + VARIANTS[: index % len(VARIANTS)]
                samples = run_round(load, {name: servers[name] for name in order}, plan.requests)
                for key, sample in samples.items():
                    results.samples.setdefault(key, []).append(sample)

        def loop_check(variant: str, delay: float, ceiling: int | None = None) -> dict[str, float]:
            """The event-loop check on a new server of ``variant``, with ``max_pool_connections=ceiling`` if given."""
            name, settings = f"{variant}@{delay * 1000:g}ms", {"BENCH_VARIANT": variant, "BENCH_TABLE": LOOP_TABLE}
            if ceiling is not None:
                name, settings["BENCH_POOL"] = f"{name}-pool{ceiling}", str(ceiling)
            log(f"event-loop check: {name}")
            with serve(name, env, start_proxy(delay), **settings) as server:
                pool = results.pools[variant] if ceiling is None else ceiling
                return event_loop_check(load, probe, server, delay, pool, plan, results)

        for delay in STORE_DELAYS:
            for variant in TRANSPORTS:
                results.event_loop[f"{variant}/{delay * 1000:g}"] = loop_check(variant, delay)
        for delay in STORE_DELAYS:
            for ceiling in plan.ceilings:
                results.ceilings[f"{delay * 1000:g}/{ceiling}"] = loop_check("dynamo-auto", delay, ceiling)
        log("idle-refresh check")
        settings = {"BENCH_VARIANT": "dynamo", "BENCH_TABLE": IDLE_TABLE, "BENCH_IDLE_TIMEOUT": str(IDLE_TIMEOUT)}
        with serve("dynamo-idle-timeout", env, start_proxy(0.0), **settings) as server:
            idle_refresh_check(load, server, plan, results)


def destinations(*, quick: bool, out: Path | None, results_file: Path | None) -> tuple[Path, Path]:
    """Where the report and the JSON results go: as given, else ``docs/`` and ``.cache/bench/results.json`` for a
    full run, and a new temporary folder (under ``TMPDIR``) holding both for a quick one, so that one-round figures
    never replace the committed page."""
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="bench-quick-")) if quick else ROOT / "docs"
    if results_file is None:
        results_file = out / "results.json" if quick else ROOT / ".cache" / "bench" / "results.json"
    return out, results_file


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, then write the results and the report."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short round, to check that everything works")
    parser.add_argument("--rounds", type=int, help="rounds (default: 5, or 1 with --quick)")
    parser.add_argument(
        "--out",
        type=Path,
        help="where the report and chart go (default: docs/, or a new temporary folder with --quick)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        help="the results (default: .cache/bench/results.json, or results.json beside a quick report)",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.rounds:
        plan = dataclasses.replace(plan, rounds=args.rounds)
    out, results_file = destinations(quick=args.quick, out=args.out, results_file=args.json)
    command = "scripts/bench" + (" --quick" if args.quick else "") + (f" --rounds {args.rounds}" if args.rounds else "")
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results = Results(command=command, started=started, machine=machine(), plan=dataclasses.asdict(plan))
    began = time.monotonic()
    measure(plan, results)
    results.duration_s = round(time.monotonic() - began)
    results.machine["load_after"] = " ".join(f"{value:.2f}" for value in os.getloadavg())
    results.save(results_file)
    report.write(results, out)
    log(f"wrote {out / report.MARKDOWN} and {out / report.CHART}")
    if args.quick:
        print(f"The quick run's report (docs/ is left as it is): {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
