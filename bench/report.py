"""``docs/benchmarks.md`` and ``docs/benchmarks.png`` from the results of one run (``bench.run``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.stats import Sample, median

if TYPE_CHECKING:
    from bench.run import Results

VARIANT_LABELS = {
    "bare": "bare app (no session middleware)",
    "cookie": "Starlette `SessionMiddleware` (cookie)",
    "starsessions": "starsessions 2.2.1 + `InMemoryStore`",
    "dynamo": "`DynamoSessionMiddleware` + DynamoDB Local",
    "dynamo8": "the same, `max_pool_connections=8` (8 threads)",
}
SHORT_LABELS = {
    "bare": "bare",
    "cookie": "cookie",
    "starsessions": "starsessions",
    "dynamo": "dynamo (32 threads)",
    "dynamo8": "dynamo (8 threads)",
}
SCENARIO_LABELS = {
    "anon": "anonymous (no cookie)",
    "read": "read-only session",
    "write": "first write",
    "change": "change",
    "clear": "clear",
}
TICK_LABELS = {"anon": "anonymous", "read": "read-only", "write": "first write", "change": "change", "clear": "clear"}
EXPECTED_DYNAMO_OPS = {"anon": 0, "read": 1, "write": 1, "change": 2, "clear": 2}
TARGET_LATENCY_SLACK_MS = 0.5
TARGET_THROUGHPUT_RATIO = 0.8
TARGET_PROBE_P99_MS = 5.0
TARGET_IDEAL_RATIO = 0.9


def median_of(samples: Sequence[Sample], attribute: str) -> float:
    return median([float(getattr(sample, attribute)) for sample in samples])


def fmt(value: float, digits: int = 2) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:,.{digits}f}"


def met(condition: bool) -> str:
    return "**met**" if condition else "**not met**"


def ops_text(ops: dict[str, float]) -> str:
    if not ops:
        return "0"
    return ", ".join(f"{name} {fmt(count, 2).rstrip('0').rstrip('.')}" for name, count in sorted(ops.items()))


class View:
    """Medians and same-round ratios over the samples of a run."""

    def __init__(self, results: Results) -> None:
        self.results = results
        self.samples = results.samples

    def get(self, variant: str, scenario: str, concurrency: int) -> list[Sample]:
        return self.samples.get(f"{variant}/{scenario}/{concurrency}", [])

    def med(self, variant: str, scenario: str, concurrency: int, attribute: str) -> float:
        return median_of(self.get(variant, scenario, concurrency), attribute)

    def ratio(self, numerator: list[Sample], denominator: list[Sample], attribute: str = "throughput") -> float:
        """The median over rounds of the per-round ratio."""
        pairs = zip(numerator, denominator, strict=False)
        return median([getattr(a, attribute) / getattr(b, attribute) for a, b in pairs if getattr(b, attribute)])

    def ops(self, variant: str, scenario: str) -> dict[str, float]:
        samples = self.get(variant, scenario, 1) + self.get(variant, scenario, 64)
        return samples[0].ops if samples else {}

    def ops_exact(self, variant: str, scenario: str) -> bool:
        """Whether every run of the scenario made the expected number of DynamoDB operations per request."""
        samples = self.get(variant, scenario, 1) + self.get(variant, scenario, 64)
        return bool(samples) and all(
            math.isclose(sample.total_ops, EXPECTED_DYNAMO_OPS[scenario]) for sample in samples
        )


def results_table(view: View) -> list[str]:
    lines = [
        "| scenario | variant | p50 @1 (ms) | p99 @1 (ms) | req/s @64 | p50 @64 (ms) | p99 @64 (ms) "
        "| server CPU per request @64 (ms) | req/s @64 vs bare | store operations per request |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for scenario in ("anon", "read", "write", "change", "clear"):
        for variant in ("bare", "cookie", "starsessions", "dynamo", "dynamo8"):
            c1, c64 = view.get(variant, scenario, 1), view.get(variant, scenario, 64)
            vs_bare = view.ratio(c64, view.get("bare", scenario, 64))
            ops = "none (no store)" if variant in ("bare", "cookie") else ops_text(view.ops(variant, scenario))
            lines.append(
                f"| {SCENARIO_LABELS[scenario]} | {VARIANT_LABELS[variant]} | {fmt(median_of(c1, 'p50'))} "
                f"| {fmt(median_of(c1, 'p99'))} | {fmt(median_of(c64, 'throughput'), 0)} "
                f"| {fmt(median_of(c64, 'p50'))} "
                f"| {fmt(median_of(c64, 'p99'))} | {fmt(median_of(c64, 'cpu_ms'), 3)} | {fmt(vs_bare)}x | {ops} |"
            )
    threads = view.results.raw_threads
    for op, label in (("get", "GetItem"), ("put", "PutItem")):
        c1, c64 = view.get("raw", op, 1), view.get("raw", op, 64)
        lines.append(
            f"| raw boto3 floor | `{label}`, {threads.get(1, 1)} thread @1, {threads.get(64, '?')} threads @64 "
            "(no HTTP) "
            f"| {fmt(median_of(c1, 'p50'))} | {fmt(median_of(c1, 'p99'))} | {fmt(median_of(c64, 'throughput'), 0)} "
            f"| {fmt(median_of(c64, 'p50'))} | {fmt(median_of(c64, 'p99'))} | {fmt(median_of(c64, 'cpu_ms'), 3)} | | "
            f"{ops_text(c1[0].ops) if c1 else ''} |"
        )
    return lines


def ops_table(view: View) -> list[str]:
    lines = [
        "| scenario | `DynamoSessionMiddleware`: DynamoDB requests | expected | starsessions: store calls "
        "| Starlette cookie |",
        "| --- | --- | ---: | --- | --- |",
    ]
    for scenario in ("anon", "read", "write", "change", "clear"):
        dynamo = view.ops("dynamo", scenario)
        exact = "yes" if view.ops_exact("dynamo", scenario) else "**no**"
        lines.append(
            f"| {SCENARIO_LABELS[scenario]} | {ops_text(dynamo)} (= {fmt(sum(dynamo.values()), 0)}; every run: "
            f"{exact}) | {EXPECTED_DYNAMO_OPS[scenario]} | {ops_text(view.ops('starsessions', scenario))} "
            "| 0 (data in the cookie) |"
        )
    return lines


def targets(view: View) -> tuple[list[str], dict[str, bool]]:
    results = view.results
    verdicts: dict[str, bool] = {}
    rows = ["| target | figure | verdict |", "| --- | --- | --- |"]

    exact = {scenario: view.ops_exact("dynamo", scenario) for scenario in EXPECTED_DYNAMO_OPS}
    counted = " / ".join(fmt(sum(view.ops("dynamo", s).values()), 0) for s in EXPECTED_DYNAMO_OPS)
    verdicts["ops"] = all(exact.values())
    rows.append(
        f"| DynamoDB operations per request 0/1/1/2/2 (anonymous/read/first write/change/clear) | {counted}, in every "
        f"run at both concurrencies: {'yes' if verdicts['ops'] else 'no'} | {met(verdicts['ops'])} |"
    )
    idle = results.idle_refresh
    if idle:
        verdicts["idle"] = idle["refresh_writes"] <= idle["windows"]
        rows.append(
            f"| at most one idle-refresh write per refresh window | {idle['refresh_writes']} refresh writes over "
            f"{idle['reads']} reads in {fmt(idle['elapsed'], 1)} s = {idle['windows']} windows of "
            f"{fmt(idle['window'], 1)} s (`idle_timeout={idle['idle_timeout']}`) | {met(verdicts['idle'])} |"
        )

    dyn, bare, raw = view.get("dynamo", "read", 1), view.get("bare", "read", 1), view.get("raw", "get", 1)
    excess = median([d.p50 - b.p50 - r.p50 for d, b, r in zip(dyn, bare, raw, strict=False)])
    verdicts["latency"] = excess <= TARGET_LATENCY_SLACK_MS
    rows.append(
        f"| p50 read-only @1 <= p50 bare + p50 raw GetItem + 0.5 ms | {fmt(median_of(dyn, 'p50'))} ms vs "
        f"{fmt(median_of(bare, 'p50'))} + {fmt(median_of(raw, 'p50'))} + 0.5 ms; per-round excess over bare + GetItem: "
        f"median {fmt(excess)} ms (limit 0.5) | {met(verdicts['latency'])} |"
    )

    dyn64, bare64, raw64 = view.get("dynamo", "read", 64), view.get("bare", "read", 64), view.get("raw", "get", 64)
    ratios = [d.throughput / min(b.throughput, r.throughput) for d, b, r in zip(dyn64, bare64, raw64, strict=False)]
    ratio = median(ratios)
    verdicts["throughput"] = ratio >= TARGET_THROUGHPUT_RATIO
    rows.append(
        f"| req/s read-only @64 >= 0.8 x min(bare, raw GetItem) | {fmt(median_of(dyn64, 'throughput'), 0)} req/s vs "
        f"bare {fmt(median_of(bare64, 'throughput'), 0)} and GetItem {fmt(median_of(raw64, 'throughput'), 0)}/s: "
        f"{fmt(ratio)}x (median of per-round ratios) | {met(verdicts['throughput'])} |"
    )

    loop = results.event_loop
    if loop:
        verdicts["probe"] = loop["probe_p99_ms"] <= TARGET_PROBE_P99_MS
        verdicts["ideal"] = loop["ratio"] >= TARGET_IDEAL_RATIO
        rows.append(
            f"| event loop: probe p99 <= 5 ms | p99 {fmt(loop['probe_p99_ms'])} ms over {loop['probes']} probes "
            f"(p50 {fmt(loop['probe_p50_ms'])}; idle server: p99 {fmt(loop['idle_probe_p99_ms'])}) "
            f"| {met(verdicts['probe'])} |"
        )
        rows.append(
            f"| event loop: session req/s >= 0.9 x ideal | {fmt(loop['throughput'], 0)} req/s vs ideal "
            f"{fmt(loop['ideal'], 0)} = {loop['threads']} threads / ({fmt(loop['delay_ms'], 0)} ms + "
            f"{fmt(loop['raw_get_p50_ms'])} ms GetItem): {fmt(loop['ratio'])}x | {met(verdicts['ideal'])} |"
        )
    return rows, verdicts


def profile_section(profile: dict[str, Any]) -> list[str]:
    if not profile:
        return ["(not run)"]
    lines: list[str] = []
    per = profile["per_scenario"]
    lines += [
        "Thread entries (`anyio.to_thread.run_sync`) and DynamoDB requests per request, counted in-process:",
        "",
        "| scenario | thread entries | DynamoDB requests |",
        "| --- | ---: | --- |",
    ]
    for scenario in ("anon", "read", "write", "change", "clear"):
        counts = dict(per[scenario])
        hops = counts.pop("thread_entries")
        lines.append(f"| {SCENARIO_LABELS[scenario]} | {fmt(hops, 0)} | {ops_text(counts) if counts else '0'} |")
    lines.append("")
    hops = profile["hops"]
    lines += [
        f"Cost of the thread hops (ASGI app called directly, no HTTP server, {profile['requests']} requests per "
        "path in alternating batches of 25; wall = median of batch medians, CPU = all threads of the process):",
        "",
        "| request | wall, store calls in threads (ms) | wall, store calls inline (ms) | inline / threads, wall "
        "| CPU per request, threads (ms) | inline / threads, CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for path, figures in hops.items():
        lines.append(
            f"| `{path}` | {fmt(figures['threads']['wall_ms'], 3)} | {fmt(figures['inline']['wall_ms'], 3)} "
            f"| {fmt(figures['inline']['wall_ratio'])} | {fmt(figures['threads']['cpu_ms'], 3)} "
            f"| {fmt(figures['inline']['cpu_ratio'])} |"
        )
    lines.append("")
    for path, data in profile["profile"].items():
        total = data["total_ms"]
        lines += [
            f"cProfile of `{path}` with the store calls inline (own time per request; cProfile inflates Python "
            f"code, so read the shares, not the milliseconds): total {fmt(total, 3)} ms",
            "",
            "| component | ms per request | share |",
            "| --- | ---: | ---: |",
        ]
        for label, ms in data["components_ms"].items():
            lines.append(f"| {label} | {fmt(ms, 3)} | {fmt(100 * ms / total, 1)}% |")
        lines += ["", "| botocore stage (cumulative) | ms per request | share |", "| --- | ---: | ---: |"]
        for label, ms in data["stages_ms"].items():
            lines.append(f"| {label} | {fmt(ms, 3)} | {fmt(100 * ms / total, 1)}% |")
        lines.append("")
    return lines


def candidates_section(profile: dict[str, Any]) -> list[str]:
    if not profile:
        return ["(not run)"]
    lines = [
        "Each change was applied by monkeypatching in the profiling process only, and measured in alternating batches "
        "against the code as shipped (ratios < 1 mean faster; noise on this machine is a few percent):",
        "",
        "| change | request | wall, shipped (ms) | wall ratio | CPU per request, shipped (ms) | CPU ratio |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, data in profile["candidates"].items():
        for path in ("/read", "/change"):
            shipped, patched = data[path]["shipped"], data[path][name]
            lines.append(
                f"| {data['title']} | `{path}` | {fmt(shipped['wall_ms'], 3)} | {fmt(patched['wall_ratio'])} "
                f"| {fmt(shipped['cpu_ms'], 3)} | {fmt(patched['cpu_ratio'])} |"
            )
    lines += [
        "",
        "JSON work of a read-only request on the event loop (decode the stored bytes, keep the loaded state, serialize "
        "the session again to see that it did not change), CPU per request, best of 7:",
        "",
        "| session size | serialized again, before (µs) | cut from the stored bytes, shipped (µs) | shipped / before |",
        "| --- | ---: | ---: | ---: |",
    ]
    for size, figures in profile["json_cost"].items():
        lines.append(
            f"| {size} | {fmt(figures['before_us'], 1)} | {fmt(figures['shipped_us'], 1)} "
            f"| {fmt(figures['shipped_us'] / figures['before_us'])} |"
        )
    return lines


def findings(view: View) -> list[str]:
    """What dominates, in figures from this run."""
    results = view.results
    profile = results.profile
    lines: list[str] = []
    if profile:
        read = profile["profile"]["/read"]
        components = read["components_ms"]
        total = read["total_ms"]
        sdk = sum(ms for label, ms in components.items() if label.startswith(("botocore", "urllib3", "socket")))
        own = components.get("starlette_dynamo_session (this package)", 0.0)
        json_ms = components.get("json", 0.0)
        signing = sum(ms for label, ms in components.items() if label.startswith("itsdangerous"))
        stages = read["stages_ms"]
        lines.append(
            "- **The AWS SDK dominates the hot path.** In the profiled read-only request, botocore, its HTTP client "
            f"and the socket calls take {fmt(100 * sdk / total, 0)}% of the time; this package's own code "
            f"{fmt(100 * own / total, 1)}%, JSON {fmt(100 * json_ms / total, 1)}%, cookie signing "
            f"{fmt(100 * signing / total, 1)}%. Inside botocore, SigV4 signing alone is "
            f"{fmt(100 * stages['signing (SigV4)'] / total, 1)}% and building the user-agent string "
            f"{fmt(100 * stages['user agent string'] / total, 1)}%, each more than the middleware's own work."
            + (
                " What is left in the package is small: the changes proposed below save microseconds per request."
                if own / total < 0.1
                else ""
            )
        )
    bare_cpu = view.med("bare", "read", 64, "cpu_ms")
    dyn_cpu = view.med("dynamo", "read", 64, "cpu_ms")
    raw_cpu = view.med("raw", "get", 64, "cpu_ms")
    bound = 1000 / (bare_cpu + raw_cpu)
    lines.append(
        "- **CPU per request decides throughput.** Server CPU per read-only request at concurrency 64: bare app "
        f"{fmt(bare_cpu, 3)} ms, `DynamoSessionMiddleware` {fmt(dyn_cpu, 3)} ms; one raw `GetItem` costs "
        f"{fmt(raw_cpu, 3)} ms of CPU in its caller. A session read is an HTTP request plus a botocore call in one "
        f"process, under one GIL: one core's worth of CPU bounds it near 1 / (bare + GetItem) = {fmt(bound, 0)} "
        f"req/s; it reached {fmt(view.med('dynamo', 'read', 64, 'throughput'), 0)} req/s, on a machine shared with "
        "the load generator and DynamoDB Local."
    )
    dyn1, bare1, raw1 = view.get("dynamo", "read", 1), view.get("bare", "read", 1), view.get("raw", "get", 1)
    excess = median([d.p50 - b.p50 - r.p50 for d, b, r in zip(dyn1, bare1, raw1, strict=False)])
    if profile and not math.isnan(excess):
        hop = profile["hops"]["/read"]
        hop_ms = hop["threads"]["wall_ms"] - hop["inline"]["wall_ms"]
        lines.append(
            f"- **Latency at concurrency 1.** A read-only request took {fmt(excess)} ms more than the bare app plus "
            f"one raw `GetItem` (median of per-round differences). In-process, running the store call inline "
            f"instead of in a worker thread made the read {fmt(abs(hop_ms), 3)} ms "
            f"{'faster' if hop_ms > 0 else 'slower'} (inline / threads = {fmt(hop['inline']['wall_ratio'])}): "
            "the hop is two thread wake-ups (worker, then event loop), and what they cost grows with the load on "
            "the cores."
        )
    small = view.get("dynamo8", "read", 64)
    if small:
        ratio = view.ratio(small, view.get("dynamo", "read", 64))
        small_cpu = view.med("dynamo8", "read", 64, "cpu_ms")
        if ratio >= 1.05:
            verdict = "more throughput from fewer threads: the extra threads only contend for the GIL"
        elif ratio > 0.95:
            verdict = "the same throughput within noise: 8 threads are enough when the store answers in a millisecond"
        else:
            verdict = "less throughput with 8 threads here"
        lines.append(
            "- **Fewer worker threads.** With `max_pool_connections=8` (8 threads) instead of the shipped 32, "
            f"read-only throughput at concurrency 64 was {fmt(ratio)}x the shipped default's and CPU per request "
            f"{fmt(small_cpu, 3)} ms instead of {fmt(dyn_cpu, 3)} ms: {verdict}."
        )
    lines.append(
        "- **Thread hops are minimal**: none for a request without a cookie (it never enters a thread), one per "
        "DynamoDB request otherwise (read 1, first write 1, change 2, clear 2). The load and the save cannot share a "
        "hop: the application runs between them."
    )
    loop, pools = results.event_loop, results.event_loop_pools
    if loop:
        cores = loop["ideal"] * loop["server_cpu_ms"] / 1000
        text = (
            "- **Event loop under a slow store.** The loop never waits on I/O (every store call is in a worker "
            f"thread), but it shares one GIL with the worker threads. With {loop['threads']} threads the server "
            f"used {fmt(100 * loop['server_cpu_utilization'], 0)}% of a core at {fmt(loop['server_cpu_ms'], 3)} ms "
            f"of CPU per session request, reached {fmt(loop['ratio'])}x of the ideal, and the probe's p99 was "
            f"{fmt(loop['probe_p99_ms'])} ms (against the idle server, before the load, it was already "
            f"{fmt(loop['idle_probe_p99_ms'])} ms: the 5 ms target is near this shared machine's noise floor). "
            f"At the ideal rate it would need {fmt(cores)} cores of CPU, and one process runs Python on one core at "
            "a time: requests queue, and every loop callback waits for the GIL behind runnable botocore threads."
        )
        if pools:
            text += " With fewer threads: " + "; ".join(
                f"{data['threads']} threads, probe p99 {fmt(data['probe_p99_ms'])} ms, {fmt(data['throughput'], 0)} "
                f"req/s ({fmt(data['ratio'])}x of its ideal of {fmt(data['ideal'], 0)})"
                for data in pools
            )
            text += (
                ". The thread limit is admission control: fewer threads leave the loop CPU to spare and cap what a "
                "slow store can deliver; neither event-loop target can hold at a rate the CPU cannot serve."
            )
        lines.append(text)
    return lines


def write(results: Results, markdown: Path, chart: Path) -> None:
    view = View(results)
    target_rows, verdicts = targets(view)
    machine = results.machine
    plan = results.plan
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{results.command}` (`python -m bench.run`), started {results.started}, finished "
        f"{results.finished} ({plan.get('duration_s', '?')} s). Do not edit by hand: run it again.",
        "",
        "## Machine",
        "",
        f"- {machine.get('nproc')} CPUs (`nproc`): {machine.get('cpu')}; {machine.get('platform')}",
        f"- Python {machine.get('python')}; {machine.get('packages')}",
        f"- {machine.get('java')}; DynamoDB Local: {machine.get('dynamodb_local')}",
        f"- Load average (1, 5, 15 min) before: {machine.get('load_before')}, after: {machine.get('load_after')}. "
        "The machine is shared and noisy: read the medians and the same-round ratios, not single absolute times.",
        "",
        "## Method",
        "",
        "- Each variant is a real uvicorn server (`--http h11 --loop asyncio`, one process, 127.0.0.1, a free port, "
        "started and stopped by PID) serving the same five routes (`bench/apps.py`). The bare app's routes do no "
        "session work.",
        "- A separate load-generator process (`bench/load.py`: raw HTTP/1.1 on asyncio streams, keep-alive "
        "connections opened before the clock starts) sends a fixed number of requests "
        f"({plan['requests'][1]} at concurrency 1, {plan['requests'][64]} at concurrency 64) per scenario, "
        f"variant and round; {plan['rounds']} rounds, the order of the variants rotating from round to round. "
        "Every figure is the median over rounds; every ratio is the median of per-round ratios (both sides from "
        "the same round).",
        "- The first write creates the sessions (about 1 KiB of JSON each) that the read, change and clear runs then "
        "use, one session per request, so no two requests touch one session at once.",
        "- The raw boto3 floor: a thread pool in the load-generator process calling `GetItem` / `PutItem` on the same "
        "DynamoDB Local with a client configured as `DynamoStore` configures its own, items of the same shape and "
        "size, from as many threads as the concurrency (capped at the store's 32 pooled connections, which is also "
        "the middleware's thread limit).",
        "- DynamoDB requests are counted inside each server by a `before-send.dynamodb` handler on its boto3 Session, "
        "starsessions' store calls by wrapping its store's `read`/`write`/`remove`; each server answers its counts "
        "on `/_ops`. Server CPU is read from `/proc/PID/stat` around each run.",
        "- DynamoDB Local's JVM is warmed up (a few thousand requests of every kind) before the first round.",
        "",
        "## Results",
        "",
        "@1 / @64: concurrency 1 / 64. Latencies are measured by the load generator, per request.",
        "",
        *results_table(view),
        "",
        "![Benchmarks chart](benchmarks.png)",
        "",
        "## Store operations per request (counted)",
        "",
        *ops_table(view),
        "",
        "starsessions has no change detection: it writes the whole session back after every request that has one, "
        "so a read-only request costs a read and a write there.",
        "",
        "## Targets",
        "",
        *target_rows,
        "",
        f"Met: {sum(verdicts.values())} of {len(verdicts)}.",
        "",
        "## Event loop under a slow store",
        "",
        *event_loop_section(results.event_loop, results.event_loop_pools),
        "",
        "## Where the time goes",
        "",
        *findings(view),
        "",
        *profile_section(results.profile),
        "## Proposed changes, measured",
        "",
        *candidates_section(results.profile),
        "",
        "Capacity and cost per request on AWS: [capacity.md](capacity.md).",
        "",
    ]
    markdown.write_text("\n".join(lines))
    draw(view, chart)


def event_loop_section(loop: dict[str, Any], pools: list[dict[str, Any]]) -> list[str]:
    if not loop:
        return ["(not run)"]
    runs = [loop, *pools]

    def row(label: str, render: Any) -> str:
        return f"| {label} | " + " | ".join(render(data) for data in runs) + " |"

    return [
        f"A `DynamoSessionMiddleware` server whose boto3 Session sleeps {fmt(loop['delay_ms'], 0)} ms in a "
        f"`before-send.dynamodb` handler (in the worker thread) before every DynamoDB request; {loop['sessions']} "
        f"connections send {loop['requests']} read-only session requests, while another process probes `/anon` "
        "(no session) on its own connection every 5 ms. The ideal is threads / latency, latency = the added delay "
        "+ the p50 of one raw `GetItem` at concurrency 1.",
        "",
        "| figure | " + " | ".join(f"{data['threads']} threads" for data in runs) + " |",
        "| --- |" + " ---: |" * len(runs),
        row(
            "probe p50 / p99 / max under load (ms)",
            lambda d: " / ".join(fmt(d[k]) for k in ("probe_p50_ms", "probe_p99_ms", "probe_max_ms")),
        ),
        row("probes under load", lambda d: str(d["probes"])),
        row(
            "probe p50 / p99 before the load (ms)",
            lambda d: f"{fmt(d['idle_probe_p50_ms'])} / {fmt(d['idle_probe_p99_ms'])}",
        ),
        row("session requests per second", lambda d: fmt(d["throughput"], 0)),
        row(
            "ideal = threads / latency (req/s)",
            lambda d: (
                f"{fmt(d['ideal'], 0)} = {d['threads']} / ({fmt(d['delay_ms'], 0)} + {fmt(d['raw_get_p50_ms'])} ms)"
            ),
        ),
        row("measured / ideal", lambda d: fmt(d["ratio"])),
        row(
            "session request p50 / p99 (ms)", lambda d: f"{fmt(d['session_p50_ms'], 0)} / {fmt(d['session_p99_ms'], 0)}"
        ),
        row("server CPU per session request (ms)", lambda d: fmt(d["server_cpu_ms"], 3)),
        row("server CPU utilization (one core = 100%)", lambda d: f"{fmt(100 * d['server_cpu_utilization'], 0)}%"),
        row("DynamoDB requests per session request", lambda d: ops_text(d["ops_per_request"])),
    ]


def draw(view: View, path: Path) -> None:
    """Four panels: p50 @1, req/s @64, server CPU per request @64, store operations per request."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = ["anon", "read", "write", "change", "clear"]
    variants = ["bare", "cookie", "starsessions", "dynamo", "dynamo8"]
    colors = {
        "bare": "#9e9e9e",
        "cookie": "#4c72b0",
        "starsessions": "#dd8452",
        "dynamo": "#55a868",
        "dynamo8": "#8fd19e",
    }
    figure, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    width = 0.16
    positions = range(len(scenarios))
    panels = [
        (axes[0][0], 1, "p50", "p50 latency at concurrency 1 (ms)"),
        (axes[0][1], 64, "throughput", "requests per second at concurrency 64"),
        (axes[1][0], 64, "cpu_ms", "server CPU per request at concurrency 64 (ms)"),
    ]
    for axis, concurrency, attribute, title in panels:
        for index, variant in enumerate(variants):
            values = [view.med(variant, scenario, concurrency, attribute) for scenario in scenarios]
            axis.bar(
                [p + (index - 2) * width for p in positions],
                [0 if math.isnan(v) else v for v in values],
                width,
                label=SHORT_LABELS[variant],
                color=colors[variant],
            )
        for op, style in (("get", "--"), ("put", ":")):
            value = view.med("raw", op, concurrency, attribute)
            if not math.isnan(value):
                label = "raw GetItem" if op == "get" else "raw PutItem"
                axis.axhline(value, color="black", linestyle=style, linewidth=1, label=label)
        axis.set_title(title)
        axis.set_xticks(list(positions), [TICK_LABELS[s] for s in scenarios], fontsize=8)
        if attribute == "throughput":
            axis.set_yscale("log")
            axis.set_title(f"{title} (log scale)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    axis = axes[1][1]
    for index, variant in enumerate(["starsessions", "dynamo"]):
        values = [sum(view.ops(variant, scenario).values()) for scenario in scenarios]
        bars = axis.bar(
            [p + (index - 0.5) * width for p in positions],
            values,
            width,
            label="starsessions (store calls)" if variant == "starsessions" else "dynamo (DynamoDB requests)",
            color=colors[variant],
        )
        axis.bar_label(bars, fmt="%g", fontsize=8)
    axis.set_ylim(0, 2.5)
    axis.set_title("store operations per request (counted)")
    axis.set_xticks(list(positions), [TICK_LABELS[s] for s in scenarios], fontsize=8)
    axis.legend(fontsize=7)
    results = view.results
    figure.suptitle(
        f"starlette-dynamo-session benchmarks - {results.started}, {results.machine.get('nproc')} CPUs, "
        f"Python {results.machine.get('python')}; medians of {results.plan.get('rounds')} rounds",
        fontsize=10,
    )
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    figure.savefig(path, dpi=100)
    plt.close(figure)
