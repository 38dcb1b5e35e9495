"""Rotated tokens in DynamoDB: when a session's token was issued, and the forwarding item a rotation leaves under the
old token (``_core/rotation``).

A session item whose token was issued after its creation (regenerated or rotated) holds that instant in
``token_issued`` (N, epoch seconds with six decimals); an item without it reads as issued at creation.

A forwarding item is keyed like any session item (the old token's digest) and holds only: ``successor`` (B), the new
token sealed under the old one (``sealing``, bound to this item and to this use, so that only the old token opens
it and a copy of the table yields no live token); ``rotated_at`` (N); the version (the session's, one past the one
it replaced, so that a write based on the old item fails); and the expiry and TTL of the session at the rotation.
A replay after that expiry reads as an unknown token.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette_dynamo_session._core.records import Forwarded, StoredSession
from starlette_dynamo_session._core.tokens import digest
from starlette_dynamo_session._dynamodb.attributes import has_ended, instant, number, whole_seconds
from starlette_dynamo_session._dynamodb.sealing import open_sealed, seal

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    from starlette_dynamo_session._dynamodb.item import ItemLayout

__all__ = [
    "ROTATED_AT_NAME",
    "ROTATION_NAMES",
    "SUCCESSOR_NAME",
    "TOKEN_ISSUED_NAME",
    "forwarded",
    "forwarding_item",
    "is_forwarding",
    "issued_attributes",
    "parse_issued",
]

TOKEN_ISSUED_NAME = "token_issued"  # noqa: S105 - an attribute name, not a secret
SUCCESSOR_NAME = "successor"
ROTATED_AT_NAME = "rotated_at"
ROTATION_NAMES = (TOKEN_ISSUED_NAME, SUCCESSOR_NAME, ROTATED_AT_NAME)
_USE = "#successor"  # added to the item's key in the sealed successor's associated data: never opens as data


def issued_attributes(record: StoredSession) -> dict[str, AttributeValueTypeDef]:
    """The attribute of a session item whose token was issued after its creation (none for one issued then)."""
    return {} if record.token_issued is None else {TOKEN_ISSUED_NAME: {"N": number(record.token_issued)}}


def parse_issued(item: Mapping[str, Any]) -> datetime | None:
    """When a session item's token was issued, or ``None`` for "at creation". Raises ``KeyError``, ``TypeError``
    or ``ValueError`` for an attribute of another shape."""
    value = item.get(TOKEN_ISSUED_NAME)
    return None if value is None else instant(value["N"])


def is_forwarding(item: Mapping[str, Any]) -> bool:
    """Whether ``item`` is a forwarding item. Raises nothing."""
    return SUCCESSOR_NAME in item


def forwarding_item(layout: ItemLayout, token: str, successor: str, record: StoredSession) -> dict[str, Any]:
    """The forwarding item that replaces ``token``'s session item when it is rotated to ``successor``, where
    ``record`` is stored. Raises nothing."""
    key = digest(token)
    return {
        layout.token: {"S": key},
        SUCCESSOR_NAME: {"B": seal(token, key + _USE, successor.encode("ascii"))},
        ROTATED_AT_NAME: {"N": number(record.issued)},
        layout.version: {"N": str(record.version)},
        layout.expiry: {"N": number(record.expiry)},
        layout.ttl: {"N": str(whole_seconds(record.expiry))},
    }


def forwarded(layout: ItemLayout, item: Mapping[str, Any], token: str) -> Forwarded | None:
    """Where the forwarding item stored under ``token`` leads, or ``None`` when it has expired or does not open
    under ``token``. Raises ``KeyError``, ``TypeError`` or ``ValueError`` for an item of another shape."""
    successor = open_sealed(token, digest(token) + _USE, bytes(item[SUCCESSOR_NAME]["B"]))
    if successor is None or has_ended(instant(item[layout.expiry]["N"])):
        return None
    return Forwarded(successor.decode("ascii"), instant(item[ROTATED_AT_NAME]["N"]))
