"""``benchmarks.md`` and ``benchmarks.png`` from a run's ``Results``.

The report keeps everything above ``MARKER`` of the page it replaces (the hand-written introduction of
``docs/benchmarks.md``) and writes the tables below it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from bench.results import EXPECTED_DYNAMO_OPS, Results, Sample, median
from harness.processes import ROOT

MARKDOWN, CHART = "benchmarks.md", "benchmarks.png"
MARKER = "<!-- Everything below is written by scripts/bench (bench/report.py). -->"
SCENARIOS = {
    "anon": "anonymous",
    "read": "read-only",
    "static": "static asset, with a cookie",
    "write": "first write",
    "change": "change",
    "clear": "clear",
}
VARIANTS = {
    "bare": "bare app (no session middleware)",
    "cookie": "Starlette `SessionMiddleware` (cookie)",
    "starsessions": "starsessions + `InMemoryStore`",
    "dynamo": "`DynamoSessionMiddleware`, botocore transport",
    "dynamo-auto": "`DynamoSessionMiddleware`, default transport (aiohttp)",
}
TRANSPORTS = {"dynamo": "botocore", "dynamo-auto": "default (aiohttp)"}
COLORS = {
    "bare": "#9e9e9e",
    "cookie": "#4c72b0",
    "starsessions": "#dd8452",
    "dynamo": "#55a868",
    "dynamo-auto": "#8172b3",
}
TARGETS = {
    "cpu_vs_botocore": 0.36,
    "cpu_vs_bare": 4.0,
    "throughput": 0.8,
    "probe_p99_ms": 5.0,
    "loop": 0.9,
    "slow_vs_botocore": 0.9,
}


def number(value: float, digits: int = 2) -> str:
    """``value`` with thousands separators and ``digits`` decimals; "n/a" for NaN."""
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def median_of(samples: list[Sample], attribute: str) -> float:
    """The median over rounds of one figure."""
    return median([float(getattr(sample, attribute)) for sample in samples])


def ratio(numerators: list[Sample], denominators: list[Sample], attribute: str = "throughput") -> float:
    """The median of the per-round ratios of one figure: both sides of each ratio come from the same round."""
    pairs = zip(numerators, denominators, strict=False)
    return median([getattr(a, attribute) / getattr(b, attribute) for a, b in pairs if getattr(b, attribute)])


def operations(samples: list[Sample]) -> str:
    """The store operations per request of the first run, by name (e.g. "GetItem 1, PutItem 1")."""
    ops = samples[0].ops if samples else {}
    return ", ".join(f"{name} {count:g}" for name, count in sorted(ops.items())) or "0"


def exact(results: Results, variant: str) -> bool:
    """Whether ``variant`` made exactly the expected DynamoDB requests in every run of every scenario."""
    samples = [(s, sample) for s in EXPECTED_DYNAMO_OPS for c in (1, 64) for sample in results.get(variant, s, c)]
    return bool(samples) and all(
        math.isclose(sum(sample.ops.values()), EXPECTED_DYNAMO_OPS[scenario]) for scenario, sample in samples
    )


def results_table(results: Results) -> list[str]:
    """Latency, throughput, CPU and DynamoDB requests of every variant and scenario, and of the raw floor."""
    lines = [
        "| scenario | variant | p50 @1 (ms) | p99 @1 (ms) | req/s @64 | p50 @64 (ms) | p99 @64 (ms) "
        "| server CPU per request @64 (ms) | req/s @64 vs bare | DynamoDB requests per request |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    rows = [(label, name, v, scenario) for scenario, label in SCENARIOS.items() for v, name in VARIANTS.items()]
    rows += [("floor", f"raw `GetItem` (`store.read`, no middleware), {t}", v, "raw") for v, t in TRANSPORTS.items()]
    for label, name, variant, scenario in rows:
        c1, c64 = results.get(variant, scenario, 1), results.get(variant, scenario, 64)
        store_ops = operations(c64) if variant in TRANSPORTS else "no DynamoDB"
        lines.append(
            f"| {label} | {name} | {number(median_of(c1, 'p50'))} | {number(median_of(c1, 'p99'))} "
            f"| {number(median_of(c64, 'throughput'), 0)} | {number(median_of(c64, 'p50'))} "
            f"| {number(median_of(c64, 'p99'))} | {number(median_of(c64, 'cpu_ms'), 3)} "
            f"| {number(ratio(c64, results.get('bare', 'anon' if scenario == 'raw' else scenario, 64)))}x "
            f"| {store_ops} |"
        )
    return lines


def operations_table(results: Results) -> list[str]:
    """The DynamoDB requests per request, counted at each server's proxy, and starsessions' store calls."""
    lines = [
        "| scenario | expected | botocore transport | default transport (aiohttp) | starsessions: store calls |",
        "| --- | ---: | --- | --- | --- |",
    ]
    for scenario, label in SCENARIOS.items():
        cells = [operations(results.get(variant, scenario, 1)) for variant in TRANSPORTS]
        lines.append(
            f"| {label} | {EXPECTED_DYNAMO_OPS[scenario]} | {' | '.join(cells)} "
            f"| {operations(results.get('starsessions', scenario, 1))} |"
        )
    verdicts = " | ".join("yes" if exact(results, variant) else "**no**" for variant in TRANSPORTS)
    lines.append(f"| exact in every run, both concurrencies | | {verdicts} | |")
    return lines


def verdict(met: bool) -> str:
    """The targets table's last column."""
    return "**met**" if met else "**not met**"


