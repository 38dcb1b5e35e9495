"""What sealing costs a request, in process: ``python -m bench.sealing``.

A request that changes its session opens the data it read and seals the data it writes: one ``open_sealed`` and
one ``seal``, for a 1 KiB session here. It prints the mean of ``ROUNDS`` such pairs (the best of ``REPEATS`` runs)
in microseconds, and the same for the whole item conversion (``ItemLayout.item`` then ``ItemLayout.record``) with
sealing on and off. Sealing has no public entry point of its own, so this benchmark reaches into the private
modules."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from starlette_dynamo_session._base import StoredSession
from starlette_dynamo_session._item import ItemLayout
from starlette_dynamo_session._sealing import open_sealed, seal
from starlette_dynamo_session._signing import digest, new_token

ROUNDS = 10_000
REPEATS = 5
SESSION_BYTES = 1024


def session_data() -> bytes:
    """A 1 KiB session's JSON."""
    data = json.dumps({"user": "ada", "blob": ""}, separators=(",", ":")).encode()
    return json.dumps({"user": "ada", "blob": "x" * (SESSION_BYTES - len(data))}, separators=(",", ":")).encode()


def microseconds_per_round(work: Callable[[], object], rounds: int = ROUNDS) -> float:
    """The mean wall time of one call of ``work()`` over ``rounds`` calls, in microseconds: the best of ``REPEATS``
    runs, as ``timeit`` advises, since a shared machine only ever adds time."""
    work()  # warm up
    runs = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        for _ in range(rounds):
            work()
        runs.append((time.perf_counter() - began) / rounds * 1e6)
    return min(runs)


def main() -> None:
    """Print the figures."""
    token, data = new_token(), session_data()
    key = digest(token)
    assert len(data) == SESSION_BYTES
    now = datetime.now(UTC)
    record = StoredSession(data, now, now + timedelta(days=1), 1)
    layouts = {
        sealed: ItemLayout("token", "data", "expiry", "ttl", "created", "version", "max_age", sealed)
        for sealed in (True, False)
    }
    pair = microseconds_per_round(lambda: open_sealed(token, key, seal(token, key, data)))

    def round_trip(layout: ItemLayout) -> Callable[[], object]:
        return lambda: layout.record(layout.item(token, record), token)

    item = {sealed: microseconds_per_round(round_trip(layout)) for sealed, layout in layouts.items()}
    print(f"seal + open of a {SESSION_BYTES} B session: {pair:.1f} us (mean of {ROUNDS:,}, best of {REPEATS})")
    print(
        f"item + record, sealed: {item[True]:.1f} us; plain: {item[False]:.1f} us; "
        f"sealing adds {item[True] - item[False]:.1f} us per request"
    )


if __name__ == "__main__":
    main()
