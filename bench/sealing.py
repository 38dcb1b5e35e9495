"""What sealing costs a request, in process: ``python -m bench.sealing [--rounds N]``.

A request that changes its session opens the data it read and seals the data it writes. This times ``find`` and
``save`` of a 1 KiB session on two stores, ``seal_data=True`` and ``seal_data=False``, whose client is answered by
botocore's ``Stubber``: no network, so what differs between the two is the sealing alone. It prints the mean of each
call over ``--rounds`` calls (the best of ``REPEATS`` runs, the stores taking turns) in microseconds.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.stub import Stubber

from starlette_dynamo_session import DynamoStore

ROUNDS = 10_000
REPEATS = 5
SESSION_BYTES = 1024
TOKEN = "t" * 43


def session_data() -> bytes:
    """A 1 KiB session's JSON."""
    data = json.dumps({"user": "ada", "blob": ""}, separators=(",", ":")).encode()
    return json.dumps({"user": "ada", "blob": "x" * (SESSION_BYTES - len(data))}, separators=(",", ":")).encode()


def stubbed_store(*, seal_data: bool) -> tuple[DynamoStore, Stubber]:
    """A store whose DynamoDB client answers from a ``Stubber`` (activated) instead of the network."""
    session = boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1")  # noqa: S106
    client = session.client("dynamodb")
    stubber = Stubber(client)
    stubber.activate()
    return DynamoStore(client=client, seal_data=seal_data), stubber


def saved_item(store: DynamoStore, stubber: Stubber, data: bytes, expiry: datetime) -> dict[str, Any]:
    """The item ``store.save`` writes for ``data``, as a GetItem would return it."""
    sent: dict[str, Any] = {}
    store.client.meta.events.register(
        "provide-client-params.dynamodb.UpdateItem", lambda params, **_: sent.update(params)
    )
    stubber.add_response("update_item", {})
    store.save(TOKEN, data, expiry)
    values = sent["ExpressionAttributeValues"]
    return {
        store.token_name: {"S": store.key(TOKEN)},
        store.data_name: values[":data"],
        store.created_name: values[":created"],
        store.expiry_name: values[":expiry"],
        store.ttl_name: values[":ttl"],
        store.version_name: {"N": "1"},
    }


def microseconds(call: Callable[[], object], queue: Callable[[], None], rounds: int) -> float:
    """The mean wall time of ``call()`` over ``rounds`` calls, in microseconds, each answer queued beforehand by
    ``queue()`` (outside the timing)."""
    for _ in range(rounds):
        queue()
    began = time.perf_counter()
    for _ in range(rounds):
        call()
    return (time.perf_counter() - began) / rounds * 1e6


def timed(
    store: DynamoStore, stubber: Stubber, item: dict[str, Any], data: bytes, expiry: datetime, rounds: int
) -> dict[str, float]:
    """Microseconds per ``find`` (of ``item``) and per ``save`` (of ``data``) on ``store``."""

    def answer_get() -> None:
        stubber.add_response("get_item", {"Item": item})

    def answer_update() -> None:
        stubber.add_response("update_item", {})

    return {
        "find": microseconds(lambda: store.find(TOKEN), answer_get, rounds),
        "save": microseconds(lambda: store.save(TOKEN, data, expiry), answer_update, rounds),
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.sealing")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args(argv)
    data, expiry = session_data(), datetime.now(UTC) + timedelta(days=1)
    best: dict[tuple[str, bool], float] = {}
    stores = {sealed: stubbed_store(seal_data=sealed) for sealed in (True, False)}
    items = {sealed: saved_item(store, stubber, data, expiry) for sealed, (store, stubber) in stores.items()}
    for _ in range(REPEATS):
        for sealed, (store, stubber) in stores.items():
            for name, figure in timed(store, stubber, items[sealed], data, expiry, args.rounds).items():
                best[name, sealed] = min(best.get((name, sealed), figure), figure)
    for name in ("find", "save"):
        on, off = best[name, True], best[name, False]
        print(f"{name} of a {SESSION_BYTES} B session: sealed {on:.1f} us, plain {off:.1f} us: {on - off:+.1f} us")
    print(f"(mean of {args.rounds:,} calls, best of {REPEATS} runs, botocore's Stubber answering: no network)")


if __name__ == "__main__":
    main()
