"""The session item: how a stored session is laid out in DynamoDB attributes, and how DynamoDB counts its size."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from starlette_dynamo_session._core.exceptions import SessionTooLarge
from starlette_dynamo_session._core.records import DEFAULT, MAX_LIFETIME, Forwarded, MaxAge, StoredSession
from starlette_dynamo_session._core.tokens import digest
from starlette_dynamo_session._dynamodb.attributes import has_ended, instant, number, whole_seconds
from starlette_dynamo_session._dynamodb.authenticated import auth_attributes, parse_auth
from starlette_dynamo_session._dynamodb.binding import parse_user, user_attributes
from starlette_dynamo_session._dynamodb.forwarding import forwarded, is_forwarding, issued_attributes, parse_issued
from starlette_dynamo_session._dynamodb.sealing import open_sealed, seal

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

__all__ = ["MAX_ITEM_BYTES", "ItemLayout", "item_size", "log_damaged"]

logger = logging.getLogger("starlette_dynamo_session")

# DynamoDB's item size limit: attribute names and values, counted as DynamoDB counts them.
MAX_ITEM_BYTES = 400 * 1024


@dataclass(frozen=True, slots=True)
class ItemLayout:
    """The attribute names of a session item, and the conversions between items and ``StoredSession`` records.

    The key is the token's digest (S); the data is sealed under the token (B), or stored as it is when ``sealed`` is
    false; ``created`` and ``expiry`` are epoch seconds with six decimals (N); the TTL is the expiry in whole
    seconds, rounded up (N); the version is a count (N); a session's own lifetime is seconds (N), or NULL for a
    browser session, and absent for the middleware's; a bound session also carries its user's attributes
    (``binding``), and an authenticated one its authentication's (``authenticated``), both stored as they are.
    Instants are converted, and expiries compared with the clock, by ``attributes``.
    """

    token: str
    data: str
    expiry: str
    ttl: str
    created: str
    version: str
    max_age: str
    sealed: bool = True

    def key(self, token: str) -> dict[str, AttributeValueTypeDef]:
        """The key of the item stored for ``token``."""
        return {self.token: {"S": digest(token)}}

    def item(self, token: str, record: StoredSession) -> dict[str, AttributeValueTypeDef]:
        """The whole item that stores ``record`` under ``token``. Raises ``SessionTooLarge`` when DynamoDB would
        refuse it for its size."""
        key = digest(token)
        item: dict[str, AttributeValueTypeDef] = {
            self.token: {"S": key},
            self.data: {"B": seal(token, key, record.data) if self.sealed else record.data},
            self.expiry: {"N": number(record.expiry)},
            self.ttl: {"N": str(whole_seconds(record.expiry))},
            self.created: {"N": number(record.created)},
            self.version: {"N": str(record.version)},
        }
        if record.max_age is None:
            item[self.max_age] = {"NULL": True}
        elif record.max_age != DEFAULT:
            item[self.max_age] = {"N": str(record.max_age)}
        if record.user is not None:
            item.update(user_attributes(record.user))
        item.update(issued_attributes(record))
        if record.auth is not None:
            item.update(auth_attributes(record.auth))
        size = item_size(item)
        if size > MAX_ITEM_BYTES:
            raise SessionTooLarge(f"the session item is {size} bytes, over DynamoDB's limit of {MAX_ITEM_BYTES}")
        return item

    def record(self, item: Mapping[str, Any] | None, token: str) -> StoredSession | None:
        """The live session an item stored under ``token`` holds, or ``None`` for no item, an expired one, (sealed)
        data that does not open under ``token``, or a damaged item: one of another shape, or whose instants or
        lifetime are out of range (``created`` in the year 9999, a ``max_age`` of 20 digits). A damaged item is
        logged at WARNING, by its key.

        Expiry is checked here, on every read: DynamoDB's TTL deletes expired items up to days late. A forwarding
        item is no session either (``read``).
        """
        if item is None or is_forwarding(item):
            return None
        try:
            data = bytes(item[self.data]["B"])
            if self.sealed:
                opened = open_sealed(token, digest(token), data)
                if opened is None:
                    return None
                data = opened
            record = StoredSession(
                data=data,
                created=instant(item[self.created]["N"]),
                expiry=instant(item[self.expiry]["N"]),
                version=int(item[self.version]["N"]),
                max_age=_max_age(item.get(self.max_age)),
                user=parse_user(item),
                token_issued=parse_issued(item),
                auth=parse_auth(item),
            )
        except (TypeError, KeyError, ValueError, ArithmeticError) as exc:
            log_damaged(digest(token), exc)
            return None
        return None if has_ended(record.expiry) else record

    def read(self, item: Mapping[str, Any] | None, token: str) -> StoredSession | Forwarded | None:
        """What an item stored under ``token`` holds: a live session (``record``), where a live forwarding item
        leads (``forwarding``), or ``None``; a damaged forwarding item is logged as a damaged session is."""
        if item is None or not is_forwarding(item):
            return self.record(item, token)
        try:
            return forwarded(self, item, token)
        except (TypeError, KeyError, ValueError, ArithmeticError) as exc:
            log_damaged(digest(token), exc)
            return None

    def expired(self, item: Mapping[str, Any]) -> bool:
        """Whether ``item`` holds an expiry that has passed (``False`` when it holds none that reads). Raises
        nothing."""
        expiry = self._expiry(item)
        return expiry is not None and has_ended(expiry)

    def live(self, item: Mapping[str, Any]) -> bool:
        """Whether ``item`` holds an expiry that has not passed (``False`` when it holds none that reads). Raises
        nothing."""
        expiry = self._expiry(item)
        return expiry is not None and not has_ended(expiry)

    def _expiry(self, item: Mapping[str, Any]) -> datetime | None:
        """The expiry ``item`` holds, or ``None`` when it holds none that reads."""
        try:
            return instant(item[self.expiry]["N"])
        except (TypeError, KeyError, ValueError, ArithmeticError):
            return None


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """The size DynamoDB counts for an item of string (``S``), binary (``B``), number (``N``) and null (``NULL``)
    attributes: the UTF-8 length of each name plus its value's size. Raises ``ValueError`` for a number that is not
    finite."""
    size = 0
    for name, value in item.items():
        size += len(name.encode("utf-8"))
        if "S" in value:
            size += len(value["S"].encode("utf-8"))
        elif "B" in value:
            size += len(value["B"])
        elif "NULL" in value:
            size += 1
        else:
            size += _number_size(value["N"])
    return size


def _number_size(text: str) -> int:
    """Bytes DynamoDB uses for a number: one per pair of significant digits (pairs aligned on the decimal
    point), plus one."""
    sign, digits, exponent = Decimal(text).normalize().as_tuple()
    if digits == (0,):
        return 1
    if not isinstance(exponent, int):
        raise ValueError(f"not a finite number: {text!r}")
    lowest = exponent - exponent % 2
    highest = exponent + len(digits) - 1
    highest += 1 - highest % 2
    return (highest - lowest + 1) // 2 + 1 + sign


def log_damaged(key: object, error: Exception) -> None:
    """Log, at WARNING, that the session item keyed ``key`` is damaged (``error`` says how) and reads as no session."""
    logger.warning("session item %s is damaged and reads as no session: %s: %s", key, type(error).__name__, error)


def _max_age(value: Mapping[str, Any] | None) -> MaxAge:
    """A session's own lifetime as the item holds it. Raises ``ValueError`` for one that is not a whole number of
    seconds within ``MAX_LIFETIME`` either way."""
    if value is None:
        return DEFAULT
    if value.get("NULL"):
        return None
    seconds = int(value["N"])
    if abs(seconds) > MAX_LIFETIME:
        raise ValueError(f"a max_age beyond 100 years: {value['N']!r}")
    return seconds
