"""The one clock the session rules read: wall-clock time from ``time.time``, so that a test which moves
``time.time`` moves it for the lifecycle, the stores and the items alike."""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["now", "seconds"]


def now() -> datetime:
    """The current instant, an aware datetime in UTC."""
    return datetime.fromtimestamp(time.time(), UTC)


def seconds() -> float:
    """The current instant in seconds since the epoch."""
    return time.time()
