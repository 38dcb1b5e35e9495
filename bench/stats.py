"""Summaries of timed runs: percentiles, throughput, medians over rounds."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values`` (nearest rank); NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    """The median of the values that are numbers; NaN when there are none."""
    present = [value for value in values if not math.isnan(value)]
    return statistics.median(present) if present else math.nan


@dataclass
class Sample:
    """One timed run: ``n`` requests (or store calls), their latency percentiles (ms), throughput (per second), and
    the store operations per request, by name."""

    n: int
    p50: float
    p90: float
    p99: float
    throughput: float
    ops: dict[str, float] = field(default_factory=dict)
    cpu_ms: float = math.nan  # CPU time of the server (or of the raw baseline's process) per request, in ms

    @classmethod
    def of(cls, result: Mapping[str, Any], ops: Mapping[str, float] | None = None, cpu: float = math.nan) -> Sample:
        """Summarize a ``bench.load`` result; ``ops`` (total operations) and ``cpu`` (total CPU seconds) are divided
        here by the request count."""
        latencies = [seconds * 1000 for seconds in result["latencies"]]
        n = len(latencies)
        elapsed = float(result["end"]) - float(result["start"])
        per_request = {name: count / n for name, count in (ops or {}).items() if count}
        return cls(
            n=n,
            p50=percentile(latencies, 0.5),
            p90=percentile(latencies, 0.9),
            p99=percentile(latencies, 0.99),
            throughput=n / elapsed if elapsed > 0 else math.nan,
            ops=per_request,
            cpu_ms=cpu * 1000 / n if n else math.nan,
        )

    @property
    def total_ops(self) -> float:
        return sum(self.ops.values())


def ops_difference(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """Operations counted between two snapshots, by name."""
    return {name: after.get(name, 0) - before.get(name, 0) for name in after if after.get(name, 0) != before.get(name)}
