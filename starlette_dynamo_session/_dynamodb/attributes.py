"""Instants as the items hold them, and the one rule for whether a session has ended.

Session and user items store an instant as epoch seconds with exactly six decimals (``number``; the TTL and a user
item's entries hold whole seconds, rounded up: ``whole_seconds``), converted without a float on the way. Whether an
expiry has passed is decided by ``has_ended`` alone, on the package's clock (``_core/clock.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from starlette_dynamo_session._core import clock
from starlette_dynamo_session._core.records import MAX_LIFETIME

__all__ = ["has_ended", "instant", "number", "whole_seconds"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# The instants an item may hold, in epoch seconds: any lifetime up to MAX_LIFETIME can be added to them or taken from
# them without leaving datetime's range (years 1 to 9999).
_EARLIEST = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // timedelta(seconds=1) + MAX_LIFETIME
_LATEST = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(seconds=1) - MAX_LIFETIME


def number(moment: datetime) -> str:
    """An instant as the items store it: epoch seconds with exactly six decimals (no float on the way); a naive
    datetime is local time. Raises nothing."""
    micros = _micros(moment)
    sign = "-" if micros < 0 else ""  # an instant before 1970: the digits of its distance from the epoch
    return f"{sign}{abs(micros) // 1_000_000}.{abs(micros) % 1_000_000:06d}"


def whole_seconds(moment: datetime) -> int:
    """An instant in whole epoch seconds, rounded up (the TTL attribute, a user item's entries). Raises nothing."""
    return -(-_micros(moment) // 1_000_000)


def instant(text: str) -> datetime:
    """The instant a number attribute written by ``number`` holds, to the microsecond (aware, UTC).

    Raises ``ValueError`` when ``text`` is not a number, or is an instant so close to the ends of datetime's range
    (years 1 and 9999) that a session's lifetime could not be counted from it.
    """
    whole, dot, fraction = text.partition(".")
    if dot and len(fraction) == 6 and whole.isascii() and whole.isdigit() and fraction.isascii() and fraction.isdigit():
        epoch_seconds = int(whole)  # as ``number`` writes it, read without a Decimal (on every session read)
        if epoch_seconds < _LATEST:
            return _EPOCH + (epoch_seconds * 1_000_000 + int(fraction)) * _MICROSECOND
    try:
        seconds = Decimal(text)
    except ArithmeticError:  # decimal.InvalidOperation: not a number at all
        raise ValueError(f"not a number: {text!r}") from None
    if not seconds.is_finite() or not _EARLIEST <= seconds <= _LATEST:
        raise ValueError(f"not an instant a session can hold: {text!r}")
    return _EPOCH + int(seconds * 1_000_000) * _MICROSECOND


def has_ended(expiry: datetime | float) -> bool:
    """Whether a session that expires at ``expiry`` (an aware datetime, or epoch seconds) has ended: its expiry is
    at or before the clock's now. Raises nothing."""
    seconds = expiry.timestamp() if isinstance(expiry, datetime) else expiry
    return seconds <= clock.seconds()


def _micros(moment: datetime) -> int:
    """Microseconds since the epoch, exactly; a naive datetime is local time."""
    return (moment.astimezone(UTC) - _EPOCH) // _MICROSECOND
