"""How often the package tries again after losing a race, and how long it pauses between tries: every retry loop
uses one of the policies below, so their constants live in this one place.

A pause is "full jitter" exponential backoff, slept on the event loop: a random time between zero and
``first * 2**attempt`` seconds, capped at ``cap``, where ``attempt`` numbers the try that just failed (from 0).
DynamoDB's own throttling and network errors are retried by botocore (``Config(retries=...)``), not here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import anyio

__all__ = ["INDEX_WRITE", "MERGE", "REVOKE_ALL", "UNPROCESSED_KEYS", "Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """A retry policy: at most ``attempts`` tries; after the first ``immediate`` failed tries the next goes at once
    (a merge that lost one race usually wins the next), after a later one it waits up to ``first * 2**attempt``
    seconds, at most ``cap``."""

    attempts: int
    first: float  # seconds
    cap: float  # seconds
    immediate: int = 0

    def tries(self) -> range:
        """The numbers of the tries, from 0."""
        return range(self.attempts)

    def last(self, attempt: int) -> bool:
        """Whether try ``attempt`` is the last one the policy allows."""
        return attempt >= self.attempts - 1

    def longest_pause(self, attempt: int) -> float:
        """The longest pause after try number ``attempt`` failed, in seconds."""
        if attempt < self.immediate:
            return 0.0
        return min(self.cap, self.first * (1 << min(attempt, 62)))

    async def pause(self, attempt: int) -> None:
        """Sleep on the event loop after try number ``attempt`` failed: a random time up to
        ``longest_pause(attempt)``. Raises nothing but the event loop's cancellation."""
        longest = self.longest_pause(attempt)
        if longest > 0:
            await anyio.sleep(random.uniform(0, longest))  # noqa: S311 - jitter, not a secret


# A session write that keeps losing to other writers of the same session: each loss is merged and written again.
MERGE = Backoff(attempts=40, first=0.002, cap=0.2, immediate=1)
# A write of a user's index item (binding, forgetting) that met a transaction of the same user.
INDEX_WRITE = Backoff(attempts=8, first=0.01, cap=0.2)
# revoke_all starts over when a sign-in of the same user commits while it works, or waits out another revoke_all.
REVOKE_ALL = Backoff(attempts=50, first=0.01, cap=0.2)
# Keys a BatchGetItem left unprocessed (DynamoDB answers part of a batch under load).
UNPROCESSED_KEYS = Backoff(attempts=8, first=0.01, cap=0.2)
