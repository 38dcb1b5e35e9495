"""What a run measured (``Results``, saved as JSON), and the summaries it is made of."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# DynamoDB requests per request of each scenario that DynamoSessionMiddleware must make, no more, no fewer.
EXPECTED_DYNAMO_OPS = {"anon": 0, "read": 1, "static": 0, "write": 1, "change": 2, "clear": 2}


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values`` (nearest rank); NaN when there are none."""
    if not values:
        return math.nan
    return sorted(values)[max(1, math.ceil(fraction * len(values))) - 1]


def median(values: Sequence[float]) -> float:
    """The median of the values that are numbers; NaN when there are none."""
    present = [value for value in values if not math.isnan(value)]
    return statistics.median(present) if present else math.nan


@dataclass
class Sample:
    """One timed run of ``n`` requests (or raw store calls): latency percentiles (ms), requests per second, the
    store operations per request by name, and the server's CPU time per request (ms)."""

    n: int
    p50: float
    p99: float
    throughput: float
    ops: dict[str, float]
    cpu_ms: float

    @classmethod
    def of(cls, result: Mapping[str, Any], ops: Mapping[str, int], cpu_seconds: float) -> Sample:
        """Summarize a ``bench.load`` result, given the operations and CPU seconds it cost in total."""
        latencies = [seconds * 1000 for seconds in result["latencies"]]
        n = len(latencies)
        elapsed = float(result["end"]) - float(result["start"])
        return cls(
            n=n,
            p50=percentile(latencies, 0.5),
            p99=percentile(latencies, 0.99),
            throughput=n / elapsed if elapsed > 0 else math.nan,
            ops={name: count / n for name, count in ops.items() if count},
            cpu_ms=cpu_seconds * 1000 / n,
        )


@dataclass
class Results:
    """Everything one run measured."""

    command: str
    started: str
    machine: dict[str, str]
    plan: dict[str, Any]
    duration_s: float = math.nan
    # Each transport's default max_pool_connections, by variant: its limit on requests in flight.
    pools: dict[str, int] = field(default_factory=dict)
    # "variant/scenario/concurrency" -> one Sample per round
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    # "variant/in-flight limit" -> the figures of one event-loop check
    event_loop: dict[str, dict[str, float]] = field(default_factory=dict)
    # "store delay (ms)/ceiling" -> the default transport's event-loop check with max_pool_connections=ceiling
    ceilings: dict[str, dict[str, float]] = field(default_factory=dict)
    idle_refresh: dict[str, float] = field(default_factory=dict)

    def get(self, variant: str, scenario: str, concurrency: int) -> list[Sample]:
        """The samples of one variant, scenario and concurrency, one per round."""
        return self.samples.get(f"{variant}/{scenario}/{concurrency}", [])

    def save(self, path: Path) -> None:
        """Write the results as JSON."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1))
