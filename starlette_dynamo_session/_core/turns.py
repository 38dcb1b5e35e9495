"""One write at a time per session within a process, so that the requests of one session in one process never race
each other through DynamoDB: conflicts, merges and retries happen only between processes.

A request that changed its session waits for its turn on that session's token (an ``anyio.Lock`` per token and event
loop, kept only while some request holds or waits for it). The request before it leaves what it stored in the turn,
so the next one applies its own changes on top of that at once, instead of sending a write that is bound to lose and
learning the same thing from DynamoDB. A storm of writes to one session costs one write each and holds no more of the
event loop or of the store's connections than one request at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
from anyio.lowlevel import RunVar

from starlette_dynamo_session._core.records import StoredSession
from starlette_dynamo_session._core.session import Loaded

__all__ = ["WriteTurn", "WriteTurns"]


@dataclass(eq=False)
class WriteTurn:
    """A session's turn to write: ``latest`` is what the previous holder in this process stored under the token
    (``None`` when it stored nothing there, or nobody held the turn before); ``successor`` is the token it moved
    the session to and what it stored there, when it rotated the token (or found it rotated)."""

    lock: anyio.Lock = field(default_factory=anyio.Lock)
    holders: int = 0  # requests holding or waiting for the lock
    latest: StoredSession | None = None
    successor: Loaded | None = None


class WriteTurns:
    """The turns of the sessions being written in this process, per event loop."""

    def __init__(self) -> None:
        self._turns: RunVar[dict[str, WriteTurn]] = RunVar("starlette_dynamo_session.write_turns")

    @asynccontextmanager
    async def turn(self, token: str) -> AsyncIterator[WriteTurn]:
        """Wait for the turn of the session stored under ``token``, and hold it until the block ends."""
        try:
            turns = self._turns.get()
        except LookupError:
            turns = {}
            self._turns.set(turns)
        turn = turns.get(token)
        if turn is None:
            turn = turns[token] = WriteTurn()
        turn.holders += 1
        try:
            async with turn.lock:
                yield turn
        finally:
            turn.holders -= 1
            if not turn.holders:
                del turns[token]
