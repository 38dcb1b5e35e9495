"""``benchmarks.md`` and ``benchmarks.png`` from a run's ``Results``.

The report keeps everything above ``MARKER`` of the page it replaces (the hand-written introduction of
``docs/benchmarks.md``) and writes the tables below it.
"""

from __future__ import annotations

import math
from pathlib import Path

from bench.processes import ROOT
from bench.results import EXPECTED_DYNAMO_OPS, Results, Sample, median

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
    "dynamo": "`DynamoSessionMiddleware` + DynamoDB Local",
}
RAW = {"get": "raw boto3 `GetItem` (no HTTP)", "put": "raw boto3 `PutItem` (no HTTP)"}
COLORS = {"bare": "#9e9e9e", "cookie": "#4c72b0", "starsessions": "#dd8452", "dynamo": "#55a868"}


def number(value: float, digits: int = 2) -> str:
    """``value`` with thousands separators and ``digits`` decimals; "n/a" for NaN."""
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def median_of(samples: list[Sample], attribute: str) -> float:
    """The median over rounds of one figure."""
    return median([float(getattr(sample, attribute)) for sample in samples])


def ratio(numerators: list[Sample], denominators: list[Sample]) -> float:
    """The median of the per-round throughput ratios: both sides of each ratio come from the same round."""
    return median([a.throughput / b.throughput for a, b in zip(numerators, denominators, strict=False) if b.throughput])


def operations(samples: list[Sample]) -> str:
    """The store operations per request of the first run, by name (e.g. "GetItem 1, UpdateItem 1")."""
    ops = samples[0].ops if samples else {}
    return ", ".join(f"{name} {count:g}" for name, count in sorted(ops.items())) or "0"


def results_table(results: Results) -> list[str]:
    """Latency, throughput and CPU of every variant and scenario, and of the raw floor."""
    lines = [
        "| scenario | variant | p50 @1 (ms) | p99 @1 (ms) | req/s @64 | p99 @64 (ms) | server CPU per request @64 (ms) "
        "| req/s @64 vs bare |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows = [
        (label, name, variant, scenario) for scenario, label in SCENARIOS.items() for variant, name in VARIANTS.items()
    ]
    rows += [("floor", f"{name}, 1 thread @1, {results.pool} @64", "raw", op) for op, name in RAW.items()]
    for label, name, variant, scenario in rows:
        c1, c64 = results.get(variant, scenario, 1), results.get(variant, scenario, 64)
        vs_bare = "" if variant == "raw" else f"{number(ratio(c64, results.get('bare', scenario, 64)))}x"
        lines.append(
            f"| {label} | {name} | {number(median_of(c1, 'p50'))} | {number(median_of(c1, 'p99'))} "
            f"| {number(median_of(c64, 'throughput'), 0)} | {number(median_of(c64, 'p99'))} "
            f"| {number(median_of(c64, 'cpu_ms'), 3)} | {vs_bare} |"
        )
    return lines


def operations_table(results: Results) -> list[str]:
    """The store operations per request, counted in the servers."""
    lines = [
        "| scenario | `DynamoSessionMiddleware`: DynamoDB requests | expected | exact in every run "
        "| starsessions: store calls |",
        "| --- | --- | ---: | --- | --- |",
    ]
    for scenario, label in SCENARIOS.items():
        dynamo = results.get("dynamo", scenario, 1) + results.get("dynamo", scenario, 64)
        expected = EXPECTED_DYNAMO_OPS[scenario]
        exact = bool(dynamo) and all(math.isclose(sum(sample.ops.values()), expected) for sample in dynamo)
        lines.append(
            f"| {label} | {operations(dynamo)} | {expected} | {'yes' if exact else '**no**'} "
            f"| {operations(results.get('starsessions', scenario, 1))} |"
        )
    return lines


def checks_table(results: Results) -> list[str]:
    """The event-loop and idle-refresh checks."""
    loop, idle = results.event_loop, results.idle_refresh
    return [
        "| check | figure |",
        "| --- | --- |",
        f"| probe without a session, while {loop['requests']:g} session requests run (ms) "
        f"| p50 {number(loop['probe_p50_ms'])}, p99 {number(loop['probe_p99_ms'])} over {loop['probes']:g} probes "
        f"(before the load: p50 {number(loop['idle_probe_p50_ms'])}, p99 {number(loop['idle_probe_p99_ms'])}) |",
        f"| session requests per second vs ideal | {number(loop['throughput'], 0)} vs "
        f"{number(loop['ideal'], 0)} = {results.pool} / ({number(loop['delay_ms'], 0)} ms + "
        f"{number(loop['raw_get_p50_ms'])} ms): {number(loop['throughput'] / loop['ideal'])}x |",
        f"| session request p50 / p99 (ms) | {number(loop['session_p50_ms'], 0)} / "
        f"{number(loop['session_p99_ms'], 0)} |",
        f"| DynamoDB requests per session request | {loop['ops_per_request']:g} |",
        f"| idle-refresh writes (`idle_timeout={idle['idle_timeout']:g}`) | {idle['refresh_writes']:g} over "
        f"{idle['reads']:g} reads in {number(idle['elapsed'], 1)} s = {idle['windows']:g} refresh windows of "
        f"{number(idle['window'], 1)} s (at most one write per window) |",
    ]


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
        "## Results",
        "",
        *results_table(results),
        "",
        f"![Benchmarks chart]({CHART})",
        "",
        "## Store operations per request",
        "",
        *operations_table(results),
        "",
        "## Event loop and idle refresh",
        "",
        *checks_table(results),
        "",
    ]
    (out / MARKDOWN).write_text("\n".join(lines))
    draw(results, out / CHART)


def draw(results: Results, path: Path) -> None:
    """Three panels: p50 latency @1, requests per second @64, store operations per request."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    width = 0.2
    positions = range(len(SCENARIOS))
    panels = [(1, "p50", "p50 latency at concurrency 1 (ms)"), (64, "throughput", "requests/s at concurrency 64")]
    for axis, (concurrency, attribute, title) in zip(axes, panels, strict=False):
        for index, variant in enumerate(VARIANTS):
            values = [median_of(results.get(variant, scenario, concurrency), attribute) for scenario in SCENARIOS]
            offsets = [p + (index - 1.5) * width for p in positions]
            axis.bar(offsets, [0 if math.isnan(v) else v for v in values], width, label=variant, color=COLORS[variant])
        for op, style in (("get", "--"), ("put", ":")):
            value = median_of(results.get("raw", op, concurrency), attribute)
            if not math.isnan(value):
                axis.axhline(value, color="black", linestyle=style, linewidth=1, label=f"raw {op.title()}Item")
        axis.set_title(title)
    axes[1].set_yscale("log")
    for index, variant in enumerate(("starsessions", "dynamo")):
        values = [sum(results.get(variant, scenario, 1)[0].ops.values()) for scenario in SCENARIOS]
        bars = axes[2].bar([p + (index - 0.5) * width for p in positions], values, width, color=COLORS[variant])
        axes[2].bar_label(bars, fmt="%g", fontsize=8)
    axes[2].set_title("store operations per request (counted)")
    axes[2].set_ylim(0, 2.5)
    for axis in axes:
        axis.set_xticks(list(positions), list(SCENARIOS.values()), fontsize=8)
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
