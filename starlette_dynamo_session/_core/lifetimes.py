"""How long sessions last: an absolute lifetime from creation, an idle timeout, or both, and when a read pushes
the idle deadline back."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

from starlette_dynamo_session._core.records import DEFAULT, MaxAge, StoredSession

__all__ = ["BROWSER_SESSION_LIFETIME", "DEFAULT_MAX_AGE", "IDLE_REFRESH_FRACTION", "Lifetime"]

DEFAULT_MAX_AGE = 14 * 24 * 60 * 60  # 14 days, in seconds
# How long the server keeps a session that has neither max_age nor idle_timeout, after its last write.
BROWSER_SESSION_LIFETIME = timedelta(days=14)
# An idle deadline is pushed back only once it would move by at least this fraction of idle_timeout, so an
# active session costs at most one refresh write per tenth of its idle window.
IDLE_REFRESH_FRACTION = 0.1


@dataclass(frozen=True, slots=True)
class Lifetime:
    """How long sessions last: ``max_age`` seconds from their creation, and ``idle_timeout`` seconds after their
    last request; either may be ``None``."""

    max_age: int | None = DEFAULT_MAX_AGE
    idle_timeout: int | None = None

    def expiry(self, created: datetime, now: datetime) -> datetime:
        """When the server stops honouring a session: the earliest of its absolute and idle deadlines."""
        deadlines = []
        if self.max_age is not None:
            deadlines.append(created + timedelta(seconds=self.max_age))
        if self.idle_timeout is not None:
            deadlines.append(now + timedelta(seconds=self.idle_timeout))
        return min(deadlines, default=now + BROWSER_SESSION_LIFETIME)

    def cookie_max_age(self, created: datetime, now: datetime) -> int | None:
        """The cookie's ``Max-Age``: what remains of the absolute lifetime, or ``None`` for a browser session."""
        return None if self.max_age is None else self.max_age - int((now - created).total_seconds())

    def of(self, max_age: MaxAge) -> Lifetime:
        """The lifetime of a session whose own ``max_age`` is this (``"default"``: the middleware's)."""
        return self if max_age == DEFAULT else dataclasses.replace(self, max_age=max_age)

    def needs_refresh(self, record: StoredSession, now: datetime) -> bool:
        """Whether a read should push the idle deadline back: only once it would move by a tenth of the window."""
        if self.idle_timeout is None:
            return False
        moved = self.expiry(record.created, now) - record.expiry
        return moved >= timedelta(seconds=self.idle_timeout * IDLE_REFRESH_FRACTION)
