"""Keeping a user item small without a listing: the entries of ended sessions are pruned as sign-ins go in.

Each entry (``s#`` + a session's key) records the session's expiry, in whole epoch seconds rounded up: 51 bytes. A
binding counts ``binds`` on the user item and is refused once ``PRUNE_AFTER`` went in since the last pruning; the
sign-in then prunes and binds again. Pruning reads only the sessions whose recorded expiry has passed: the entries of
those that ended go, the others (whose expiry moved on since: idle refresh, a browser session's writes) get their
new expiry. So the item holds at most the user's live sessions at the last pruning plus ``PRUNE_AFTER`` entries, for
three extra requests per ``PRUNE_AFTER`` sign-ins of the user.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette_dynamo_session._dynamodb.attributes import has_ended

__all__ = ["BINDS_NAME", "ENTRY_PREFIX", "PRUNE_AFTER", "entries_due", "prune_due", "prune_request"]

ENTRY_PREFIX = "s#"
BINDS_NAME = "binds"  # on the user item: how many bindings went in since its entries were last pruned
PRUNE_AFTER = 100


def prune_due(item: Mapping[str, Any]) -> bool:
    """Whether a user item (empty: none) is due for pruning: ``PRUNE_AFTER`` bindings since the last, or none
    counted (an item from before the count)."""
    binds = item.get(BINDS_NAME)
    return bool(item) and (binds is None or int(binds.get("N", "0")) >= PRUNE_AFTER)


def entries_due(item: Mapping[str, Any]) -> list[str]:
    """The session keys of a user item's entries whose recorded expiry (or, in entries from before expiries were
    recorded, "last seen") has passed, or that hold no number."""
    return [name.removeprefix(ENTRY_PREFIX) for name, value in item.items() if _entry_due(name, value)]


def prune_request(
    table: str, key: Mapping[str, Any], key_name: str, changes: list[tuple[str, str | None]], *, last: bool
) -> dict[str, Any]:
    """The UpdateItem of the user item keyed ``key`` that removes the entries in ``changes`` without an expiry and
    sets the others' to theirs (epoch seconds); the ``last`` one also starts the count of bindings again."""
    names = {"#key": key_name}
    values: dict[str, Any] = {}
    removals: list[str] = []
    settings: list[str] = []
    for at, (session, until) in enumerate(changes):
        names[f"#e{at}"] = ENTRY_PREFIX + session
        if until is None:
            removals.append(f"#e{at}")
        else:
            values[f":e{at}"] = {"N": until}
            settings.append(f"#e{at} = :e{at}")
    if last:
        names["#binds"] = BINDS_NAME
        values[":zero"] = {"N": "0"}
        settings.append("#binds = :zero")
    expression = "SET " + ", ".join(settings) if settings else ""
    expression += (" REMOVE " + ", ".join(removals)) if removals else ""
    request: dict[str, Any] = {
        "TableName": table,
        "Key": dict(key),
        "UpdateExpression": expression.strip(),
        "ConditionExpression": "attribute_exists(#key)",  # never create a user item
        "ExpressionAttributeNames": names,
    }
    if values:
        request["ExpressionAttributeValues"] = values
    return request


def _entry_due(name: str, value: Mapping[str, Any]) -> bool:
    """Whether a user item's attribute is a session's entry whose recorded expiry has passed."""
    if not name.startswith(ENTRY_PREFIX):
        return False
    try:
        return has_ended(float(value["N"]))
    except (KeyError, TypeError, ValueError):
        return True