def targets_table(results: Results) -> list[str]:
    """The targets of the default transport, each computed from this run and marked met or not."""
    auto, boto, bare = (results.get(v, "read", 64) for v in ("dynamo-auto", "dynamo", "bare"))
    raw = results.get("dynamo-auto", "raw", 64)
    vs_boto, vs_bare = ratio(auto, boto, "cpu_ms"), ratio(auto, bare, "cpu_ms")
    floor = [min(b.throughput, r.throughput) for b, r in zip(bare, raw, strict=False)]
    vs_floor = median([a.throughput / f for a, f in zip(auto, floor, strict=False) if f])
    nan = math.nan
    quick, quick_boto, slow, slow_boto = (
        results.event_loop.get(f"{v}/{delay}", {}) for delay in (20, 80) for v in ("dynamo-auto", "dynamo")
    )
    quick_ratio = quick.get("throughput", nan) / quick.get("ideal", nan)
    quick_boto_ratio = quick_boto.get("throughput", nan) / quick_boto.get("ideal", nan)
    slow_ratio = slow.get("throughput", nan) / slow_boto.get("throughput", nan)
    idle = results.idle_refresh
    probe_p99 = TARGETS["probe_p99_ms"]
    rows = [
        (
            f"server CPU per read-only request @64, default <= {TARGETS['cpu_vs_botocore']}x botocore",
            f"{number(median_of(auto, 'cpu_ms'), 3)} ms vs {number(median_of(boto, 'cpu_ms'), 3)} ms: "
            f"{number(vs_boto)}x",
            vs_boto <= TARGETS["cpu_vs_botocore"],
        ),
        (
            f"server CPU per read-only request @64, default <= {TARGETS['cpu_vs_bare']:g}x the bare app",
            f"{number(median_of(auto, 'cpu_ms'), 3)} ms vs {number(median_of(bare, 'cpu_ms'), 3)} ms: "
            f"{number(vs_bare)}x",
            vs_bare <= TARGETS["cpu_vs_bare"],
        ),
        (
            f"read-only req/s @64, default >= {TARGETS['throughput']}x min(bare app, raw `GetItem` on the default)",
            f"{number(median_of(auto, 'throughput'), 0)} vs bare {number(median_of(bare, 'throughput'), 0)} and raw "
            f"{number(median_of(raw, 'throughput'), 0)}: {number(vs_floor)}x",
            vs_floor >= TARGETS["throughput"],
        ),
        (
            f"20 ms store, {quick.get('sessions', nan):g} in flight: no-session probe p99 <= {probe_p99:g} ms, default",
            f"{number(quick.get('probe_p99_ms', nan))} ms (botocore: {number(quick_boto.get('probe_p99_ms', nan))})",
            quick.get("probe_p99_ms", nan) <= probe_p99,
        ),
        (
            f"20 ms store: session req/s >= {TARGETS['loop']}x ideal (mean in-flight limit / mean store call under "
            "the load), default",
            f"{number(quick.get('throughput', nan), 0)} vs {number(quick.get('ideal', nan), 0)} "
            f"(limit {number(quick.get('limit', nan), 1)}): {number(quick_ratio)}x "
            f"(botocore: {number(quick_boto_ratio)}x)",
            quick_ratio >= TARGETS["loop"],
        ),
        (
            f"80 ms store, {slow.get('sessions', nan):g} in flight: session req/s, default >= "
            f"{TARGETS['slow_vs_botocore']}x botocore's ({number(slow_boto.get('pool', nan), 0)} threads)",
            f"{number(slow.get('throughput', nan), 0)} vs {number(slow_boto.get('throughput', nan), 0)} "
            f"(limit {number(slow.get('limit', nan), 1)}): {number(slow_ratio)}x",
            slow_ratio >= TARGETS["slow_vs_botocore"],
        ),
        (
            f"80 ms store: no-session probe p99 <= {probe_p99:g} ms, default",
            f"{number(slow.get('probe_p99_ms', nan))} ms (botocore: {number(slow_boto.get('probe_p99_ms', nan))})",
            slow.get("probe_p99_ms", nan) <= probe_p99,
        ),
        (
            "DynamoDB requests per request exactly 0/1/1/2/2 (anonymous/read/first write/change/clear), static 0",
            ", ".join(f"{t}: {'yes' if exact(results, v) else 'no'}" for v, t in TRANSPORTS.items()),
            all(exact(results, v) for v in TRANSPORTS),
        ),
        (
            "at most one idle-refresh write per refresh window",
            f"{idle['refresh_writes']:g} writes over {idle['reads']:g} reads in {number(idle['elapsed'], 1)} s = "
            f"{idle['windows']:g} windows of {number(idle['window'], 1)} s",
            idle["refresh_writes"] <= idle["windows"],
        ),
    ]
    lines = ["| target | figure | verdict |", "| --- | --- | --- |"]
    lines += [f"| {target} | {figure} | {verdict(met)} |" for target, figure, met in rows]
    return [*lines, "", f"Met: {sum(met for *_, met in rows)} of {len(rows)}."]


