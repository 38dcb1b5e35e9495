"""``docs/capacity.md``: DynamoDB request units and on-demand cost per request, from the size of the items the store
writes and the operations counted per scenario (``python -m bench.capacity`` renders it without a benchmark run,
with the expected operation counts)."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import boto3

from starlette_dynamo_session._session import dumps, encode_payload
from starlette_dynamo_session._signing import new_token
from starlette_dynamo_session._store import DynamoStore, item_size

if TYPE_CHECKING:
    from bench.run import Results

# On-demand prices used here: us-east-1, US dollars per million request units, in effect since 1 November 2024.
PRICE_PER_MILLION_RRU = 0.125
PRICE_PER_MILLION_WRU = 0.625
SESSION_SIZES = (1024, 10 * 1024, 100 * 1024)  # bytes of session JSON
READ_UNIT = 4096  # bytes per read request unit (strongly consistent)
WRITE_UNIT = 1024  # bytes per write request unit
EXPECTED_OPS = {
    "anon": {},
    "read": {"GetItem": 1.0},
    "write": {"UpdateItem": 1.0},
    "change": {"GetItem": 1.0, "UpdateItem": 1.0},
    "clear": {"GetItem": 1.0, "DeleteItem": 1.0},
}
LABELS = {
    "anon": "anonymous (no cookie)",
    "read": "read-only session",
    "write": "first write",
    "change": "change",
    "clear": "clear (logout)",
}


def stored_item_size(session_bytes: int) -> int:
    """The size DynamoDB counts for the item ``DynamoStore`` writes for a session of ``session_bytes`` of JSON:
    attribute names, the digest key, the payload (creation time + session), expiry, TTL and version."""
    session_json = dumps({"blob": ""})
    session_json = dumps({"blob": "x" * (session_bytes - len(session_json))})
    expiry = datetime.now(UTC) + timedelta(days=14)
    # Making a client sends nothing: this store only lays out the item, with the default attribute names.
    store = DynamoStore(boto3.Session(region_name="us-east-1"))
    return item_size(store.item(new_token(), encode_payload(time.time(), session_json), expiry, version=12))


def read_units(size: int) -> int:
    return math.ceil(size / READ_UNIT)


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT))


@dataclass(frozen=True)
class Cost:
    rru: float
    wru: float

    @property
    def dollars_per_million(self) -> float:
        return self.rru * PRICE_PER_MILLION_RRU + self.wru * PRICE_PER_MILLION_WRU


def cost(ops: dict[str, float], size: int) -> Cost:
    """Request units of one request making ``ops`` on an item of ``size`` bytes. An UpdateItem is charged on the
    larger of the item before and after (the same size here); a DeleteItem on the deleted item's size; a
    TransactWriteItems twice the writes it contains."""
    rru = ops.get("GetItem", 0.0) * read_units(size)
    wru = (ops.get("UpdateItem", 0.0) + ops.get("PutItem", 0.0) + ops.get("DeleteItem", 0.0)) * write_units(size)
    wru += ops.get("TransactWriteItems", 0.0) * 2 * 2 * write_units(size)  # an Update and a Delete, each doubled
    return Cost(rru, wru)


def measured_ops(results: Results | None) -> dict[str, dict[str, float]]:
    """DynamoDB operations per request as counted in the run (falling back to the expected ones)."""
    counted: dict[str, dict[str, float]] = {}
    for scenario, expected in EXPECTED_OPS.items():
        samples = results.samples.get(f"dynamo/{scenario}/1", []) if results is not None else []
        counted[scenario] = dict(samples[0].ops) if samples else dict(expected)
    return counted


def money(value: float) -> str:
    return f"${value:,.3f}"


def render(results: Results | None = None) -> str:
    ops = measured_ops(results)
    sizes = {size: stored_item_size(size) for size in SESSION_SIZES}
    overhead = sizes[SESSION_SIZES[0]] - SESSION_SIZES[0]
    source = (
        f"counted in the benchmark run of {results.started} (`docs/benchmarks.md`)"
        if results is not None
        else "as the middleware is specified (no benchmark run behind this rendering)"
    )
    header = "| scenario | DynamoDB requests | " + " | ".join(
        f"{size // 1024} KiB: RRU / WRU | {size // 1024} KiB: $ per million" for size in SESSION_SIZES
    )
    lines = [
        "# Capacity and cost",
        "",
        "Written by `scripts/bench` (`bench/capacity.py`). What each kind of request costs in DynamoDB request units "
        "and in on-demand dollars, at three session sizes.",
        "",
        "## Request units per request",
        "",
        f"DynamoDB requests per scenario: {source}. Item sizes are what DynamoDB counts for the item `DynamoStore` "
        "writes (attribute names and values: the 43-character digest key, the payload holding the creation time and "
        f"the session's JSON, expiry, TTL and version): the item is the session's JSON plus about {overhead} bytes, so "
        f"{', '.join(f'{s // 1024} KiB of session = {size:,} bytes of item' for s, size in sizes.items())}.",
        "",
        "- A strongly consistent `GetItem` (the store's `find`/`load`) costs 1 read request unit (RRU) per 4 KB "
        "(4,096 bytes) of item, rounded up.",
        "- A write costs 1 write request unit (WRU) per 1 KB (1,024 bytes), rounded up: an `UpdateItem` on the larger "
        "of the item before and after, a `DeleteItem` on the item it deletes. A conditional write whose condition "
        "fails still costs its write units. A `TransactWriteItems` costs twice the units of the writes in it.",
        "- On-demand prices used: **$0.125 per million RRU and $0.625 per million WRU** (us-east-1), in effect "
        "since 1 November 2024, when AWS halved on-demand throughput prices. These are the figures used here, "
        "taken from published summaries of AWS's price list (for example Airbyte's DynamoDB pricing guide, July 2025); "
        "they were not checked against AWS's own pricing page for this document: check "
        "<https://aws.amazon.com/dynamodb/pricing/on-demand/> for your region before planning on them.",
        "",
        header + " |",
        "| --- | --- |" + " ---: | ---: |" * len(SESSION_SIZES),
    ]
    rows: list[tuple[str, dict[str, float]]] = [(LABELS[s], ops[s]) for s in EXPECTED_OPS]
    rows += [
        (
            "read-only, with an idle-deadline refresh (at most once per `idle_timeout / 10`)",
            {"GetItem": 1, "UpdateItem": 1},
        ),
        ("change that lost a race once (failed conditional write, re-read, write)", {"GetItem": 2, "UpdateItem": 2}),
        (
            "sign-in with `regenerate_session` (read, then a transaction: new item + delete old)",
            {"GetItem": 1, "TransactWriteItems": 1},
        ),
        (
            "for comparison: starsessions' pattern on a DynamoDB store, read-only (read + write back)",
            {"GetItem": 1, "UpdateItem": 1},
        ),
    ]
    for label, scenario_ops in rows:
        cells = []
        for size in SESSION_SIZES:
            units = cost(scenario_ops, sizes[size])
            cells.append(f"{units.rru:g} / {units.wru:g} | {money(units.dollars_per_million)}")
        names = ", ".join(f"{name} {count:g}" for name, count in sorted(scenario_ops.items())) or "none"
        lines.append(f"| {label} | {names} | " + " | ".join(cells) + " |")
    one_wru = WRITE_UNIT - overhead
    one_rru = READ_UNIT - overhead
    lines += [
        "",
        f"A session whose JSON stays under {one_wru:,} bytes fits one WRU per write, and under {one_rru:,} bytes one "
        f"RRU per read: with the item's {overhead} bytes of overhead, a 1 KiB session already takes two WRU per "
        "write. Typical traffic is mostly "
        "read-only requests, so a session app costs roughly the read-only row per page view; writes come from "
        "sign-in, sign-out and whatever the application stores. Expired sessions are deleted by DynamoDB's TTL, "
        "which consumes no write units.",
        "",
        "A request that carries a valid cookie costs one `GetItem` even when its route does not use the session (the "
        "session is loaded before the route runs, because `request.session` is synchronous). Keep the cookie off "
        "paths that never need it (the middleware's `path` option, or static files served elsewhere).",
        "",
        "## Why the table spreads evenly over partitions",
        "",
        "- The partition key is `token`: the SHA-256 digest of the session token, base64url-encoded (43 characters). "
        "The token itself is 256 bits from the operating system's secure random source (`secrets.token_urlsafe(32)`), "
        "so the keys are uniformly distributed, whatever the users do, and DynamoDB hashes the partition key once "
        "more to place the item. Sessions therefore land evenly on every partition: there is no hot range, no "
        "sequential key, and no key shared by two sessions.",
        "- Every session is a single item under its own partition key (no sort key), and every access is a "
        "single-item `GetItem`, `UpdateItem` or `DeleteItem` by key: no queries, no scans. The cost per request "
        "does not depend on how many sessions the table holds.",
        "- The only way to make a hot key is to hammer one session: one partition serves at most 3,000 RRU and "
        "1,000 WRU per second, far beyond what one browser sends. A bot replaying one cookie hits that ceiling "
        "for its own session only.",
        "- Storing the digest rather than the token also means a copy of the table cannot be replayed as cookies.",
        "",
        "## Running in several regions",
        "",
        "- **Global tables (multi-Region eventual consistency, MREC, the default).** Every replica accepts reads and "
        "writes; a write is replicated to the other regions asynchronously, usually within a second. When one item "
        "is written in two regions within that window, the write with the latest timestamp wins everywhere "
        "(last writer wins): the other is lost, silently. Conditional expressions are evaluated only against the "
        "replica in the region that receives the write, and a strongly consistent read is strongly consistent "
        "only for writes made in the region where it is read.",
        "- **What that means for this middleware.** Its conditional-write merge (a write succeeds only on the version "
        "it loaded; a loser re-reads, merges its own changes and retries) is exact within one region. Across regions "
        "it is not: two requests of one session served in two regions within the replication window can both pass "
        "their condition, and replication then keeps only the later write. Route each user to one home region "
        "(sticky routing, for example by a cookie or latency-based DNS with stickiness) and fail over only when that "
        "region is unavailable; after a failover, a session may be up to the replication lag behind. "
        "`regenerate_session` uses `TransactWriteItems`, which is atomic only in the region that runs it; the new "
        "and the deleted item replicate independently.",
        "- **Cost in several regions.** Every write is also applied in each other replica region as a replicated "
        "write, billed like a write there (since November 2024, replicated writes cost the same as single-region "
        "writes on demand): multiply the WRU columns above by the number of regions. Reads are billed only in the "
        "region that serves them.",
        "- **Multi-Region strong consistency (MRSC)**, where AWS offers it (generally available since June 2025, in "
        "fixed sets of three regions): a global table of exactly three regions, three replicas or two replicas and a "
        "witness, created from an empty table. Writes are replicated synchronously before they succeed and a strongly "
        "consistent read returns the latest write from any region, so the version condition and the merge hold "
        "across regions, and a failover loses nothing (zero RPO). The price is latency: every write waits for "
        "another region before it succeeds, and strongly consistent reads (the only reads the store makes) can be "
        "slower than in a single region, so each session request pays up to a cross-region round trip or two. AWS "
        "documents that conflicting concurrent writes to one item are rejected with an error "
        "(`ReplicatedWriteConflictException`) instead of being silently overwritten; the store reports one that "
        "outlasts botocore's retries as `StoreUnavailable` (a 503), where treating it like a lost conditional write "
        "(re-read, merge, retry) would be the better answer. At launch, MRSC tables did not support transactions "
        "or TTL; if that still holds, `regenerate_session` (a transaction) fails and expired items are never swept. We "
        "could not confirm the current state of those two limits for this document: check AWS's MRSC documentation "
        "before choosing it.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