Check = dict[str, float]  # the figures of one event-loop check


def probe_cell(check: Check) -> str:
    """The probe's p50 / p99 under load (ms)."""
    return f"{number(check['probe_p50_ms'])} / {number(check['probe_p99_ms'])}"


def vs_ideal_cell(check: Check) -> str:
    """Session throughput over the ideal."""
    return number(check["throughput"] / check["ideal"])


def utilization_cell(check: Check) -> str:
    """The server's CPU under load, as a share of one core."""
    return f"{number(check['cpu_ms'] * check['throughput'] / 10, 0)}%"


def waiting_cell(check: Check) -> str:
    """The share of the time under load the server was ready to run but waited for a CPU."""
    return f"{number(check.get('run_queue_share', math.nan) * 100, 1)}%"


def event_loop_table(results: Results) -> list[str]:
    """Every event-loop check: one column per store delay and transport."""
    checks = sorted(results.event_loop.items(), key=lambda item: (item[1]["delay_ms"], item[0]))
    figures: list[tuple[str, Callable[[Check], str]]] = [
        ("in-flight limit (mean over the run)", lambda c: number(c["limit"], 1)),
        ("probe p50 / p99 under load (ms)", probe_cell),
        ("probes under load", lambda c: f"{c['probes']:g}"),
        (
            "probe p50 / p99 before the load (ms)",
            lambda c: f"{number(c['idle_probe_p50_ms'])} / {number(c['idle_probe_p99_ms'])}",
        ),
        ("session requests per second", lambda c: number(c["throughput"], 0)),
        (
            "store call alone (delay + raw p50 @1) / under the load, at the proxy (ms)",
            lambda c: f"{number(c['delay_ms'] + c['store_ms'])} / {number(c.get('store_under_load_ms', math.nan))}",
        ),
        (
            "ideal = limit / store call under the load",
            lambda c: (
                f"{number(c['ideal'], 0)} = {number(c['limit'], 1)} / "
                f"{number(c.get('store_under_load_ms', math.nan))} ms"
            ),
        ),
        ("measured / ideal", vs_ideal_cell),
        (
            "session request p50 / p99 (ms)",
            lambda c: f"{number(c['session_p50_ms'], 0)} / {number(c['session_p99_ms'], 0)}",
        ),
        ("server CPU per session request (ms)", lambda c: number(c["cpu_ms"], 3)),
        ("server CPU utilization (one core = 100%)", utilization_cell),
        ("proxy CPU per session request (ms)", lambda c: number(c["proxy_cpu_ms"], 3)),
        ("server ready but waiting for a CPU (share of the time under load)", waiting_cell),
        ("DynamoDB requests per session request", lambda c: f"{c['ops_per_request']:g}"),
        (
            "garbage collections under load: all / full / over 5 ms; the longest (ms)",
            lambda c: (
                f"{c.get('gc_collections', math.nan):g} / {c.get('gc_full_collections', math.nan):g} / "
                f"{c.get('gc_over_5ms', math.nan):g}; {number(c.get('gc_longest_ms', math.nan))}"
            ),
        ),
    ]
    header = [f"{c['delay_ms']:g} ms store, {TRANSPORTS[key.split('/')[0]]}" for key, c in checks]
    lines = [f"| figure | {' | '.join(header)} |", f"| --- |{' ---: |' * len(checks)}"]
    lines += [f"| {name} | {' | '.join(cell(check) for _, check in checks)} |" for name, cell in figures]
    return lines


def ceilings_table(results: Results) -> list[str]:
    """The default transport's event-loop checks by ``max_pool_connections`` (the ceiling of its in-flight limit),
    the default ceiling's and the botocore transport's among them: session throughput against the probe's tail."""
    rows = [(key.split("/")[0], c) for key, c in results.event_loop.items()]
    rows += [("dynamo-auto", c) for c in results.ceilings.values()]
    rows.sort(key=lambda row: (row[1]["delay_ms"], row[0] != "dynamo-auto", row[1]["pool"]))
    lines = [
        "| store delay | transport, `max_pool_connections` | mean limit | session req/s | measured / ideal "
        "| probe p50 / p99 (ms) | server CPU | server waiting for a CPU |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for variant, c in rows:
        transport = "botocore" if variant == "dynamo" else "default"
        lines.append(
            f"| {c['delay_ms']:g} ms | {transport}, {c['pool']:g} | {number(c['limit'], 1)} | "
            f"{number(c['throughput'], 0)} | {vs_ideal_cell(c)} | {probe_cell(c)} | {utilization_cell(c)} | "
            f"{waiting_cell(c)} |"
        )
    return lines


def write(results: Results, out: Path) -> None:
    """Write ``out/benchmarks.md`` (the introduction of the page it replaces, or of ``docs/benchmarks.md``, then
    the tables) and ``out/benchmarks.png``."""
    out.mkdir(parents=True, exist_ok=True)
    page = out / MARKDOWN if (out / MARKDOWN).exists() else ROOT / "docs" / MARKDOWN
    text = page.read_text() if page.exists() else ""
    intro = text.split(MARKER)[0].rstrip() if MARKER in text else "# Benchmarks"
    machine, plan = results.machine, results.plan
    lines = [
        intro,
        "",
        MARKER,
        "",
        f"Measured by `{results.command}` on {results.started} in {results.duration_s:g} s: {machine['cpus']}; "
        f"Python {machine['python']}; {machine['packages']}. Load average before / after: {machine['load_before']} "
        f"/ {machine.get('load_after', '?')}. {plan['rounds']} rounds of {plan['requests']} requests at "
        f"concurrency 1 and {plan['requests'] * 4} at concurrency 64 per variant and scenario.",
        "",
        "## Targets",
        "",
        *targets_table(results),
        "",
        "## Results",
        "",
        "@1 / @64: concurrency 1 / 64. Latencies are the load generator's, per request; CPU is the server "
        "process's (`/proc`), per request; ratios are medians of per-round ratios.",
        "",
        *results_table(results),
        "",
        f"![Benchmarks chart]({CHART})",
        "",
        "## DynamoDB requests per request (counted at the proxy)",
        "",
        *operations_table(results),
        "",
        "## Event loop under a slow store",
        "",
        "The proxy holds every DynamoDB request 20 ms, then 80 ms; 200 connections send read-only session requests "
        "while another process probes `/anon` (no session) every 5 ms on its own connection. The in-flight limit is "
        "the botocore transport's threads (`max_pool_connections`), and the default transport's adaptive limit "
        "averaged over the run's time (from the changes it logs). A store call under the load is timed by the proxy, "
        "from the moment it has a request to the first byte of its answer (the delay and DynamoDB Local's answer, "
        "without the client's own time); a store call alone is the delay + the raw floor's p50 at concurrency 1 "
        "less the bare app's. The server's wait for a CPU is its loop thread's run-queue time (`/proc`).",
        "",
        *event_loop_table(results),
        "",
        "## The in-flight ceiling: session throughput against the probe",
        "",
        "The same check for the default transport with `max_pool_connections` (the ceiling of its in-flight limit) "
        "lowered and raised from its default, beside the default and the botocore transport: how many session "
        "requests per second each ceiling serves, and what the requests without a session wait meanwhile. Server "
        "CPU is one core's share.",
        "",
        *ceilings_table(results),
        "",
    ]
    (out / MARKDOWN).write_text("\n".join(lines))
    draw(results, out / CHART)


def draw(results: Results, path: Path) -> None:
    """Four panels: p50 latency @1, requests per second @64, server CPU per request @64 (with the raw floors as
    lines), and DynamoDB requests (starsessions: store calls) per request."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 4, figsize=(20, 4.8))
    width = 0.16
    positions = range(len(SCENARIOS))
    panels = [
        (1, "p50", "p50 latency at concurrency 1 (ms)"),
        (64, "throughput", "requests/s at concurrency 64"),
        (64, "cpu_ms", "server CPU per request at concurrency 64 (ms)"),
    ]
    for axis, (concurrency, attribute, title) in zip(axes, panels, strict=False):
        for index, variant in enumerate(VARIANTS):
            values = [median_of(results.get(variant, scenario, concurrency), attribute) for scenario in SCENARIOS]
            offsets = [p + (index - 2) * width for p in positions]
            axis.bar(offsets, [0 if math.isnan(v) else v for v in values], width, label=variant, color=COLORS[variant])
        for variant, style in (("dynamo", "--"), ("dynamo-auto", ":")):
            value = median_of(results.get(variant, "raw", concurrency), attribute)
            if not math.isnan(value):
                label = f"raw GetItem, {TRANSPORTS[variant]}"
                axis.axhline(value, color=COLORS[variant], linestyle=style, linewidth=1.5, label=label)
        axis.set_title(title, fontsize=10)
    axes[1].set_yscale("log")
    for index, variant in enumerate(("starsessions", *TRANSPORTS)):
        values = [sum(results.get(variant, scenario, 1)[0].ops.values()) for scenario in SCENARIOS]
        bars = axes[3].bar([p + (index - 1) * width for p in positions], values, width, color=COLORS[variant])
        axes[3].bar_label(bars, fmt="%g", fontsize=7)
    axes[3].set_title("DynamoDB requests (starsessions: store calls) per request", fontsize=10)
    axes[3].set_ylim(0, 2.5)
    for axis in axes:
        axis.set_xticks(list(positions), [label.replace(", ", ",\n") for label in SCENARIOS.values()], fontsize=7)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    figure.suptitle(
        f"starlette-dynamo-session benchmarks, {results.started}: {results.machine['cpus']}, medians of "
        f"{results.plan['rounds']} rounds",
        fontsize=10,
    )
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    figure.savefig(path, dpi=100)
    plt.close(figure)
